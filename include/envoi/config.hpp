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
//   password_env = "ENVOI_SUD_PASSWORD"   # or password_file = "/path"
//   ca_file = "/path/ca.pem"   # optional; the system's roots otherwise
//   tls_fingerprint_sha256 = "AB:CD:..."  # optional; pins the server's own certificate
//
// xoauth2 and oauthbearer need a token provider, which a file cannot hold: the application
// sets account::token_provider on the loaded account.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include <envoi/account.hpp>

namespace envoi {

struct site {
  std::string id;
  /// The clinic's name as its clients know it.
  std::string name;
  envoi::account account;
};

struct config {
  std::map<std::string, site, std::less<>> sites;
};

/// Reads a configuration file. Throws invalid_input whose field is
/// "FILE:LINE: KEY" and whose text says what was expected; unknown keys are errors.
config load_config(const std::filesystem::path& path);

}  // namespace envoi
