#include "smtp/protocol.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <utility>

namespace envoi::smtp::detail {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// RFC 3463 2: class "." subject "." detail, with 1 to 3 digits for subject and detail.
std::size_t enhanced_code_length(std::string_view text, char expected_class) {
  if (text.size() < 5 || text[0] != expected_class || text[1] != '.') return 0;
  std::size_t i = 2;
  for (int part = 0; part < 2; ++part) {
    const std::size_t start = i;
    while (i < text.size() && is_digit(text[i])) ++i;
    if (i == start || i - start > 3) return 0;
    if (part == 0) {
      if (i >= text.size() || text[i] != '.') return 0;
      ++i;
    }
  }
  return (i == text.size() || text[i] == ' ') ? i : 0;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

reply_parser::status reply_parser::feed(std::string_view line) {
  // RFC 5321 4.2: three digits, then '-' on every line but the last, then text. Servers
  // that omit the space after the code on the last line are tolerated (4.2 allows it).
  if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]))
    return status::bad;
  if (line.size() > 3 && line[3] != '-' && line[3] != ' ') return status::bad;
  const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (code < 200 || code > 599) return status::bad;
  if (reply_.code != 0 && reply_.code != code) return status::bad;
  if (reply_.lines.size() == max_lines || line.size() > max_octets - octets_)
    return status::too_long;
  reply_.code = code;
  octets_ += line.size();

  std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view{};
  if (enhanced_) {
    if (const auto n = enhanced_code_length(text, line[0]); n != 0) {
      if (reply_.enhanced.empty()) reply_.enhanced = std::string(text.substr(0, n));
      text.remove_prefix(std::min(n + 1, text.size()));
    }
  }
  reply_.lines.emplace_back(text);
  return (line.size() > 3 && line[3] == '-') ? status::more : status::done;
}

smtp::reply reply_parser::take() {
  octets_ = 0;
  return std::exchange(reply_, {});
}

capabilities parse_ehlo(const smtp::reply& r) {
  capabilities caps;
  // The first line is the server's name and greeting; each later line is a keyword and
  // its parameters (RFC 5321 4.1.1.1).
  for (std::size_t i = 1; i < r.lines.size(); ++i) {
    std::string_view line = r.lines[i];
    const auto space = line.find_first_of(" =");
    const std::string keyword = upper(line.substr(0, space));
    const std::string_view params =
        space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);

    if (keyword == "STARTTLS")
      caps.starttls = true;
    else if (keyword == "PIPELINING")
      caps.pipelining = true;
    else if (keyword == "8BITMIME")
      caps.eight_bit_mime = true;
    else if (keyword == "SMTPUTF8")
      caps.smtputf8 = true;
    else if (keyword == "ENHANCEDSTATUSCODES")
      caps.enhanced_status_codes = true;
    else if (keyword == "DSN")
      caps.dsn = true;
    else if (keyword == "SIZE") {
      caps.size = true;
      std::uint64_t limit = 0;
      std::from_chars(params.data(), params.data() + params.size(), limit);
      caps.size_limit = limit;
    } else if (keyword == "AUTH") {
      // Both "AUTH PLAIN LOGIN" and the pre-standard "AUTH=PLAIN LOGIN" list mechanisms.
      std::size_t pos = 0;
      while (pos < params.size()) {
        const auto end = std::min(params.find(' ', pos), params.size());
        if (end > pos) caps.auth.insert(upper(params.substr(pos, end - pos)));
        pos = end + 1;
      }
    }
  }
  return caps;
}

void dot_stuff(std::string_view in, dot_stuff_state& state, std::string& out) {
  out.reserve(out.size() + in.size() + in.size() / 64 + 8);
  const char* p = in.data();
  const char* const end = p + in.size();
  // The next CR and the next LF at or after p (end when there is none), found with memchr
  // and kept until p passes them, so that each octet is searched once for each.
  const char* next_cr = nullptr;
  const char* next_lf = nullptr;
  const auto next = [&](char c, const char*& cached) {
    if (cached == nullptr || (cached != end && cached < p)) {
      const void* found = std::memchr(p, c, static_cast<std::size_t>(end - p));
      cached = found != nullptr ? static_cast<const char*>(found) : end;
    }
    return cached;
  };

  while (p < end) {
    const char c = *p;
    if (state.pending_cr) {
      state.pending_cr = false;
      out += "\r\n";
      state.line_start = true;
      if (c == '\n') {  // that CR and this LF were one CRLF
        ++p;
        continue;
      }
    }
    if (c == '\r' || c == '\n') {
      // A CR waits for the next octet; a bare LF ends the line as a CRLF would.
      if (c == '\r') {
        state.pending_cr = true;
      } else {
        out += "\r\n";
        state.line_start = true;
      }
      ++p;
      continue;
    }

    // RFC 5321 4.5.2: a line of mail text that starts with '.' gets one more '.'; the
    // first line counts too, since it follows the CRLF that ended the 354 exchange.
    if (state.line_start && c == '.') out += '.';
    state.line_start = false;
    // The rest of the line goes out as it is; when it ends with CRLF, as a rendered
    // message's lines do, that goes out with it and the next line starts at once.
    const char* cr = next('\r', next_cr);
    const char* lf = next('\n', next_lf);
    if (lf != end && cr + 1 == lf) {
      out.append(p, static_cast<std::size_t>(lf + 1 - p));
      p = lf + 1;
      state.line_start = true;
      continue;
    }
    const char* stop = std::min(cr, lf);
    out.append(p, static_cast<std::size_t>(stop - p));
    p = stop;
  }
}

void dot_stuff_finish(dot_stuff_state& state, std::string& out) {
  if (state.pending_cr) {
    out += "\r\n";
    state.pending_cr = false;
    state.line_start = true;
  }
  if (!state.line_start) out += "\r\n";
  out += ".\r\n";
  state = {};
}

std::string xtext(std::string_view in) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  for (const char ch : in) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= '!' && c <= '~' && c != '+' && c != '=') {
      out += ch;
    } else {
      out += '+';
      out += hex[c >> 4];
      out += hex[c & 0x0F];
    }
  }
  return out;
}

std::string ehlo_argument(std::string_view host_name, std::string_view local_address) {
  const bool fqdn = host_name.find('.') != std::string_view::npos && host_name.back() != '.' &&
                    host_name != "localhost.localdomain";
  if (fqdn) return std::string(host_name);

  std::string_view address = local_address;
  if (const auto pct = address.find('%'); pct != std::string_view::npos)
    address = address.substr(0, pct);  // a zone index has no place in a literal
  constexpr std::string_view mapped = "::ffff:";
  if (address.size() > mapped.size() && address.substr(0, mapped.size()) == mapped &&
      address.find('.') != std::string_view::npos)
    address.remove_prefix(mapped.size());
  if (address.find(':') != std::string_view::npos) return "[IPv6:" + std::string(address) + "]";
  return "[" + std::string(address) + "]";
}

}  // namespace envoi::smtp::detail
