// The byte transforms of MIME and of header fields: base64 and quoted-printable bodies
// (RFC 2045), encoded-words (RFC 2047), parameter values (RFC 2231), and folding of long
// header fields (RFC 5322 2.2.3). Internal to envoi.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace envoi::mime {

/// RFC 2047 2: a header line holding encoded-words is at most 76 characters; envoi folds
/// every header it writes to that width when a break is possible.
inline constexpr std::size_t fold_width = 76;
/// RFC 2047 2: an encoded-word, delimiters included, is at most 75 characters.
inline constexpr std::size_t max_encoded_word = 75;
/// RFC 5322 2.1.1: no line of a message may exceed 998 octets, CRLF excluded.
inline constexpr std::size_t max_line = 998;

/// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or values past
/// U+10FFFF).
bool is_valid_utf8(std::string_view s) noexcept;

/// The character set that a text attachment's bytes show.
enum class text_charset {
  /// Every octet is below 0x80: US-ASCII, what MIME assumes of text without a charset
  /// parameter (RFC 2046 4.1.2).
  ascii,
  /// Well-formed UTF-8 with some character beyond ASCII.
  utf8,
  /// Not UTF-8, but octets Windows-1252 text can hold: no NUL, no control character but
  /// tab, line ends and form feed, none of the five octets Windows-1252 leaves unassigned.
  windows_1252,
  /// Neither: UTF-16 (whose ASCII characters hold NUL octets), binary data under a text
  /// name, or text with control characters.
  unknown,
};

/// Tells the text_charset of bytes given in pieces of any size, so that a file is examined
/// in chunks; a UTF-8 character may be split between pieces.
class charset_sniffer {
 public:
  void add(std::string_view bytes);
  /// True once no further bytes can change the answer, which is then `unknown`.
  bool settled() const noexcept { return !utf8_ && !windows_1252_; }
  text_charset result() const noexcept;

 private:
  // The start of a UTF-8 character cut off at the end of the last piece.
  std::string carry_;
  bool ascii_ = true;
  bool utf8_ = true;
  bool windows_1252_ = true;
};

/// The value of a charset parameter that states `c`: "utf-8" or "windows-1252"; empty for
/// ascii (the default needs none) and unknown (nothing true can be said).
std::string_view charset_parameter(text_charset c) noexcept;

/// True when every byte is below 0x80.
bool is_ascii(std::string_view s) noexcept;

/// True when `s` holds CR, LF or NUL, which no header value may carry.
bool has_cr_lf_or_nul(std::string_view s) noexcept;

/// True when `s` holds CR or LF.
bool has_line_break(std::string_view s) noexcept;

/// `s` with the ASCII capitals A to Z made small; other octets, UTF-8 included, unchanged.
/// Unlike std::tolower, it does not depend on the process locale.
std::string ascii_lower(std::string_view s);

/// `text` with every line end (LF, CR or CRLF) written as CRLF.
std::string to_crlf(std::string_view text);

/// Base64 of `data` on one line, no line breaks (SASL and the like).
std::string base64(std::string_view data);

/// The bytes of one-line base64 text (RFC 4648 4); nullopt when `text` is not base64.
/// Empty text is empty.
std::optional<std::string> decode_base64(std::string_view text);

/// Appends the base64 of `data` to `out` in lines of 76 characters, each ended by CRLF,
/// the last one included (RFC 2045 6.8).
void append_base64_lines(std::string& out, std::string_view data);

/// Quoted-printable of UTF-8 text (RFC 2045 6.7): line ends become CRLF, no line is over
/// 76 characters, white space before a line end is encoded. The result ends with CRLF
/// only when `text` ended with a line end.
std::string quoted_printable(std::string_view text);

enum class transfer_encoding { seven_bit, eight_bit, quoted_printable };

/// 7bit when `text` is ASCII without control characters and every line fits in 78
/// characters; 8bit when `allow_8bit`, `text` is valid UTF-8 with some non-ASCII character,
/// no control character and no line over 998 octets; quoted-printable otherwise.
transfer_encoding choose_transfer_encoding(std::string_view text, bool allow_8bit = false);

