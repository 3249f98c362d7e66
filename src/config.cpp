#include <envoi/config.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string_view>
#include <system_error>

#include <fmt/format.h>
#include <toml++/toml.h>

#include <envoi/error.hpp>
#include <envoi/oauth2_endpoint.hpp>
#include <envoi/preset.hpp>

#include "mime/encoding.hpp"
#include "text_file.hpp"

namespace envoi {
namespace {

using namespace std::string_view_literals;

// The people who edit this file are not technicians: every message names the file, the
// line and the full key, says what was expected and shows what was found.
class reader {
 public:
  explicit reader(const std::filesystem::path& path)
      : file_(path.string()), folder_(path.parent_path()) {}

  const std::string& file() const { return file_; }

  [[noreturn]] void fail(const toml::source_region& where, std::string_view key,
                         const std::string& reason) const {
    throw invalid_input(fmt::format("{}:{}: {}", file_, where.begin.line, key), reason);
  }

  // The field text of a key, for callers (mailbox::parse) that throw it themselves.
  std::string field(const toml::node& n, std::string_view key) const {
    return fmt::format("{}:{}: {}", file_, n.source().begin.line, key);
  }

  // Relative paths in the file mean "next to the file", not "next to wherever the
  // application happens to run".
  std::filesystem::path resolve(const std::string& p) const {
    std::filesystem::path path(p);
    return path.is_relative() ? folder_ / path : path;
  }

  // Refuses keys a table must not hold, at the key's own line.
  template <std::size_t N>
  void check_keys(const toml::table& t, std::string_view prefix,
                  const std::array<std::string_view, N>& allowed) const {
    for (auto&& [k, v] : t) {
      bool known = false;
      for (auto a : allowed) known = known || k.str() == a;
      if (known) continue;
      const auto key =
          prefix.empty() ? std::string(k.str()) : fmt::format("{}.{}", prefix, k.str());
      if (k.str() == "outbox")
        fail(k.source(), key, "is not supported yet by this version of envoi; remove it");
      // The value is not quoted back: it is a secret.
      if (k.str() == "password" || k.str() == "client_secret" || k.str() == "refresh_token")
        fail(k.source(), key,
             fmt::format("secrets never go in this file: put it in an environment variable "
                         "and name that with {0}_env, or in a file named by {0}_file",
                         k.str()));
      fail(k.source(), key,
           fmt::format("unknown key; expected one of {}", fmt::join(allowed, ", ")));
    }
  }

