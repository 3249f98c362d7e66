// An OAuth 2.0 token provider that asks the provider's token endpoint over HTTPS: Google
// (refresh-token grant) and Microsoft 365 (refresh-token or client-credentials grant).
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include <envoi/account.hpp>
#include <envoi/oauth.hpp>

namespace envoi {

/// How a token is obtained (RFC 6749).
enum class oauth2_grant {
  /// Section 6: a long-lived refresh token, obtained once when a person consented, is
  /// exchanged for access tokens. Gmail and Microsoft 365 mailboxes of a person.
  refresh_token,
  /// Section 4.4: the application's own credentials (Microsoft 365 application access
  /// for SMTP, with `scope` "https://outlook.office365.com/.default").
  client_credentials,
};

struct oauth2_settings {
  /// The token endpoint, https only: "https://oauth2.googleapis.com/token" or
  /// "https://login.microsoftonline.com/TENANT/oauth2/v2.0/token".
  std::string token_url;
  oauth2_grant grant = oauth2_grant::refresh_token;
  std::string client_id;
  /// Empty for a public client (Microsoft's device-code apps, say).
  secret_ref client_secret;
  /// Needed for the refresh-token grant.
  secret_ref refresh_token;
  /// Space-separated scopes; the endpoint's default when empty.
  std::string scope;
  /// PEM file of the authorities to trust for the endpoint instead of the system's.
  std::filesystem::path ca_file;
  /// Limit for the whole request: resolve, connect, TLS, send and answer.
  std::chrono::milliseconds timeout = std::chrono::seconds(30);
};

/// Gets access tokens from a token endpoint and keeps each one until a minute before it
/// expires. A refresh token the endpoint rotates (returns a new one) is kept in memory for
/// the next request; the application stores it if it wants it to survive a restart.
/// Thread-safe: one request at a time, the others wait for its answer.
///
/// access_token() blocks for the HTTP exchange (see token_provider for what that means
/// for the SMTP client). Failures throw std::system_error with errc::auth_failed when the
/// endpoint refuses (its `error` and `error_description` in the text, e.g. invalid_grant:
/// the refresh token was revoked or expired and a person must consent again), and
/// errc::resolve_failed, connect_failed, tls_handshake_failed, certificate_untrusted,
/// connection_closed or timed_out when it cannot be reached.
/// No secret or token is ever in the text.
class oauth2_endpoint_provider final : public token_provider {
 public:
  /// Throws invalid_input naming "token_url" when it is not an https URL, and
  /// "client_id" or "refresh_token" when one the grant needs is missing.
  explicit oauth2_endpoint_provider(oauth2_settings settings);
  ~oauth2_endpoint_provider() override;

  std::string access_token(bool refresh) override;

  /// The number of requests made to the endpoint so far.
  int requests() const;

 private:
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace envoi
