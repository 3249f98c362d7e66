#include <envoi/account.hpp>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <system_error>

#include <openssl/evp.h>

#include <envoi/error.hpp>

namespace envoi {
namespace {

// Every failure names where the secret was looked for. The value never reaches the text:
// error messages end up in logs and support tickets.
[[noreturn]] void fail(const std::string& where, const std::string& why) {
  throw secret_error(where + " " + why);
}

// Removes one final LF or CRLF (or CR).
void drop_final_line_end(std::string& value) {
  if (!value.empty() && value.back() == '\n') value.pop_back();
  if (!value.empty() && value.back() == '\r') value.pop_back();
}

}  // namespace

secret_error::secret_error(std::string reason)
    : std::system_error(make_error_code(errc::secret_unavailable), reason),
      reason_(std::move(reason)) {}

std::string_view to_string(security s) noexcept {
  switch (s) {
    case security::starttls:
      return "starttls";
    case security::tls:
      return "tls";
    case security::none:
      return "none";
  }
  return "starttls";
}

bool is_environment_variable_name(std::string_view name) noexcept {
  // POSIX 8.1: letters, digits and underscore, not starting with a digit.
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (const char c : name) {
    const bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

secret_ref secret_ref::from_env(std::string name) {
  // A value that is no variable name is often the password itself, typed where the name
  // of its variable belongs: it is not repeated in the error.
  if (!is_environment_variable_name(name))
    throw invalid_input("environment variable",
                        "the name given is not one (ASCII letters, digits and '_', not "
                        "starting with a digit); name the variable that holds the secret, "
                        "never the secret itself");
  secret_ref s;
  s.kind_ = kind::env;
  s.source_ = std::move(name);
  return s;
}

secret_ref secret_ref::from_file(std::filesystem::path path) {
  secret_ref s;
  s.kind_ = kind::file;
  s.source_ = path.string();
  return s;
}

secret_ref secret_ref::from_callback(std::string name, std::function<std::string()> fetch) {
  secret_ref s;
  s.kind_ = kind::callback;
  s.source_ = std::move(name);
  s.fetch_ = std::move(fetch);
  return s;
}

std::string secret_ref::read() const {
  switch (kind_) {
    case kind::none:
      fail("the account", "has no password source (password_env or password_file)");

    case kind::env: {
      // getenv is not synchronised with setenv; the application sets its environment
      // before it starts sending, so reading here is safe in practice.
      const char* set = std::getenv(source_.c_str());
      if (set == nullptr)
        fail(describe(), "is not set; set it to the secret before starting the program");
      // A line end comes with a value read from a file by a service manager or a
      // script; it is never part of a password.
      std::string value = set;
      drop_final_line_end(value);
      if (value.empty()) fail(describe(), "is empty; set it to the password");
      if (value.find_first_of("\r\n") != std::string::npos)
        fail(describe(), "holds more than one line; it must hold the password alone");
      return value;
    }

    case kind::file: {
      std::error_code ec;
      const auto status = std::filesystem::status(source_, ec);
      if (!std::filesystem::exists(status))
        fail(describe(), "does not exist; check the file name, or create it with the password");
      if (std::filesystem::is_directory(status))
        fail(describe(), "is a folder; name the file that holds the password");
      // A pipe or a device would block or never end.
      if (!std::filesystem::is_regular_file(status))
        fail(describe(), "is not a regular file; put the password in a file");
      errno = 0;
      std::ifstream in(source_, std::ios::binary);
      if (!in)
        fail(describe(), errno != 0 ? "cannot be opened (" + std::string(std::strerror(errno)) + ")"
                                    : std::string("cannot be opened"));
      std::string value((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (in.bad()) fail(describe(), "cannot be read");

      // Notepad starts a UTF-8 file with a byte-order mark, which no password holds.
      if (value.starts_with("\xEF\xBB\xBF")) value.erase(0, 3);
      // Editors add a final line end that is not part of the password; only one is
      // removed so that a password ending in spaces survives.
      drop_final_line_end(value);
      if (value.empty()) fail(describe(), "is empty; write the password in it, alone on one line");
      // A second line is a note or a second secret, never part of a password.
      if (value.find_first_of("\r\n") != std::string::npos)
        fail(describe(), "holds more than one line; it must hold the password alone");
      return value;
    }

    case kind::callback: {
      std::string value;
      try {
        value = fetch_ ? fetch_() : std::string();
      } catch (...) {
        // The application's exception may quote what it was handling; it stays out.
        fail(describe(), "failed");
      }
      if (value.empty()) fail(describe(), "gave an empty secret");
      return value;
    }
  }
  fail("the account", "has an unknown password source");
}

sha256_fingerprint::sha256_fingerprint(std::string_view text, std::string field) {
  const auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  // Either 64 digits, or 32 pairs with a ':' between each: a stray or missing colon is
  // more likely a copy-and-paste accident than a fingerprint.
  const bool colons = text.size() == 32 * 3 - 1;
  if (text.size() != 64 && !colons)
    throw invalid_input(std::move(field),
                        "expected a SHA-256 fingerprint: 64 hexadecimal digits, optionally "
                        "in pairs separated by ':'; got " +
                            std::to_string(text.size()) + " characters");
  const std::size_t stride = colons ? 3 : 2;
  for (std::size_t i = 0; i < 32; ++i) {
    const std::size_t at = i * stride;
    const int high = digit(text[at]);
    const int low = digit(text[at + 1]);
    if (high < 0 || low < 0 || (colons && i < 31 && text[at + 2] != ':'))
      throw invalid_input(std::move(field),
                          "expected a SHA-256 fingerprint of hexadecimal digits, optionally "
                          "in pairs separated by ':'; found '" +
                              std::string(1, high < 0  ? text[at]
                                             : low < 0 ? text[at + 1]
                                                       : text[at + 2]) +
                              "'");
    bytes_[i] = static_cast<unsigned char>(high * 16 + low);
  }
  set_ = true;
}

sha256_fingerprint sha256_fingerprint::of_der(std::string_view der) {
  sha256_fingerprint f;
  unsigned int length = 0;
  if (EVP_Digest(der.data(), der.size(), f.bytes_.data(), &length, EVP_sha256(), nullptr) != 1 ||
      length != f.bytes_.size())
    throw std::runtime_error("SHA-256 is not available from OpenSSL");
  f.set_ = true;
  return f;
}

std::string sha256_fingerprint::to_string() const {
  if (!set_) return {};
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(32 * 3);
  for (const unsigned char b : bytes_) {
    if (!out.empty()) out += ':';
    out += hex[b >> 4];
    out += hex[b & 0x0f];
  }
  return out;
}

std::string secret_ref::describe() const {
  switch (kind_) {
    case kind::none:
      return "no password";
    case kind::env: {
      // Variables are named in words joined by '_' (ENVOI_SUD_PASSWORD, PASSWORD); a name
      // with a digit and no '_' (HUNTER2026) may be a password pasted as the name, and
      // describe() goes into errors and logs.
      const bool may_be_pasted = source_.find('_') == std::string::npos &&
                                 source_.find_first_of("0123456789") != std::string::npos;
      if (may_be_pasted)
        return "the environment variable named in the configuration (its name is not shown: "
               "it looks like a password; check that a password was not pasted there)";
      return "environment variable " + source_;
    }
    case kind::file:
      return "file " + source_;
    case kind::callback:
      return source_;
  }
  return "no password";
}

}  // namespace envoi
