#include "mime/encoding.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#include <openssl/evp.h>

namespace envoi::mime {
namespace {

constexpr std::string_view hex_digits = "0123456789ABCDEF";
// "=?utf-8?Q?" and "?=".
constexpr std::size_t encoded_word_overhead = 12;

bool is_wsp(char c) noexcept {
  return c == ' ' || c == '\t';
}

bool is_alnum(unsigned char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// RFC 5322 3.2.3 atext.
bool is_atext(unsigned char c) noexcept {
  return is_alnum(c) || std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) !=
                            std::string_view::npos;
}

// RFC 2047 5 (3): in a phrase, a Q word may show only these characters as themselves.
bool is_q_literal(unsigned char c) noexcept {
  return is_alnum(c) || c == '!' || c == '*' || c == '+' || c == '-' || c == '/';
}

// RFC 2231 7 attribute-char: a token character other than '*', '\'' and '%'.
bool is_attribute_char(unsigned char c) noexcept {
  return is_alnum(c) ||
         std::string_view("!#$&+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

void append_hex(std::string& out, char prefix, unsigned char c) {
  out += prefix;
  out += hex_digits[c >> 4];
  out += hex_digits[c & 0x0F];
}

// The length of the UTF-8 character starting at `pos`; 1 for a stray byte, so that
// callers always make progress even on input that was not validated.
std::size_t char_length(std::string_view s, std::size_t pos) noexcept {
  const auto c = static_cast<unsigned char>(s[pos]);
  std::size_t n = 1;
  if (c >= 0xC0 && c < 0xE0) {
    n = 2;
  } else if (c >= 0xE0 && c < 0xF0) {
    n = 3;
  } else if (c >= 0xF0 && c < 0xF8) {
    n = 4;
  }
  return std::min(n, s.size() - pos);
}

std::size_t q_cost(unsigned char c) noexcept {
  return is_q_literal(c) || c == ' ' ? 1 : 3;
}

void append_q(std::string& out, std::string_view chunk) {
  for (const char ch : chunk) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == ' ') {
      // RFC 2047 4.2 (2): "_" stands for a space and keeps the word free of white space.
      out += '_';
    } else if (is_q_literal(c)) {
      out += ch;
    } else {
      append_hex(out, '=', c);
    }
  }
}

// A word that cannot go out as itself in an unstructured header: 8-bit or control
// characters, text a reader would take for an encoded-word (RFC 2047 6.2), or a word too
// long to fit on any folded line.
bool needs_encoding(std::string_view word, std::size_t width) noexcept {
  const bool odd_byte = std::any_of(word.begin(), word.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c < 0x20 || c >= 0x7F;
  });
  return odd_byte || word.find("=?") != std::string_view::npos || word.size() > width;
}

bool is_printable_ascii(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c >= 0x20 && c < 0x7F;
  });
}

