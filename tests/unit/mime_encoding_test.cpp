// White-box tests of the internal encoders (src/ is on the test include path).
#include "mime/encoding.hpp"

#include <openssl/evp.h>

#include <cstdint>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace mime = envoi::mime;

namespace {

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < s.size()) {
    const std::size_t eol = s.find("\r\n", pos);
    if (eol == std::string::npos) {
      lines.push_back(s.substr(pos));
      break;
    }
    lines.push_back(s.substr(pos, eol - pos));
    pos = eol + 2;
  }
  return lines;
}

bool has_bare_cr_or_lf(const std::string& s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n')) return true;
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) return true;
  }
  return false;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string base64_decode(std::string_view text) {
  std::string clean;
  for (char c : text) {
    if (c != '\r' && c != '\n') clean += c;
  }
  std::string out(clean.size() / 4 * 3 + 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(clean.data()),
                                static_cast<int>(clean.size()));
  EXPECT_GE(n, 0) << "not base64: " << clean.substr(0, 80);
  std::size_t size = static_cast<std::size_t>(n < 0 ? 0 : n);
  // EVP_DecodeBlock counts the bytes the padding stands for.
  if (clean.size() >= 1 && clean.back() == '=') --size;
  if (clean.size() >= 2 && clean[clean.size() - 2] == '=') --size;
  out.resize(size);
  return out;
}

// RFC 2045 6.7, read independently of the encoder.
std::string qp_decode(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '=') {
      out += text[i];
    } else if (text.compare(i + 1, 2, "\r\n") == 0) {
      i += 2;
    } else {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    }
  }
  return out;
}

const std::regex encoded_word_pattern(R"(=\?utf-8\?([QB])\?([^?\s]*)\?=)");

// One encoded-word; fails the test when it is not one.
std::string decode_word(const std::string& word) {
  std::smatch m;
  if (!std::regex_match(word, m, encoded_word_pattern)) {
    ADD_FAILURE() << "not an encoded-word: " << word;
    return {};
  }
  if (m[1] == "B") return base64_decode(m[2].str());
  std::string text = m[2].str();
  for (char& c : text) {
    if (c == '_') c = ' ';
  }
  return qp_decode(text);
}

bool is_encoded_word(const std::string& token) {
  return std::regex_match(token, encoded_word_pattern);
}

// RFC 2047 6.2 and RFC 5322 2.2.3: unfold, decode each encoded-word, drop the white space
// between two adjacent encoded-words and keep all other white space.
std::string decode_unstructured(const std::string& field, std::string_view name) {
  std::string value = field.substr(name.size() + 1);
  EXPECT_TRUE(value.ends_with("\r\n"));
  value.resize(value.size() - 2);
  std::string unfolded;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value.compare(i, 2, "\r\n") == 0) {
      EXPECT_TRUE(i + 2 < value.size() && (value[i + 2] == ' ' || value[i + 2] == '\t'))
          << "a fold must be followed by white space";
      ++i;
      continue;
    }
    unfolded += value[i];
  }
  EXPECT_TRUE(!unfolded.empty() && unfolded[0] == ' ');
  unfolded.erase(0, 1);

  std::string out;
  std::string pending_space;
  bool last_was_encoded = false;
  std::size_t i = 0;
  while (i < unfolded.size()) {
    std::size_t j = i;
    while (j < unfolded.size() && (unfolded[j] == ' ' || unfolded[j] == '\t')) ++j;
    pending_space = unfolded.substr(i, j - i);
    i = j;
    while (j < unfolded.size() && unfolded[j] != ' ' && unfolded[j] != '\t') ++j;
    const std::string token = unfolded.substr(i, j - i);
    i = j;
    const bool encoded = is_encoded_word(token);
    if (!(encoded && last_was_encoded)) out += pending_space;
    out += encoded ? decode_word(token) : token;
    last_was_encoded = encoded;
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Random UTF-8 text without CR, LF or NUL, weighted towards what breaks encoders:
// spaces, '=', '?', '_', accents, three- and four-byte characters.
std::string random_utf8(std::mt19937& rng) {
  std::uniform_int_distribution<int> length(0, 90);
  std::uniform_int_distribution<int> kind(0, 9);
  std::string out;
  const int n = length(rng);
  for (int i = 0; i < n; ++i) {
    char32_t cp = 0;
    switch (kind(rng)) {
      case 0:
        cp = U" =?_\t"[std::uniform_int_distribution<int>(0, 4)(rng)];
        break;
      case 1:
      case 2:
      case 3:
        cp = std::uniform_int_distribution<char32_t>(0x21, 0x7E)(rng);
        break;
      case 4:
      case 5:
        cp = std::uniform_int_distribution<char32_t>(0xC0, 0xFF)(rng);
        break;
      case 6:
        cp = std::uniform_int_distribution<char32_t>(0x100, 0x7FF)(rng);
        break;
      case 7:
        cp = std::uniform_int_distribution<char32_t>(0x800, 0xD7FF)(rng);
        break;
      case 8:
        cp = std::uniform_int_distribution<char32_t>(0x10000, 0x10FFFF)(rng);
        break;
      default:
        cp = std::uniform_int_distribution<char32_t>(0x01, 0x1F)(rng);
        break;
    }
    if (cp == '\r' || cp == '\n') cp = ' ';
    append_utf8(out, cp);
  }
  return out;
}

}  // namespace

