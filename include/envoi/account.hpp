// An SMTP account: who sends, through which server, with which credentials.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <envoi/dkim.hpp>
#include <envoi/mailbox.hpp>
#include <envoi/oauth.hpp>

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

/// "starttls", "tls" or "none", as the configuration writes them.
std::string_view to_string(security s) noexcept;

/// Which SASL mechanism AUTH uses. A mechanism other than `automatic` is used only if
/// the server offers it; otherwise the send fails with errc::auth_not_offered, naming it
/// and what the server offers.
enum class auth_method {
  /// The best the server offers: with a token provider OAUTHBEARER, then XOAUTH2; with a
  /// password PLAIN, then LOGIN, then CRAM-MD5 (PLAIN is one round trip and safe under
  /// TLS; CRAM-MD5 rests on MD5 and adds nothing under TLS). A mechanism the server
  /// lists but then refuses with 504 gives way to the next one.
  automatic,
  /// RFC 4616, with the credentials on the AUTH line.
  plain,
  /// The widespread non-standard LOGIN: user, then password, each after a 334.
  login,
  /// RFC 2195: an HMAC-MD5 of the server's challenge keyed by the password.
  cram_md5,
  /// Google's and Microsoft's XOAUTH2 with an access token from the token provider.
  xoauth2,
  /// RFC 7628 OAUTHBEARER with an access token from the token provider.
  oauthbearer,
};

/// The SHA-256 fingerprint of a certificate, for pinning a server's own certificate.
class sha256_fingerprint {
 public:
  /// No fingerprint: the usual chain and host-name checks apply.
  sha256_fingerprint() = default;
  /// Reads 64 hexadecimal digits, in either case, with or without a ':' between each
  /// pair (as `openssl x509 -fingerprint -sha256` prints it). Throws invalid_input whose
  /// field is `field` when the text is anything else.
  explicit sha256_fingerprint(std::string_view text, std::string field = "tls_fingerprint_sha256");
  /// The fingerprint of DER-encoded bytes `der` (a certificate as sent on the wire).
  static sha256_fingerprint of_der(std::string_view der);

  /// True for the default-constructed value: no pin.
  bool empty() const noexcept { return !set_; }
  /// The 32 bytes of the digest (all zero when empty).
  const std::array<unsigned char, 32>& bytes() const noexcept { return bytes_; }
  /// Upper-case pairs separated by ':', "AB:CD:...", or "" when empty.
  std::string to_string() const;

  friend bool operator==(const sha256_fingerprint&, const sha256_fingerprint&) = default;

 private:
  std::array<unsigned char, 32> bytes_{};
  bool set_ = false;
};

/// The provider's limits for one account: messages per second, hour and day (0: no
/// limit), and the largest message it takes. The client refuses, before MAIL, a message
/// larger than max_message_bytes (errc::message_too_large), as it does one larger than
/// the server's SIZE. The message rates are for paced bulk sending (an outbox), which
/// envoi does not have yet: nothing enforces them today.
struct quota {
  std::uint32_t per_second = 0;
  std::uint32_t per_hour = 0;
  std::uint32_t per_day = 0;
  /// 0: only the server's SIZE, if it announces one.
  std::uint64_t max_message_bytes = 0;
};

/// True when `name` can be an environment variable's name: ASCII letters, digits and '_',
/// not starting with a digit (POSIX 8.1).
bool is_environment_variable_name(std::string_view name) noexcept;

/// What secret_ref::read throws: code() is errc::secret_unavailable; reason() says where
/// the secret was looked for and why it could not be read ("environment variable
/// ENVOI_SUD_PASSWORD is not set; ..."), without the code's own message that what() adds.
class secret_error : public std::system_error {
 public:
  explicit secret_error(std::string reason);
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string reason_;
};

/// Where a password comes from. The value itself is read only when it is needed and
/// is never logged or put in an error text.
class secret_ref {
 public:
  secret_ref() = default;
  /// The value of environment variable `name`, without a final line end. Throws
  /// invalid_input when `name` is not a variable name (see is_environment_variable_name),
  /// without repeating it.
  static secret_ref from_env(std::string name);
  /// The contents of a regular file, without a leading UTF-8 byte-order mark and without
  /// its final line end.
  static secret_ref from_file(std::filesystem::path path);
  /// What `fetch` returns each time the secret is needed (the application's own vault or
  /// keyring, say). `name` says where it comes from in errors ("the clinic's keyring");
  /// an exception from `fetch` becomes errc::secret_unavailable naming `name` only, so its
  /// text never reaches an error message. Called on the thread that needs the secret.
  static secret_ref from_callback(std::string name, std::function<std::string()> fetch);

  bool empty() const noexcept { return kind_ == kind::none; }

  /// Reads the secret. Throws secret_error, naming the variable or file but never the
  /// value, when it cannot be read (saying why), is empty, or holds more than one line.
  std::string read() const;

  /// "environment variable SMTP_PASSWORD" or "file /etc/envoi/pw": where, never what.
  std::string describe() const;

  /// The file the secret is read from; empty for the other sources.
  std::filesystem::path file() const {
    return kind_ == kind::file ? std::filesystem::path(source_) : std::filesystem::path();
  }

 private:
  enum class kind { none, env, file, callback };
  kind kind_ = kind::none;
  std::string source_;
  std::function<std::string()> fetch_;
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
  /// Where XOAUTH2 and OAUTHBEARER get access tokens; none when null. Shared by copies
  /// of the account.
  std::shared_ptr<envoi::token_provider> token_provider;
  /// PEM file of the certificate authorities to trust instead of the system's.
  std::filesystem::path ca_file;
  /// When set, the server's own (leaf) certificate must have exactly this SHA-256
  /// fingerprint, and that replaces the chain and host-name checks: for a clinic whose
  /// server has a self-signed certificate. A different certificate fails the tls step
  /// with errc::certificate_untrusted, the detail giving the fingerprint seen. The pin
  /// must be changed when the server's certificate is renewed.
  sha256_fingerprint tls_fingerprint_sha256;
  /// Address that receives a blind copy of every message sent through this account,
  /// added to the envelope only.
  std::optional<std::string> bcc_copy;
  /// The EHLO argument; the machine's name when empty.
  std::string ehlo_name;
  /// Signs every message sent through this account with DKIM when set.
  std::shared_ptr<const dkim_signer> dkim;
  /// What the provider allows this account to send.
  envoi::quota quota;
  /// The time limit of each step of a session (see smtp_timeouts).
  smtp_timeouts timeouts;
  /// When set, the time limit of every step instead of those in `timeouts` (QUIT still
  /// waits at most `timeouts.quit`); `timeouts.total` still applies. The config key
  /// `timeout_seconds` sets it.
  std::optional<std::chrono::milliseconds> step_timeout;
};

}  // namespace envoi
