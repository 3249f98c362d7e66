#include <envoi/account.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

#include <envoi/error.hpp>

namespace envoi {
namespace {

// Every failure names where the secret was looked for. The value never reaches the text:
// error messages end up in logs and support tickets.
[[noreturn]] void fail(const std::string& where, const std::string& why) {
  throw std::system_error(make_error_code(errc::secret_unavailable), where + " " + why);
}

}  // namespace

secret_ref secret_ref::from_env(std::string name) {
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

std::string secret_ref::read() const {
  switch (kind_) {
    case kind::none:
      fail("the account", "has no password source (password_env or password_file)");

    case kind::env: {
      // getenv is not synchronised with setenv; the application sets its environment
      // before it starts sending, so reading here is safe in practice.
      const char* value = std::getenv(source_.c_str());
      if (value == nullptr) fail(describe(), "is not set");
      if (*value == '\0') fail(describe(), "is empty");
      return value;
    }

    case kind::file: {
      std::ifstream in(source_, std::ios::binary);
      if (!in || std::filesystem::is_directory(source_)) fail(describe(), "cannot be opened");
      std::string value((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (in.bad()) fail(describe(), "cannot be read");

      // Editors add a final line end that is not part of the password; only one is
      // removed so that a password ending in spaces survives.
      if (!value.empty() && value.back() == '\n') value.pop_back();
      if (!value.empty() && value.back() == '\r') value.pop_back();
      if (value.empty()) fail(describe(), "is empty");
      return value;
    }
  }
  fail("the account", "has an unknown password source");
}

std::string secret_ref::describe() const {
  switch (kind_) {
    case kind::none:
      return "no password";
    case kind::env:
      return "environment variable " + source_;
    case kind::file:
      return "file " + source_;
  }
  return "no password";
}

}  // namespace envoi
