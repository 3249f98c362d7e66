// Fuzz target for header encoding: the input is used as a Subject and as the display name
// of the To mailbox of one message.
//
// Text that is not UTF-8 or that holds CR, LF or NUL must be refused with invalid_input;
// any other text must be accepted. The rendered message must then have CRLF line ends
// only, no line over 998 octets, every encoded-word at most 75 characters and decodable on
// its own to UTF-8, and the Subject and To fields must decode back to exactly the input.
// The RFC 2047 decoder below is written for this check and shares nothing with envoi's
// encoder, so that a mistake in one is not repeated in the other.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <envoi/error.hpp>
#include <envoi/mailbox.hpp>
#include <envoi/message.hpp>

namespace {

constexpr std::string_view recipient = "rcpt@example.org";

[[noreturn]] void finding(const char* what, std::string_view input, std::string_view detail) {
  std::fprintf(stderr, "FINDING: %s\n  input:  [%.*s]\n  detail: [%.*s]\n", what,
               static_cast<int>(input.size()), input.data(), static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

bool is_wsp(char c) {
  return c == ' ' || c == '\t';
}

bool is_alnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// RFC 3629 4, written out independently of envoi's own check.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3;
      if (b0 == 0xE0) lo = 0xA0;  // overlong
      if (b0 == 0xED) hi = 0x9F;  // surrogates
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4;
      if (b0 == 0xF0) lo = 0x90;  // overlong
      if (b0 == 0xF4) hi = 0x8F;  // past U+10FFFF
    } else {
      return false;
    }
    if (s.size() - i < len) return false;
    const auto b1 = static_cast<unsigned char>(s[i + 1]);
    if (b1 < lo || b1 > hi) return false;
    for (std::size_t k = 2; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (b < 0x80 || b > 0xBF) return false;
    }
    i += len;
  }
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::optional<std::string> decode_b(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + static_cast<std::size_t>(k)];
      if (c == '=' && last && k >= 2) {
        ++pad;
        v[k] = 0;
        continue;
      }
      if (pad > 0) return std::nullopt;  // data after padding
      v[k] = base64_value(c);
      if (v[k] < 0) return std::nullopt;
    }
    const unsigned bits = (static_cast<unsigned>(v[0]) << 18) |
                          (static_cast<unsigned>(v[1]) << 12) | (static_cast<unsigned>(v[2]) << 6) |
                          static_cast<unsigned>(v[3]);
    out += static_cast<char>((bits >> 16) & 0xFF);
    if (pad < 2) out += static_cast<char>((bits >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(bits & 0xFF);
  }
  return out;
}

// RFC 2047 4.2; in a phrase, 5 (3) narrows the characters that may stand for themselves.
std::optional<std::string> decode_q(std::string_view text, bool phrase) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '_') {
      out += ' ';
    } else if (c == '=') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int h = hex_value(text[i + 1]), l = hex_value(text[i + 2]);
      if (h < 0 || l < 0) return std::nullopt;
      out += static_cast<char>(h * 16 + l);
      i += 2;
    } else if (phrase) {
      if (!is_alnum(c) && c != '!' && c != '*' && c != '+' && c != '-' && c != '/')
        return std::nullopt;
      out += c;
    } else {
      if (c <= ' ' || c >= 0x7F || c == '?') return std::nullopt;
      out += c;
    }
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// The text of `token` when it is a whole RFC 2047 encoded-word in charset utf-8 that
// decodes to valid UTF-8 on its own; nothing otherwise.
std::optional<std::string> decode_word(std::string_view token, bool phrase) {
  if (token.size() < 8 || token.substr(0, 2) != "=?" || token.substr(token.size() - 2) != "?=")
    return std::nullopt;
  const std::string_view inner = token.substr(2, token.size() - 4);
  const std::size_t q1 = inner.find('?');
  if (q1 == std::string_view::npos || q1 + 2 >= inner.size() || inner[q1 + 2] != '?')
    return std::nullopt;
  const std::string_view charset = inner.substr(0, q1);
  const char encoding = inner[q1 + 1];
  const std::string_view text = inner.substr(q1 + 3);
  if (!iequals(charset, "utf-8") || text.find('?') != std::string_view::npos) return std::nullopt;
  std::optional<std::string> out;
  if (encoding == 'B' || encoding == 'b') {
    out = decode_b(text);
  } else if (encoding == 'Q' || encoding == 'q') {
    out = decode_q(text, phrase);
  }
  if (!out || !valid_utf8(*out)) return std::nullopt;
  return out;
}

