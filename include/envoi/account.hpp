// An SMTP account: who sends, through which server, with which credentials.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <envoi/mailbox.hpp>

namespace envoi {

/// How the connection is protected.
enum class security {
  /// Plain TCP, then STARTTLS (RFC 3207), required: no plaintext fallback. Port 587.
  starttls,
  /// TLS from the first byte (RFC 8314). Port 465.
  tls,
  /// No encryption at all. Only for servers on the same machine.
  none,
};

/// Which SASL mechanism AUTH uses.
enum class auth_method {
  /// The best the server offers: PLAIN, then LOGIN.
  automatic,
  plain,
  login,
};

/// Where a password comes from. The value itself is read only when it is needed and
/// is never logged or put in an error text.
class secret_ref {
 public:
  secret_ref() = default;
  /// The value of environment variable `name`.
  static secret_ref from_env(std::string name);
  /// The contents of a file, without its final line end.
  static secret_ref from_file(std::filesystem::path path);

  bool empty() const noexcept { return kind_ == kind::none; }

  /// Reads the secret. Throws std::system_error with errc::secret_unavailable, naming the
  /// variable or file but never the value, when it cannot be read or is empty.
  std::string read() const;

  /// "environment variable SMTP_PASSWORD" or "file /etc/envoi/pw": where, never what.
  std::string describe() const;

 private:
  enum class kind { none, env, file };
  kind kind_ = kind::none;
  std::string source_;
};

/// Time limits of the steps of an SMTP session. Each limit covers a whole step (a whole
/// reply, however slowly its bytes arrive), not the silence between bytes: a server that
/// drips one byte at a time still fails at the step's limit. When a limit runs out the
/// connection is closed, since the replies still owed could not be told from later ones.
struct smtp_timeouts {
  /// Resolving the host and opening the TCP connection. Not set by RFC 5321; a server that
  /// does not accept within 30 s is down or filtered.
  std::chrono::milliseconds connect = std::chrono::seconds(30);
  /// The TLS handshake, implicit or after STARTTLS. Not set by any RFC.
  std::chrono::milliseconds tls_handshake = std::chrono::seconds(60);
  /// RFC 5321 4.5.3.2.1: the 220 greeting, 5 minutes.
  std::chrono::milliseconds greeting = std::chrono::minutes(5);
  /// The replies to EHLO, STARTTLS and AUTH. RFC 5321 sets none; 2 minutes, as for DATA,
  /// because these replies need no mailbox look-up.
  std::chrono::milliseconds ehlo = std::chrono::minutes(2);
  /// RFC 5321 4.5.3.2.2: the reply to MAIL, 5 minutes.
  std::chrono::milliseconds mail = std::chrono::minutes(5);
  /// RFC 5321 4.5.3.2.3: the reply to each RCPT, 5 minutes.
  std::chrono::milliseconds rcpt = std::chrono::minutes(5);
  /// RFC 5321 4.5.3.2.4: the 354 reply to DATA, 2 minutes.
  std::chrono::milliseconds data_start = std::chrono::minutes(2);
  /// RFC 5321 4.5.3.2.5: writing each block of the message (64 KiB here), 3 minutes.
  std::chrono::milliseconds data_block = std::chrono::minutes(3);
  /// RFC 5321 4.5.3.2.6: the reply to the end of data, 10 minutes. When it runs out the
  /// message may have been delivered, and the report says so.
  std::chrono::milliseconds data_end = std::chrono::minutes(10);
  /// The reply to QUIT. RFC 5321 4.1.1.10 lets the client close without it.
  std::chrono::milliseconds quit = std::chrono::seconds(5);
  /// The whole of one send, from its start (connecting if needed) to the final reply;
  /// zero for no limit. Every step's limit is cut short to end by then.
  std::chrono::milliseconds total = std::chrono::milliseconds(0);
};

struct account {
  /// The sender: the From header and MAIL FROM.
  mailbox sender;
  std::string host;
  std::uint16_t port = 587;
  enum security security = security::starttls;
  auth_method auth = auth_method::automatic;
  /// The user name for AUTH; no AUTH when empty.
  std::string login;
  secret_ref password;
  /// PEM file of the certificate authorities to trust instead of the system's.
  std::filesystem::path ca_file;
  /// Address that receives a blind copy of every message sent through this account,
  /// added to the envelope only.
  std::optional<std::string> bcc_copy;
  /// The EHLO argument; the machine's name when empty.
  std::string ehlo_name;
  /// The time limit of each step of a session (see smtp_timeouts).
  smtp_timeouts timeouts;
  /// When set, the time limit of every step instead of those in `timeouts` (QUIT still
  /// waits at most `timeouts.quit`); `timeouts.total` still applies. The config key
  /// `timeout_seconds` sets it.
  std::optional<std::chrono::milliseconds> step_timeout;
};

}  // namespace envoi
