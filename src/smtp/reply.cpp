#include <envoi/smtp/reply.hpp>

namespace envoi::smtp {

std::string reply::text() const {
  std::string out;
  for (const auto& line : lines) {
    if (!out.empty()) out += ' ';
    out += line;
  }
  return out;
}

std::string reply::to_string() const {
  if (empty()) return "(no reply)";
  std::string out = std::to_string(code);
  if (!enhanced.empty()) out += ' ' + enhanced;
  if (const auto t = text(); !t.empty()) out += ' ' + t;
  return out;
}

}  // namespace envoi::smtp