// Splits the header block into fields, each unfolded (RFC 5322 2.2.3: CRLF removed before
// white space), after checking line ends, line lengths and encoded-words on every line.
std::vector<std::string> header_fields(std::string_view message, std::string_view input) {
  const std::size_t end = message.find("\r\n\r\n");
  if (end == std::string_view::npos) finding("no blank line after the header", input, message);
  const std::string_view block = message.substr(0, end + 2);

  std::vector<std::string> fields;
  std::size_t pos = 0;
  while (pos < block.size()) {
    const std::size_t eol = block.find("\r\n", pos);
    const std::string_view line = block.substr(pos, eol - pos);
    if (line.find_first_of("\r\n") != std::string_view::npos)
      finding("bare CR or LF in the header", input, line);
    if (line.size() > 998) finding("header line over 998 octets", input, line);
    if (line.empty()) finding("empty header line", input, block);

    // Every white-space separated token mentioning "=?" must be a sound encoded-word.
    std::size_t t = 0;
    while (t < line.size()) {
      while (t < line.size() && is_wsp(line[t])) ++t;
      std::size_t u = t;
      while (u < line.size() && !is_wsp(line[u])) ++u;
      const std::string_view token = line.substr(t, u - t);
      if (token.find("=?") != std::string_view::npos) {
        if (token.size() > 75) finding("encoded-word over 75 characters", input, token);
        if (!decode_word(token, false)) finding("encoded-word does not decode", input, token);
      }
      t = u;
    }

    if (is_wsp(line.front())) {
      if (fields.empty()) finding("header starts with a continuation line", input, line);
      if (line.find_first_not_of(" \t") == std::string_view::npos)
        finding("folded line of white space only", input, line);
      fields.back() += line;
    } else {
      fields.emplace_back(line);
    }
    pos = eol + 2;
  }
  return fields;
}

// The value of the one field named `name`, without the space envoi writes after the colon.
std::optional<std::string> field_value(const std::vector<std::string>& fields,
                                       std::string_view name, std::string_view input) {
  std::optional<std::string> value;
  for (const std::string& f : fields) {
    if (f.size() > name.size() && iequals(std::string_view(f).substr(0, name.size()), name) &&
        f[name.size()] == ':') {
      if (value) finding("field written twice", input, f);
      if (f.size() < name.size() + 2 || f[name.size() + 1] != ' ')
        finding("no space after the field's colon", input, f);
      value = f.substr(name.size() + 2);
    }
  }
  return value;
}

// RFC 2047 6.2: white space between two adjacent encoded-words is dropped; elsewhere text
// and white space are kept as written.
std::string decode_unstructured(std::string_view value, std::string_view input) {
  std::string out;
  bool previous_encoded = false;
  std::size_t i = 0;
  while (i < value.size()) {
    std::size_t j = i;
    while (j < value.size() && is_wsp(value[j])) ++j;
    const std::string_view space = value.substr(i, j - i);
    std::size_t k = j;
    while (k < value.size() && !is_wsp(value[k])) ++k;
    const std::string_view token = value.substr(j, k - j);
    if (token.empty()) {
      out += space;
      break;
    }
    const std::optional<std::string> decoded = decode_word(token, false);
    if (!decoded && token.find("=?") != std::string_view::npos)
      finding("Subject token looks encoded but does not decode", input, token);
    if (!(decoded && previous_encoded)) out += space;
    out += decoded ? *decoded : std::string(token);
    previous_encoded = decoded.has_value();
    i = k;
  }
  return out;
}

