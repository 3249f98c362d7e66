// envoi: send a message from a shell through the account a configuration names.
//
//   envoi send [--config FILE] [--site ID] [--user ID] [--purpose reminder|correspondence]
//              --to ADDR [--to ADDR...] [--cc ADDR] [--bcc ADDR]
//              --subject TEXT (--text FILE | --text -) [--html FILE] [--attach FILE...]
//              [--dry-run] [--transcript] [--log debug|info|warning|error]
//   envoi preset ADDRESS [--relay NAME] [--site ID] [--dns-server IPV4:PORT] [--no-dns]
//
// send's account comes from the configuration's sites and users (envoi::account_resolver);
// the reason for the choice is printed on stderr.
//
// Exit status of send: 0 every recipient accepted; 1 a recipient or the message refused
// for good (5xx), or refused for now while others got it (stderr names whom to send it to
// again); 2 usage or configuration error, an unreadable password, a login with security
// "none" for a server on another machine, a host and port where no mail server answers
// (its greeting is not SMTP), or a server that offers no STARTTLS or no login the account
// can use; 3 a failure that may pass (connection, TLS, time-out, 4xx): nobody got the
// message, try again later; 4 the whole message went out but the server's verdict never
// came: it may have been delivered, so it is not to be sent again before checking.
// Exit status of preset: 0 settings found; 1 nothing is known for the address; 2 not an
// address, or an unknown relay; 3 nothing found because DNS did not answer.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include <envoi/config.hpp>
#include <envoi/error.hpp>
#include <envoi/message.hpp>
#include <envoi/preset.hpp>
#include <envoi/resolver.hpp>
#include <envoi/smtp/client.hpp>

#include "text_file.hpp"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_refused = 1;
constexpr int exit_usage = 2;
constexpr int exit_transient = 3;
constexpr int exit_unknown = 4;

struct send_options {
  std::filesystem::path config = "envoi.toml";
  std::string site, user, purpose = "correspondence";
  std::vector<std::string> to, cc, bcc, attach;
  std::string subject, text, html;
  bool dry_run = false, transcript = false;
  std::string log;
};

// Why `path` cannot be read as a file, naming it, or "" when it can.
std::string file_problem(const std::string& path) {
  const std::string why = envoi::detail::file_problem(path);
  return why.empty() ? why : "\"" + path + "\"" + why;
}

// A file's bytes, or standard input's for "-".
std::string read_input(const std::string& path, const std::string& option) {
  if (path == "-") return {std::istreambuf_iterator<char>(std::cin), {}};
  if (auto problem = file_problem(path); !problem.empty()) {
    // "--text 'Bonjour, voici…'": the text itself where its file's name belongs.
    std::error_code ec;
    if (path.find_first_of(" \t\n") != std::string::npos && !std::filesystem::exists(path, ec))
      problem += "; " + option + " takes the name of a file holding the text, or - to read it " +
                 "from standard input (echo TEXT | envoi send ... " + option + " -)";
    throw envoi::invalid_input(option, problem);
  }
  std::ifstream in(path, std::ios::binary);
  std::string bytes{std::istreambuf_iterator<char>(in), {}};
  if (in.bad()) throw envoi::invalid_input(option, "\"" + path + "\" cannot be read");
  return bytes;
}

// A text body's file, without the byte-order mark Windows editors put first.
std::string text_input(const std::string& path, const std::string& option) {
  std::string text = read_input(path, option);
  if (text.starts_with("\xEF\xBB\xBF")) text.erase(0, 3);
  return text;
}

// Sets a body with `set`, saying which option and file hold text that is not UTF-8.
template <typename Set>
void set_body(const std::string& path, const std::string& option, Set set) {
  std::string text = text_input(path, option);
  try {
    set(std::move(text));
  } catch (const envoi::invalid_input& e) {
    throw envoi::invalid_input(
        option, (path == "-" ? std::string("standard input") : path) + ": " + e.reason() +
                    " (saved as Windows-1252 or Latin-1?); save it as UTF-8");
  }
}

