#include <envoi/config.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <optional>
#include <string_view>

#include <fmt/format.h>
#include <toml++/toml.h>

#include <envoi/error.hpp>

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
      if (k.str() == "dkim" || k.str() == "quota" || k.str() == "outbox")
        fail(k.source(), key, "is not supported yet by this version of envoi; remove it");
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
  if (auto s = n.as_string())
    for (const auto& [name, value] : choices)
      if (s->get() == name) return value;
  std::array<std::string_view, N> names;
  for (std::size_t i = 0; i < N; ++i) names[i] = choices[i].first;
  r.fail(n.source(), key,
         fmt::format("expected one of {}, got {}", fmt::join(names, ", "), shown(n)));
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

  // Two sources would leave the reader guessing which one wins.
  const auto* env = t.get("password_env");
  const auto* file = t.get("password_file");
  if (env && file) {
    const auto* later = env->source().begin > file->source().begin ? env : file;
    r.fail(later->source(), key(later == env ? "password_env" : "password_file"),
           "set either password_env or password_file, not both");
  }
  if (env)
    acct.password = secret_ref::from_env(
        string_at(r, *env, key("password_env"), "an environment variable's name"));
  if (file)
    acct.password = secret_ref::from_file(
        r.resolve(string_at(r, *file, key("password_file"), "a file's path")));

  // Without a password there is nothing to authenticate with, so no login either: the
  // server is then one that relays for this machine (a local Postfix, say).
  if (auto n = t.get("login")) {
    auto login = n->as_string();
    if (login == nullptr)
      r.fail(n->source(), key("login"), fmt::format("expected a string, got {}", shown(*n)));
    if (!login->get().empty() && acct.password.empty())
      r.fail(n->source(), key("login"), "a login needs password_env or password_file");
    acct.login = login->get();
  } else if (!acct.password.empty()) {
    acct.login = acct.sender.address();
  }
}

// [X.smtp], the same for sites and users.
void read_smtp(const reader& r, const toml::table& t, std::string_view prefix, account& acct) {
  r.check_keys(t, prefix,
               std::array{"host"sv, "port"sv, "security"sv, "auth"sv, "login"sv, "password_env"sv,
                          "password_file"sv, "ca_file"sv, "tls_fingerprint_sha256"sv, "ehlo_name"sv,
                          "timeout_seconds"sv});
  read_server(r, t, prefix, acct);
  read_credentials(r, t, prefix, acct);
}

mailbox mailbox_at(const reader& r, const toml::node& n, std::string_view key) {
  return mailbox::parse(string_at(r, n, key, "a mail address"), r.field(n, key));
}

site read_site(const reader& r, const std::string& id, const toml::table& t) {
  const auto prefix = fmt::format("sites.{}", id);
  r.check_keys(t, prefix,
               std::array{"name"sv, "from"sv, "bcc_copy"sv, "shared_account"sv, "smtp"sv});
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

  // Whether users of the site send through the site's account. Accepted so that files
  // written for the full design load; account resolution does not use it yet.
  if (auto n = t.get("shared_account"); n && !n->is_boolean())
    r.fail(n->source(), key("shared_account"),
           fmt::format("expected true or false, got {}", shown(*n)));

  if (auto n = t.get("smtp"))
    read_smtp(r, table_at(r, *n, key("smtp")), key("smtp"), s.account);
  else
    r.fail(t.source(), key("smtp"), fmt::format("missing; expected a [{}] table", key("smtp")));
  return s;
}

// User accounts are parsed and checked but not used yet: mail leaves through site accounts.
void read_user(const reader& r, const std::string& id, const toml::table& t, const config& cfg) {
  const auto prefix = fmt::format("users.{}", id);
  r.check_keys(t, prefix, std::array{"site"sv, "from"sv, "smtp"sv});
  const auto key = [&](std::string_view k) { return join(prefix, k); };

  if (auto n = t.get("site")) {
    const auto site_id = string_at(r, *n, key("site"), "a site's id");
    if (!cfg.sites.contains(site_id))
      r.fail(n->source(), key("site"),
             fmt::format("no [sites.{}] in this file; expected one of the sites' ids", site_id));
  } else {
    r.fail(t.source(), key("site"), "missing; expected the id of the user's site");
  }

  account acct;
  if (auto n = t.get("from"))
    acct.sender = mailbox_at(r, *n, key("from"));
  else
    r.fail(t.source(), key("from"), "missing; expected the user's address");
  if (auto n = t.get("smtp")) read_smtp(r, table_at(r, *n, key("smtp")), key("smtp"), acct);
}

}  // namespace

config load_config(const std::filesystem::path& path) {
  const reader r(path);
  const auto text = detail::read_text_file(path, "the configuration file");

  toml::table doc;
  try {
    doc = toml::parse(text, r.file());
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    throw invalid_input(fmt::format("{}:{}:{}", r.file(), at.line, at.column),
                        fmt::format("TOML syntax error: {}", e.description()));
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
      read_user(r, std::string(id.str()), table_at(r, v, key), cfg);
    }
  }
  return cfg;
}

}  // namespace envoi
