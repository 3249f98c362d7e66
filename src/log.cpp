#include <envoi/log.hpp>

#include <array>

#include "mime/encoding.hpp"

namespace envoi {
namespace {

constexpr std::array<std::string_view, 4> level_names = {"debug", "info", "warning", "error"};

bool needs_quotes(std::string_view value) noexcept {
  if (value.empty()) return true;
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= ' ' || u == 0x7F || c == '"' || c == '\\' || c == '=') return true;
  }
  return false;
}

void append_quoted(std::string& out, std::string_view value) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < ' ' || u == 0x7F) {
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 0xF];
    } else {
      out += c;
    }
  }
  out += '"';
}

}  // namespace

std::string_view to_string(log_level level) noexcept {
  return level_names[static_cast<std::size_t>(level) < level_names.size()
                         ? static_cast<std::size_t>(level)
                         : 0];
}

bool parse_log_level(std::string_view text, log_level& level) noexcept {
  const std::string given = mime::ascii_lower(text);
  for (std::size_t i = 0; i < level_names.size(); ++i) {
    if (given == level_names[i]) {
      level = static_cast<log_level>(i);
      return true;
    }
  }
  return false;
}

std::string_view log_event::field(std::string_view field_name) const noexcept {
  for (const auto& f : fields)
    if (f.name == field_name) return f.value;
  return {};
}

std::string format(const log_event& event) {
  std::string out(to_string(event.level));
  out += ' ';
  out += event.name;
  for (const auto& f : event.fields) {
    out += ' ';
    out += f.name;
    out += '=';
    if (needs_quotes(f.value))
      append_quoted(out, f.value);
    else
      out += f.value;
  }
  return out;
}

}  // namespace envoi