// An address option's value; a list in one value gets a hint, since each option takes
// one address.
envoi::mailbox parse_address(const std::string& text, const std::string& option) {
  envoi::mailbox m;
  try {
    m = envoi::mailbox::parse(text, option);
  } catch (const envoi::invalid_input& e) {
    if (text.find('@') == text.rfind('@')) throw;
    throw envoi::invalid_input(
        option, e.reason() + " (one address per " + option + "; repeat " + option + " for each)");
  }
  // Every domain mail can reach from the internet has a dot: "helene@orange" is nearly
  // always a forgotten ".fr". This machine (localhost) and address literals pass.
  const std::string& address = m.address();
  const std::string domain = address.substr(address.rfind('@') + 1);
  if (domain.find('.') == std::string::npos && domain != "localhost" && domain.front() != '[')
    throw envoi::invalid_input(
        option, "the domain of " + address + " has no dot: a forgotten ending such as .fr?");
  return m;
}

// The account that sends, as the resolver picks it for the purpose, site and user. The
// site may be left out when the user works at one site only, or the config has one site.
envoi::resolution pick_account(const envoi::account_resolver& resolver, const send_options& o) {
  const envoi::config& cfg = resolver.settings();
  std::string site = o.site;
  if (site.empty() && !o.user.empty()) {
    const auto u = cfg.users.find(o.user);
    if (u != cfg.users.end() && u->second.sites.size() == 1) site = u->second.sites.front();
  }
  if (site.empty() && cfg.sites.size() == 1) site = cfg.sites.begin()->first;
  if (cfg.sites.empty())
    throw envoi::invalid_input("--config", o.config.string() +
                                               " defines no site; add a [sites.ID] table "
                                               "(envoi preset ADDRESS --site ID prints one)");
  if (site.empty()) {
    std::string names;
    for (const auto& [id, ignored] : cfg.sites) names += (names.empty() ? "" : ", ") + id;
    throw envoi::invalid_input("--site", "the config has " + std::to_string(cfg.sites.size()) +
                                             " sites (" + names + "); name one with --site");
  }
  const auto why =
      o.purpose == "reminder" ? envoi::purpose::reminder : envoi::purpose::correspondence;
  try {
    return resolver.resolve(why, site, o.user);
  } catch (const envoi::invalid_input& e) {
    // The resolver speaks of "site" and "user"; here they are options.
    throw envoi::invalid_input("--" + e.field(), e.reason() + " (in " + o.config.string() + ")");
  }
}

envoi::message build_message(const send_options& o, const envoi::account& account) {
  envoi::message m;
  m.from(account.sender);
  for (const auto& a : o.to) m.add_to(parse_address(a, "--to"));
  for (const auto& a : o.cc) m.add_cc(parse_address(a, "--cc"));
  for (const auto& a : o.bcc) m.add_bcc(parse_address(a, "--bcc"));
  // The library allows a message without a subject; from the shell an empty one is far
  // more often a variable that was not set, and filters hold such mail as suspect.
  if (o.subject.find_first_not_of(" \t") == std::string::npos)
    throw envoi::invalid_input("--subject", "is empty; give the message a subject");
  try {
    m.subject(o.subject);
  } catch (const envoi::invalid_input& e) {
    throw envoi::invalid_input("--subject", e.reason());
  }
  bool empty_text = false;
  set_body(o.text, "--text", [&](std::string text) {
    empty_text = text.find_first_not_of(" \t\r\n") == std::string::npos;
    m.text(std::move(text));
  });
  // A message with nothing in it is a text that never came (an empty pipe, a file not
  // saved); beside an attachment or an HTML body an empty text may be meant.
  if (empty_text && o.attach.empty() && o.html.empty())
    throw envoi::invalid_input(
        "--text", (o.text == "-" ? std::string("standard input") : "\"" + o.text + "\"") +
                      " is empty, and nothing else would be sent: write "
                      "the message there first");
  if (empty_text) std::cerr << "warning: --text: the text is empty\n";
  if (!o.html.empty())
    set_body(o.html, "--html", [&](std::string html) { m.html(std::move(html)); });
  for (const auto& path : o.attach) {
    if (auto problem = file_problem(path); !problem.empty())
      throw envoi::invalid_input("--attach", problem);
    // An empty document is a failed export far more often than something to send.
    std::error_code ec;
    if (std::filesystem::is_regular_file(path, ec) && std::filesystem::file_size(path, ec) == 0)
      throw envoi::invalid_input("--attach",
                                 path + ": is empty (0 bytes); was the document saved?");
    try {
      m.attach(envoi::attachment::from_file(path));
    } catch (const envoi::invalid_input& e) {
      // A pipe or a device: the library says what it is; here the option is the field.
      throw envoi::invalid_input("--attach", e.reason());
    }
  }
  return m;
}