/// The name of the encoding for Content-Transfer-Encoding.
std::string_view to_string(transfer_encoding e) noexcept;

/// The body of a text part as sent: `text` with CRLF line ends for 7bit and 8bit, its
/// quoted-printable form otherwise.
std::string encode_text(std::string_view text, transfer_encoding e);

/// The length of append_base64_lines' output for `size` input bytes: 76-character lines
/// for every 57 bytes, each with its CRLF.
constexpr std::uint64_t base64_lines_size(std::uint64_t size) noexcept {
  const std::uint64_t rest = size % 57;
  return size / 57 * 78 + (rest == 0 ? 0 : (rest + 2) / 3 * 4 + 2);
}

/// `utf8` as a sequence of encoded-words in charset utf-8, Q or B, whichever is much
/// shorter, each at most `max_length` characters and holding whole characters only, so
/// that each decodes on its own; the first word is at most `first_max_length`, to fit after
/// a header's name. Q words use only the characters RFC 2047 5 (3) allows in a phrase, so
/// the same words serve Subject and display names. Separate the words with white space;
/// decoders drop it between adjacent encoded-words.
std::vector<std::string> encoded_words(std::string_view utf8,
                                       std::size_t max_length = max_encoded_word,
                                       std::size_t first_max_length = max_encoded_word);

/// A piece of a header value and the white space that precedes it.
struct header_word {
  std::string space;
  std::string text;
};

/// An unstructured value (Subject) as words ready for folding. Plain ASCII words stay as
/// they are; a run of words that need encoding becomes encoded-words covering whole words
/// (RFC 2047 5 (1)), with the spaces inside the run encoded. The first word is at most
/// `first_width` long when it can be.
std::vector<header_word> unstructured_words(std::string_view utf8,
                                            std::size_t first_width = max_encoded_word);

/// A display name as phrase words (RFC 5322 3.2.5) to be joined by spaces: atoms when it
/// is plain, one quoted-string when it holds specials, encoded-words when it holds
/// non-ASCII text or is too long to quote on one line. The first word is at most
/// `first_width` long when it can be, as it may share its line with the header's name.
std::vector<std::string> phrase_words(std::string_view display_name,
                                      std::size_t first_width = max_encoded_word);

/// A MIME parameter `attribute="value"` for the ASCII value, escaped as RFC 2045 5.1
/// quoted-string. Precondition: `value` is printable ASCII.
std::string quoted_parameter(std::string_view attribute, std::string_view value);

/// RFC 2231 parameter for a UTF-8 value: `attribute*=utf-8''%XX..`, or when too long for
/// one line, the continuations `attribute*0*=utf-8''..`, `attribute*1*=..`, each short
/// enough to sit on its own folded line. Never splits a character or a %XX triplet.
std::vector<std::string> rfc2231_parameter(std::string_view attribute, std::string_view utf8);

/// `attribute="=?utf-8?..?= =?utf-8?..?="` as folding pieces: the non-standard form old
/// clients (Outlook, webmails) read for a file name (RFC 2047 5 forbids encoded-words in
/// parameters, so this is only ever sent next to the RFC 2231 form).
std::vector<std::string> encoded_word_parameter(std::string_view attribute, std::string_view utf8);

/// Builds one header field, breaking lines before white space (RFC 5322 2.2.3) so that
/// lines stay within fold_width whenever a break point exists.
class header_folder {
 public:
  explicit header_folder(std::string_view name);

  /// Appends `space` then `text`; folds before `space` when the line would grow past
  /// fold_width, except before the first piece. `space` empty glues `text` to what
  /// precedes it.
  void add(std::string_view text, std::string_view space = " ");
  void add(const header_word& w) { add(w.text, w.space); }

  /// The field with its final CRLF.
  std::string finish() &&;

 private:
  std::string out_;
  std::size_t line_length_;
  bool empty_ = true;
};

/// How much of the first line a header named `name` leaves to its value ("Name: " taken).
std::size_t first_line_room(std::string_view name) noexcept;

/// The whole `Name: value` field for an unstructured value, folded, with its CRLF.
std::string unstructured_field(std::string_view name, std::string_view utf8);

}  // namespace envoi::mime
