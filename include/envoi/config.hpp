// The configuration file: sites and their accounts, in TOML.
//
//   [sites.sud]
//   name = "Clinique vétérinaire du Sud"
//   from = "Clinique du Sud <sud@example.test>"
//   bcc_copy = "verif-sud@example.test"
//   [sites.sud.smtp]
//   host = "smtp.example.test"
//   port = 587
//   security = "starttls"      # starttls | tls | none
//   auth = "auto"              # auto | plain | login | cram-md5 | xoauth2 | oauthbearer
//   login = "sud@example.test" # defaults to the sender's address
//   password_env = "ENVOI_SUD_PASSWORD"   # the variable's name, in capitals; or
//                                         # password_file = "/path". Never the password.
//   ca_file = "/path/ca.pem"   # optional; the system's roots otherwise
//   tls_fingerprint_sha256 = "AB:CD:..."  # optional; pins the server's own certificate
//   ehlo_name = "poste-1.clinique.fr"     # optional; the machine's name otherwise
//   timeout_seconds = 30       # optional; every step's time limit (RFC 5321's otherwise)
//   [sites.sud.smtp.timeouts]  # optional; seconds per step, as in envoi::smtp_timeouts:
//   greeting = 60              # connect, tls_handshake, greeting, ehlo, mail, rcpt,
//   total = 600                # data_start, data_block, data_end, quit; total (0: none)
//   [sites.sud.quota]          # optional
//   per_second = 5             # and per_hour, per_day: read, not yet enforced
//   max_message_bytes = 20000000  # larger messages are refused before MAIL
//   [sites.sud.dkim]           # optional: selector, key_file and domain
//   [users.marie]
//   sites = ["sud", "nord"]    # or site = "sud"
//   from = "Dr Marie Dupont <marie.dupont@example.test>"
//   [users.marie.smtp]         # optional, same keys as a site's; used where the site
//   host = "smtp.example.test" # has shared_account = false
//
// xoauth2 and oauthbearer need tokens: either an [X.smtp.oauth2] table, whose tokens come
// from the provider's endpoint (envoi::oauth2_endpoint_provider),
//   [sites.sud.smtp.oauth2]
//   token_url = "https://login.microsoftonline.com/TENANT/oauth2/v2.0/token"
//   grant = "refresh_token"    # or client_credentials
//   client_id = "..."
//   client_secret_env = "ENVOI_SUD_CLIENT_SECRET"   # or client_secret_file
//   refresh_token_env = "ENVOI_SUD_REFRESH_TOKEN"   # or refresh_token_file
//   scope = "https://outlook.office365.com/SMTP.Send offline_access"
// or the application sets account::token_provider on the loaded account.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <envoi/account.hpp>

namespace envoi {

struct site {
  std::string id;
  /// The clinic's name as its clients know it.
  std::string name;
  envoi::account account;
  /// One account for the site and all its users (`shared_account`, true unless set
  /// false): correspondence then leaves through the site's account too.
  bool shared_account = true;
};

/// A member of staff who writes correspondence.
struct user {
  std::string id;
  /// The sites the user works at (`site = "sud"` or `sites = ["sud", "nord"]`).
  std::vector<std::string> sites;
  /// The user's own address (`from`).
  mailbox from;
  /// The user's own SMTP account (`[users.ID.smtp]`), used on sites that do not share
  /// theirs; it has `from` as its sender.
  std::optional<envoi::account> account;
};

struct config {
  std::map<std::string, site, std::less<>> sites;
  std::map<std::string, user, std::less<>> users;
};

/// Reads a configuration file. Throws invalid_input whose field is
/// "FILE:LINE: KEY" and whose text says what was expected; unknown keys are errors.
config load_config(const std::filesystem::path& path);

}  // namespace envoi