// One line per recipient the server answered, and the exit status: `status` unless a
// recipient was refused for good (1), or some got the message while others were refused
// for now: sending it again would deliver it twice, so that is 1 too, and the recipients
// to try again later are named.
// `outcome_unknown`: the whole message went out and its verdict never came. `ended_at`:
// the step a failure ended the session in; from RCPT on, a recipient the server never
// answered for gets a line too.
int report_recipients(const std::vector<envoi::smtp::recipient_result>& recipients, int status,
                      bool outcome_unknown = false, envoi::step ended_at = envoi::step::none) {
  std::size_t got = 0;
  std::string again, refused;
  for (const auto& r : recipients) {
    if (r.reply.empty()) {
      if (ended_at >= envoi::step::rcpt && !outcome_unknown) {
        std::cerr << "not sent to " << r.address << " (the session ended before the server "
                  << "answered for it)\n";
        again += (again.empty() ? "" : ", ") + r.address;
      }
      continue;
    }
    const std::string reply = r.reply.to_string();
    if (r.delivered) {
      std::cerr << "accepted " << r.address << ": " << reply << '\n';
      ++got;
    } else if (r.accepted()) {
      // The address was taken, but the message did not follow, or its fate is unknown.
      std::cerr << (outcome_unknown ? "may have got it " : "not sent to ") << r.address
                << " (its address was accepted: " << reply << ")\n";
    } else if (r.reply.transient()) {
      std::cerr << "refused for now " << r.address << ": " << reply << '\n';
      again += (again.empty() ? "" : ", ") + r.address;
    } else {
      // RFC 3463 5.1.x: the address itself is wrong.
      const bool address = r.reply.enhanced.rfind("5.1.", 0) == 0;
      std::cerr << "refused " << r.address << ": " << reply
                << (address ? " (check the address)" : "") << '\n';
      refused += (refused.empty() ? "" : ", ") + r.address;
    }
  }
  // A partial delivery is easy to miss among the lines above.
  if (got > 0 && got < recipients.size())
    std::cerr << "envoi: " << got << " of " << recipients.size() << " recipients got the message\n";
  if (got > 0 && !again.empty())
    std::cerr << "envoi: send it again later to " << again << " only\n";
  if (got > 0 && !refused.empty())
    std::cerr << "envoi: refused for good, not to be sent again as it is: " << refused << '\n';
  if (got > 0 && (!again.empty() || !refused.empty())) return exit_refused;
  if (!refused.empty()) return exit_refused;
  if (!again.empty() && status == exit_ok) return exit_transient;
  return status;
}

// Edits (insertions, deletions, substitutions) that turn `a` into `b`.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// ", did you mean --x?" for a misspelt or guessed option of `command`, or "".
std::string meant_option(const CLI::App& command, const std::string& word) {
  const std::string name = word.substr(0, word.find('='));
  // Words other programs use for what envoi calls otherwise.
  static const std::pair<std::string_view, std::string_view> synonyms[] = {
      {"--body", "--text"},          {"--message", "--text"}, {"--attachment", "--attach"},
      {"--attachments", "--attach"}, {"--file", "--attach"},  {"--to-address", "--to"}};
  for (const auto& [said, meant] : synonyms)
    if (name == said && command.get_option_no_throw(std::string(meant)) != nullptr)
      return ", did you mean " + std::string(meant) + "?";
  if (name == "--from" && command.get_name() == "send")
    return "; the sender is the site's (or user's) from in the configuration, chosen with "
           "--site and --user";
  std::string best;
  std::size_t best_distance = 3;
  for (const CLI::Option* option : command.get_options()) {
    for (const std::string& long_name : option->get_lnames()) {
      const std::size_t d = edit_distance(name, "--" + long_name);
      if (d < best_distance) {
        best_distance = d;
        best = "--" + long_name;
      }
    }
  }
  return best.empty() ? std::string() : ", did you mean " + best + "?";
}

