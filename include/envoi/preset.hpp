// Provider presets: the SMTP settings to suggest for a sender address, from a table built
// into the library (data/smtp-presets.csv, mostly Thunderbird's ISPDB), then from DNS
// (RFC 6186 SRV records, then the domain's MX hosts against the same table).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <envoi/account.hpp>

namespace envoi {

/// What the provider wants as the AUTH user name.
enum class login_form {
  /// The whole sender address (`prenom.nom@orange.fr`).
  address,
  /// The part before the `@` (`prenom.nom` for `prenom.nom@free.fr`).
  local_part,
  /// A value the provider hands out (a relay's API key); preset::login_hint names it.
  credential,
  /// Exactly preset::login_hint (SendGrid's literal `apikey`).
  fixed,
};

/// One row of the built-in table. Every view points into static storage.
struct preset {
  /// The address domain the row is for (`free.fr`), an MX host's domain
  /// (`mail.protection.outlook.com`), or `relay:NAME` for a transactional relay.
  std::string_view key;
  /// Who runs the server, as a person would name it ("Free", "Microsoft 365 ...").
  std::string_view provider;
  std::string_view host;
  std::uint16_t port = 0;
  /// `tls` for the table's SSL (TLS from the first byte), `starttls` for STARTTLS.
  envoi::security security = envoi::security::tls;
  /// The provider offers OAuth2 sign-in (SASL XOAUTH2), which envoi cannot do yet.
  bool oauth2 = false;
  /// The provider accepts a password (AUTH PLAIN or LOGIN inside TLS). For Gmail, Yahoo
  /// and AOL that password is an app password, not the account's; the notes say so.
  bool password = false;
  envoi::login_form login = login_form::address;
  /// For `credential` and `fixed` logins: the placeholder or the literal login.
  std::string_view login_hint;
  /// What goes in the password when it is not the mailbox's password ("API secret key").
  std::string_view password_hint;
  /// Things the person setting the account up must know or do, in plain English.
  std::span<const std::string_view> notes;
  /// Where the row's facts come from (an ISPDB file or a documentation URL).
  std::string_view source;
};

/// Every row of the built-in table, in the order of data/smtp-presets.csv.
std::span<const preset> presets() noexcept;

/// The row for an address (`Name <local@domain>` or a bare address) or a bare domain.
/// Domains compare case-insensitively; an internationalised domain is compared in its
/// ASCII form. A domain below a row's domain matches it too (`clinique.onmicrosoft.com`
/// matches `onmicrosoft.com`). Relay rows are never returned. Empty when the domain is
/// not in the table or the text is neither an address nor a domain.
std::optional<preset> find_preset(std::string_view address_or_domain);

/// A transactional relay by name, case-insensitively: `mailjet`, `brevo`, `sendgrid`,
/// `amazon-ses-eu-west-3` (or `ses`), `mailgun-eu` (or `mailgun`), `postmark`,
/// `scaleway-tem` (or `scaleway`). Empty for an unknown name.
std::optional<preset> find_relay(std::string_view name);

/// The names find_relay() knows, without aliases, in table order.
std::vector<std::string_view> relay_names();

/// Where and how DNS is asked.
struct dns_options {
  /// `IPV4:PORT` or `IPV4` (port 53) of the server to ask; empty: the system's resolver
  /// configuration (/etc/resolv.conf). Only IPv4 servers can be named.
  std::string server;
  /// How long to wait for each answer. The system resolver counts in whole seconds, so
  /// this is rounded up to at least one second.
  std::chrono::seconds timeout{2};
  /// How many times a query is sent before the server counts as not answering.
  int attempts = 1;
};

/// Where a suggestion came from.
enum class suggestion_source {
  /// The address's domain is in the built-in table.
  table,
  /// The domain publishes RFC 6186 SRV records for mail submission.
  srv,
  /// One of the domain's MX hosts is in the table (a clinic's domain hosted at Google).
  mx,
  /// Nothing is known: ask the provider.
  none,
};

/// The settings suggested for one sender address.
struct settings_suggestion {
  suggestion_source source = suggestion_source::none;
  /// Empty when the provider is not known (an SRV record pointing elsewhere, or nothing).
  std::string provider;
  /// Empty when source is `none`.
  std::string host;
  std::uint16_t port = 0;
  envoi::security security = envoi::security::tls;
  /// The AUTH user name to use, ready to paste, unless login_is_placeholder.
  std::string login;
  /// The login is a stand-in (`MAILJET_API_KEY`) for a value the provider hands out.
  bool login_is_placeholder = false;
  /// What to put as the password, in words ("the mailbox's password", "the API secret key").
  std::string password_hint;
  bool oauth2 = false;
  bool password = true;
  /// Plain-English sentences the person must read: what to do, what to check.
  std::vector<std::string> notes;
  /// Where the facts come from: the table's source, or the DNS records that gave them.
  std::string evidence;
  /// DNS was wanted but did not answer (server down, timed out, refused); the suggestion
  /// may be `none` only because of that.
  bool dns_failed = false;
};

/// How suggest_settings() may look beyond the built-in table.
struct suggest_options {
  /// Ask DNS when the table does not know the domain. Off: the table alone.
  bool use_dns = true;
  dns_options dns;
};

/// Suggests SMTP settings for a sender address: the built-in table first, then
/// `_submissions._tcp.DOMAIN` (TLS from the first byte) and `_submission._tcp.DOMAIN`
/// (STARTTLS) SRV records (RFC 6186, RFC 8314), then the domain's MX hosts against the
/// table. Blocks while DNS is asked; a server that does not answer costs at most
/// dns.timeout * dns.attempts, since the look-ups stop at the first query left
/// unanswered. Never suggests port 25. Throws invalid_input when `address` is not a
/// mail address.
settings_suggestion suggest_settings(std::string_view address, const suggest_options& options = {});

/// The settings of a relay for a sender address: the relay's row, with its login
/// placeholders filled in from the address where the relay allows it (Mailgun's
/// `postmaster@YOUR_SENDING_DOMAIN`). Empty for an unknown relay. Throws invalid_input
/// when `address` is not a mail address.
std::optional<settings_suggestion> suggest_relay(std::string_view relay_name,
                                                 std::string_view address);

/// One thing wrong or doubtful in an account's SMTP settings.
struct settings_warning {
  /// A stable key: `port_25`, `tls_on_587`, `starttls_on_465`, `no_encryption`.
  std::string code;
  /// What is wrong and what to do, in plain English.
  std::string text;
};

/// Looks at an account's port and security and says what will likely fail: port 25
/// (blocked for clients by most networks, and meant for servers, not for submission),
/// implicit TLS on 587 or STARTTLS on 465 (each port expects the other), no encryption
/// towards a host that is not this machine. Empty when nothing looks wrong.
std::vector<settings_warning> check_settings(const account& a);

}  // namespace envoi