bool is_atext(char c) {
  return is_alnum(c) || std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

// RFC 5322 3.2.5 phrase then the angle address: atoms, quoted-strings and encoded-words,
// read back as the words joined by one space, except that adjacent encoded-words join
// with nothing between them (RFC 2047 6.2).
std::string decode_display_name(std::string_view value, std::string_view input) {
  std::string out;
  bool first = true, previous_encoded = false;
  std::size_t i = 0;
  while (true) {
    while (i < value.size() && is_wsp(value[i])) ++i;
    if (i == value.size()) finding("To holds no angle address", input, value);
    if (value[i] == '<') {
      if (value.substr(i) != "<" + std::string(recipient) + ">")
        finding("To's address is not the one given", input, value);
      return out;
    }

    std::string word;
    bool encoded = false;
    if (value[i] == '"') {
      ++i;
      while (true) {
        if (i == value.size()) finding("unterminated quoted-string in To", input, value);
        if (value[i] == '"') break;
        if (value[i] == '\\') {
          ++i;
          if (i == value.size()) finding("dangling backslash in To", input, value);
        }
        word += value[i++];
      }
      ++i;
    } else {
      std::size_t j = i;
      while (j < value.size() && !is_wsp(value[j]) && value[j] != '"' && value[j] != '<') ++j;
      const std::string_view token = value.substr(i, j - i);
      i = j;
      if (const auto decoded = decode_word(token, true)) {
        word = *decoded;
        encoded = true;
      } else {
        if (token.find("=?") != std::string_view::npos)
          finding("To's encoded-word breaks RFC 2047 5 (3)", input, token);
        for (const char c : token)
          if (!is_atext(c)) finding("To's display name holds a bad atom", input, token);
        word = token;
      }
    }
    if (!first && !(encoded && previous_encoded)) out += ' ';
    out += word;
    first = false;
    previous_encoded = encoded;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const bool acceptable =
      valid_utf8(input) && input.find_first_of(std::string_view("\r\n\0", 3)) == input.npos;

  envoi::message m;
  m.from(envoi::mailbox("", "sender@example.org"));
  m.date(std::chrono::system_clock::time_point(std::chrono::seconds(1796000000)));
  m.message_id("fuzz@example.org");
  m.text("Bonjour.\n");

  bool subject_taken = false, name_taken = false;
  try {
    m.subject(std::string(input));
    subject_taken = true;
  } catch (const envoi::invalid_input&) {
  }
  try {
    m.add_to(envoi::mailbox(std::string(input), std::string(recipient)));
    name_taken = true;
  } catch (const envoi::invalid_input&) {
  }
  if (subject_taken != acceptable)
    finding(acceptable ? "valid subject refused" : "invalid subject accepted", input, "");
  if (name_taken != acceptable)
    finding(acceptable ? "valid display name refused" : "invalid display name accepted", input, "");
  if (!acceptable) return 0;

  const std::string rendered = m.render();
  const std::vector<std::string> fields = header_fields(rendered, input);

  const std::optional<std::string> subject = field_value(fields, "Subject", input);
  if (input.empty()) {
    if (subject) finding("Subject written for an empty subject", input, *subject);
  } else {
    if (!subject) finding("no Subject field", input, rendered);
    const std::string decoded = decode_unstructured(*subject, input);
    if (decoded != input) finding("Subject decodes to other text", input, decoded);
  }

  const std::optional<std::string> to = field_value(fields, "To", input);
  if (!to) finding("no To field", input, rendered);
  if (input.empty()) {
    if (*to != recipient) finding("To is not the bare address", input, *to);
  } else {
    const std::string decoded = decode_display_name(*to, input);
    if (decoded != input) finding("display name decodes to other text", input, decoded);
  }
  return 0;
}
