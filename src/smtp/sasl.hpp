// SASL for SMTP AUTH (RFC 4954): which mechanism to use, and the lines a client sends in
// answer to each server challenge. No I/O here, so each mechanism can be tested alone.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <envoi/account.hpp>

namespace envoi::smtp::detail::sasl {

enum class mechanism { plain, login, cram_md5, xoauth2, oauthbearer };

/// The mechanism's name as servers list it after AUTH: "PLAIN", "CRAM-MD5", ...
std::string_view name(mechanism m) noexcept;

/// True for the mechanisms that carry an OAuth access token instead of a password.
bool uses_token(mechanism m) noexcept;

/// What the account may authenticate with.
struct means {
  bool password = false;
  bool token = false;
};

/// The mechanism to use, or nullopt when the server offers none that fits; `offered`
/// holds upper-case names, as parse_ehlo gives them. A mechanism the account forces is
/// used only if offered (RFC 4954 3). Automatic choice: with a token, OAUTHBEARER (the
/// standard, RFC 7628) then XOAUTH2; with a password, PLAIN, then LOGIN, then CRAM-MD5.
/// PLAIN comes first because AUTH only happens under TLS or on loopback, where sending
/// the password is safe; it takes one round trip and carries UTF-8 as it is (RFC 4616).
/// LOGIN is not standard but is all some Exchange servers offer. CRAM-MD5 comes last: it
/// adds nothing under TLS, rests on MD5, and needs the server to keep the password in a
/// recoverable form, so servers offering it next to PLAIN are better served by PLAIN.
std::optional<mechanism> choose(auth_method wanted, const std::set<std::string>& offered,
                                means available);

/// Every mechanism fit to try, best first: choose()'s answer, then the others in the same
/// order, for a server that answers 504 to a mechanism it listed (F28). A forced
/// mechanism is the only candidate.
std::vector<mechanism> candidates(auth_method wanted, const std::set<std::string>& offered,
                                  means available);

/// The mechanism an account forces, or nullopt for auth_method::automatic.
std::optional<mechanism> forced(auth_method wanted) noexcept;

/// What a mechanism needs to build its lines. `token` only for the OAuth mechanisms,
/// `password` only for the others; `host` and `port` go into OAUTHBEARER's message.
struct credentials {
  std::string user;
  std::string password;
  std::string token;
  std::string host;
  std::uint16_t port = 0;
};

/// One AUTH exchange for one mechanism: the command, then one line per 334 challenge.
class exchange {
 public:
  exchange(mechanism m, credentials c);

  mechanism kind() const noexcept { return mechanism_; }

  /// The AUTH command without its CRLF. PLAIN carries its initial response when the line
  /// stays within RFC 4954 4's 512 octets (the server then answers in one round trip,
  /// F27); the OAuth mechanisms always do, since some servers refuse them without it
  /// (F30). LOGIN and CRAM-MD5 have none: LOGIN with an initial response is refused by
  /// strict servers (F26), and CRAM-MD5's response depends on the challenge.
  std::string command() const;

  /// command() as a transcript shows it: the initial response replaced by `marker`.
  std::string shown_command(std::string_view marker) const;

  /// The line answering a 334 challenge whose text (base64, maybe empty: F23) is
  /// `challenge`. A challenge the mechanism does not expect gets "*", which cancels the
  /// exchange (RFC 4954 4).
  std::string respond(std::string_view challenge);

  /// For the OAuth mechanisms: the server's decoded error (a JSON object) when it sent
  /// one in a 334 challenge instead of accepting the token; empty otherwise.
  const std::string& server_error() const noexcept { return server_error_; }

 private:
  std::string initial_response() const;

  mechanism mechanism_;
  credentials credentials_;
  int round_ = 0;
  std::string server_error_;
};

/// CRAM-MD5's response (RFC 2195 2): the user, a space, and the lower-case hex of
/// HMAC-MD5 (RFC 2104) of the decoded challenge keyed by the password; not yet base64.
std::string cram_md5_response(std::string_view user, std::string_view password,
                              std::string_view challenge);

}  // namespace envoi::smtp::detail::sasl
