#include <envoi/message.hpp>

#include <unistd.h>

#include <openssl/evp.h>

#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include <envoi/error.hpp>

namespace fs = std::filesystem;
using envoi::attachment;
using envoi::invalid_input;
using envoi::mailbox;
using envoi::message;

namespace {

std::string header_block(const std::string& m) {
  return m.substr(0, m.find("\r\n\r\n") + 2);
}

std::string body_of(const std::string& m) {
  return m.substr(m.find("\r\n\r\n") + 4);
}

// The checks of the corpus' message lint that need no parser.
void expect_wire_form(const std::string& m) {
  for (std::size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '\r') ASSERT_TRUE(i + 1 < m.size() && m[i + 1] == '\n') << "bare CR at " << i;
    if (m[i] == '\n') ASSERT_TRUE(i > 0 && m[i - 1] == '\r') << "bare LF at " << i;
  }
  EXPECT_TRUE(m.ends_with("\r\n"));
  std::size_t start = 0;
  while (start < m.size()) {
    const std::size_t eol = m.find("\r\n", start);
    EXPECT_LE(eol - start, 998u) << "line at " << start;
    start = eol + 2;
  }
  for (char c : header_block(m)) ASSERT_LT(static_cast<unsigned char>(c), 0x80) << "8-bit header";
}

std::string header_value(const std::string& m, const std::string& name) {
  const std::string headers = "\r\n" + header_block(m);
  const std::size_t pos = headers.find("\r\n" + name + ": ");
  if (pos == std::string::npos) return {};
  const std::size_t start = pos + name.size() + 4;
  return headers.substr(start, headers.find("\r\n", start) - start);
}

message basic_message() {
  message m;
  m.from(mailbox::parse("Clinique du Sud <sud@example.test>"))
      .add_to(mailbox::parse("zoe@example.test"))
      .subject("Rappel")
      .text("Bonjour,\n");
  return m;
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  std::string out;
  char hex[3];
  for (unsigned int i = 0; i < size; ++i) {
    std::snprintf(hex, sizeof hex, "%02x", digest[i]);
    out += hex;
  }
  return out;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
      out += buffer;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string json_mailbox(const mailbox& m) {
  return "{\"name\": " + json_string(m.display_name()) +
         ", \"address\": " + json_string(m.address()) + "}";
}

std::string json_mailboxes(const std::vector<mailbox>& list) {
  std::string out = "[";
  for (std::size_t i = 0; i < list.size(); ++i) out += (i ? ", " : "") + json_mailbox(list[i]);
  return out + "]";
}

// Writes files in a directory of its own, removed at the end of the test.
class RenderedMessage : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("envoi-message-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& name, std::string_view data) {
    const fs::path path = dir_ / fs::u8path(name);
    std::ofstream(path, std::ios::binary)
        .write(data.data(), static_cast<std::streamsize>(data.size()));
    return path;
  }

  // Renders `m`, then has Python's email package read it back and compare it with `m`'s
  // own fields, plus `extra` JSON members (see tests/tools/check_message.py).
  std::string check_round_trip(const message& m, const std::string& extra = "") {
    const std::string rendered = m.render();
    expect_wire_form(rendered);

    std::string json =
        "{\"subject\": " + json_string(m.subject()) + ", \"from\": " + json_mailbox(*m.from()) +
        ", \"cc\": " + json_mailboxes(m.cc()) + ", \"to\": " + json_mailboxes(m.to()) +
        ", \"text\": " + json_string(m.text()) + ", \"attachments\": [";
    for (std::size_t i = 0; i < m.attachments().size(); ++i) {
      const attachment& a = m.attachments()[i];
      std::ifstream in(a.path, std::ios::binary);
      const std::string data((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
      const std::string name = a.file_name.empty() ? a.path.filename().string() : a.file_name;
      json += (i ? ", " : "") + std::string("{\"file_name\": ") + json_string(name) +
              ", \"sha256\": " + json_string(sha256_hex(data)) + "}";
    }
    json += "], \"absent_headers\": [\"Bcc\", \"X-Injected\"]" + extra + "}";

    const fs::path eml = write("message.eml", rendered);
    const fs::path expected = write("expected.json", json);
    const std::string command = std::string(ENVOI_PYTHON) + " '" + ENVOI_SOURCE_DIR +
                                "/tests/tools/check_message.py' '" + eml.string() + "' '" +
                                expected.string() + "' 2>&1";
    std::FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) {
      ADD_FAILURE() << "cannot run " << command;
      return rendered;
    }
    std::string output;
    char buffer[4096];
    while (const std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe))
      output.append(buffer, n);
    const int status = ::pclose(pipe);
    EXPECT_EQ(status, 0) << output << "\n--- message ---\n" << rendered.substr(0, 6000);
    return rendered;
  }

  fs::path dir_;
};

}  // namespace