 private:
  std::string file_;
  std::filesystem::path folder_;
};

std::string shown(const toml::node& n) {
  if (auto s = n.as_string()) return fmt::format("\"{}\"", s->get());
  if (auto i = n.as_integer()) return std::to_string(i->get());
  if (auto f = n.as_floating_point()) return fmt::format("{}", f->get());
  if (auto b = n.as_boolean()) return b->get() ? "true" : "false";
  if (n.is_table()) return "a table";
  if (n.is_array()) return "an array";
  return "a date or time";
}

const toml::table& table_at(const reader& r, const toml::node& n, std::string_view key) {
  if (auto t = n.as_table()) return *t;
  r.fail(n.source(), key, fmt::format("expected a table ([{}]), got {}", key, shown(n)));
}

std::string string_at(const reader& r, const toml::node& n, std::string_view key,
                      std::string_view what) {
  auto s = n.as_string();
  if (s == nullptr || s->get().empty())
    r.fail(n.source(), key,
           fmt::format("expected {} as a non-empty string, got {}", what, s ? "\"\"" : shown(n)));
  return s->get();
}

std::int64_t integer_at(const reader& r, const toml::node& n, std::string_view key,
                        std::int64_t low, std::int64_t high) {
  auto i = n.as_integer();
  if (i == nullptr || i->get() < low || i->get() > high)
    r.fail(n.source(), key,
           fmt::format("expected an integer from {} to {}, got {}", low, high, shown(n)));
  return i->get();
}

template <std::size_t N, typename T>
T choice_at(const reader& r, const toml::node& n, std::string_view key,
            const std::array<std::pair<std::string_view, T>, N>& choices) {
  // "LOGIN" and "STARTTLS" are how providers' help pages write them.
  const auto* s = n.as_string();
  const std::string given = s != nullptr ? mime::ascii_lower(s->get()) : std::string();
  if (s != nullptr)
    for (const auto& [name, value] : choices)
      if (given == name) return value;
  std::array<std::string_view, N> names;
  for (std::size_t i = 0; i < N; ++i) names[i] = choices[i].first;
  std::string hint;
  if (given == "ssl" || given == "ssl/tls")
    hint = " (\"SSL\" is called tls here: TLS from the first byte, usually port 465)";
  r.fail(n.source(), key,
         fmt::format("expected one of {}, got {}{}", fmt::join(names, ", "), shown(n), hint));
}

std::string join(std::string_view prefix, std::string_view key) {
  return fmt::format("{}.{}", prefix, key);
}

// Where the server is and how to talk to it.
void read_server(const reader& r, const toml::table& t, std::string_view prefix, account& acct) {
  const auto key = [&](std::string_view k) { return join(prefix, k); };
  if (auto n = t.get("security")) {
    acct.security = choice_at(
        r, *n, key("security"),
        std::array{std::pair{"starttls"sv, security::starttls}, std::pair{"tls"sv, security::tls},
                   std::pair{"none"sv, security::none}});
  }
  // Each security mode has its well-known port (RFC 8314 for 465, RFC 6409 for 587).
  acct.port = acct.security == security::tls ? 465 : acct.security == security::none ? 25 : 587;
  if (auto n = t.get("port"))
    acct.port = static_cast<std::uint16_t>(integer_at(r, *n, key("port"), 1, 65535));

  if (auto n = t.get("host")) {
    acct.host = string_at(r, *n, key("host"), "the SMTP server's name");
    // "host:port" has one colon; an IPv6 address has at least two.
    if (acct.host.find_first_of("/ ") != std::string::npos ||
        std::count(acct.host.begin(), acct.host.end(), ':') == 1)
      r.fail(n->source(), key("host"),
             fmt::format("expected a server name alone, got \"{}\"; the port goes in port = ...",
                         acct.host));
  } else
    r.fail(t.source(), key("host"),
           "missing; expected the SMTP server's name, e.g. host = \"smtp.example.com\"");

  if (auto n = t.get("ca_file")) {
    acct.ca_file = r.resolve(string_at(r, *n, key("ca_file"), "a PEM file's path"));
    // Checked now: at send time a bad CA file would look like an untrusted server.
    std::ifstream in(acct.ca_file);
    const std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in && pem.empty())
      r.fail(n->source(), key("ca_file"),
             fmt::format("cannot read \"{}\"; expected a PEM file of certificates",
                         acct.ca_file.string()));
    if (pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos)
      r.fail(n->source(), key("ca_file"),
             fmt::format("\"{}\" holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                         acct.ca_file.string()));
  }
  if (auto n = t.get("tls_fingerprint_sha256")) {
    const auto text = string_at(r, *n, key("tls_fingerprint_sha256"), "a SHA-256 fingerprint");
    try {
      acct.tls_fingerprint_sha256 = sha256_fingerprint(text);
    } catch (const invalid_input& e) {
      r.fail(n->source(), key("tls_fingerprint_sha256"), e.reason());
    }
  }
  if (auto n = t.get("ehlo_name"))
    acct.ehlo_name = string_at(r, *n, key("ehlo_name"), "this machine's host name");
  if (auto n = t.get("timeout_seconds"))
    acct.step_timeout = std::chrono::seconds(integer_at(r, *n, key("timeout_seconds"), 1, 3600));
}

// The login a provider expects when none is written: the sender's address for most, the
// local part alone for those (free.fr, laposte.net) whose preset says so.
std::string default_login(const mailbox& sender) {
  const auto p = find_preset(sender.address());
  if (p && p->login == login_form::local_part) return std::string(sender.local_part());
  return sender.address();
}

// A secret given as NAME_env (an environment variable) or NAME_file (a file's path);
// empty when neither is set. Two sources would leave the reader guessing which one wins.
secret_ref secret_at(const reader& r, const toml::table& t, std::string_view prefix,
                     std::string_view name) {
  const std::string env_key = std::string(name) + "_env";
  const std::string file_key = std::string(name) + "_file";
  const auto* env = t.get(env_key);
  const auto* file = t.get(file_key);
  if (env && file) {
    const auto* later = env->source().begin > file->source().begin ? env : file;
    r.fail(later->source(), join(prefix, later == env ? env_key : file_key),
           fmt::format("set either {} or {}, not both", env_key, file_key));
  }
  if (env) {
    std::string variable =
        string_at(r, *env, join(prefix, env_key), "an environment variable's name");
    // The value is not quoted back: it may be the password itself, pasted here. Names in
    // capitals only: a pasted password nearly always has a small letter, and the name is
    // printed when the variable is unset.
    if (variable.size() > 1 && variable.front() == '$' &&
        is_environment_variable_name(variable.substr(1)))
      r.fail(env->source(), join(prefix, env_key), "write the variable's name without the '$'");
    const bool capitals =
        std::none_of(variable.begin(), variable.end(), [](char c) { return c >= 'a' && c <= 'z'; });
    if (!is_environment_variable_name(variable) || !capitals)
      r.fail(env->source(), join(prefix, env_key),
             "expected the name of the environment variable that holds the secret (capital "
             "letters, digits and '_', not starting with a digit), such as ENVOI_SUD_PASSWORD; "
             "the secret itself never goes in this file");
    return secret_ref::from_env(std::move(variable));
  }
  if (file) {
    const std::string written = string_at(r, *file, join(prefix, file_key), "a file's path");
    auto path = r.resolve(written);
    // A value with neither '/' nor '.' that names no file is most likely the secret
    // itself, pasted here; it is not quoted back, as the error would print it.
    std::error_code ec;
    if (written.find_first_of("/.") == std::string::npos && !std::filesystem::exists(path, ec))
      r.fail(file->source(), join(prefix, file_key),
             "no file of that name beside the configuration: expected the path of the file that "
             "holds the secret, such as /etc/envoi/sud.password; the secret itself never goes "
             "in this file");
    return secret_ref::from_file(std::move(path));
  }
  return {};
}
// Who to log in as. Needs acct.sender, the default login.
void read_credentials(const reader& r, const toml::table& t, std::string_view prefix,
                      account& acct) {
  const auto key = [&](std::string_view k) { return join(prefix, k); };
  if (auto n = t.get("auth")) {
    acct.auth = choice_at(r, *n, key("auth"),
                          std::array{std::pair{"auto"sv, auth_method::automatic},
                                     std::pair{"plain"sv, auth_method::plain},
                                     std::pair{"login"sv, auth_method::login},
                                     std::pair{"cram-md5"sv, auth_method::cram_md5},
                                     std::pair{"xoauth2"sv, auth_method::xoauth2},
                                     std::pair{"oauthbearer"sv, auth_method::oauthbearer}});
  }

  acct.password = secret_at(r, t, prefix, "password");

  // Without a password or a token there is nothing to authenticate with, so no login
  // either: the server is then one that relays for this machine (a local Postfix, say).
  const bool credentials = !acct.password.empty() || acct.token_provider != nullptr;
  if (auto n = t.get("login")) {
    auto login = n->as_string();
    if (login == nullptr)
      r.fail(n->source(), key("login"), fmt::format("expected a string, got {}", shown(*n)));
    if (!login->get().empty() && !credentials)
      r.fail(n->source(), key("login"),
             "a login needs password_env, password_file or an [oauth2] table");
    acct.login = login->get();
  } else if (credentials) {
    acct.login = default_login(acct.sender);
  }
}

// [X.smtp.oauth2]: access tokens from the provider's token endpoint, for XOAUTH2 and
// OAUTHBEARER (Gmail, Microsoft 365).
void read_oauth2(const reader& r, const toml::table& t, std::string_view prefix, account& acct) {
  r.check_keys(t, prefix,
               std::array{"token_url"sv, "grant"sv, "client_id"sv, "client_secret_env"sv,
                          "client_secret_file"sv, "refresh_token_env"sv, "refresh_token_file"sv,
                          "scope"sv, "ca_file"sv});
  const auto key = [&](std::string_view k) { return join(prefix, k); };
  oauth2_settings s;
  if (auto n = t.get("token_url")) s.token_url = string_at(r, *n, key("token_url"), "an https URL");
  if (auto n = t.get("grant"))
    s.grant =
        choice_at(r, *n, key("grant"),
                  std::array{std::pair{"refresh_token"sv, oauth2_grant::refresh_token},
                             std::pair{"client_credentials"sv, oauth2_grant::client_credentials}});
  if (auto n = t.get("client_id"))
    s.client_id = string_at(r, *n, key("client_id"), "the application's id at the provider");
  if (auto n = t.get("scope")) s.scope = string_at(r, *n, key("scope"), "space-separated scopes");
  if (auto n = t.get("ca_file"))
    s.ca_file = r.resolve(string_at(r, *n, key("ca_file"), "a PEM file's path"));
  s.client_secret = secret_at(r, t, prefix, "client_secret");
  s.refresh_token = secret_at(r, t, prefix, "refresh_token");
  try {
    acct.token_provider = std::make_shared<oauth2_endpoint_provider>(std::move(s));
  } catch (const invalid_input& e) {
    // Reported at the key to change; a missing one at the table.
    const std::string wrong = e.field() == "refresh_token" ? "refresh_token_env" : e.field();
    const auto* n = t.get(wrong);
    r.fail(n != nullptr ? n->source() : t.source(), key(wrong), e.reason());
  }
}

// [X.smtp.timeouts]: each step's time limit in seconds, in place of RFC 5321's.
void read_timeouts(const reader& r, const toml::table& t, std::string_view prefix,
                   smtp_timeouts& limits) {
  const std::array steps{std::pair{"connect"sv, &smtp_timeouts::connect},
                         std::pair{"tls_handshake"sv, &smtp_timeouts::tls_handshake},
                         std::pair{"greeting"sv, &smtp_timeouts::greeting},
                         std::pair{"ehlo"sv, &smtp_timeouts::ehlo},
                         std::pair{"mail"sv, &smtp_timeouts::mail},
                         std::pair{"rcpt"sv, &smtp_timeouts::rcpt},
                         std::pair{"data_start"sv, &smtp_timeouts::data_start},
                         std::pair{"data_block"sv, &smtp_timeouts::data_block},
                         std::pair{"data_end"sv, &smtp_timeouts::data_end},
                         std::pair{"quit"sv, &smtp_timeouts::quit},
                         std::pair{"total"sv, &smtp_timeouts::total}};
  std::array<std::string_view, steps.size()> names;
  for (std::size_t i = 0; i < steps.size(); ++i) names[i] = steps[i].first;
  r.check_keys(t, prefix, names);
  for (const auto& [name, field] : steps) {
    // total may be 0, for no limit on a whole send.
    if (auto n = t.get(name))
      limits.*field = std::chrono::seconds(
          integer_at(r, *n, join(prefix, name), name == "total" ? 0 : 1, 86400));
  }
}

// [X.smtp], the same for sites and users.
void read_smtp(const reader& r, const toml::table& t, std::string_view prefix, account& acct) {
  r.check_keys(t, prefix,
               std::array{"host"sv, "port"sv, "security"sv, "auth"sv, "login"sv, "password_env"sv,
                          "password_file"sv, "ca_file"sv, "tls_fingerprint_sha256"sv, "ehlo_name"sv,
                          "timeout_seconds"sv, "timeouts"sv, "oauth2"sv});
  read_server(r, t, prefix, acct);
  if (auto n = t.get("timeouts"))
    read_timeouts(r, table_at(r, *n, join(prefix, "timeouts")), join(prefix, "timeouts"),
                  acct.timeouts);
  if (auto n = t.get("oauth2"))
    read_oauth2(r, table_at(r, *n, join(prefix, "oauth2")), join(prefix, "oauth2"), acct);
  read_credentials(r, t, prefix, acct);
}

// [sites.X.quota]: what the provider allows (Gmail about 500 recipients a day, say).
void read_quota(const reader& r, const toml::table& t, std::string_view prefix, quota& q) {
  r.check_keys(t, prefix,
               std::array{"per_second"sv, "per_hour"sv, "per_day"sv, "max_message_bytes"sv});
  const auto key = [&](std::string_view k) { return join(prefix, k); };
  const auto count = [&](std::string_view k, std::int64_t most) -> std::uint32_t {
    const auto* n = t.get(k);
    return n != nullptr ? static_cast<std::uint32_t>(integer_at(r, *n, key(k), 1, most)) : 0;
  };
  q.per_second = count("per_second", 10'000);
  q.per_hour = count("per_hour", 10'000'000);
  q.per_day = count("per_day", 100'000'000);
  if (auto n = t.get("max_message_bytes"))
    q.max_message_bytes =
        static_cast<std::uint64_t>(integer_at(r, *n, key("max_message_bytes"), 1024, 1LL << 40));
}

// [sites.X.dkim]: the signing domain (the sender's by default), selector and key file.
void read_dkim(const reader& r, const toml::table& t, std::string_view prefix, account& acct) {
  r.check_keys(t, prefix, std::array{"domain"sv, "selector"sv, "key_file"sv});
  const auto key = [&](std::string_view k) { return join(prefix, k); };
  const auto required = [&](std::string_view k, std::string_view expected) {
    if (auto n = t.get(k)) return string_at(r, *n, key(k), expected);
    r.fail(t.source(), key(k), fmt::format("missing; expected {}", expected));
  };
  std::string domain(acct.sender.domain());
  if (auto n = t.get("domain")) domain = string_at(r, *n, key("domain"), "the signing domain");
  const std::string selector = required("selector", "the DNS selector, e.g. selector = \"envoi\"");
  const std::string file = required("key_file", "the PEM private key's path");
  try {
    acct.dkim = std::make_shared<const dkim_signer>(
        dkim_signer::from_pem_file(domain, selector, r.resolve(file)));
  } catch (const invalid_input& e) {
    // Reported at the line of the key that is wrong: the signer names it ("dkim.domain");
    // anything else is about the key file.
    std::string_view wrong = "key_file";
    if (e.field() == "dkim.domain") wrong = "domain";
    if (e.field() == "dkim.selector") wrong = "selector";
    const auto* n = t.get(wrong);
    const std::string reason = e.field().starts_with("dkim.") ? e.reason() : std::string(e.what());
    r.fail(n != nullptr ? n->source() : t.source(), key(wrong), reason);
  }
}

mailbox mailbox_at(const reader& r, const toml::node& n, std::string_view key) {
  return mailbox::parse(string_at(r, n, key, "a mail address"), r.field(n, key));
}

site read_site(const reader& r, const std::string& id, const toml::table& t) {
  const auto prefix = fmt::format("sites.{}", id);
  r.check_keys(t, prefix,
               std::array{"name"sv, "from"sv, "bcc_copy"sv, "shared_account"sv, "smtp"sv, "dkim"sv,
                          "quota"sv});
  const auto key = [&](std::string_view k) { return join(prefix, k); };
  site s;
  s.id = id;

  if (auto n = t.get("from"))
    s.account.sender = mailbox_at(r, *n, key("from"));
  else
    r.fail(t.source(), key("from"),
           "missing; expected the sender, e.g. from = \"Clinique <clinique@example.com>\"");

  // The name clients know the clinic by; the sender's display name is usually just that.
  if (auto n = t.get("name"))
    s.name = string_at(r, *n, key("name"), "the clinic's name");
  else
    s.name = s.account.sender.display_name().empty() ? id : s.account.sender.display_name();

  if (auto n = t.get("bcc_copy")) s.account.bcc_copy = mailbox_at(r, *n, key("bcc_copy")).address();

  // Whether users of the site send through the site's account, as most clinics choose.
  if (auto n = t.get("shared_account")) {
    if (!n->is_boolean())
      r.fail(n->source(), key("shared_account"),
             fmt::format("expected true or false, got {}", shown(*n)));
    s.shared_account = n->as_boolean()->get();
  }

  if (auto n = t.get("smtp"))
    read_smtp(r, table_at(r, *n, key("smtp")), key("smtp"), s.account);
  else
    r.fail(t.source(), key("smtp"), fmt::format("missing; expected a [{}] table", key("smtp")));
  if (auto n = t.get("dkim")) read_dkim(r, table_at(r, *n, key("dkim")), key("dkim"), s.account);
  if (auto n = t.get("quota"))
    read_quota(r, table_at(r, *n, key("quota")), key("quota"), s.account.quota);
  return s;
}

// The site ids of a user: `site = "sud"` or `sites = ["sud", "nord"]`, each one known.
std::vector<std::string> read_user_sites(const reader& r, const toml::table& t,
                                         std::string_view prefix, const config& cfg) {
  const auto key = [&](std::string_view k) { return join(prefix, k); };
  const auto* one = t.get("site");
  const auto* many = t.get("sites");
  if (one && many) r.fail(many->source(), key("sites"), "set either site or sites, not both");
  if (!one && !many)
    r.fail(t.source(), key("site"),
           "missing; expected the id of the user's site, or sites = [...] for several");

  std::vector<std::pair<const toml::node*, std::string>> ids;
  if (one) ids.emplace_back(one, string_at(r, *one, key("site"), "a site's id"));
  if (many) {
    const auto* list = many->as_array();
    if (list == nullptr || list->empty())
      r.fail(
          many->source(), key("sites"),
          fmt::format("expected a list of site ids, e.g. sites = [\"sud\"], got {}", shown(*many)));
    for (const auto& item : *list)
      ids.emplace_back(&item, string_at(r, item, key("sites"), "a site's id"));
  }

  std::vector<std::string> sites;
  for (auto& [node, id] : ids) {
    if (!cfg.sites.contains(id))
      r.fail(node->source(), key(one ? "site" : "sites"),
             fmt::format("no [sites.{}] in this file; expected one of the sites' ids", id));
    sites.push_back(std::move(id));
  }
  return sites;
}

user read_user(const reader& r, const std::string& id, const toml::table& t, const config& cfg) {
  const auto prefix = fmt::format("users.{}", id);
  r.check_keys(t, prefix, std::array{"site"sv, "sites"sv, "from"sv, "smtp"sv});
  const auto key = [&](std::string_view k) { return join(prefix, k); };
  user u;
  u.id = id;
  u.sites = read_user_sites(r, t, prefix, cfg);

  if (auto n = t.get("from"))
    u.from = mailbox_at(r, *n, key("from"));
  else
    r.fail(t.source(), key("from"), "missing; expected the user's address");
  if (auto n = t.get("smtp")) {
    account acct;
    acct.sender = u.from;
    read_smtp(r, table_at(r, *n, key("smtp")), key("smtp"), acct);
    u.account = std::move(acct);
  }
  return u;
}

}  // namespace

// The parser's words, led by what to change for the mistakes people make most.
std::string syntax_error(std::string_view parser_says) {
  const auto says = [&](std::string_view s) {
    return parser_says.find(s) != std::string_view::npos;
  };
  std::string hint;
  if (says("parsing string") && says("control characters"))
    hint = "a closing quote (\") is missing";
  else if (says("could not determine value type"))
    hint = "text goes in double quotes, as in name = \"Clinique du Sud\"";
  else if (says("utf-8") || says("UTF-8"))
    hint = "the file is not UTF-8 (saved as Windows-1252 or Latin-1?); save it as UTF-8";
  else if (says("table header") && says("expected ']'"))
    hint = "a [table] name needs its closing ']'";
  if (hint.empty()) return fmt::format("TOML syntax error: {}", parser_says);
  return fmt::format("TOML syntax error: {} ({})", hint, parser_says);
}

config load_config(const std::filesystem::path& path) {
  const reader r(path);
  const auto text = detail::read_text_file(path, "the configuration file");

  toml::table doc;
  try {
    doc = toml::parse(text, r.file());
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    throw invalid_input(fmt::format("{}:{}:{}", r.file(), at.line, at.column),
                        syntax_error(e.description()));
  }
  r.check_keys(doc, "", std::array{"sites"sv, "users"sv});

  // Users refer to sites, which may come later in the file: sites first.
  config cfg;
  if (auto n = doc.get("sites")) {
    for (auto&& [id, v] : table_at(r, *n, "sites")) {
      const auto key = fmt::format("sites.{}", id.str());
      cfg.sites.emplace(std::string(id.str()),
                        read_site(r, std::string(id.str()), table_at(r, v, key)));
    }
  }
  if (auto n = doc.get("users")) {
    for (auto&& [id, v] : table_at(r, *n, "users")) {
      const auto key = fmt::format("users.{}", id.str());
      cfg.users.emplace(std::string(id.str()),
                        read_user(r, std::string(id.str()), table_at(r, v, key), cfg));
    }
  }
  return cfg;
}

}  // namespace envoi
