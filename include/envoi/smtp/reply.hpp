// A server's reply to an SMTP command (RFC 5321 4.2), with its enhanced status code
// (RFC 2034, RFC 3463) when the server sent one.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace envoi::smtp {

struct reply {
  /// The three-digit basic code; 0 when no reply was received.
  int code = 0;
  /// "class.subject.detail", e.g. "5.7.8", or empty when the reply has none.
  std::string enhanced;
  /// The text of each line without the code, the separator and the enhanced code.
  std::vector<std::string> lines;

  bool empty() const noexcept { return code == 0; }
  bool positive() const noexcept { return code >= 200 && code < 400; }
  bool transient() const noexcept { return code >= 400 && code < 500; }
  bool permanent() const noexcept { return code >= 500; }

  /// The lines joined with a space.
  std::string text() const;

  /// The reply as a person reads it: "535 5.7.8 Error: authentication failed".
  std::string to_string() const;
};

}  // namespace envoi::smtp
