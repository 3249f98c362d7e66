// OAuth 2.0 access tokens for XOAUTH2 and OAUTHBEARER (RFC 7628): where envoi gets them.
#pragma once

#include <string>

namespace envoi {

/// Supplies OAuth 2.0 access tokens to the SMTP client; the application implements it
/// (a token cache in front of its provider's token endpoint, say). envoi never stores a
/// token beyond one AUTH exchange and never puts it in an error or a transcript.
///
/// When it is called: during the auth step of each new connection whose account has a
/// login and this provider, and the server offers XOAUTH2 or OAUTHBEARER (or the account
/// forces one). First with `refresh` false; if the server refuses that token, once more
/// with `refresh` true, and AUTH is tried once again with the answer. A second refusal
/// is errc::auth_failed.
///
/// On which thread: the one running the client's executor (for the blocking calls, the
/// calling thread), inside the session. It may block, for example on an HTTP request to
/// refresh the token; the step's time limit does not run meanwhile, but nothing else on
/// that executor runs either, so an application with a slow token endpoint gives the
/// client an executor of its own. An exception it throws fails the send with
/// errc::secret_unavailable at the auth step; its what() goes into the report's detail,
/// so it must not hold the token.
class token_provider {
 public:
  virtual ~token_provider() = default;

  /// A valid access token for the account's login. With `refresh` true the token last
  /// returned was refused: return a new one (use the refresh token), not a cached one.
  virtual std::string access_token(bool refresh) = 0;
};

}  // namespace envoi