// Atoms separated by single spaces: the phrase is safe to write as it is.
bool is_plain_phrase(std::string_view s) noexcept {
  if (s.empty() || s.front() == ' ' || s.back() == ' ' || s.find("  ") != std::string_view::npos)
    return false;
  return std::all_of(s.begin(), s.end(),
                     [](char ch) { return ch == ' ' || is_atext(static_cast<unsigned char>(ch)); });
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    // RFC 5322 3.2.4: only DQUOTE and backslash need a quoted-pair.
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace

bool is_valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    // Most text is ASCII: eight octets at a time while none has its high bit set.
    // When one has, the ASCII octets before it need no further look.
    if (i + 8 <= s.size()) {
      std::uint64_t eight = 0;
      std::memcpy(&eight, s.data() + i, 8);
      const std::uint64_t high = eight & 0x8080808080808080u;
      if (high == 0) {
        i += 8;
        continue;
      }
      if constexpr (std::endian::native == std::endian::little)
        i += static_cast<std::size_t>(std::countr_zero(high)) / 8;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    char32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates and values past the Unicode range.
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

namespace {

// How many octets a UTF-8 character starting with `lead` has; 1 for ASCII and for octets
// that start no character, which is_valid_utf8 then refuses.
std::size_t utf8_length(unsigned char lead) noexcept {
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  return 1;
}

// The length of `s` without a last character whose octets do not all fit in it.
std::size_t whole_characters(std::string_view s) noexcept {
  for (std::size_t k = 1; k <= std::min<std::size_t>(3, s.size()); ++k) {
    const auto c = static_cast<unsigned char>(s[s.size() - k]);
    if ((c & 0xC0) == 0x80) continue;
    return utf8_length(c) > k ? s.size() - k : s.size();
  }
  return s.size();
}

// The octets Windows-1252 text holds: printable ASCII, tab, LF, FF, CR, and 0x80 to 0xFF
// but the five it leaves unassigned (0x81, 0x8D, 0x8F, 0x90, 0x9D).
constexpr std::array<bool, 256> windows_1252_text = [] {
  std::array<bool, 256> t{};
  for (std::size_t c = 0x20; c < 0x7F; ++c) t[c] = true;
  for (std::size_t c = 0x80; c <= 0xFF; ++c) t[c] = true;
  for (const std::size_t c : {0x09, 0x0A, 0x0C, 0x0D}) t[c] = true;
  for (const std::size_t c : {0x81, 0x8D, 0x8F, 0x90, 0x9D}) t[c] = false;
  return t;
}();

}  // namespace

void charset_sniffer::add(std::string_view s) {
  if (windows_1252_ || ascii_) {
    unsigned char high = 0;
    bool text = true;
    for (const char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      high |= c;
      text &= windows_1252_text[c];
    }
    ascii_ = ascii_ && high < 0x80;
    windows_1252_ = windows_1252_ && text;
  }
  if (!utf8_) return;

  // First the character that the last piece cut off, then the whole characters of this
  // one; what it cuts off waits for the next.
  if (!carry_.empty()) {
    const std::size_t need = utf8_length(static_cast<unsigned char>(carry_[0])) - carry_.size();
    const std::size_t n = std::min(need, s.size());
    carry_.append(s.substr(0, n));
    s.remove_prefix(n);
    if (n < need) return;
    utf8_ = is_valid_utf8(carry_);
    carry_.clear();
    if (!utf8_) return;
  }
  const std::size_t whole = whole_characters(s);
  utf8_ = is_valid_utf8(s.substr(0, whole));
  carry_.assign(s.substr(whole));
}

text_charset charset_sniffer::result() const noexcept {
  if (ascii_) return text_charset::ascii;
  // A character still cut off when the bytes end is a truncated sequence.
  if (utf8_ && carry_.empty()) return text_charset::utf8;
  if (windows_1252_) return text_charset::windows_1252;
  return text_charset::unknown;
}

std::string_view charset_parameter(text_charset c) noexcept {
  switch (c) {
    case text_charset::utf8:
      return "utf-8";
    case text_charset::windows_1252:
      return "windows-1252";
    case text_charset::ascii:
    case text_charset::unknown:
      break;
  }
  return {};
}

bool is_ascii(std::string_view s) noexcept {
  // OR-ing the octets has no branch on the data, so the compiler vectorises it.
  unsigned char high = 0;
  for (const char c : s) high |= static_cast<unsigned char>(c);
  return high < 0x80;
}

bool has_cr_lf_or_nul(std::string_view s) noexcept {
  // Without a branch on the data, as in is_ascii. (find_first_of calls memchr per octet.)
  bool found = false;
  for (const char c : s) found |= (c == '\r') | (c == '\n') | (c == '\0');
  return found;
}

bool has_line_break(std::string_view s) noexcept {
  bool found = false;
  for (const char c : s) found |= (c == '\r') | (c == '\n');
  return found;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string to_crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\r' || c == '\n') {
      // RFC 5321 2.3.8: CR and LF travel only as the pair CRLF; a lone one ends a line.
      out += "\r\n";
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else {
      out += c;
    }
  }
  return out;
}

std::string base64(std::string_view data) {
  std::string out((data.size() + 2) / 3 * 4 + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> decode_base64(std::string_view text) {
  if (text.empty()) return std::string();
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes; they are not part of the data.
  std::size_t size = static_cast<std::size_t>(n);
  if (text.back() == '=') --size;
  if (text[text.size() - 2] == '=') --size;
  out.resize(size);
  return out;
}

void append_base64_lines(std::string& out, std::string_view data) {
  // RFC 2045 6.8: 57 input bytes make one 76-character line.
  constexpr std::size_t group = 57;
  constexpr std::size_t line = 76;
  // OpenSSL encodes many lines per call; each block is then spread into lines in place.
  // The encoded text starts far enough in that a line never moves over one not yet moved.
  constexpr std::size_t lines_per_block = 64;
  constexpr std::size_t slack = 2 * lines_per_block;
  std::array<unsigned char, slack + lines_per_block * line + 1> buffer;
  out.reserve(out.size() + static_cast<std::size_t>(base64_lines_size(data.size())));
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  for (std::size_t pos = 0; pos < data.size(); pos += group * lines_per_block) {
    const std::size_t len = std::min(group * lines_per_block, data.size() - pos);
    const auto encoded = static_cast<std::size_t>(
        EVP_EncodeBlock(buffer.data() + slack, in + pos, static_cast<int>(len)));
    unsigned char* to = buffer.data();
    for (std::size_t from = 0; from < encoded; from += line) {
      const std::size_t n = std::min(line, encoded - from);
      std::memmove(to, buffer.data() + slack + from, n);
      to[n] = '\r';
      to[n + 1] = '\n';
      to += n + 2;
    }
    out.append(reinterpret_cast<const char*>(buffer.data()),
               static_cast<std::size_t>(to - buffer.data()));
  }
}

namespace {

// Octets quoted-printable may show as themselves anywhere but at the end of a line
// (RFC 2045 6.7 (2) and (3)): printable ASCII other than "=", and space and tab.
constexpr std::array<bool, 256> qp_plain_table = [] {
  std::array<bool, 256> t{};
  for (int c = 33; c <= 126; ++c) t[static_cast<std::size_t>(c)] = c != '=';
  t[' '] = true;
  t['\t'] = true;
  return t;
}();

bool is_line_end(char c) noexcept {
  return c == '\r' || c == '\n';
}

// True when each of the eight octets packed in `v` is in the table above, leaving out
// tab (rare; the octet-by-octet loop takes it). The tests are the classic word-at-a-time
// ones: (x - 0x0101..) & ~x & 0x8080.. is nonzero exactly when some octet of x is zero,
// and with N * 0x0101.. (N at most 128) when some octet is below N.
constexpr bool all_qp_plain(std::uint64_t v) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101u;
  constexpr std::uint64_t highs = 0x8080808080808080u;
  const auto has_zero = [](std::uint64_t x) { return (x - ones) & ~x & highs; };
  const std::uint64_t below_space = (v - ones * 0x20) & ~v & highs;
  return ((v & highs) | below_space | has_zero(v ^ (ones * '=')) | has_zero(v ^ (ones * 0x7F))) ==
         0;
}

}  // namespace

std::string quoted_printable(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  const std::size_t n = text.size();
  const char* in = text.data();
  // Room for the worst case: every octet as =XX, and a soft break per 24 of them.
  std::string out(3 * n + 3 * (n / 24 + 1), '\0');
  char* o = out.data();
  std::size_t line_length = 0;
  std::size_t i = 0;
  while (i < n) {
    // Most of a French letter is plain: copy each run that fits on the line, and each
    // run of 8-bit octets (accented letters) that does, without the checks below.
    const std::size_t room = 75 - std::min<std::size_t>(line_length, 75);
    const std::size_t stop = std::min(n, i + room);
    std::size_t j = i;
    for (std::uint64_t eight = 0; j + 8 <= stop; j += 8, o += 8) {
      std::memcpy(&eight, in + j, 8);
      if (!all_qp_plain(eight)) break;
      std::memcpy(o, &eight, 8);
    }
    while (j < stop && qp_plain_table[static_cast<unsigned char>(in[j])]) *o++ = in[j++];
    // RFC 2045 6.7 (3): white space before a line end would be stripped in transit.
    if (j > i && is_wsp(in[j - 1]) && (j == n || is_line_end(in[j]))) {
      --j;
      --o;
    }
    line_length += j - i;
    i = j;
    while (i < n && line_length <= 72 && static_cast<unsigned char>(in[i]) >= 0x80) {
      const auto c = static_cast<unsigned char>(in[i++]);
      o[0] = '=';
      o[1] = hex[c >> 4];
      o[2] = hex[c & 15];
      o += 3;
      line_length += 3;
    }
    if (i == n) break;
    if (i > j) continue;

    // One octet the run stopped at: a line end, an octet to encode, trailing white
    // space, or one that needs a soft break first.
    const auto c = static_cast<unsigned char>(in[i]);
    if (is_line_end(in[i])) {
      // RFC 5321 2.3.8: CR and LF travel only as the pair CRLF; a lone one ends a line.
      *o++ = '\r';
      *o++ = '\n';
      line_length = 0;
      if (c == '\r' && i + 1 < n && in[i + 1] == '\n') ++i;
      ++i;
      continue;
    }
    const bool last = i + 1 == n || is_line_end(in[i + 1]);
    const bool literal = qp_plain_table[c] && !(is_wsp(in[i]) && last);
    const std::size_t width = literal ? 1 : 3;
    // RFC 2045 6.7 (5): lines of at most 76 characters, the soft break's "=" included;
    // the last character of a line needs no room for it.
    if (line_length + width > (last ? 76u : 75u)) {
      *o++ = '=';
      *o++ = '\r';
      *o++ = '\n';
      line_length = 0;
    }
    if (literal) {
      *o++ = static_cast<char>(c);
    } else {
      *o++ = '=';
      *o++ = hex[c >> 4];
      *o++ = hex[c & 15];
    }
    line_length += width;
    ++i;
  }
  out.resize(static_cast<std::size_t>(o - out.data()));
  return out;
}

namespace {

// What one octet says about the transfer encoding a text needs.
constexpr unsigned char octet_eight_bit = 1;
constexpr unsigned char octet_control = 2;
constexpr unsigned char octet_control_or_eight_bit = octet_control | octet_eight_bit;

// RFC 2045 2.7 and 2.8: neither 7bit nor 8bit data holds NUL, and other control
// characters are left to quoted-printable, which shows them as =XX.
constexpr std::array<unsigned char, 256> octet_classes = [] {
  std::array<unsigned char, 256> t{};
  for (int c = 0; c < 0x20; ++c)
    t[static_cast<std::size_t>(c)] = c == '\t' || c == '\r' || c == '\n' ? 0 : octet_control;
  t[0x7F] = octet_control;
  for (int c = 0x80; c < 0x100; ++c) t[static_cast<std::size_t>(c)] = octet_eight_bit;
  return t;
}();

// The longest line, line ends excluded. A lone CR counts as part of its line, which can
// only make the choice more careful.
std::size_t longest_line(std::string_view text) noexcept {
  std::size_t longest = 0;
  for (std::size_t start = 0; start <= text.size();) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::size_t length = end - start;
    if (length > 0 && text[end - 1] == '\r') --length;
    longest = std::max(longest, length);
    start = end + 1;
  }
  return longest;
}

}  // namespace

transfer_encoding choose_transfer_encoding(std::string_view text, bool allow_8bit) {
  // Without 8BITMIME the first 8-bit octet settles it, and in French text that comes
  // early; so does a control character. Blocks of 64 octets keep the loop free of
  // branches on the data.
  const unsigned char settles = allow_8bit ? octet_control : octet_control_or_eight_bit;
  const auto* in = reinterpret_cast<const unsigned char*>(text.data());
  unsigned char seen = 0;
  for (std::size_t pos = 0; pos < text.size(); pos += 64) {
    const std::size_t end = std::min(text.size(), pos + 64);
    for (std::size_t i = pos; i < end; ++i) seen |= octet_classes[in[i]];
    if (seen & settles) return transfer_encoding::quoted_printable;
  }

  const std::size_t longest = longest_line(text);
  // RFC 5322 2.1.1: 78 characters per line is the recommended limit for 7bit.
  if (!(seen & octet_eight_bit)) {
    return longest <= 78 ? transfer_encoding::seven_bit : transfer_encoding::quoted_printable;
  }
  // RFC 6152 and RFC 2045 2.8: 8bit lines are at most 998 octets, CRLF excluded.
  if (longest <= max_line && is_valid_utf8(text)) return transfer_encoding::eight_bit;
  return transfer_encoding::quoted_printable;
}

std::string_view to_string(transfer_encoding e) noexcept {
  switch (e) {
    case transfer_encoding::seven_bit:
      return "7bit";
    case transfer_encoding::eight_bit:
      return "8bit";
    case transfer_encoding::quoted_printable:
      break;
  }
  return "quoted-printable";
}

std::string encode_text(std::string_view text, transfer_encoding e) {
  return e == transfer_encoding::quoted_printable ? quoted_printable(text) : to_crlf(text);
}

std::vector<std::string> encoded_words(std::string_view utf8, std::size_t max_length,
                                       std::size_t first_max_length) {
  const auto budget_for = [](std::size_t length) {
    return length > encoded_word_overhead ? length - encoded_word_overhead : 0;
  };

  // Q keeps French text readable; B is taken only when it is clearly shorter.
  std::size_t q_total = 0;
  for (const char c : utf8) q_total += q_cost(static_cast<unsigned char>(c));
  const std::size_t b_total = (utf8.size() + 2) / 3 * 4;
  const bool use_b = 4 * b_total < 3 * q_total;

  std::vector<std::string> words;
  std::size_t pos = 0;
  while (pos < utf8.size()) {
    // RFC 2047 5: each word holds whole characters, so it decodes on its own.
    const std::size_t budget = budget_for(words.empty() ? first_max_length : max_length);
    std::size_t end = pos;
    std::size_t cost = 0;
    while (end < utf8.size()) {
      const std::size_t n = char_length(utf8, end);
      std::size_t next = 0;
      if (use_b) {
        next = (end + n - pos + 2) / 3 * 4;
      } else {
        next = cost;
        for (std::size_t k = 0; k < n; ++k)
          next += q_cost(static_cast<unsigned char>(utf8[end + k]));
      }
      if (next > budget && end > pos) {
        // Some readers (Python's email among them) keep the white space between two
        // encoded-words of a phrase, against RFC 2047 6.2. Ending a word just after a
        // space costs little and leaves them a doubled space, not a word cut in two.
        const std::size_t space = utf8.substr(pos, end - pos).rfind(' ');
        if (space != std::string_view::npos && space + 1 > (end - pos) / 2) end = pos + space + 1;
        break;
      }
      cost = next;
      end += n;
    }

    const std::string_view chunk = utf8.substr(pos, end - pos);
    std::string word;
    word.reserve(encoded_word_overhead + 3 * chunk.size());
    word = use_b ? "=?utf-8?B?" : "=?utf-8?Q?";
    if (use_b) {
      word += base64(chunk);
    } else {
      append_q(word, chunk);
    }
    word += "?=";
    words.push_back(std::move(word));
    pos = end;
  }
  return words;
}

std::vector<header_word> unstructured_words(std::string_view utf8, std::size_t first_width) {
  // A word and the white space before it, as offsets into `utf8`: merging neighbours
  // below only ever joins adjacent text, so no piece needs a copy of its own.
  struct raw_word {
    std::size_t space_begin;
    std::size_t text_begin;
    std::size_t text_end;
    bool encode;
  };

  // Split into white space and words. White space at either end belongs to the value,
  // but a header parser strips it, so it is carried inside an encoded-word.
  std::vector<raw_word> raw;
  raw.reserve(utf8.size() / 4 + 1);
  std::size_t i = 0;
  while (i < utf8.size()) {
    const std::size_t space_begin = i;
    while (i < utf8.size() && is_wsp(utf8[i])) ++i;
    if (i == utf8.size()) {
      if (raw.empty()) {
        raw.push_back({space_begin, space_begin, i, true});
      } else {
        raw.back().text_end = i;
        raw.back().encode = true;
      }
      break;
    }
    const std::size_t text_begin = i;
    while (i < utf8.size() && !is_wsp(utf8[i])) ++i;
    if (raw.empty() && text_begin > space_begin) {
      raw.push_back({space_begin, space_begin, i, true});
    } else {
      const std::string_view text = utf8.substr(text_begin, i - text_begin);
      const bool encode = needs_encoding(text, raw.empty() ? first_width : max_encoded_word);
      raw.push_back({space_begin, text_begin, i, encode});
    }
  }

  // RFC 2047 5 (1) and 6.2: an encoded-word is separated from plain text by white space,
  // and white space between two encoded-words is dropped when decoding. So neighbouring
  // words that need encoding are encoded together with the spaces between them.
  std::vector<header_word> words;
  words.reserve(raw.size());
  for (std::size_t k = 0; k < raw.size(); ++k) {
    std::string space =
        k == 0
            ? std::string(" ")
            : std::string(utf8.substr(raw[k].space_begin, raw[k].text_begin - raw[k].space_begin));
    const std::size_t begin = raw[k].text_begin;
    if (!raw[k].encode) {
      words.push_back({std::move(space), std::string(utf8.substr(begin, raw[k].text_end - begin))});
      continue;
    }
    while (k + 1 < raw.size() && raw[k + 1].encode) ++k;
    const std::string_view run = utf8.substr(begin, raw[k].text_end - begin);
    for (std::string& w :
         encoded_words(run, max_encoded_word, words.empty() ? first_width : max_encoded_word)) {
      words.push_back({std::move(space), std::move(w)});
      space = " ";
    }
  }
  return words;
}

std::vector<std::string> phrase_words(std::string_view display_name, std::size_t first_width) {
  if (display_name.empty()) return {};
  if (is_printable_ascii(display_name) && display_name.find("=?") == std::string_view::npos) {
    if (is_plain_phrase(display_name)) {
      std::vector<std::string> atoms;
      std::size_t pos = 0;
      while (pos <= display_name.size()) {
        const std::size_t sp = std::min(display_name.find(' ', pos), display_name.size());
        atoms.emplace_back(display_name.substr(pos, sp - pos));
        pos = sp + 1;
      }
      // Folding happens only between atoms; an atom longer than a line would break the
      // 998-octet limit, so such a name goes out as encoded-words, which split anywhere.
      const bool fits = std::all_of(atoms.begin(), atoms.end(),
                                    [](const std::string& a) { return a.size() < fold_width; });
      if (fits) return atoms;
    } else {
      // RFC 5322 3.4: specials in a display name stay inside a quoted-string. A quoted-string
      // is never folded inside, so a longer name goes out as encoded-words instead.
      std::string quoted = quote(display_name);
      if (quoted.size() <= first_width) return {std::move(quoted)};
    }
  }
  // RFC 2047 5 (3): encoded-words may replace the whole phrase; specials are encoded too.
  return encoded_words(display_name, max_encoded_word, first_width);
}

std::string quoted_parameter(std::string_view attribute, std::string_view value) {
  std::string out(attribute);
  out += '=';
  out += quote(value);
  return out;
}

std::vector<std::string> rfc2231_parameter(std::string_view attribute, std::string_view utf8) {
  // Room for the folding space before a piece and the ';' after it.
  constexpr std::size_t piece_width = fold_width - 2;
  const auto encode_char = [](std::string& out, std::string_view ch) {
    for (const char c : ch) {
      if (is_attribute_char(static_cast<unsigned char>(c))) {
        out += c;
      } else {
        append_hex(out, '%', static_cast<unsigned char>(c));
      }
    }
  };

  std::string whole(attribute);
  whole += "*=utf-8''";
  encode_char(whole, utf8);
  if (whole.size() <= piece_width) return {std::move(whole)};

  // RFC 2231 3 and 4.1: numbered pieces, each marked '*' as percent-encoded, the charset
  // in the first one only.
  std::vector<std::string> pieces;
  std::size_t pos = 0;
  while (pos < utf8.size()) {
    std::string piece(attribute);
    piece += '*';
    piece += std::to_string(pieces.size());
    piece += pieces.empty() ? "*=utf-8''" : "*=";
    const std::size_t head = piece.size();
    while (pos < utf8.size()) {
      const std::size_t n = char_length(utf8, pos);
      std::string enc;
      encode_char(enc, utf8.substr(pos, n));
      if (piece.size() + enc.size() > piece_width && piece.size() > head) break;
      piece += enc;
      pos += n;
    }
    pieces.push_back(std::move(piece));
  }
  return pieces;
}

std::vector<std::string> encoded_word_parameter(std::string_view attribute, std::string_view utf8) {
  // The first piece carries `attribute="` and the last `";`, so words are kept short.
  const std::size_t word_width = fold_width - 4 - attribute.size() - 2;
  const std::size_t width = std::min(word_width, max_encoded_word);
  std::vector<std::string> pieces = encoded_words(utf8, width, width);
  if (pieces.empty()) pieces.emplace_back();
  pieces.front().insert(0, std::string(attribute) + "=\"");
  pieces.back() += '"';
  return pieces;
}

header_folder::header_folder(std::string_view name) : out_(name) {
  out_ += ':';
  line_length_ = out_.size();
}

void header_folder::add(std::string_view text, std::string_view space) {
  // RFC 5322 2.2.3: a fold is a CRLF put before existing white space, and no line may be
  // white space alone.
  // A fold right after the colon would make some parsers (Python's email among them) see
  // a value starting with a space.
  const bool fold = !empty_ && !space.empty() && !text.empty() &&
                    line_length_ + space.size() + text.size() > fold_width;
  empty_ = false;
  if (fold) {
    out_ += "\r\n";
    line_length_ = 0;
  }
  out_ += space;
  out_ += text;
  line_length_ += space.size() + text.size();
}

std::string header_folder::finish() && {
  out_ += "\r\n";
  return std::move(out_);
}

std::size_t first_line_room(std::string_view name) noexcept {
  const std::size_t used = name.size() + 2;
  return used < fold_width ? std::min(fold_width - used, max_encoded_word) : 0;
}

std::string unstructured_field(std::string_view name, std::string_view utf8) {
  header_folder field(name);
  for (const header_word& w : unstructured_words(utf8, first_line_room(name))) field.add(w);
  return std::move(field).finish();
}

}  // namespace envoi::mime