TEST(Message, RefusesLineBreaksInTheSubjectWhenSet) {
  // F36: refused at once, so no code path can ever write the injected header.
  message m;
  for (const std::string bad : {"Bonjour\r\nBcc: spy@example.test", "a\nb", "a\rb"}) {
    try {
      m.subject(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const invalid_input& e) {
      EXPECT_EQ(e.field(), "subject");
      EXPECT_NE(std::string(e.what()).find("line break"), std::string::npos);
    }
  }
  EXPECT_THROW(m.subject(std::string("a\0b", 3)), invalid_input);
  EXPECT_THROW(m.subject("\xE9t\xE9"), invalid_input);
  EXPECT_EQ(m.subject(), "");
}

TEST(Message, RefusesAnEmptyMailboxAndBadAttachments) {
  message m;
  EXPECT_THROW(m.from(mailbox()), invalid_input);
  EXPECT_THROW(m.add_to(mailbox()), invalid_input);
  EXPECT_THROW(m.attach({"", "", ""}), invalid_input);
  EXPECT_THROW(m.attach({"/tmp/", "", ""}), invalid_input);
  EXPECT_THROW(m.attach({"/tmp/a.pdf", "a\r\nb.pdf", ""}), invalid_input);
  EXPECT_THROW(m.attach({"/tmp/a.pdf", "", "pdf"}), invalid_input);
  EXPECT_THROW(m.text("\xFF"), invalid_input);
}

TEST(Message, RenderNeedsASenderAndARecipient) {
  message m;
  m.add_to(mailbox::parse("zoe@example.test"));
  try {
    m.render();
    FAIL() << "rendered without From";
  } catch (const invalid_input& e) {
    EXPECT_EQ(e.field(), "from");
  }
  message n;
  n.from(mailbox::parse("sud@example.test"));
  try {
    n.make_envelope();
    FAIL() << "envelope without recipients";
  } catch (const invalid_input& e) {
    EXPECT_EQ(e.field(), "to");
  }
}

TEST(Message, BlindCopiesAreInTheEnvelopeOnly) {
  // F55.
  message m = basic_message();
  m.add_bcc(mailbox::parse("a@example.test")).add_bcc(mailbox::parse("b@example.test"));
  const envoi::envelope e = m.make_envelope();
  EXPECT_EQ(e.mail_from, "sud@example.test");
  EXPECT_EQ(e.recipients,
            (std::vector<std::string>{"zoe@example.test", "a@example.test", "b@example.test"}));
  const std::string rendered = m.render();
  EXPECT_FALSE(std::regex_search(rendered, std::regex("(^|\r\n)bcc:", std::regex::icase)));
  EXPECT_EQ(rendered.find("a@example.test"), std::string::npos);
}

TEST(Message, BlindCopiesOnlyGetAnEmptyToGroup) {
  message m;
  m.from(mailbox::parse("sud@example.test")).add_bcc(mailbox::parse("a@example.test"));
  EXPECT_EQ(header_value(m.render(), "To"), "undisclosed-recipients:;");
}

TEST(Message, EnvelopeListsToCcThenBccOnce) {
  message m = basic_message();
  m.add_cc(mailbox::parse("c@example.test")).add_bcc(mailbox::parse("zoe@example.test"));
  EXPECT_EQ(m.make_envelope().recipients,
            (std::vector<std::string>{"zoe@example.test", "c@example.test"}));
}

TEST(Message, DateIsEnglishWithANumericZoneWhateverTheLocale) {
  // F54: RFC 5322 3.3, formatted without the process locale.
  const std::regex date(
      "^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
      "\\d{4} \\d\\d:\\d\\d:\\d\\d [+-]\\d{4}$");
  const char* old_tz = std::getenv("TZ");
  const std::string saved_tz = old_tz ? old_tz : "";
  ::setenv("TZ", "Europe/Paris", 1);
  ::tzset();

  using namespace std::chrono;
  message m = basic_message();
  m.date(sys_days{year{2026} / July / 14} + hours{12});
  EXPECT_EQ(header_value(m.render(), "Date"), "Tue, 14 Jul 2026 14:00:00 +0200");
  m.date(sys_days{year{2026} / January / 14} + hours{12} + minutes{5} + seconds{9});
  EXPECT_EQ(header_value(m.render(), "Date"), "Wed, 14 Jan 2026 13:05:09 +0100");

  for (const char* locale : {"fr_FR.UTF-8", "de_DE.UTF-8"}) {
    if (std::setlocale(LC_ALL, locale) == nullptr) {
      std::cout << "[ note     ] locale " << locale << " is not installed; format checked in C\n";
      continue;
    }
    m.date(sys_days{year{2026} / May / 27} + hours{8});
    EXPECT_EQ(header_value(m.render(), "Date"), "Wed, 27 May 2026 10:00:00 +0200") << locale;
  }
  std::setlocale(LC_ALL, "C");

  // Never set: the time of rendering.
  message now = basic_message();
  const std::string value = header_value(now.render(), "Date");
  EXPECT_TRUE(std::regex_match(value, date)) << value;
  std::tm tm{};
  ASSERT_NE(::strptime(value.c_str(), "%a, %d %b %Y %H:%M:%S %z", &tm), nullptr);
  const long offset = tm.tm_gmtoff;
  const auto rendered = sys_seconds{seconds{::timegm(&tm) - offset}};
  EXPECT_LE(abs(duration_cast<seconds>(system_clock::now() - rendered).count()), 2);

  if (old_tz) {
    ::setenv("TZ", saved_tz.c_str(), 1);
  } else {
    ::unsetenv("TZ");
  }
  ::tzset();
}

TEST(Message, MessageIdIsRandomAtTheSendersDomain) {
  message a = basic_message();
  message b = basic_message();
  EXPECT_TRUE(std::regex_match(a.message_id(), std::regex("[0-9a-f]{32}@example\\.test")));
  EXPECT_NE(a.message_id(), b.message_id());
  EXPECT_EQ(a.message_id(), a.message_id());
  EXPECT_EQ(header_value(a.render(), "Message-ID"), "<" + a.message_id() + ">");
}

TEST(Message, MessageIdSetterChecksItsInput) {
  message m = basic_message();
  m.message_id("<rappel-42@sud.example.test>");
  EXPECT_EQ(m.message_id(), "rappel-42@sud.example.test");
  for (const std::string bad : {"sans-arobase", "a@b@c", "@b", "a b@c", "a@b\r\nBcc: x@y"}) {
    try {
      m.message_id(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const invalid_input& e) {
      EXPECT_EQ(e.field(), "message_id");
    }
  }
}

TEST(Message, HeadersComeInOrderWithMimeVersion) {
  message m = basic_message();
  m.add_cc(mailbox::parse("Cabinet <cabinet@example.test>"));
  const std::string headers = header_block(m.render());
  std::size_t last = 0;
  for (const char* name : {"Date: ", "Message-ID: ", "From: ", "To: ", "Cc: ", "Subject: ",
                           "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"}) {
    const std::size_t pos = headers.find(name);
    ASSERT_NE(pos, std::string::npos) << name;
    EXPECT_GE(pos, last) << name;
    last = pos;
  }
}

TEST(Message, BodyLinesStartingWithDotsStayIntact) {
  // F01/F02: the message carries the dots as written; the SMTP client stuffs them.
  message m = basic_message();
  m.text(".profile mis à jour\nBonjour\n.\n.suite du texte\n..\nfin\n");
  const std::string body = body_of(m.render());
  EXPECT_TRUE(body.starts_with(".profile mis =C3=A0 jour\r\n")) << body;
  EXPECT_NE(body.find("\r\n.\r\n.suite du texte\r\n..\r\nfin\r\n"), std::string::npos) << body;
}

TEST(Message, BareCrAndLfInTheBodyBecomeCrlf) {
  // F05.
  message m = basic_message();
  m.text("Ligne 1\nLigne 2\rLigne 3\r\nLigne 4");
  const std::string rendered = m.render();
  expect_wire_form(rendered);
  EXPECT_EQ(header_value(rendered, "Content-Transfer-Encoding"), "7bit");
  EXPECT_EQ(body_of(rendered), "Ligne 1\r\nLigne 2\r\nLigne 3\r\nLigne 4\r\n");
}

TEST(Message, EightBitTextIsSentQuotedPrintable) {
  // F21: no byte above 0x7F leaves without 8BITMIME, and the header says what was done.
  message m = basic_message();
  m.text("Reçu à l'été, merci.");
  const std::string rendered = m.render();
  EXPECT_EQ(header_value(rendered, "Content-Transfer-Encoding"), "quoted-printable");
  for (char c : rendered) ASSERT_LT(static_cast<unsigned char>(c), 0x80);
}

TEST(Message, SingleLongLineIsSentQuotedPrintable) {
  // F08: a 1 500-character line with no line end.
  message m = basic_message();
  m.text(std::string(1500, 'x'));
  const std::string rendered = m.render();
  expect_wire_form(rendered);
  EXPECT_EQ(header_value(rendered, "Content-Transfer-Encoding"), "quoted-printable");
  const std::string body = body_of(rendered);
  for (std::size_t start = 0; start < body.size();) {
    const std::size_t eol = body.find("\r\n", start);
    EXPECT_LE(eol - start, 76u);
    start = eol + 2;
  }
}

TEST(Message, LongSubjectAndThirtyRecipientsFoldWithCrlfOnly) {
  // F06: the folds our own encoder makes are CRLF followed by white space.
  message m = basic_message();
  m.subject("Relevé de compte – échéance de l'été – dossier n° 4521 – rappel important");
  for (int i = 0; i < 30; ++i)
    m.add_to(mailbox("Hélène Dupont-Léger n°" + std::to_string(i),
                     "client" + std::to_string(i) + "@example.test"));
  const std::string headers = header_block(m.render());
  expect_wire_form(headers);
  std::size_t start = 0;
  while (start < headers.size()) {
    const std::size_t eol = headers.find("\r\n", start);
    EXPECT_LE(eol - start, 78u) << headers.substr(start, eol - start);
    start = eol + 2;
    if (start < headers.size() && headers[start] != ' ' && headers[start] != '\t')
      EXPECT_NE(headers.find(':', start), std::string::npos);
  }
  EXPECT_GT(std::count(headers.begin(), headers.end(), '\n'), 35);
}

TEST(Message, DisplayNameWordsLongerThanALineAreEncodedSoTheyFold) {
  // A name with no space to fold at would otherwise make a header line of any length.
  for (const std::string name : {std::string(2000, 'A'), std::string(120, 'b') + " court"}) {
    message m = basic_message();
    m.add_to(mailbox(name, "long@example.test"));
    const std::string headers = header_block(m.render());
    expect_wire_form(headers);
    std::size_t start = 0;
    while (start < headers.size()) {
      const std::size_t eol = headers.find("\r\n", start);
      EXPECT_LE(eol - start, 78u) << headers.substr(start, eol - start);
      start = eol + 2;
    }
  }
}

TEST(Message, MediaTypeComesFromTheExtension) {
  const fs::path dir = fs::temp_directory_path() / ("envoi-media-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::pair<const char*, const char*> cases[] = {
      {"a.pdf", "application/pdf"},
      {"b.PNG", "image/png"},
      {"c.jpeg", "image/jpeg"},
      {"d.ics", "text/calendar"},
      {"e.csv", "text/csv"},
      {"f.zip", "application/zip"},
      {"g.odt", "application/vnd.oasis.opendocument.text"},
      {"h", "application/octet-stream"},
      {"i.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
  };
  for (const auto& [name, type] : cases) {
    std::ofstream(dir / name) << "x";
    message m = basic_message();
    m.attach({dir / name, "", ""});
    const std::string rendered = m.render();
    EXPECT_NE(rendered.find(std::string("Content-Type: ") + type + ";"), std::string::npos) << name;
  }
  message m = basic_message();
  m.attach({dir / "a.pdf", "", "application/x-custom"});
  EXPECT_NE(m.render().find("Content-Type: application/x-custom;"), std::string::npos);
  fs::remove_all(dir);
}

TEST(Message, UnreadableAttachmentThrowsSystemErrorNamingThePath) {
  message m = basic_message();
  m.attach({"/nonexistent/envoi/facture.pdf", "", ""});
  try {
    m.render();
    FAIL() << "rendered a missing file";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/envoi/facture.pdf"), std::string::npos);
  }
}

TEST_F(RenderedMessage, BoundaryDelimitsEveryPart) {
  message m = basic_message();
  m.attach({write("a.txt", "pièce jointe"), "", ""});
  const std::string rendered = m.render();
  std::smatch match;
  const std::string content_type = header_value(rendered, "Content-Type");
  ASSERT_TRUE(std::regex_search(content_type, match, std::regex("boundary=\"([^\"]+)\"")));
  const std::string boundary = match[1];
  EXPECT_NE(rendered.find("\r\n--" + boundary + "--\r\n"), std::string::npos);
  EXPECT_EQ(body_of(rendered).find(boundary, 0), 2u);
}

TEST_F(RenderedMessage, PythonReadsBackLongSubjectAndThirtyAccentedRecipients) {
  // F06.
  message m;
  m.from(mailbox::parse("Clinique du Sud <sud@example.test>"))
      .subject("Relevé de compte – échéance de l'été – dossier n° 4521 – rappel important")
      .text("Bonjour,\n");
  for (int i = 0; i < 30; ++i)
    m.add_to(mailbox("Hélène Dupont-Léger n°" + std::to_string(i),
                     "client" + std::to_string(i) + "@example.test"));
  check_round_trip(m);
}

TEST_F(RenderedMessage, PythonReadsBackQuotedAndEncodedDisplayNames) {
  // F11, F16, F56 (c).
  message m;
  m.from(mailbox::parse(
             "\"Dupont, Jean-Baptiste (Direction financière et comptable)\" <jb@example.test>"))
      .add_to(mailbox::parse("Dupont, Hélène <helene.dupont@example.test>"))
      .add_to(mailbox::parse("\"Dupont, Jean-Baptiste (Direction)\" <jb2@example.test>"))
      .add_to(mailbox("Le \"Doc\" \\ Martin", "doc@example.test"))
      .add_cc(mailbox::parse("Zoé <zoe@example.test>"))
      .add_cc(mailbox::parse("nom.seul@example.test"))
      .subject("Rappel")
      .text("Bonjour,\n");
  check_round_trip(m);
}

TEST_F(RenderedMessage, PythonReadsBackEncodedSubjects) {
  // F14 and F15.
  std::string accents;
  for (int i = 0; i < 60; ++i) accents += "é";
  std::string long_name;
  for (int i = 0; i < 8; ++i) long_name += "àéîõü";
  for (const std::string subject :
       {accents, std::string("Réunion mensuelle"), std::string("Café-crème offert"),
        std::string("  espaces  au bord  "), std::string("voir =?utf-8?Q?x?= ici")}) {
    message m = basic_message();
    m.subject(subject).from(mailbox(long_name, "sud@example.test"));
    const std::string rendered = check_round_trip(m);
    if (subject == "Réunion mensuelle")
      EXPECT_EQ(header_value(rendered, "Subject"), "=?utf-8?Q?R=C3=A9union?= mensuelle");
  }
}

TEST_F(RenderedMessage, PythonReadsBackBodiesWithDotsBareLineEndsAndLongLines) {
  // F01, F02, F05, F08, F21.
  std::string url = "https://clinique.example.test/rappel?";
  while (url.size() < 1500) url += "p=é&";
  for (const std::string text :
       {std::string(".profile mis à jour\nBonjour\n.\n.suite du texte\n..\nfin\n"),
        std::string("Ligne 1\nLigne 2\rLigne 3\r\nLigne 4"), url,
        std::string("Reçu à l'été, merci."), std::string("sans fin de ligne"),
        std::string("espace en fin \n\ttab\t\n")}) {
    message m = basic_message();
    m.text(text);
    check_round_trip(m);
    // The same text in a multipart message, where nothing is added at its end.
    m.attach({write("note.txt", "x"), "", ""});
    check_round_trip(m);
  }
}

TEST_F(RenderedMessage, PythonReadsBackAttachmentNamesAndBytes) {
  // F10, F18, F19.
  std::mt19937 rng(10);
  std::string pdf(300 * 1024, '\0');
  for (char& c : pdf) c = static_cast<char>(rng());
  message m = basic_message();
  m.attach({write("relevé été.pdf", pdf), "", ""})
      .attach({write("scan.pdf", "%PDF-1.4"),
               "Relevé de compte annuel – exercice 2023-2024 – Société Exemple – copie certifiée "
               "conforme.pdf",
               ""})
      .attach({write("vide.bin", ""), "Compte \"rendu\" ; v2.txt", ""})
      .attach({write("photo.jpg", "\xFF\xD8\xFF"), "", ""});
  const std::string rendered = check_round_trip(m);
  EXPECT_NE(rendered.find("filename*=utf-8''relev%C3%A9%20%C3%A9t%C3%A9.pdf"), std::string::npos);
  EXPECT_NE(rendered.find("name=\"=?utf-8?Q?relev=C3=A9_=C3=A9t=C3=A9=2Epdf?=\""),
            std::string::npos);
  EXPECT_NE(rendered.find("filename*0*=utf-8''Relev%C3%A9"), std::string::npos);
  EXPECT_EQ(std::regex_search(rendered, std::regex("filename\\*[0-9]*\\*?=[^\r]*=\\?")), false);
  EXPECT_NE(rendered.find("filename=\"photo.jpg\""), std::string::npos);
}

TEST_F(RenderedMessage, PythonFindsNoBccHeaderAndNoInjectedHeader) {
  // F36, F55.
  message m = basic_message();
  m.add_bcc(mailbox::parse("a@example.test")).add_bcc(mailbox::parse("b@example.test"));
  EXPECT_THROW(m.subject("Bonjour\r\nBcc: spy@example.test"), invalid_input);
  EXPECT_THROW(m.add_to(mailbox::parse("Zoé\nX-Injected: 1 <zoe@example.test>")), invalid_input);
  check_round_trip(m);
}
