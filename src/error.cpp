#include <envoi/error.hpp>

#include <string>

namespace envoi {
namespace {

class envoi_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "envoi"; }

  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::resolve_failed:
        return "the server's name could not be resolved";
      case errc::connect_failed:
        return "no connection could be made to the server";
      case errc::connection_closed:
        return "the server closed the connection";
      case errc::timed_out:
        return "the server did not answer in time";
      case errc::protocol_error:
        return "the server sent something that is not SMTP";
      case errc::starttls_not_offered:
        return "the server does not offer STARTTLS";
      case errc::starttls_refused:
        return "the server refused to start TLS";
      case errc::tls_handshake_failed:
        return "the TLS handshake failed";
      case errc::certificate_untrusted:
        return "the server's certificate is not trusted";
      case errc::auth_not_offered:
        return "the server offers no usable AUTH mechanism";
      case errc::auth_failed:
        return "the server refused the login or password";
      case errc::plaintext_auth_refused:
        return "credentials are never sent unencrypted to another machine";
      case errc::secret_unavailable:
        return "the password could not be read";
      case errc::server_transient:
        return "the server refused for now (4xx); try again later";
      case errc::server_permanent:
        return "the server refused (5xx)";
      case errc::all_recipients_refused:
        return "every recipient was refused";
      case errc::invalid_envelope:
        return "an envelope address holds a character that cannot be sent";
      case errc::smtputf8_not_offered:
        return "the server does not accept addresses with accented letters before the @";
      case errc::message_too_large:
        return "the message is larger than the server accepts";
      case errc::local_failure:
        return "envoi could not read what it had to send";
      case errc::cancelled:
        return "the operation was cancelled";
    }
    return "unknown envoi error";
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const envoi_category category;
  return category;
}

std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

std::string_view to_string(step s) noexcept {
  switch (s) {
    case step::none:
      return "none";
    case step::resolve:
      return "resolve";
    case step::connect:
      return "connect";
    case step::greeting:
      return "greeting";
    case step::ehlo:
      return "ehlo";
    case step::starttls:
      return "starttls";
    case step::tls:
      return "tls";
    case step::auth:
      return "auth";
    case step::mail:
      return "mail";
    case step::rcpt:
      return "rcpt";
    case step::data:
      return "data";
    case step::quit:
      return "quit";
  }
  return "unknown";
}

bool is_transient(std::error_code ec) noexcept {
  if (ec.category() != error_category()) return static_cast<bool>(ec);
  switch (static_cast<errc>(ec.value())) {
    case errc::resolve_failed:
    case errc::connect_failed:
    case errc::connection_closed:
    case errc::timed_out:
    case errc::protocol_error:
    case errc::tls_handshake_failed:
    case errc::server_transient:
    case errc::cancelled:
      return true;
    default:
      return false;
  }
}

bool is_permanent(std::error_code ec) noexcept {
  return ec && !is_transient(ec);
}

invalid_input::invalid_input(std::string field, const std::string& reason)
    : std::invalid_argument(field + ": " + reason), field_(std::move(field)), reason_(reason) {}

}  // namespace envoi