// Why the account's password cannot be read, or "" when it can or none is needed; the
// key that names it in `config` is given too.
std::string password_problem(const envoi::account& a, const std::string& config) {
  if (a.login.empty() || a.token_provider || a.auth == envoi::auth_method::xoauth2 ||
      a.auth == envoi::auth_method::oauthbearer)
    return {};
  try {
    (void)a.password.read();
    return {};
  } catch (const envoi::secret_error& e) {
    const char* key = a.password.file().empty() ? "password_env" : "password_file";
    return "the password cannot be read: " + e.reason() + " (" + key + " in " + config + ")";
  }
}

int send(const send_options& o) {
  const envoi::account_resolver resolver(envoi::load_config(o.config));
  const envoi::resolution chosen = pick_account(resolver, o);
  const envoi::account& account = chosen.account;
  std::cerr << "account: " << chosen.reason << '\n';
  const auto warnings = envoi::check_settings(account);
  for (const auto& w : warnings) std::cerr << "warning: " << w.text << " [" << w.code << "]\n";
  const auto m = build_message(o, account);
  auto env = m.make_envelope();
  // The site's verification copy goes in the envelope only, once.
  if (account.bcc_copy) env.add_recipient(*account.bcc_copy);

  // The password is read before connecting, so that a missing one is not hidden behind a
  // network error; a dry run only warns, since it sends nothing.
  const std::string unreadable = password_problem(account, o.config.string());
  if (!unreadable.empty() && !o.dry_run) {
    std::cerr << "envoi: not sent: " << unreadable << '\n';
    return exit_usage;
  }
  if (!unreadable.empty()) std::cerr << "warning: " << unreadable << '\n';
  // A password others on the machine can read is not much of a secret.
  if (const auto file = account.password.file(); !file.empty()) {
    std::error_code ec;
    using std::filesystem::perms;
    const perms mode = std::filesystem::status(file, ec).permissions();
    if (!ec && (mode & (perms::group_read | perms::others_read)) != perms::none)
      std::cerr << "warning: the password file " << file.string()
                << " can be read by other users of this machine; make it yours alone (chmod 600 "
                << file.string() << ")\n";
  }

  // A dry run shows the message on stdout, as it goes to a server without 8BITMIME (a
  // server offering it gets 8-bit text parts), and the envelope on stderr.
  if (o.dry_run) {
    std::cerr << "MAIL FROM:<" << env.mail_from << ">\n";
    for (const auto& r : env.recipients) std::cerr << "RCPT TO:<" << r << ">\n";
    std::cout << m.render() << std::flush;
    if (!std::cout)
      throw std::runtime_error("the message could not be written to stdout (" +
                               std::generic_category().message(errno) + ")");
    return exit_ok;
  }
  // Someone is waiting at the terminal: a submission server greets within seconds, and
  // one that says nothing for a minute is most often a TLS port reached with starttls.
  // On 465 with starttls, which the warnings above flag, silence is all but certain, and
  // a quarter of a minute still covers a server that delays its greeting on purpose.
  // The config's timeout_seconds or timeouts.greeting, when set, is kept.
  envoi::account sending = account;
  const bool silence_expected = std::any_of(
      warnings.begin(), warnings.end(), [](const auto& w) { return w.code == "starttls_on_465"; });
  if (!sending.step_timeout && sending.timeouts.greeting == envoi::smtp_timeouts{}.greeting)
    sending.timeouts.greeting = std::chrono::seconds(silence_expected ? 15 : 60);
  std::cerr << "server: " << account.host << " port " << account.port << ", "
            << to_string(account.security) << '\n';
  envoi::smtp::client client(sending);
  // The library redacts AUTH data and the message before the sink sees them.
  if (o.transcript)
    client.set_transcript([](envoi::smtp::transcript_direction d, std::string_view line) {
      using envoi::smtp::transcript_direction;
      std::cerr << (d == transcript_direction::sent       ? "C: "
                    : d == transcript_direction::received ? "S: "
                                                          : "* ")
                << line << '\n';
    });
  if (!o.log.empty()) {
    envoi::log_level threshold = envoi::log_level::info;
    envoi::parse_log_level(o.log, threshold);
    client.set_log(
        {[](const envoi::log_event& e) { std::cerr << "log: " << format(e) << '\n'; }, threshold});
  }
  try {
    const auto report = client.send(env, m);
    client.quit();
    const int status = report_recipients(report.recipients, exit_ok);
    std::cerr << "message: " << report.final_reply.to_string() << '\n';
    return status;
  } catch (const envoi::smtp::send_error& e) {
    // Any TLS failure is 3, as the command's contract says: a certificate the provider
    // let expire is renewed, and the error says what to set when it is ours to change.
    int status = e.is_transient() || e.code() == envoi::errc::certificate_untrusted ? exit_transient
                                                                                    : exit_refused;
    // Only the configuration can fix these: the password's source, a file, a login with
    // security "none" for a server on another machine, a port whose server offers no
    // STARTTLS, or a login where the server (or the security chosen) offers none.
    if (e.code() == envoi::errc::secret_unavailable || e.code() == envoi::errc::local_failure ||
        e.code() == envoi::errc::plaintext_auth_refused ||
        e.code() == envoi::errc::starttls_not_offered || e.code() == envoi::errc::auth_not_offered)
      status = exit_usage;
    // A server that answers in something other than SMTP: the host or the port is wrong.
    if (e.code() == envoi::errc::protocol_error && e.report().failed_step == envoi::step::greeting)
      status = exit_usage;
    if (e.report().outcome_unknown) {
      (void)report_recipients(e.report().recipients, status, true);
      std::cerr << "envoi: outcome unknown: " << e.what()
                << "\nenvoi: do not send it again before checking with the recipients or the "
                   "server's administrator, or they may get it twice\n";
      return exit_unknown;
    }
    status = report_recipients(e.report().recipients, status, false, e.step());
    std::cerr << "envoi: not sent: " << e.what() << '\n';
    if (e.code() == envoi::errc::auth_failed)
      std::cerr << "envoi: check the login and the password (copied whole, without spaces "
                   "around it); many providers (Gmail, Yahoo, iCloud) take an app password "
                   "made in the account's security settings instead of the usual one: "
                   "envoi preset "
                << account.sender.address() << " says what this one wants\n";
    return status;
  }
}