TEST(Mime, Utf8ValidationFindsABadSequenceAfterAnyLengthOfAscii) {
  // ASCII is skipped eight octets at a time; what follows it must still be checked.
  for (std::size_t n = 0; n < 20; ++n) {
    const std::string ascii(n, 'a');
    EXPECT_TRUE(mime::is_valid_utf8(ascii + "é" + ascii)) << n;
    EXPECT_FALSE(mime::is_valid_utf8(ascii + "\xC3")) << n;
    EXPECT_FALSE(mime::is_valid_utf8(ascii + "\xC3" + ascii)) << n;
    EXPECT_FALSE(mime::is_valid_utf8(ascii + "\xE9t\xE9" + ascii)) << n;
    // Several 8-bit sequences within one block of eight, the bad one not the first.
    EXPECT_TRUE(mime::is_valid_utf8(ascii + "éaèb€c🐾" + ascii)) << n;
    EXPECT_FALSE(mime::is_valid_utf8(ascii + "éa\xFF" + ascii)) << n;
    EXPECT_FALSE(mime::is_valid_utf8(ascii + "é\x80" + ascii)) << n;
    EXPECT_FALSE(mime::is_valid_utf8(ascii + "ab\xC3\xA9\xC3" + ascii)) << n;
  }
}

TEST(Mime, LineBreakAndNulFoundAtEveryPosition) {
  for (std::size_t n = 0; n < 40; ++n) {
    const std::string before(n, 'a');
    const std::string after(39 - n, 'b');
    EXPECT_FALSE(mime::has_line_break(before + after));
    EXPECT_FALSE(mime::has_cr_lf_or_nul(before + "é" + after));
    for (const char c : {'\r', '\n'}) {
      EXPECT_TRUE(mime::has_line_break(before + c + after)) << n;
      EXPECT_TRUE(mime::has_cr_lf_or_nul(before + c + after)) << n;
    }
    EXPECT_FALSE(mime::has_line_break(before + '\0' + after)) << n;
    EXPECT_TRUE(mime::has_cr_lf_or_nul(before + '\0' + after)) << n;
  }
}

