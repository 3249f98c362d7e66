// An SMTP account: who sends, through which server, with which credentials.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <envoi/dkim.hpp>
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
  /// Signs every message sent through this account with DKIM when set.
  std::shared_ptr<const dkim_signer> dkim;
  /// Time limit for each step of a session (connect, each reply, TLS handshake).
  std::chrono::milliseconds step_timeout = std::chrono::seconds(60);
};

}  // namespace envoi