struct preset_options {
  std::string address, relay, site = "ID", dns_server;
  bool no_dns = false, relay_given = false, site_given = false;
};

// `text` as "# " comment lines of at most about 88 columns, the first one opened by
// `bullet`, the others indented under it.
void print_comment(std::ostream& out, const std::string& text, const std::string& bullet = "") {
  constexpr std::size_t width = 88;
  const std::string indent = "# " + std::string(bullet.size(), ' ');
  std::string line = "# " + bullet;
  bool empty = true;
  std::istringstream words(text);
  for (std::string word; words >> word;) {
    if (!empty && line.size() + 1 + word.size() > width) {
      out << line << '\n';
      line = indent;
      empty = true;
    }
    if (!empty) line += ' ';
    line += word;
    empty = false;
  }
  out << line << '\n';
}

// A TOML basic string: the settings hold no control characters, only quotes to escape.
std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + '"';
}

// ENVOI_<SITE>_PASSWORD, with what is not a letter or digit turned into '_'.
// ENVOI_SUD_PASSWORD: the variable the printed settings name for the site's `secret`.
std::string site_variable(const std::string& site, const std::string& secret) {
  std::string name = "ENVOI_";
  for (const unsigned char c : site)
    name += std::isalnum(c) ? static_cast<char>(std::toupper(c)) : '_';
  return name + "_" + secret;
}