TEST(Mime, Utf8ValidationRefusesMalformedSequences) {
  EXPECT_TRUE(mime::is_valid_utf8("Hélène 🐾 €"));
  EXPECT_FALSE(mime::is_valid_utf8("\xC3"));              // truncated
  EXPECT_FALSE(mime::is_valid_utf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(mime::is_valid_utf8("\xE0\x80\xAF"));      // overlong
  EXPECT_FALSE(mime::is_valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(mime::is_valid_utf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(mime::is_valid_utf8("\xE9t\xE9"));         // Latin-1
}

namespace {

// The charset of `bytes` given to a sniffer in pieces of `piece` octets.
mime::text_charset sniffed(std::string_view bytes, std::size_t piece) {
  mime::charset_sniffer sniffer;
  for (std::size_t i = 0; i < bytes.size(); i += piece) sniffer.add(bytes.substr(i, piece));
  return sniffer.result();
}

}  // namespace

TEST(Mime, CharsetSnifferTellsAsciiUtf8Windows1252AndUnknownWhateverThePieces) {
  using mime::text_charset;
  using namespace std::string_literals;
  const std::pair<std::string, text_charset> cases[] = {
      {"", text_charset::ascii},
      {"nom;animal\r\nDupont;Medor\r\n", text_charset::ascii},
      {"nom;animal\nDupont;Médor\n", text_charset::utf8},
      // Excel's "CSV UTF-8" starts with a byte-order mark.
      {"\xEF\xBB\xBFnom;animal\nDupont;Médor\n", text_charset::utf8},
      {"2 € 🐾 Hélène", text_charset::utf8},
      // NUL is a character of UTF-8 like any other.
      {"Médor\0"s, text_charset::utf8},
      // Excel's plain CSV on a French Windows: é, ’, €, œ.
      {"nom;animal\r\nL\xE9o;Rex\r\n", text_charset::windows_1252},
      {"l\x92\xE9t\xE9 \x80 \x9Cuf", text_charset::windows_1252},
      // UTF-8 cut short, and an overlong form, are not UTF-8.
      {"Hélène\xC3", text_charset::windows_1252},
      {"\xC0\xAF", text_charset::windows_1252},
      // UTF-16LE with its byte-order mark; an octet Windows-1252 leaves unassigned; a PNG.
      {"\xFF\xFEn\0o\0m\0\xE9\0"s, text_charset::unknown},
      {"L\xE9\x81o", text_charset::unknown},
      {"\x89PNG\r\n\x1A\n\xE9", text_charset::unknown},
  };
  for (const auto& [bytes, want] : cases) {
    for (std::size_t piece = 1; piece <= bytes.size() + 1; ++piece)
      EXPECT_EQ(sniffed(bytes, piece), want) << ::testing::PrintToString(bytes) << " by " << piece;
  }
  EXPECT_EQ(mime::charset_parameter(text_charset::ascii), "");
  EXPECT_EQ(mime::charset_parameter(text_charset::utf8), "utf-8");
  EXPECT_EQ(mime::charset_parameter(text_charset::windows_1252), "windows-1252");
  EXPECT_EQ(mime::charset_parameter(text_charset::unknown), "");
}

TEST(Mime, CharsetSnifferFindsALateOctetAndSettlesOnlyWhenNothingCanChange) {
  const std::string ascii(200000, 'a');
  mime::charset_sniffer sniffer;
  sniffer.add(ascii);
  sniffer.add("\xE9");
  EXPECT_FALSE(sniffer.settled());
  EXPECT_EQ(sniffer.result(), mime::text_charset::windows_1252);
  // E9 81 could still start a UTF-8 character; not once "z" follows.
  sniffer.add("\x81");
  EXPECT_FALSE(sniffer.settled());
  sniffer.add("z");
  EXPECT_TRUE(sniffer.settled());
  EXPECT_EQ(sniffer.result(), mime::text_charset::unknown);
  sniffer.add("é");
  EXPECT_EQ(sniffer.result(), mime::text_charset::unknown);
}

TEST(Mime, EveryKindOfLineEndBecomesCrlf) {
  EXPECT_EQ(mime::to_crlf("Ligne 1\nLigne 2\rLigne 3\r\nLigne 4"),
            "Ligne 1\r\nLigne 2\r\nLigne 3\r\nLigne 4");
  EXPECT_EQ(mime::to_crlf("\r\r\n\n\n\r"), "\r\n\r\n\r\n\r\n\r\n");
  EXPECT_EQ(mime::to_crlf(""), "");
}

TEST(Mime, Base64LinesAre76CharactersEndedByCrlf) {
  // F10: a 300 KB binary attachment.
  std::mt19937 rng(10);
  std::string data(300 * 1024, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  std::string out;
  mime::append_base64_lines(out, data);

  EXPECT_FALSE(has_bare_cr_or_lf(out));
  ASSERT_TRUE(out.ends_with("\r\n"));
  const auto lines = lines_of(out);
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) ASSERT_EQ(lines[i].size(), 76u) << i;
  EXPECT_LE(lines.back().size(), 76u);
  EXPECT_EQ(lines.back().size() % 4, 0u);
  EXPECT_EQ(base64_decode(out), data);
}

TEST(Mime, Base64RoundTripsAtEveryLength) {
  std::string data;
  for (int n = 0; n < 300; ++n) {
    std::string out;
    mime::append_base64_lines(out, data);
    EXPECT_EQ(base64_decode(out), data) << n;
    std::string joined;
    for (const auto& line : lines_of(out)) {
      EXPECT_LE(line.size(), 76u);
      joined += line;
    }
    EXPECT_EQ(mime::base64(data), joined);
    data += static_cast<char>(n * 37);
  }
  EXPECT_EQ(mime::base64("envoi"), "ZW52b2k=");
}

TEST(Mime, QuotedPrintableDecodesBackAtEverySplitOfTheInput) {
  const std::string text =
      "Bonjour Hélène,\n\nVotre chat Félix est attendu le mardi 8 décembre à 14 h 30. "
      "Merci de prévenir la clinique = en cas d'empêchement.   \r\n\tFin\t\r.\n";
  for (std::size_t n = 0; n <= text.size(); ++n) {
    const std::string input = text.substr(0, n);
    const std::string encoded = mime::quoted_printable(input);
    EXPECT_FALSE(has_bare_cr_or_lf(encoded)) << n;
    for (const auto& line : lines_of(encoded)) {
      EXPECT_LE(line.size(), 76u) << line;
      EXPECT_TRUE(line.empty() || (line.back() != ' ' && line.back() != '\t')) << line;
      for (char c : line) EXPECT_LT(static_cast<unsigned char>(c), 0x80) << line;
    }
    EXPECT_EQ(qp_decode(encoded), mime::to_crlf(input)) << n;
  }
}

TEST(Mime, QuotedPrintableEncodesEveryOctetAtEveryPositionOfALongLine) {
  // Plain text is copied eight octets at a time: each octet value, at each offset within
  // and across those blocks and near the 76-character limit, must still be seen.
  for (int value = 0; value < 256; ++value) {
    for (std::size_t pos = 0; pos < 90; ++pos) {
      std::string input(120, 'x');
      input[pos] = static_cast<char>(value);
      if (pos > 0 && value % 2 == 0) input[pos - 1] = ' ';
      const std::string encoded = mime::quoted_printable(input);
      for (const auto& line : lines_of(encoded)) {
        ASSERT_LE(line.size(), 76u) << value << " at " << pos;
        ASSERT_TRUE(line.empty() || (line.back() != ' ' && line.back() != '\t'));
        for (const char c : line) {
          const auto u = static_cast<unsigned char>(c);
          ASSERT_TRUE(u == '\t' || (u >= 0x20 && u < 0x7F)) << value << " at " << pos;
        }
      }
      ASSERT_EQ(qp_decode(encoded), mime::to_crlf(input)) << value << " at " << pos;
    }
  }
}

TEST(Mime, QuotedPrintableEncodesEqualsAndTrailingWhiteSpace) {
  EXPECT_EQ(mime::quoted_printable("a=b"), "a=3Db");
  EXPECT_EQ(mime::quoted_printable("fin \nsuite\t"), "fin=20\r\nsuite=09");
  EXPECT_EQ(mime::quoted_printable("été"), "=C3=A9t=C3=A9");
  EXPECT_EQ(mime::quoted_printable("a b\n"), "a b\r\n");
}

TEST(Mime, QuotedPrintableBreaksA1500CharacterLine) {
  // F08: one long line with no line end at all.
  std::string url = "https://clinique.example.test/rappel?";
  while (url.size() < 1500) url += "p=x&";
  const std::string encoded = mime::quoted_printable(url);
  const auto lines = lines_of(encoded);
  EXPECT_GT(lines.size(), 19u);
  for (const auto& line : lines) EXPECT_LE(line.size(), 76u);
  EXPECT_EQ(qp_decode(encoded), url);
  EXPECT_EQ(mime::choose_transfer_encoding(url), mime::transfer_encoding::quoted_printable);
}

TEST(Mime, QuotedPrintableLeavesLeadingDotsToTheSmtpClient) {
  // F01/F02: dot-stuffing happens once, in the SMTP client; the encoder must not lose dots.
  const std::string text = ".profile mis à jour\n.\n.suite du texte\n..\nfin";
  EXPECT_EQ(qp_decode(mime::quoted_printable(text)), mime::to_crlf(text));
}

TEST(Mime, SevenBitOnlyForShortAsciiLines) {
  using te = mime::transfer_encoding;
  EXPECT_EQ(mime::choose_transfer_encoding("Bonjour,\nA demain.\n"), te::seven_bit);
  EXPECT_EQ(mime::choose_transfer_encoding(std::string(78, 'a')), te::seven_bit);
  EXPECT_EQ(mime::choose_transfer_encoding(std::string(79, 'a')), te::quoted_printable);
  EXPECT_EQ(mime::choose_transfer_encoding("Reçu à l'été, merci."), te::quoted_printable);
  EXPECT_EQ(mime::choose_transfer_encoding(std::string("nul\0byte", 8)), te::quoted_printable);
  EXPECT_EQ(mime::to_string(te::seven_bit), "7bit");
  EXPECT_EQ(mime::to_string(te::eight_bit), "8bit");
  EXPECT_EQ(mime::to_string(te::quoted_printable), "quoted-printable");
}

TEST(Mime, EncodedWordsNeverSplitAUtf8Character) {
  std::mt19937 rng(2047);
  for (int i = 0; i < 3000; ++i) {
    const std::string text = random_utf8(rng);
    ASSERT_TRUE(mime::is_valid_utf8(text));
    std::string decoded;
    for (const std::string& word : mime::encoded_words(text)) {
      ASSERT_LE(word.size(), mime::max_encoded_word) << word;
      const std::string piece = decode_word(word);
      ASSERT_TRUE(mime::is_valid_utf8(piece)) << "word splits a character: " << word;
      decoded += piece;
    }
    ASSERT_EQ(decoded, text);
  }
}

TEST(Mime, UnstructuredHeadersDecodeBackExactly) {
  std::mt19937 rng(5322);
  for (int i = 0; i < 3000; ++i) {
    const std::string text = random_utf8(rng);
    const std::string field = mime::unstructured_field("Subject", text);
    ASSERT_FALSE(has_bare_cr_or_lf(field)) << field;
    for (const auto& line : lines_of(field)) {
      ASSERT_LE(line.size(), mime::fold_width) << line;
      ASSERT_FALSE(line.find_first_not_of(" \t") == std::string::npos) << "blank line in fold";
      for (char c : line) ASSERT_LT(static_cast<unsigned char>(c), 0x80) << line;
    }
    if (text.empty()) continue;
    ASSERT_EQ(decode_unstructured(field, "Subject"), text) << field;
  }
}

TEST(Mime, SubjectOf60AccentsFoldsIntoShortEncodedWords) {
  // F14.
  std::string subject;
  for (int i = 0; i < 60; ++i) subject += "é";
  const std::string field = mime::unstructured_field("Subject", subject);
  EXPECT_GT(lines_of(field).size(), 1u);
  for (const auto& line : lines_of(field)) EXPECT_LE(line.size(), 76u) << line;
  for (auto it = std::sregex_iterator(field.begin(), field.end(), encoded_word_pattern);
       it != std::sregex_iterator(); ++it)
    EXPECT_LE(it->str().size(), 75u);
  EXPECT_EQ(decode_unstructured(field, "Subject"), subject);
}

TEST(Mime, OnlyWholeWordsAreEncoded) {
  // F15: never plain text glued to an encoded-word.
  EXPECT_EQ(mime::unstructured_field("Subject", "Réunion mensuelle"),
            "Subject: =?utf-8?Q?R=C3=A9union?= mensuelle\r\n");
  EXPECT_EQ(mime::unstructured_field("Subject", "Café-crème offert"),
            "Subject: =?utf-8?Q?Caf=C3=A9-cr=C3=A8me?= offert\r\n");
  // Neighbouring encoded words carry the space between them inside the encoding.
  const std::string field = mime::unstructured_field("Subject", "à été vu");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(field, m, std::regex("Subject: (=\\?[^ ]+\\?=) vu\r\n"))) << field;
  EXPECT_EQ(decode_word(m[1]), "à été");
  EXPECT_EQ(mime::unstructured_field("Subject", "Rappel"), "Subject: Rappel\r\n");
}

TEST(Mime, TextThatLooksLikeAnEncodedWordIsEncoded) {
  const std::string field = mime::unstructured_field("Subject", "voir =?utf-8?Q?x?= ici");
  EXPECT_EQ(decode_unstructured(field, "Subject"), "voir =?utf-8?Q?x?= ici");
  EXPECT_EQ(field.find(" =?utf-8?Q?x?= "), std::string::npos);
}

TEST(Mime, WhiteSpaceAtTheEndsOfASubjectSurvives) {
  for (const std::string text : {" début", "fin  ", "   ", "\tx"})
    EXPECT_EQ(decode_unstructured(mime::unstructured_field("Subject", text), "Subject"), text);
}

TEST(Mime, PlainDisplayNamesStayAtoms) {
  EXPECT_EQ(mime::phrase_words("Jean Dupont"), (std::vector<std::string>{"Jean", "Dupont"}));
  EXPECT_TRUE(mime::phrase_words("").empty());
}

TEST(Mime, DisplayNameWithSpecialsIsQuoted) {
  // F11: specials stay inside one quoted-string, which is never folded inside.
  EXPECT_EQ(mime::phrase_words("Dupont, Jean-Baptiste (Direction financiere)"),
            std::vector<std::string>{"\"Dupont, Jean-Baptiste (Direction financiere)\""});
  EXPECT_EQ(mime::phrase_words(R"(Dr. "Doc" \ Martin)"),
            std::vector<std::string>{R"("Dr. \"Doc\" \\ Martin")"});
  EXPECT_EQ(mime::phrase_words("Jean  Dupont"), std::vector<std::string>{"\"Jean  Dupont\""});
}

TEST(Mime, LongQuotedDisplayNameBecomesEncodedWords) {
  const std::string name =
      "Dupont, Jean-Baptiste (Direction financiere et comptable du groupe Sud-Ouest)";
  std::string decoded;
  for (const auto& word : mime::phrase_words(name)) {
    EXPECT_LE(word.size(), 75u);
    decoded += decode_word(word);
  }
  EXPECT_EQ(decoded, name);
}

TEST(Mime, NonAsciiDisplayNameEncodesSpecialsToo) {
  // F16.
  EXPECT_EQ(mime::phrase_words("Dupont, Hélène"),
            std::vector<std::string>{"=?utf-8?Q?Dupont=2C_H=C3=A9l=C3=A8ne?="});
  for (const auto& word : mime::phrase_words("a\"b(c)<d>@e,f;g:h.i[j]k\\l_m=n?oé")) {
    const std::string payload = word.substr(10, word.size() - 12);
    EXPECT_EQ(payload.find_first_of("\"(),.:;<>@[\\]? "), std::string::npos) << word;
  }
}

TEST(Mime, Rfc2231FileNameIsPercentEncoded) {
  // F18.
  EXPECT_EQ(mime::rfc2231_parameter("filename", "relevé été.pdf"),
            std::vector<std::string>{"filename*=utf-8''relev%C3%A9%20%C3%A9t%C3%A9.pdf"});
}

TEST(Mime, LongFileNameUsesNumberedContinuationsWithoutEncodedWords) {
  // F19.
  const std::string name =
      "Relevé de compte annuel – exercice 2023-2024 – Société Exemple – copie certifiée "
      "conforme.pdf";
  const auto pieces = mime::rfc2231_parameter("filename", name);
  ASSERT_GT(pieces.size(), 1u);
  std::string joined;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const std::string head =
        "filename*" + std::to_string(i) + "*=" + (i == 0 ? std::string("utf-8''") : "");
    ASSERT_TRUE(pieces[i].starts_with(head)) << pieces[i];
    EXPECT_EQ(pieces[i].find("=?"), std::string::npos);
    EXPECT_LE(pieces[i].size() + 2, 78u);
    const std::string value = pieces[i].substr(head.size());
    std::string decoded;
    for (std::size_t k = 0; k < value.size(); ++k) {
      if (value[k] == '%') {
        ASSERT_LE(k + 2, value.size() - 1) << "split %XX triplet: " << value;
        decoded += static_cast<char>(hex_value(value[k + 1]) * 16 + hex_value(value[k + 2]));
        k += 2;
      } else {
        decoded += value[k];
      }
    }
    EXPECT_TRUE(mime::is_valid_utf8(decoded)) << "segment splits a character: " << value;
    joined += decoded;
  }
  EXPECT_EQ(joined, name);
}

TEST(Mime, EncodedWordParameterIsForOldClientsOnly) {
  const auto pieces = mime::encoded_word_parameter("name", "relevé été.pdf");
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_EQ(pieces[0], "name=\"=?utf-8?Q?relev=C3=A9_=C3=A9t=C3=A9=2Epdf?=\"");
}

TEST(Mime, FolderBreaksOnlyBeforeWhiteSpace) {
  mime::header_folder field("To");
  for (int i = 0; i < 10; ++i) field.add("<destinataire" + std::to_string(i) + "@example.test>,");
  field.add("fin", "");
  const std::string out = std::move(field).finish();
  EXPECT_TRUE(out.starts_with("To: <destinataire0@example.test>,"));
  EXPECT_TRUE(out.ends_with(",fin\r\n"));
  EXPECT_FALSE(has_bare_cr_or_lf(out));
  for (const auto& line : lines_of(out)) EXPECT_LE(line.size(), 76u);
  EXPECT_EQ(out.find("\r\n", 0) + 2 < out.size() ? out[out.find("\r\n") + 2] : ' ', ' ');
}

TEST(Mime, EightBitNeedsPermissionUtf8AndLinesWithin998Octets) {
  // F21 and F08: 8bit only where the server takes it, and never for a line a server
  // would cut.
  using te = mime::transfer_encoding;
  EXPECT_EQ(mime::choose_transfer_encoding("Reçu à l'été", false), te::quoted_printable);
  EXPECT_EQ(mime::choose_transfer_encoding("Reçu à l'été", true), te::eight_bit);
  EXPECT_EQ(mime::choose_transfer_encoding("Bonjour", true), te::seven_bit);
  EXPECT_EQ(mime::choose_transfer_encoding(std::string(200, 'a'), true), te::quoted_printable);
  std::string line = "é";
  while (line.size() < 998) line += 'a';
  EXPECT_EQ(mime::choose_transfer_encoding(line + "\n" + line, true), te::eight_bit);
  EXPECT_EQ(mime::choose_transfer_encoding(line + "a", true), te::quoted_printable);
  EXPECT_EQ(mime::choose_transfer_encoding("\xE9t\xE9", true), te::quoted_printable);
  EXPECT_EQ(mime::choose_transfer_encoding(std::string("\xC3\xA9\0", 3), true),
            te::quoted_printable);
  EXPECT_EQ(mime::encode_text("é\nx", te::eight_bit), "é\r\nx");
  EXPECT_EQ(mime::encode_text("é\nx", te::quoted_printable), "=C3=A9\r\nx");
}

TEST(Mime, TransferEncodingSeesAControlOrEightBitOctetAtAnyPosition) {
  // The octets are examined in blocks; one odd octet anywhere, block edges included,
  // must change the choice.
  using te = mime::transfer_encoding;
  for (std::size_t pos = 0; pos < 200; ++pos) {
    std::string text(200, 'a');
    for (std::size_t i = 60; i < text.size(); i += 61) text[i] = '\n';
    std::string control = text;
    control[pos] = '\x01';
    ASSERT_EQ(mime::choose_transfer_encoding(control, false), te::quoted_printable) << pos;
    ASSERT_EQ(mime::choose_transfer_encoding(control, true), te::quoted_printable) << pos;
    if (text[pos] == '\n' || pos + 1 == text.size() || text[pos + 1] == '\n') continue;
    std::string accent = text;
    accent.replace(pos, 2, "é");
    ASSERT_EQ(mime::choose_transfer_encoding(accent, false), te::quoted_printable) << pos;
    ASSERT_EQ(mime::choose_transfer_encoding(accent, true), te::eight_bit) << pos;
  }
}

TEST(Mime, Base64SizeIsKnownFromTheInputLengthAlone) {
  std::string data;
  for (int n = 0; n < 400; ++n) {
    std::string out;
    mime::append_base64_lines(out, data);
    ASSERT_EQ(mime::base64_lines_size(data.size()), out.size()) << n;
    data += static_cast<char>(n);
  }
  EXPECT_EQ(mime::base64_lines_size(57), 78u);
  EXPECT_EQ(mime::base64_lines_size(58), 78u + 6u);
}

TEST(Mime, TransferEncodingDecodesBackForRandomTextAtEverySplit) {
  // Every encoding chosen for random UTF-8 text gives the text back with CRLF line ends.
  std::mt19937 rng(2045);
  for (int i = 0; i < 300; ++i) {
    std::string text = random_utf8(rng);
    if (i % 3 == 0) text += "\nligne\rsuite\r\n";
    for (std::size_t n = 0; n <= text.size(); ++n) {
      const std::string piece = text.substr(0, n);
      for (const bool eight : {false, true}) {
        const auto cte = mime::choose_transfer_encoding(piece, eight);
        const std::string body = mime::encode_text(piece, cte);
        ASSERT_FALSE(has_bare_cr_or_lf(body));
        if (cte == mime::transfer_encoding::quoted_printable) {
          ASSERT_EQ(qp_decode(body), mime::to_crlf(piece));
        } else {
          ASSERT_EQ(body, mime::to_crlf(piece));
          if (cte == mime::transfer_encoding::seven_bit) ASSERT_TRUE(mime::is_ascii(body));
          for (const auto& l : lines_of(body)) ASSERT_LE(l.size(), 998u);
        }
      }
    }
  }
}

TEST(Mime, AsciiLowerLeavesEightBitOctetsAlone) {
  EXPECT_EQ(mime::ascii_lower("SMTP.Orange.FR"), "smtp.orange.fr");
  EXPECT_EQ(mime::ascii_lower("ÉCOLE Vétérinaire"), "École vétérinaire");
  EXPECT_EQ(mime::ascii_lower(""), "");
}
