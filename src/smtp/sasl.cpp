#include "smtp/sasl.hpp"

#include <array>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "mime/encoding.hpp"

namespace envoi::smtp::detail::sasl {
namespace {

// RFC 4954 4: a command line, CRLF included, may not exceed 512 octets.
constexpr std::size_t max_command_line = 512;

}  // namespace

std::string_view name(mechanism m) noexcept {
  switch (m) {
    case mechanism::plain:
      return "PLAIN";
    case mechanism::login:
      return "LOGIN";
    case mechanism::cram_md5:
      return "CRAM-MD5";
    case mechanism::xoauth2:
      return "XOAUTH2";
    case mechanism::oauthbearer:
      return "OAUTHBEARER";
  }
  return "PLAIN";
}

bool uses_token(mechanism m) noexcept {
  return m == mechanism::xoauth2 || m == mechanism::oauthbearer;
}

std::optional<mechanism> forced(auth_method wanted) noexcept {
  switch (wanted) {
    case auth_method::automatic:
      return std::nullopt;
    case auth_method::plain:
      return mechanism::plain;
    case auth_method::login:
      return mechanism::login;
    case auth_method::cram_md5:
      return mechanism::cram_md5;
    case auth_method::xoauth2:
      return mechanism::xoauth2;
    case auth_method::oauthbearer:
      return mechanism::oauthbearer;
  }
  return std::nullopt;
}

std::vector<mechanism> candidates(auth_method wanted, const std::set<std::string>& offered,
                                  means available) {
  const auto is_offered = [&](mechanism m) { return offered.count(std::string(name(m))) != 0; };
  std::vector<mechanism> out;
  if (const auto m = forced(wanted)) {
    if (is_offered(*m)) out.push_back(*m);
    return out;
  }
  if (available.token)
    for (const auto m : {mechanism::oauthbearer, mechanism::xoauth2})
      if (is_offered(m)) out.push_back(m);
  if (available.password)
    for (const auto m : {mechanism::plain, mechanism::login, mechanism::cram_md5})
      if (is_offered(m)) out.push_back(m);
  return out;
}

std::optional<mechanism> choose(auth_method wanted, const std::set<std::string>& offered,
                                means available) {
  const auto all = candidates(wanted, offered, available);
  if (all.empty()) return std::nullopt;
  return all.front();
}

exchange::exchange(mechanism m, credentials c) : mechanism_(m), credentials_(std::move(c)) {}

std::string exchange::initial_response() const {
  const auto& c = credentials_;
  switch (mechanism_) {
    case mechanism::plain: {
      // RFC 4616 2: authorization identity (empty: the same as the user), user, password.
      std::string message;
      message.reserve(c.user.size() + c.password.size() + 2);
      message += '\0';
      message += c.user;
      message += '\0';
      message += c.password;
      return mime::base64(message);
    }
    case mechanism::xoauth2:
      // Google's and Microsoft's XOAUTH2: "user=" U ^A "auth=Bearer " T ^A ^A.
      return mime::base64("user=" + c.user + "\x01" + "auth=Bearer " + c.token + "\x01\x01");
    case mechanism::oauthbearer: {
      // RFC 7628 3.1: a GS2 header naming the user (',' and '=' escaped as in RFC 5801
      // 5.1), then key=value pairs each ended by ^A, then a final ^A.
      std::string user;
      for (const char ch : c.user) {
        if (ch == ',')
          user += "=2C";
        else if (ch == '=')
          user += "=3D";
        else
          user += ch;
      }
      return mime::base64("n,a=" + user + ",\x01" + "host=" + c.host + "\x01" + "port=" +
                          std::to_string(c.port) + "\x01" + "auth=Bearer " + c.token + "\x01\x01");
    }
    case mechanism::login:
    case mechanism::cram_md5:
      break;
  }
  return {};
}

std::string exchange::command() const {
  std::string line = "AUTH ";
  line += name(mechanism_);
  const std::string response = initial_response();
  if (response.empty()) return line;
  // "AUTH PLAIN " + response + CRLF must fit; otherwise the response waits for the 334.
  if (mechanism_ == mechanism::plain && line.size() + 1 + response.size() + 2 > max_command_line)
    return line;
  return line + " " + response;
}

std::string exchange::shown_command(std::string_view marker) const {
  std::string line = "AUTH ";
  line += name(mechanism_);
  if (command().size() > line.size()) {
    line += ' ';
    line += marker;
  }
  return line;
}

std::string exchange::respond(std::string_view challenge) {
  const int round = round_++;
  switch (mechanism_) {
    case mechanism::plain:
      // A server that ignores the initial response, or one that was too long to send,
      // asks with an empty challenge (RFC 4954 4); the response goes now, once.
      if (round == 0) return initial_response();
      break;

    case mechanism::login:
      // draft-murchison-sasl-login: the challenges' text ("Username:", "User Name",
      // nothing) varies between servers and is ignored; the user comes first.
      if (round == 0) return mime::base64(credentials_.user);
      if (round == 1) return mime::base64(credentials_.password);
      break;

    case mechanism::cram_md5:
      if (round == 0) {
        const auto decoded = mime::decode_base64(challenge);
        if (!decoded || decoded->empty()) break;
        return mime::base64(cram_md5_response(credentials_.user, credentials_.password, *decoded));
      }
      break;

    case mechanism::xoauth2:
      // A refused token comes back as a 334 carrying a JSON error; the client answers
      // with an empty line to get the final 5xx (Google's XOAUTH2 protocol).
      if (round == 0) {
        server_error_ = mime::decode_base64(challenge).value_or(std::string(challenge));
        return {};
      }
      break;

    case mechanism::oauthbearer:
      // RFC 7628 3.2.3: the error comes in a 334; the client answers with a single ^A.
      if (round == 0) {
        server_error_ = mime::decode_base64(challenge).value_or(std::string(challenge));
        return mime::base64("\x01");
      }
      break;
  }
  return "*";
}

std::string cram_md5_response(std::string_view user, std::string_view password,
                              std::string_view challenge) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  HMAC(EVP_md5(), password.data(), static_cast<int>(password.size()),
       reinterpret_cast<const unsigned char*>(challenge.data()), challenge.size(), digest.data(),
       &length);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out(user);
  out += ' ';
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0x0f];
  }
  return out;
}

}  // namespace envoi::smtp::detail::sasl