// Prints the suggestion as a site ready to paste into envoi.toml, its notes as TOML
// comments, so that the whole output still loads as TOML.
int preset(const preset_options& o) {
  // The site's name becomes a bare TOML key.
  if (o.site.empty() ||
      o.site.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789_-") != std::string::npos)
    throw envoi::invalid_input(
        "--site", "expected ASCII letters, digits, '_' or '-', got \"" + o.site + "\"");
  envoi::settings_suggestion s;
  if (o.relay_given || !o.relay.empty()) {
    const auto found = envoi::suggest_relay(o.relay, o.address);
    if (!found) {
      std::string names;
      for (const auto n : envoi::relay_names())
        names += (names.empty() ? "" : ", ") + std::string(n);
      std::cerr << "envoi: --relay: no relay called \"" << o.relay << "\"; known relays: " << names
                << '\n';
      return exit_usage;
    }
    s = *found;
  } else {
    envoi::suggest_options options;
    options.use_dns = !o.no_dns;
    options.dns.server = o.dns_server;
    s = envoi::suggest_settings(o.address, options);
  }
  (void)envoi::mailbox::parse(o.address);  // a bad address is a usage error

  // Nothing to paste: the advice goes to stderr, so that `> envoi.toml` neither swallows
  // it nor leaves a file without a site.
  if (s.source == envoi::suggestion_source::none) {
    std::cerr << "# No settings known for " << o.address << ".\n";
    for (const auto& note : s.notes) print_comment(std::cerr, note, "- ");
    return s.dns_failed ? exit_transient : exit_refused;
  }

  std::cout << "# Settings for " << o.address;
  if (!s.provider.empty()) std::cout << " (" << s.provider << ")";
  std::cout << ".\n";
  print_comment(std::cout, "Found from: " + s.evidence + ".");
  print_comment(std::cout, o.site_given ? "Paste into envoi.toml."
                                        : "Paste into envoi.toml; replace " + o.site +
                                              " by the site's name if you have several.");
  std::cout << "[sites." << o.site << "]\n"
            << "from = " << toml_string(o.address) << "\n\n"
            << "[sites." << o.site << ".smtp]\n"
            << "host = " << toml_string(s.host) << "\n"
            << "port = " << s.port << "\n"
            << "security = \"" << to_string(s.security) << "\"\n";
  const bool oauth2_only = s.oauth2 && !s.password;
  std::cout << "auth = " << (oauth2_only ? "\"xoauth2\"" : "\"auto\"") << "\n"
            << "login = " << toml_string(s.login)
            << (s.login_is_placeholder ? "  # replace by yours" : "") << "\n";
  if (oauth2_only) {
    // No password works here: a password line would load and fail at the server. Until
    // the table is filled, envoi refuses the site and says that it needs one.
    const std::string table = "sites." + o.site + ".smtp.oauth2";
    std::cout << "# The provider takes no password: uncomment this table and fill it in once an\n"
              << "# application is registered with it (see below).\n"
              << "# [" << table << "]\n"
              << "# token_url = \"the provider's token endpoint, https://...\"\n"
              << "# client_id = \"the application's id\"\n"
              << "# refresh_token_env = " << toml_string(site_variable(o.site, "REFRESH_TOKEN"))
              << "\n";
  } else {
    std::cout << "password_env = " << toml_string(site_variable(o.site, "PASSWORD"))
              << "  # password: " << s.password_hint << "\n";
  }
  if (!s.notes.empty()) {
    std::cout << "\n# Before sending:\n";
    for (const auto& note : s.notes) print_comment(std::cout, note, "- ");
  }
  return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"envoi: sends e-mail through the accounts of a configuration"};
  app.require_subcommand(1);
  send_options o;
  auto* cmd = app.add_subcommand("send", "send one message");
  cmd->footer(
      "Exit status: 0 every recipient accepted; 1 refused for good (5xx), or refused for now "
      "while other recipients got it; 2 usage or configuration error (an unreadable "
      "password, a login with security \"none\" for another machine, a host and port where "
      "no mail server answers, or a server offering no STARTTLS or no login the account can "
      "use, too); 3 nobody got it and it may pass (connection, TLS, time-out, 4xx): try "
      "again later; 4 the whole message went out but the server's verdict never came: it may have "
      "been delivered, so check before sending it again.");
  cmd->add_option("--config", o.config, "configuration file (default envoi.toml)");
  cmd->add_option("--site", o.site, "the site whose account sends");
  cmd->add_option("--user", o.user, "the user who writes (correspondence)");
  cmd->add_option("--purpose", o.purpose, "reminder or correspondence")
      ->check(CLI::IsMember({"reminder", "correspondence"}));
  cmd->add_option("--to", o.to, "a recipient, 'Name <addr>' or 'addr'")->required();
  cmd->add_option("--cc", o.cc, "a copy recipient");
  cmd->add_option("--bcc", o.bcc, "a blind copy recipient (envelope only)");
  cmd->add_option("--subject", o.subject, "the subject, UTF-8")->required();
  cmd->add_option("--text", o.text, "the text body: a UTF-8 file, or - for stdin")->required();
  cmd->add_option("--html", o.html, "an HTML body, a UTF-8 file");
  cmd->add_option("--attach", o.attach, "a file to attach");
  cmd->add_flag("--dry-run", o.dry_run,
                "print the message instead of sending it (text parts in quoted-printable, as "
                "for a server without 8BITMIME)");
  cmd->add_flag("--transcript", o.transcript, "show the SMTP dialogue on stderr");
  cmd->add_option("--log", o.log, "write the library's events at this level and above to stderr")
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}, CLI::ignore_case));

  preset_options p;
  auto* preset_cmd = app.add_subcommand("preset", "suggest the SMTP settings for an address");
  preset_cmd->footer(
      "Exit status: 0 settings found; 1 nothing known for the address; 2 not an address, or "
      "an unknown relay; 3 nothing found because DNS did not answer.");
  preset_cmd->add_option("ADDRESS", p.address, "the sender's address")->required();
  preset_cmd->add_option("--relay", p.relay, "settings of a relay instead (mailjet, brevo...)");
  preset_cmd->add_option("--site", p.site, "the site's name in the printed settings");
  preset_cmd->add_option("--dns-server", p.dns_server, "ask this DNS server (IPV4:PORT)");
  preset_cmd->add_flag("--no-dns", p.no_dns, "use the built-in table alone");

  // A misspelt command would otherwise be reported as a missing one.
  if (argc > 1 && argv[1][0] != '-') {
    std::string names;
    bool known = false;
    for (const auto* c : app.get_subcommands([](CLI::App*) { return true; })) {
      names += (names.empty() ? "" : " and ") + c->get_name();
      known = known || c->get_name() == argv[1];
    }
    if (!known) {
      std::cerr << "envoi: unknown command \"" << argv[1] << "\"; the commands are " << names
                << " (see envoi --help)\n";
      return exit_usage;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 lists every word it could not place; a misspelt option is the one to name,
    // also before "--text is required" when it was meant to be --text (--body, say).
    for (const auto* command : {cmd, preset_cmd}) {
      for (const auto& word : command->remaining()) {
        if (word.size() > 1 && word.front() == '-') {
          std::cerr << "envoi " << command->get_name() << ": unknown option " << word
                    << meant_option(*command, word) << " (see envoi " << command->get_name()
                    << " --help)\n";
          return exit_usage;
        }
      }
    }
    return app.exit(e) == 0 ? exit_ok : exit_usage;
  }
  try {
    p.relay_given = preset_cmd->count("--relay") > 0;
    p.site_given = preset_cmd->count("--site") > 0;
    if (preset_cmd->parsed()) return preset(p);
    return send(o);
  } catch (const envoi::invalid_input& e) {
    std::cerr << "envoi: " << e.what() << '\n';
    return exit_usage;
  } catch (const std::exception& e) {
    std::cerr << "envoi: " << e.what() << '\n';
    return exit_usage;
  }
}
