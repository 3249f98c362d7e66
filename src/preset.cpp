#include <envoi/preset.hpp>

#include <algorithm>
#include <random>

#include <envoi/error.hpp>

#include "dns.hpp"
#include "mime/encoding.hpp"
#include "preset_table.hpp"

namespace envoi {

namespace {

constexpr std::string_view relay_prefix = "relay:";

// The table row for `domain` (lower case, ASCII) or the nearest parent domain that has
// one: `tenant.onmicrosoft.com` finds `onmicrosoft.com`, `aspmx.l.google.com` finds
// `google.com`.
std::optional<preset> lookup_domain(std::string_view domain) {
  const auto table = detail::preset_table();
  while (!domain.empty()) {
    const auto it = std::find_if(table.begin(), table.end(), [&](const preset& p) {
      return p.key == domain && !p.key.starts_with(relay_prefix);
    });
    if (it != table.end()) return *it;
    const auto dot = domain.find('.');
    // A top-level domain alone never names a provider.
    if (dot == std::string_view::npos) break;
    domain.remove_prefix(dot + 1);
    if (domain.find('.') == std::string_view::npos) break;
  }
  return std::nullopt;
}

// The domain of `text` in ASCII lower case, whether `text` is an address or a domain.
std::optional<std::string> domain_of(std::string_view text) {
  if (text.find('@') != std::string_view::npos) {
    try {
      return mime::ascii_lower(mailbox::parse(text).domain());
    } catch (const invalid_input&) {
      return std::nullopt;
    }
  }
  // A bare domain goes through the same conversion as an address's domain.
  try {
    return mime::ascii_lower(mailbox::parse("x@" + std::string(text)).domain());
  } catch (const invalid_input&) {
    return std::nullopt;
  }
}

std::string password_words(const preset& p) {
  if (!p.password_hint.empty()) return std::string(p.password_hint);
  // The ISPDB lists OAuth2 before the password for Gmail, Yahoo and AOL: the password
  // they still accept from other programs is an app password.
  if (p.oauth2 && p.password) return "an app password, not the account's normal password";
  if (p.oauth2) return "nothing that works yet: the provider accepts only OAuth2";
  return "the mailbox's password";
}

// A suggestion from a table row for the sender `sender`.
settings_suggestion from_row(const preset& p, const mailbox& sender, suggestion_source source) {
  settings_suggestion s;
  s.source = source;
  s.provider = p.provider;
  s.host = p.host;
  s.port = p.port;
  s.security = p.security;
  s.oauth2 = p.oauth2;
  s.password = p.password;
  s.password_hint = password_words(p);
  switch (p.login) {
    case login_form::address:
      s.login = sender.address();
      break;
    case login_form::local_part:
      s.login = sender.local_part();
      break;
    case login_form::fixed:
      s.login = p.login_hint;
      break;
    case login_form::credential:
      s.login = p.login_hint;
      s.login_is_placeholder = true;
      break;
  }
  for (const auto note : p.notes) s.notes.emplace_back(note);
  s.evidence = "built-in table (" + std::string(p.source) + ")";
  return s;
}

std::string security_words(security s) {
  return s == security::tls ? "TLS from the first byte" : "STARTTLS";
}

bool within(std::string_view host, std::string_view domain) {
  return host == domain || (host.size() > domain.size() && host.ends_with(domain) &&
                            host[host.size() - domain.size() - 1] == '.');
}

// RFC 6186 with RFC 8314: `_submissions` (TLS from the first byte) before `_submission`
// (STARTTLS). A usable record wins; a "." target says the service is not offered.
struct srv_outcome {
  std::optional<settings_suggestion> found;
  bool declined = false;
  bool unavailable = false;
};

srv_outcome try_srv(detail::dns_resolver& dns, const mailbox& sender, const std::string& domain) {
  srv_outcome out;
  std::mt19937 random(std::random_device{}());
  for (const auto& [service, sec] : {std::pair{"_submissions._tcp.", security::tls},
                                     std::pair{"_submission._tcp.", security::starttls}}) {
    const std::string name = service + domain;
    auto answer = dns.srv(name);
    if (answer.status == detail::dns_status::unavailable) {
      // The server did not answer this query; asking it more would only add waiting.
      out.unavailable = true;
      return out;
    }
    if (answer.status == detail::dns_status::none) continue;
    for (auto& r : detail::order_srv(std::move(answer.records), random)) {
      // RFC 2782: a lone "." target means the domain decidedly does not offer it.
      if (r.target == ".") {
        out.declined = true;
        continue;
      }
      // Port 25 is for relaying between servers (RFC 6409); it is never suggested.
      if (r.port == 25 || r.port == 0) continue;
      settings_suggestion s;
      s.source = suggestion_source::srv;
      s.host = r.target;
      s.port = r.port;
      s.security = sec;
      // RFC 6186 5: try the whole address first.
      s.login = sender.address();
      s.password_hint = "the mailbox's password";
      s.evidence = "DNS SRV " + name + " -> " + r.target + ":" + std::to_string(r.port);
      if (const auto known = lookup_domain(r.target)) {
        s.provider = known->provider;
        for (const auto note : known->notes) s.notes.emplace_back(note);
      }
      s.notes.push_back("These settings come from the domain's DNS (" + security_words(sec) +
                        " on port " + std::to_string(r.port) +
                        "). If the login is refused, try the part of the address before the @.");
      // RFC 6186 6: without DNSSEC the record may be forged; a server outside the
      // sender's domain deserves a look before the password goes to it.
      if (!within(r.target, domain))
        s.notes.push_back("The server " + r.target + " is outside " + domain +
                          ": check with your mail provider that it is theirs before entering "
                          "your password.");
      out.found = std::move(s);
      return out;
    }
  }
  return out;
}

std::optional<settings_suggestion> try_mx(detail::dns_resolver& dns, const mailbox& sender,
                                          const std::string& domain, bool& unavailable) {
  const auto answer = dns.mx(domain);
  if (answer.status == detail::dns_status::unavailable) unavailable = true;
  for (const auto& r : answer.records) {
    const auto known = lookup_domain(r.host);
    if (!known) continue;
    auto s = from_row(*known, sender, suggestion_source::mx);
    s.evidence = "DNS MX " + domain + " -> " + r.host + "; " + s.evidence;
    s.notes.insert(s.notes.begin(),
                   "The mail of " + domain + " is received by " + std::string(known->provider) +
                       " (its MX server is " + r.host +
                       "), so these are that provider's settings. Check with whoever set up "
                       "your domain's mail.");
    return s;
  }
  return std::nullopt;
}

settings_suggestion nothing_known(const std::string& domain) {
  settings_suggestion s;
  s.source = suggestion_source::none;
  s.notes.push_back("envoi knows no settings for " + domain +
                    ". Ask your mail provider for the outgoing (SMTP) server: its name, the "
                    "port (465 or 587), whether it uses TLS or STARTTLS, and the login to use.");
  s.notes.push_back(
      "For reminders sent in bulk, a transactional relay is often simpler "
      "(envoi preset --relay NAME).");
  return s;
}

}  // namespace

std::span<const preset> presets() noexcept {
  return detail::preset_table();
}

std::optional<preset> find_preset(std::string_view address_or_domain) {
  const auto domain = domain_of(address_or_domain);
  if (!domain) return std::nullopt;
  return lookup_domain(*domain);
}

std::optional<preset> find_relay(std::string_view name) {
  std::string key = mime::ascii_lower(name);
  for (const auto& a : detail::relay_aliases())
    if (a.name == key) key = a.target;
  key.insert(0, relay_prefix);
  const auto table = detail::preset_table();
  const auto it =
      std::find_if(table.begin(), table.end(), [&](const preset& p) { return p.key == key; });
  if (it == table.end()) return std::nullopt;
  return *it;
}

std::vector<std::string_view> relay_names() {
  std::vector<std::string_view> names;
  for (const auto& p : detail::preset_table())
    if (p.key.starts_with(relay_prefix)) names.push_back(p.key.substr(relay_prefix.size()));
  return names;
}

settings_suggestion suggest_settings(std::string_view address, const suggest_options& options) {
  const auto sender = mailbox::parse(address);
  const std::string domain = mime::ascii_lower(sender.domain());

  if (const auto p = lookup_domain(domain)) return from_row(*p, sender, suggestion_source::table);
  if (!options.use_dns) return nothing_known(domain);

  detail::dns_resolver dns(options.dns);
  auto srv = try_srv(dns, sender, domain);
  if (srv.found) return std::move(*srv.found);
  if (srv.unavailable) {
    auto s = nothing_known(domain);
    s.dns_failed = true;
    s.notes.insert(s.notes.begin(), "The DNS server did not answer, so envoi could not look up " +
                                        domain +
                                        "'s mail servers. Check the network, or try again.");
    return s;
  }
  if (srv.declined) {
    auto s = nothing_known(domain);
    s.evidence = "DNS SRV: " + domain + " declares that it offers no mail submission";
    s.notes.insert(s.notes.begin(), domain +
                                        " says in its DNS that it offers no server for "
                                        "sending mail from other programs.");
    return s;
  }

  bool unavailable = false;
  if (auto s = try_mx(dns, sender, domain, unavailable)) return std::move(*s);
  auto s = nothing_known(domain);
  s.dns_failed = unavailable;
  return s;
}

std::optional<settings_suggestion> suggest_relay(std::string_view relay_name,
                                                 std::string_view address) {
  const auto sender = mailbox::parse(address);
  const auto p = find_relay(relay_name);
  if (!p) return std::nullopt;
  auto s = from_row(*p, sender, suggestion_source::table);
  // Mailgun's credential is per sending domain: postmaster@ that domain by default.
  constexpr std::string_view domain_slot = "YOUR_SENDING_DOMAIN";
  if (const auto at = s.login.find(domain_slot); at != std::string::npos) {
    s.login.replace(at, domain_slot.size(), mime::ascii_lower(sender.domain()));
    s.login_is_placeholder = false;
  }
  return s;
}

std::vector<settings_warning> check_settings(const account& a) {
  std::vector<settings_warning> out;
  if (a.port == 25)
    out.push_back({"port_25",
                   "Port 25 is for mail servers passing mail to each other, not for sending "
                   "from a program: most internet providers block it, and mail providers "
                   "refuse to accept logins there. Use port 465 with security = \"tls\", or "
                   "587 with security = \"starttls\"."});
  if (a.port == 587 && a.security == security::tls)
    out.push_back({"tls_on_587",
                   "Port 587 expects STARTTLS (security = \"starttls\"); with \"tls\" the "
                   "connection will hang or fail. Use 465 for \"tls\"."});
  if (a.port == 465 && a.security == security::starttls)
    out.push_back({"starttls_on_465",
                   "Port 465 expects TLS from the first byte (security = \"tls\"); with "
                   "\"starttls\" the connection will hang or fail. Use 587 for \"starttls\"."});
  const bool local = a.host == "localhost" || a.host == "::1" || a.host.starts_with("127.");
  if (a.security == security::none && !local)
    out.push_back({"no_encryption",
                   "security = \"none\" sends the message unencrypted over the network, and "
                   "envoi then refuses to send the password. Use \"tls\" or \"starttls\"."});
  return out;
}

}  // namespace envoi
