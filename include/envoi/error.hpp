// Errors: one std::error_category for envoi, the protocol step a failure happened in,
// and the exceptions thrown by the blocking calls and by input validation.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace envoi {

/// Why an operation failed. Each value says when it happens.
enum class errc {
  /// A host name could not be resolved.
  resolve_failed = 1,
  /// No address of the host accepted a TCP connection.
  connect_failed,
  /// The peer closed the connection while a reply was expected.
  connection_closed,
  /// A step took longer than its time limit; the connection was closed.
  timed_out,
  /// The server does not follow SMTP: it sent a line that is no SMTP reply, a reply longer
  /// than 256 lines or 64 KiB, a reply that neither does what was asked nor refuses it
  /// (a 250 to DATA, a 354 to MAIL), or a reply before a command it could answer. The
  /// connection is closed; the error is transient, as it says nothing about the message.
  protocol_error,
  /// Security is `starttls` but the server's EHLO reply does not offer STARTTLS.
  starttls_not_offered,
  /// The server answered STARTTLS with an error, or sent data it should not have.
  starttls_refused,
  /// The TLS handshake failed for another reason than certificate verification.
  tls_handshake_failed,
  /// The server's certificate is not trusted or not issued for the configured host.
  certificate_untrusted,
  /// The account has a login but the server offers no mechanism envoi can use.
  auth_not_offered,
  /// The server refused the credentials (RFC 4954 535 and similar).
  auth_failed,
  /// Security is `none` and the server is not on this machine: credentials are never
  /// sent in the clear over a network.
  plaintext_auth_refused,
  /// The account's password could not be read (variable unset, file missing).
  secret_unavailable,
  /// The server answered a command with a 4xx reply.
  server_transient,
  /// The server answered a command with a 5xx reply.
  server_permanent,
  /// Every recipient of the message was refused; nothing was sent.
  all_recipients_refused,
  /// An envelope address holds a character that cannot be sent (CR, LF, NUL, '<', '>').
  invalid_envelope,
  /// An envelope address has a UTF-8 local part and the server does not offer SMTPUTF8
  /// (RFC 6531); such an address has no ASCII form, so nothing was sent.
  smtputf8_not_offered,
  /// The message is larger than the server's SIZE limit (RFC 1870); nothing was sent.
  message_too_large,
  /// envoi could not do its own part: a file to read (CA file, attachment), memory. When
  /// it happens during DATA the connection is closed without ending the data, so the
  /// server delivers nothing.
  local_failure,
  /// The operation was cancelled by the caller.
  cancelled,
};

/// The category of envoi's error codes; its name is "envoi".
const std::error_category& error_category() noexcept;

std::error_code make_error_code(errc e) noexcept;

/// The step of an SMTP session, in the order a session goes through them.
enum class step {
  none,
  resolve,
  connect,
  greeting,
  ehlo,
  starttls,
  tls,
  auth,
  mail,
  rcpt,
  data,
  quit,
};

/// The step's name as used in messages and logs: "connect", "auth", ...
std::string_view to_string(step s) noexcept;

/// True when trying again later may succeed: connection, TLS and time-out failures and
/// 4xx replies. Nothing has been delivered when such an error is reported, except where a
/// send's report says `outcome_unknown` (no final reply after the data could be read).
bool is_transient(std::error_code ec) noexcept;

/// True when sending the same thing again will fail the same way (5xx replies, refused
/// credentials, untrusted certificates, missing secrets).
bool is_permanent(std::error_code ec) noexcept;

/// Thrown when a value given to envoi is unusable; `field()` names the field
/// ("to", "subject", "sites.sud.smtp.port", ...), `what()` says what is wrong.
class invalid_input : public std::invalid_argument {
 public:
  invalid_input(std::string field, const std::string& reason);

  const std::string& field() const noexcept { return field_; }
  /// What is wrong, without the field: what() is "FIELD: REASON".
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string field_;
  std::string reason_;
};

}  // namespace envoi

template <>
struct std::is_error_code_enum<envoi::errc> : std::true_type {};
