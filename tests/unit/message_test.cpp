#include <envoi/message.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include "support/message_json.hpp"

#include <envoi/error.hpp>

#include "mime/icalendar.hpp"

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
void expect_wire_form(const std::string& m, bool utf8_headers = false) {
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
  if (utf8_headers) return;
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

std::string bytes_of(const attachment& a) {
  if (a.data) return *a.data;
  std::ifstream in(a.path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The expected MIME tree of a message, as JSON for tree_script: a multipart with its
// parts, a text leaf with its decoded text, a binary leaf with its bytes' hash.
std::string multipart_json(const std::string& subtype, const std::vector<std::string>& parts) {
  std::string out = "{\"type\": \"multipart/" + subtype + "\", \"parts\": [";
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : "") + parts[i];
  return out + "]}";
}

std::string text_json(const std::string& type, const std::string& text, const std::string& cte) {
  return "{\"type\": " + envoi::test::json_string(type) +
         ", \"text\": " + envoi::test::json_string(text) +
         ", \"cte\": " + envoi::test::json_string(cte) + "}";
}

std::string binary_json(const std::string& type, const attachment& a,
                        const std::string& disposition) {
  std::string out =
      "{\"type\": " + envoi::test::json_string(type) +
      ", \"sha256\": " + envoi::test::json_string(envoi::test::sha256_hex(bytes_of(a))) +
      ", \"cte\": \"base64\", \"disposition\": " + envoi::test::json_string(disposition);
  if (!a.content_id.empty())
    out += ", \"cid\": " + envoi::test::json_string("<" + a.content_id + ">");
  return out + "}";
}

// Reads a message with Python's email package and compares its MIME tree with the
// expected one; text is compared with every line end written as "\n", and a single-part
// body may have one more final line end than expected.
constexpr std::string_view tree_script = R"py(
import email, email.policy, hashlib, json, sys
from email.parser import BytesParser
msg = BytesParser(policy=email.policy.default).parsebytes(open(sys.argv[1], "rb").read())
want = json.load(open(sys.argv[2], encoding="utf-8"))
problems = []
def norm(t):
    return t.replace("\r\n", "\n").replace("\r", "\n")
def walk(part, want, where):
    if part.get_content_type() != want["type"]:
        problems.append(f"{where}: {part.get_content_type()} instead of {want['type']}")
        return
    for d in part.defects:
        problems.append(f"{where}: parser defect {d!r}")
    if "parts" in want:
        parts = list(part.iter_parts())
        if len(parts) != len(want["parts"]):
            problems.append(f"{where}: {len(parts)} parts instead of {len(want['parts'])}")
        for i, (p, w) in enumerate(zip(parts, want["parts"])):
            walk(p, w, f"{where}.{i + 1}")
        return
    cte = part.get("Content-Transfer-Encoding", "7bit").strip().lower()
    if "cte" in want and cte != want["cte"]:
        problems.append(f"{where}: transfer encoding {cte} instead of {want['cte']}")
    if "text" in want:
        got, exp = norm(part.get_content()), norm(want["text"])
        if got != exp and got != exp + "\n":
            problems.append(f"{where}: text {got!r} instead of {exp!r}")
    if "sha256" in want:
        data = part.get_payload(decode=True) or b""
        if hashlib.sha256(data).hexdigest() != want["sha256"]:
            problems.append(f"{where}: bytes differ ({len(data)} octets)")
    if "cid" in want and str(part.get("Content-ID", "")).strip() != want["cid"]:
        problems.append(f"{where}: Content-ID {part.get('Content-ID')!r} instead of {want['cid']}")
    if "disposition" in want and part.get_content_disposition() != want["disposition"]:
        problems.append(f"{where}: disposition {part.get_content_disposition()}")
walk(msg, want, "message")
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
)py";

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

  // Runs a Python script from the source tree on `args`; its status and output.
  std::pair<int, std::string> run_python(const std::string& script, const std::string& args) {
    const std::string command = std::string(ENVOI_PYTHON) + " '" + script + "' " + args + " 2>&1";
    std::FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return {-1, "cannot run " + command};
    std::string output;
    char buffer[4096];
    while (const std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe))
      output.append(buffer, n);
    return {::pclose(pipe), output};
  }

  // Renders `m`, then has Python's email package read it back and compare it with `m`'s
  // own fields, plus `extra` JSON members (see tests/tools/check_message.py). The
  // attachments Python lists are `m`'s attachments, and its inline images when there is no
  // HTML to hold them, unless `attachments` says otherwise.
  std::string check_round_trip(const message& m, const std::string& extra = "",
                               const envoi::render_options& options = {},
                               std::optional<std::vector<attachment>> attachments = {}) {
    const std::string rendered = m.render(options);
    expect_wire_form(rendered, m.render_stream(options).needs_smtputf8());
    // check_message.py reads a part's payload as ASCII, so 8bit parts are left to
    // check_tree until it reads them as UTF-8.
    if (m.render_stream(options).uses_8bit()) return rendered;
    if (!attachments) {
      attachments = m.attachments();
      if (!m.html())
        attachments->insert(attachments->end(), m.inline_parts().begin(), m.inline_parts().end());
    }

    std::string json = "{\"subject\": " + envoi::test::json_string(m.subject()) +
                       ", \"from\": " + envoi::test::json_mailbox(*m.from()) +
                       ", \"cc\": " + envoi::test::json_mailboxes(m.cc()) +
                       ", \"to\": " + envoi::test::json_mailboxes(m.to());
    if (!m.text().empty() || !m.html()) json += ", \"text\": " + envoi::test::json_string(m.text());
    json += ", \"attachments\": [";
    for (std::size_t i = 0; i < attachments->size(); ++i) {
      const attachment& a = (*attachments)[i];
      const std::string name = a.file_name.empty() ? a.path.filename().string() : a.file_name;
      json += (i ? ", " : "") + std::string("{\"file_name\": ") + envoi::test::json_string(name) +
              ", \"sha256\": " + envoi::test::json_string(envoi::test::sha256_hex(bytes_of(a))) +
              "}";
    }
    json += "], \"absent_headers\": [\"Bcc\", \"X-Injected\"]" + extra + "}";

    const fs::path eml = write("message.eml", rendered);
    const fs::path expected = write("expected.json", json);
    const auto [status, output] =
        run_python(std::string(ENVOI_SOURCE_DIR) + "/tests/tools/check_message.py",
                   "'" + eml.string() + "' '" + expected.string() + "'");
    EXPECT_EQ(status, 0) << output << "\n--- message ---\n" << rendered.substr(0, 6000);
    return rendered;
  }

  // Has Python's email package read `rendered` and compares its MIME tree with
  // `expected_tree` (JSON, see tree_script below).
  void check_tree(const std::string& rendered, const std::string& expected_tree) {
    const fs::path eml = write("tree.eml", rendered);
    const fs::path expected = write("tree.json", expected_tree);
    const fs::path script = write("tree.py", tree_script);
    const auto [status, output] =
        run_python(script.string(), "'" + eml.string() + "' '" + expected.string() + "'");
    EXPECT_EQ(status, 0) << output << "\n--- message ---\n" << rendered.substr(0, 6000);
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
  try {
    n.render();
    FAIL() << "rendered without recipients";
  } catch (const invalid_input& e) {
    EXPECT_EQ(e.field(), "to");
  }
  // A blind copy alone is a recipient.
  n.add_bcc(mailbox::parse("archive@example.test"));
  EXPECT_NE(n.render().find("To: undisclosed-recipients:;\r\n"), std::string::npos);
}

TEST(Message, BlindCopiesAreInTheEnvelopeOnly) {
  // F55.
  message m = basic_message();
  // A generated Message-ID ending in "a" would hold "a@example.test" by chance.
  m.message_id("rappel-1@example.test");
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
    // scripts/install-deps generates both locales.
    ASSERT_NE(std::setlocale(LC_ALL, locale), nullptr)
        << "locale " << locale << " is not installed (localedef -i "
        << std::string(locale).substr(0, 5) << " -f UTF-8 " << locale << ")";
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

TEST(Message, MessageIdsAreDistinctAcrossManyMessagesAndAFork) {
  // The random octets are drawn in batches; no batch may be handed out twice, in this
  // process or in a child forked while one is half used.
  std::set<std::string> seen;
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE(seen.insert(basic_message().message_id()).second);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t child = ::fork();
  ASSERT_NE(child, -1);
  if (child == 0) {
    const std::string id = basic_message().message_id();
    const bool written = ::write(fds[1], id.data(), id.size()) == static_cast<ssize_t>(id.size());
    ::_exit(written ? 0 : 1);
  }
  ::close(fds[1]);
  const std::string parent_id = basic_message().message_id();
  std::string child_id(100, '\0');
  const ssize_t n = ::read(fds[0], child_id.data(), child_id.size());
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_GT(n, 0);
  child_id.resize(static_cast<std::size_t>(n));
  EXPECT_EQ(child_id.size(), parent_id.size());
  EXPECT_NE(child_id, parent_id);
  EXPECT_FALSE(seen.count(child_id));
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

namespace {

// The header field `name` with its folds undone, or "" when absent.
std::string unfolded_header(const std::string& m, const std::string& name) {
  const std::string headers = "\r\n" + header_block(m);
  const std::size_t pos = headers.find("\r\n" + name + ": ");
  if (pos == std::string::npos) return {};
  std::size_t end = pos + 2;
  do {
    end = headers.find("\r\n", end) + 2;
  } while (end < headers.size() && (headers[end] == ' ' || headers[end] == '\t'));
  std::string value = headers.substr(pos + name.size() + 4, end - 2 - (pos + name.size() + 4));
  std::string out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value.compare(i, 2, "\r\n") == 0) {
      ++i;
      continue;
    }
    out += value[i];
  }
  return out;
}

// The boundaries of a rendered message, in order of appearance.
std::vector<std::string> boundaries_of(const std::string& m) {
  std::vector<std::string> out;
  const std::regex pattern("boundary=\"([^\"]+)\"");
  for (auto it = std::sregex_iterator(m.begin(), m.end(), pattern); it != std::sregex_iterator();
       ++it)
    out.push_back((*it)[1]);
  return out;
}

attachment png(const std::string& name) {
  return attachment::from_memory(std::string("\x89PNG\r\n\x1A\n", 8) + name, name, "image/png");
}

envoi::calendar_event appointment() {
  using namespace std::chrono;
  envoi::calendar_event e;
  e.uid = "rdv-42@sud.example.test";
  e.start = sys_days{year{2026} / December / 8} + hours{13} + minutes{30};
  e.end = e.start + minutes{30};
  e.time_zone = "Europe/Paris";
  e.utc_offset = minutes{60};
  e.summary = "Vaccination de Médor, rappel; annuel, avec \\ et\nretour";
  e.location = "Clinique vétérinaire du Sud, 3 rue des Lilas";
  e.organizer = mailbox("Clinique du Sud", "sud@example.test");
  e.stamp = sys_days{year{2026} / November / 1};
  return e;
}

}  // namespace

TEST(MessageHeaders, SenderReplyToInReplyToAndReferencesAreWritten) {
  message m = basic_message();
  m.sender(mailbox::parse("Accueil <accueil@example.test>"))
      .add_reply_to(mailbox::parse("Dr Martin <martin@example.test>"))
      .add_reply_to(mailbox::parse("secretariat@example.test"))
      .in_reply_to("<question-1@client.example.test>")
      .add_reference("question-0@client.example.test")
      .add_reference("<question-1@client.example.test>");
  const std::string rendered = m.render();
  expect_wire_form(rendered);
  EXPECT_EQ(header_value(rendered, "Sender"), "Accueil <accueil@example.test>");
  EXPECT_EQ(unfolded_header(rendered, "Reply-To"),
            "Dr Martin <martin@example.test>, secretariat@example.test");
  EXPECT_EQ(header_value(rendered, "In-Reply-To"), "<question-1@client.example.test>");
  EXPECT_EQ(unfolded_header(rendered, "References"),
            "<question-0@client.example.test> <question-1@client.example.test>");
}

TEST(MessageHeaders, ReferencesFoldBetweenIds) {
  message m = basic_message();
  for (int i = 0; i < 20; ++i) m.add_reference("message-" + std::to_string(i) + "@example.test");
  const std::string headers = header_block(m.render());
  expect_wire_form(headers);
  for (std::size_t start = 0; start < headers.size();) {
    const std::size_t eol = headers.find("\r\n", start);
    EXPECT_LE(eol - start, 78u) << headers.substr(start, eol - start);
    start = eol + 2;
  }
  EXPECT_EQ(std::count(headers.begin(), headers.end(), '<'), 20 + 1 + 1);
}

TEST(MessageHeaders, MessageIdSettersRefuseWhatIsNotIdAtHost) {
  message m = basic_message();
  for (const std::string bad : {"sans-arobase", "a@b@c", "a b@c", "a@b\r\nBcc: x@y", "a@b\n"}) {
    try {
      m.in_reply_to(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const invalid_input& e) {
      EXPECT_EQ(e.field(), "in_reply_to");
    }
    try {
      m.add_reference(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const invalid_input& e) {
      EXPECT_EQ(e.field(), "references");
    }
  }
  EXPECT_EQ(m.in_reply_to(), "");
  EXPECT_TRUE(m.references().empty());
}

TEST(MessageHeaders, CustomHeaderValueIsEncodedWhenNotAscii) {
  message m = basic_message();
  m.add_header("X-Clinique", "Clinique vétérinaire du Sud").add_header("X-Dossier", "4521");
  const std::string rendered = m.render();
  expect_wire_form(rendered);
  EXPECT_EQ(header_value(rendered, "X-Clinique"),
            "Clinique =?utf-8?Q?v=C3=A9t=C3=A9rinaire?= du Sud");
  EXPECT_EQ(header_value(rendered, "X-Dossier"), "4521");
  // Before MIME-Version, after the message's own fields.
  EXPECT_LT(rendered.find("X-Dossier:"), rendered.find("MIME-Version:"));
  EXPECT_GT(rendered.find("X-Clinique:"), rendered.find("Subject:"));
}

TEST(MessageHeaders, CustomHeaderNameMustBeAFieldNameEnvoiDoesNotWrite) {
  message m = basic_message();
  for (const std::string bad :
       {std::string(), std::string("X Clinique"), std::string("X:Clinique"),
        std::string("X-Caf\xC3\xA9"), std::string(77, 'X'), std::string("X-\t")}) {
    try {
      m.add_header(bad, "1");
      ADD_FAILURE() << "accepted name " << bad;
    } catch (const invalid_input& e) {
      EXPECT_EQ(e.field(), "header");
    }
  }
  for (const std::string reserved :
       {"From", "to", "CC", "Bcc", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
        "content-transfer-encoding", "Sender", "Reply-To", "References"}) {
    try {
      m.add_header(reserved, "1");
      ADD_FAILURE() << "accepted " << reserved;
    } catch (const invalid_input& e) {
      EXPECT_EQ(e.field(), reserved);
    }
  }
  EXPECT_TRUE(m.headers().empty());
}

TEST(MessageHeaders, InjectionIsRefusedInEveryNewSetter) {
  // F36: every setter added for headers refuses CR, LF and NUL when it is called.
  message m = basic_message();
  const std::string injections[] = {"Bonjour\r\nBcc: spy@example.test", "a\nX-Injected: 1", "a\rb",
                                    std::string("a\0b", 3)};
  for (const std::string& bad : injections) {
    try {
      m.add_header("X-Clinique", bad);
      ADD_FAILURE() << "add_header accepted " << bad;
    } catch (const invalid_input& e) {
      EXPECT_EQ(e.field(), "X-Clinique");
    }
    EXPECT_THROW(m.in_reply_to("id@" + bad), invalid_input);
    EXPECT_THROW(m.add_reference("id@" + bad), invalid_input);
    EXPECT_THROW(m.sender(mailbox::parse("Zoé " + bad + " <zoe@example.test>")), invalid_input);
    EXPECT_THROW(m.add_reply_to(mailbox::parse(bad + " <zoe@example.test>")), invalid_input);
    attachment a = png("photo.png");
    a.content_id = "img@" + bad;
    EXPECT_THROW(m.add_inline(a), invalid_input);
    EXPECT_THROW(m.attach(attachment::from_memory("x", "a" + bad + ".txt")), invalid_input);
    envoi::calendar_event e = appointment();
    e.uid = "rdv@" + bad;
    EXPECT_THROW(m.attach_calendar_event(e), invalid_input);
  }
  EXPECT_THROW(m.sender(mailbox()), invalid_input);
  EXPECT_THROW(m.add_reply_to(mailbox()), invalid_input);
  EXPECT_TRUE(m.headers().empty());
  EXPECT_FALSE(m.sender());
  EXPECT_TRUE(m.inline_parts().empty());
  EXPECT_FALSE(m.calendar());
  const std::string rendered = m.render();
  EXPECT_EQ(rendered.find("X-Injected"), std::string::npos);
  EXPECT_FALSE(std::regex_search(rendered, std::regex("(^|\r\n)bcc:", std::regex::icase)));
}

TEST(MessageBody, StructureFollowsWhatIsPresent) {
  const auto content_type = [](const message& m) {
    const std::string value = unfolded_header(m.render(), "Content-Type");
    return value.substr(0, value.find(';'));
  };
  message text = basic_message();
  EXPECT_EQ(content_type(text), "text/plain");

  message html = basic_message();
  html.text("").html("<p>Bonjour</p>");
  EXPECT_EQ(content_type(html), "text/html");

  message both = basic_message();
  both.html("<p>Bonjour</p>");
  EXPECT_EQ(content_type(both), "multipart/alternative");

  message related = basic_message();
  related.text("").html("<img src=\"cid:x@y\">");
  related.add_inline(png("logo.png"));
  EXPECT_EQ(content_type(related), "multipart/related");

  message mixed = basic_message();
  mixed.attach(attachment::from_memory("x", "a.txt"));
  EXPECT_EQ(content_type(mixed), "multipart/mixed");

  message invitation = basic_message();
  invitation.attach_calendar_event(appointment());
  EXPECT_EQ(content_type(invitation), "multipart/alternative");
}

TEST(MessageBody, AddInlineReturnsTheContentIdItWasGivenOrAFreshOne) {
  message m = basic_message();
  attachment given = png("logo.png");
  given.content_id = "<logo@sud.example.test>";
  EXPECT_EQ(m.add_inline(given), "logo@sud.example.test");
  const std::string a = m.add_inline(png("a.png"));
  const std::string b = m.add_inline(png("b.png"));
  EXPECT_NE(a, b);
  EXPECT_TRUE(std::regex_match(a, std::regex("[^@<> ]+@[^@<> ]+"))) << a;
  given.content_id = "logo@sud.example.test";
  EXPECT_THROW(m.add_inline(given), invalid_input);
  EXPECT_EQ(m.inline_parts().size(), 3u);
  EXPECT_EQ(m.inline_parts()[1].content_id, a);
}

TEST(MessageBody, BoundariesAreDistinctAndInNoPart) {
  message m = basic_message();
  // Text that looks like envoi's boundaries, in a part sent as it is.
  m.text("--=_envoi_\n--=_envoi_0\n=_envoi_ff\n")
      .html("<p>--=_envoi_</p>")
      .attach(attachment::from_memory("--=_envoi_", "a.txt"));
  m.add_inline(png("logo.png"));
  const std::string rendered = m.render();
  const std::vector<std::string> boundaries = boundaries_of(rendered);
  ASSERT_EQ(boundaries.size(), 3u);
  for (const std::string& b : boundaries) {
    EXPECT_TRUE(std::regex_match(b, std::regex("=_envoi_[0-9a-f]{24}"))) << b;
    // Each boundary occurs only as its own delimiter lines and in its Content-Type.
    std::size_t count = 0;
    for (std::size_t pos = rendered.find(b); pos != std::string::npos;
         pos = rendered.find(b, pos + 1))
      ++count;
    EXPECT_GE(count, 3u);
    const std::regex line("(^|\r\n)--" + b + "(--)?\r\n");
    EXPECT_EQ(
        static_cast<std::size_t>(std::distance(
            std::sregex_iterator(rendered.begin(), rendered.end(), line), std::sregex_iterator())) +
            1,
        count);
  }
  EXPECT_NE(boundaries[0], boundaries[1]);
  EXPECT_NE(boundaries[1], boundaries[2]);
}

TEST(MessageBody, EightBitOnlyWhenAllowedAndValid) {
  // F21: server A (8BITMIME) and server B (none).
  message m = basic_message();
  m.text("Reçu à l'été, merci.");
  const envoi::render_options eight{.allow_8bit = true};

  const envoi::rendered_message b = m.render_stream();
  EXPECT_FALSE(b.uses_8bit());
  const std::string without = m.render();
  EXPECT_EQ(header_value(without, "Content-Transfer-Encoding"), "quoted-printable");
  for (char c : without) ASSERT_LT(static_cast<unsigned char>(c), 0x80);

  EXPECT_TRUE(m.render_stream(eight).uses_8bit());
  const std::string with = m.render(eight);
  EXPECT_EQ(header_value(with, "Content-Transfer-Encoding"), "8bit");
  EXPECT_EQ(body_of(with), "Reçu à l'été, merci.\r\n");

  // ASCII stays 7bit; a line over 998 octets or a control character forces
  // quoted-printable even when 8-bit is allowed.
  m.text("Bonjour\n");
  EXPECT_FALSE(m.render_stream(eight).uses_8bit());
  EXPECT_EQ(header_value(m.render(eight), "Content-Transfer-Encoding"), "7bit");
  std::string long_line;
  while (long_line.size() < 1000) long_line += "é";
  m.text(long_line);
  EXPECT_EQ(header_value(m.render(eight), "Content-Transfer-Encoding"), "quoted-printable");
  EXPECT_FALSE(m.render_stream(eight).uses_8bit());
  m.text(std::string("é\0", 3));
  EXPECT_EQ(header_value(m.render(eight), "Content-Transfer-Encoding"), "quoted-printable");
}

TEST(MessageBody, HtmlLineEndsBecomeCrlfAndLongLinesQuotedPrintable) {
  // F05 and F08 for the HTML part.
  std::string url = "<a href=\"https://clinique.example.test/rappel?";
  while (url.size() < 2000) url += "p=x&";
  url += "\">lien</a>";
  message m = basic_message();
  m.html("<p>Ligne 1\nLigne 2\rLigne 3\r\n" + url + "</p>");
  const std::string rendered = m.render();
  expect_wire_form(rendered);
  EXPECT_NE(rendered.find("Content-Type: text/html; charset=utf-8\r\n"
                          "Content-Transfer-Encoding: quoted-printable\r\n"),
            std::string::npos);
}

TEST(MessageBody, SmtpUtf8IsNeededForAUtf8LocalPartOnly) {
  // F56 (a) and (c): a non-ASCII name is an encoded-word; a non-ASCII local part is not.
  message name_only;
  name_only.from(mailbox::parse("Zoé <zoe@example.test>"))
      .add_to(mailbox::parse("sud@example.test"))
      .text("x");
  EXPECT_FALSE(name_only.render_stream().needs_smtputf8());

  message local_part = basic_message();
  local_part.add_to(mailbox("", "zoé@example.test"));
  EXPECT_TRUE(local_part.render_stream().needs_smtputf8());
  message in_cc = basic_message();
  in_cc.add_bcc(mailbox("", "zoé@example.test"));
  EXPECT_TRUE(in_cc.render_stream().needs_smtputf8());
}

TEST_F(RenderedMessage, LegacyNameParameterCanBeTurnedOff) {
  // F18: on by default; off, only the standard RFC 2231 filename* is written.
  message m = basic_message();
  m.attach(attachment::from_memory("%PDF-1.4", "relevé été.pdf"));
  EXPECT_TRUE(m.legacy_name_parameter());
  EXPECT_NE(m.render().find("name=\"=?utf-8?Q?relev=C3=A9_=C3=A9t=C3=A9=2Epdf?=\""),
            std::string::npos);
  m.legacy_name_parameter(false);
  const std::string rendered = check_round_trip(m);
  EXPECT_EQ(rendered.find("=?utf-8?"), std::string::npos);
  EXPECT_NE(rendered.find("Content-Type: application/pdf\r\n"), std::string::npos);
  EXPECT_NE(rendered.find("filename*=utf-8''relev%C3%A9%20%C3%A9t%C3%A9.pdf"), std::string::npos);
}

TEST_F(RenderedMessage, PythonReadsBackMemoryAttachments) {
  std::mt19937 rng(4);
  std::string bytes(5000, '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  message m = basic_message();
  m.attach(attachment::from_memory(bytes, "radio.dcm"))
      .attach(attachment::from_memory("", "vide.txt", "text/plain"))
      .attach(attachment::from_file(write("note.txt", "note"), "Note de suivi.txt"));
  check_round_trip(m);
}

TEST_F(RenderedMessage, PythonReadsBackTextAndHtmlAsAlternatives) {
  for (const bool eight : {false, true}) {
    message m = basic_message();
    m.text("Bonjour Hélène,\nMédor est attendu mardi.\n")
        .html("<p>Bonjour Hélène,</p>\n<p>Médor est attendu <b>mardi</b>.</p>\n");
    const std::string rendered = check_round_trip(m, "", {.allow_8bit = eight});
    const std::string cte = eight ? "8bit" : "quoted-printable";
    check_tree(rendered, multipart_json("alternative", {text_json("text/plain", m.text(), cte),
                                                        text_json("text/html", *m.html(), cte)}));
  }
}

TEST_F(RenderedMessage, PythonReadsBackHtmlOnly) {
  message m = basic_message();
  m.text("").html("<p>Rappel</p>");
  const std::string rendered = check_round_trip(m);
  check_tree(rendered, text_json("text/html", "<p>Rappel</p>", "7bit"));
}

TEST_F(RenderedMessage, PythonReadsBackInlineImagesInRelated) {
  std::mt19937 rng(2387);
  std::string photo(20000, '\0');
  for (char& c : photo) c = static_cast<char>(rng());
  message m = basic_message();
  m.text("Bonjour,\n");
  const std::string logo = m.add_inline(png("logo.png"));
  const std::string cid =
      m.add_inline(attachment::from_file(write("médor.jpg", photo), "", "image/jpeg"));
  m.html("<p><img src=\"cid:" + logo + "\"> Bonjour <img src=\"cid:" + cid + "\"></p>");
  m.attach(attachment::from_memory("%PDF-1.4", "facture.pdf"));
  const std::string rendered = check_round_trip(m);
  check_tree(rendered,
             multipart_json(
                 "mixed",
                 {multipart_json(
                      "alternative",
                      {text_json("text/plain", m.text(), "7bit"),
                       multipart_json("related",
                                      {text_json("text/html", *m.html(), "quoted-printable"),
                                       binary_json("image/png", m.inline_parts()[0], "inline"),
                                       binary_json("image/jpeg", m.inline_parts()[1], "inline")})}),
                  binary_json("application/pdf", m.attachments()[0], "attachment")}));
  EXPECT_NE(unfolded_header(rendered, "Content-Type").find("multipart/mixed"), std::string::npos);
  EXPECT_NE(rendered.find("type=\"text/html\""), std::string::npos);

  // HTML and images only: related at the top, the images are what Python lists.
  message n = basic_message();
  n.text("");
  const std::string id = n.add_inline(png("logo.png"));
  n.html("<img src=\"cid:" + id + "\">");
  const std::string alone = check_round_trip(n, "", {}, n.inline_parts());
  check_tree(alone,
             multipart_json("related", {text_json("text/html", *n.html(), "7bit"),
                                        binary_json("image/png", n.inline_parts()[0], "inline")}));
}

TEST_F(RenderedMessage, PythonReadsBackInlineImagesWithoutHtmlAsInlineParts) {
  message m = basic_message();
  m.add_inline(png("logo.png"));
  const std::string rendered = check_round_trip(m);
  check_tree(rendered,
             multipart_json("mixed", {text_json("text/plain", m.text(), "7bit"),
                                      binary_json("image/png", m.inline_parts()[0], "inline")}));
}

TEST_F(RenderedMessage, PythonReadsBackAnAppointmentInvitation) {
  // RFC 6047 2.4: the invitation is the last alternative; with no attendee of its own it
  // invites the message's recipients.
  for (const bool eight : {false, true}) {
    message m = basic_message();
    m.add_to(mailbox::parse("\"Dupont, Hélène\" <helene@example.test>"));
    m.html("<p>Rendez-vous</p>").attach_calendar_event(appointment());
    const std::string rendered = check_round_trip(m, "", {.allow_8bit = eight});
    EXPECT_NE(rendered.find("Content-Type: text/calendar; charset=utf-8; method=REQUEST\r\n"),
              std::string::npos);
    const envoi::calendar_event e = appointment();
    const std::string ics = envoi::mime::icalendar_request(e, e.organizer, m.to(), *e.stamp);
    for (const char* line :
         {"UID:rdv-42@sud.example.test\r\n", "DTSTART;TZID=Europe/Paris:20261208T143000\r\n",
          "ATTENDEE;CN=\"Dupont, Hélène\";ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-"})
      EXPECT_NE(ics.find(line), std::string::npos) << line;
    const std::string cte = eight ? "8bit" : "quoted-printable";
    check_tree(rendered, multipart_json("alternative", {text_json("text/plain", m.text(), "7bit"),
                                                        text_json("text/html", *m.html(), "7bit"),
                                                        text_json("text/calendar", ics, cte)}));
  }
}

TEST(Envelope, HoldsEachRecipientOnceWhateverTheDomainsCase) {
  message m;
  m.from(mailbox::parse("accueil@example.test"));
  m.add_to(mailbox::parse("helene@example.test"));
  m.add_cc(mailbox::parse("Hélène <helene@EXAMPLE.test>"));
  m.add_bcc(mailbox::parse("verification@example.test"));
  auto e = m.make_envelope();
  EXPECT_EQ(e.recipients,
            (std::vector<std::string>{"helene@example.test", "verification@example.test"}));
  // A site's verification copy that is already a recipient is not added again.
  EXPECT_FALSE(e.add_recipient("verification@Example.Test"));
  // The part before the @ may differ by case alone at some servers: kept apart.
  EXPECT_TRUE(e.add_recipient("Helene@example.test"));
  EXPECT_EQ(e.recipients.size(), 3u);
}

TEST_F(RenderedMessage, TextAttachmentsGetTheCharsetTheirBytesShow) {
  using namespace std::string_literals;
  // The bytes, and what Content-Type says between the type and the name.
  const std::pair<std::string, std::string> cases[] = {
      {"nom;animal\nDupont;Medor\n", ""},
      {"nom;animal\nDupont;Médor\n", " charset=utf-8;"},
      // Excel's CSV export on a French Windows.
      {"nom;animal\r\nL\xE9o;Rex\r\n", " charset=windows-1252;"},
      // UTF-16 (Excel's "Unicode text"): no charset rather than a wrong one.
      {"\xFF\xFEn\0o\0m\0"s, ""},
  };
  for (const auto& [bytes, parameters] : cases) {
    message m = basic_message();
    m.attach(attachment::from_file(write("export patients.csv", bytes)))
        .attach(attachment::from_memory(bytes, "note à lire.txt"))
        .attach(attachment::from_memory(bytes, "lettre.html"))
        .attach(attachment::from_memory(bytes, "export.dat", "text/plain"))
        .attach(attachment::from_memory(bytes, "scan.pdf"));
    m.add_inline(attachment::from_file(write("invitation.ics", bytes)));
    const std::string rendered = m.render();
    // Content-Type folds where it must; compared unfolded.
    const std::string unfolded = std::regex_replace(rendered, std::regex("\r\n "), " ");
    const std::string shown = ::testing::PrintToString(bytes);
    for (const std::string& type : std::vector<std::string>{
             "text/csv;" + parameters + " name=\"export patients.csv\"\r\n",
             "text/plain;" + parameters + " name=\"=?utf-8?Q?note_=C3=A0_lire=2Etxt?=\"\r\n",
             "text/html;" + parameters + " name=\"lettre.html\"\r\n",
             "text/plain;" + parameters + " name=\"export.dat\"\r\n",
             std::string("application/pdf; name=\"scan.pdf\"\r\n"),
             "text/calendar;" + parameters + " name=\"invitation.ics\"\r\n"})
      EXPECT_NE(unfolded.find("Content-Type: " + type), std::string::npos)
          << shown << ": no Content-Type: " << type << "\n"
          << rendered;
    EXPECT_EQ(m.render_stream().size(), rendered.size()) << shown;
  }
}

TEST_F(RenderedMessage, TheWholeTextFileIsExaminedAChunkAtATime) {
  // A character split between two chunks of the file, and an octet past any prefix a
  // quick look would take.
  std::string split(envoi::rendered_message::max_chunk - 1, 'a');
  split += "é" + std::string(200000, 'b');
  std::string late(300000, 'a');
  late += "M\xE9o\r\n";
  message m = basic_message();
  m.attach(attachment::from_file(write("split.txt", split)))
      .attach(attachment::from_file(write("late.csv", late)));
  const std::string rendered = m.render();
  EXPECT_NE(rendered.find("Content-Type: text/plain; charset=utf-8; name=\"split.txt\"\r\n"),
            std::string::npos);
  EXPECT_NE(rendered.find("Content-Type: text/csv; charset=windows-1252; name=\"late.csv\"\r\n"),
            std::string::npos);
  EXPECT_EQ(m.render_stream().size(), rendered.size());
}

TEST_F(RenderedMessage, ACharsetTheCallerGaveIsKept) {
  const std::string utf8 = "nom;animal\nDupont;Médor\n";
  message m = basic_message();
  m.attach(attachment::from_memory(utf8, "a.txt", "text/plain; charset=iso-8859-15"))
      .attach(attachment::from_file(write("b.csv", utf8), "", "Text/CSV;Charset=\"UTF-8\""))
      .attach(attachment::from_memory("L\xE9o", "c.txt", "text/plain"))
      .attach(attachment::from_memory(utf8, "d.txt", "text/plain; format=flowed"))
      .attach(attachment::from_memory(utf8, "e.txt", "text/plain; charset*=utf-8''x"));
  const std::string rendered = m.render();
  for (const char* type : {"text/plain; charset=iso-8859-15; name=\"a.txt\"\r\n",
                           "Text/CSV; charset=\"UTF-8\"; name=\"b.csv\"\r\n",
                           "text/plain; charset=windows-1252; name=\"c.txt\"\r\n",
                           "text/plain; charset=utf-8; format=flowed; name=\"d.txt\"\r\n",
                           "text/plain; charset*=utf-8''x; name=\"e.txt\"\r\n"})
    EXPECT_NE(rendered.find(std::string("Content-Type: ") + type), std::string::npos)
        << type << "\n"
        << rendered;
}

TEST(Message, MediaTypeMayCarryParametersButNotTheName) {
  message m = basic_message();
  for (const char* type : {"text/csv; charset=windows-1252", "text/plain;charset=\"utf-8\"",
                           "text/plain ; charset=utf-8 ; format=flowed",
                           "application/octet-stream; type=\"a;b\\\"c\""})
    EXPECT_NO_THROW(m.attach(attachment::from_memory("x", "a.txt", type))) << type;
  for (const char* type :
       {"text/plain;", "text/plain; charset", "text/plain; charset=", "text/plain; charset=a b",
        "text/plain charset=utf-8", "text/plain; charset=\"utf-8", "text/plain; charset=\"é\"",
        "text/plain; charset=\"a\tb\""}) {
    try {
      m.attach(attachment::from_memory("x", "a.txt", type));
      ADD_FAILURE() << "accepted " << type;
    } catch (const invalid_input& e) {
      EXPECT_NE(std::string(e.what()).find("is not type/subtype"), std::string::npos) << e.what();
    }
  }
  for (const char* type : {"text/plain; name=a.txt", "text/plain; NAME*=utf-8''a.txt"}) {
    try {
      m.attach(attachment::from_memory("x", "a.txt", type));
      ADD_FAILURE() << "accepted " << type;
    } catch (const invalid_input& e) {
      EXPECT_NE(std::string(e.what()).find("has a name parameter; give the name as file_name"),
                std::string::npos)
          << e.what();
    }
  }
  EXPECT_EQ(m.attachments().size(), 4u);
}

TEST_F(RenderedMessage, PythonReadsAccentedTextAttachmentsBackAsText) {
  const std::string csv = "nom;animal\nDupont;Médor\n";
  const std::string note = "Rendez-vous le 8 décembre\n";
  // Excel's CSV export on a French Windows: é and € in Windows-1252.
  const std::string excel = "nom;animal\r\nL\xE9o;Rex \x80\r\n";
  message m = basic_message();
  m.attach(attachment::from_file(write("export patients.csv", csv)))
      .attach(attachment::from_memory(note, "note à lire.txt"))
      .attach(attachment::from_file(write("export excel.csv", excel)));
  const std::string rendered = check_round_trip(m);
  const auto text_attachment = [](const std::string& type, const std::string& text) {
    return "{\"type\": " + envoi::test::json_string(type) +
           ", \"text\": " + envoi::test::json_string(text) +
           ", \"cte\": \"base64\", \"disposition\": \"attachment\"}";
  };
  check_tree(rendered,
             multipart_json("mixed",
                            {text_json("text/plain", m.text(), "7bit"),
                             text_attachment("text/csv", csv), text_attachment("text/plain", note),
                             text_attachment("text/csv", "nom;animal\nLéo;Rex €\n")}));
}

namespace {

// Runs `attempt` on a thread of its own. Should it wait on the FIFO at `fifo` (a
// regression), a writer comes and goes every second to release it, so that the test fails
// instead of hanging. Returns false when it had to.
template <class Attempt>
bool finishes_without_waiting_on(const fs::path& fifo, Attempt attempt) {
  auto done = std::async(std::launch::async, std::move(attempt));
  if (done.wait_for(std::chrono::seconds(10)) == std::future_status::ready) {
    done.get();
    return true;
  }
  do {
    const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
  } while (done.wait_for(std::chrono::seconds(1)) != std::future_status::ready);
  done.get();
  return false;
}

// What `attempt` threw as invalid_input: its field and text; empty when it did not throw.
template <class Attempt>
std::pair<std::string, std::string> refusal(Attempt attempt) {
  try {
    attempt();
  } catch (const invalid_input& e) {
    return {e.field(), e.what()};
  }
  return {};
}

}  // namespace

TEST_F(RenderedMessage, APipeIsRefusedNamingThePathAndNeverOpened) {
  const fs::path fifo = dir_ / "compte-rendu.pdf";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string says = "\"" + fifo.string() +
                           "\" is a pipe, not a file: save it to a file first, then attach "
                           "that file";

  // No writer: an open() for reading would wait for ever.
  std::vector<std::pair<std::string, std::string>> refusals;
  EXPECT_TRUE(finishes_without_waiting_on(fifo, [&] {
    refusals.push_back(refusal([&] { (void)attachment::from_file(fifo); }));
    message m = basic_message();
    refusals.push_back(refusal([&] { m.attach({fifo, "", ""}); }));
    refusals.push_back(refusal([&] { m.add_inline({fifo, "logo.png", ""}); }));
  }));
  ASSERT_EQ(refusals.size(), 3u);
  EXPECT_EQ(refusals[0].first, "attachment");
  EXPECT_EQ(refusals[1].first, "attachment");
  EXPECT_EQ(refusals[2].first, "inline");
  for (const auto& [field, what] : refusals) EXPECT_NE(what.find(says), std::string::npos) << what;

  // A writer with data waiting: nothing of it is taken.
  const int fd = ::open(fifo.c_str(), O_RDWR | O_NONBLOCK);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "%PDF-1.4", 8), 8);
  message m = basic_message();
  EXPECT_NE(refusal([&] { m.attach(attachment::from_file(fifo)); }).second.find(says),
            std::string::npos);
  char buffer[16];
  EXPECT_EQ(::read(fd, buffer, sizeof buffer), 8);
  ::close(fd);
}

TEST_F(RenderedMessage, AFileThatBecomesAPipeBeforeItIsReadIsRefused) {
  const fs::path path = write("compte-rendu.pdf", "%PDF-1.4");
  const std::string says = "\"" + path.string() + "\" is a pipe, not a file";
  message m = basic_message();
  m.attach(attachment::from_file(path)).attach(attachment::from_file(write("note.txt", "é")));
  envoi::rendered_message stream = m.render_stream();

  // Rendering looks at the path again, and so does the stream when it opens the file.
  fs::remove(path);
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  std::pair<std::string, std::string> at_render, at_next;
  EXPECT_TRUE(finishes_without_waiting_on(path, [&] {
    at_render = refusal([&] { (void)m.render(); });
    at_next = refusal([&] {
      for (std::string chunk; stream.next(chunk); chunk.clear()) {
      }
    });
  }));
  EXPECT_NE(at_render.second.find(says), std::string::npos) << at_render.second;
  EXPECT_NE(at_next.second.find(says), std::string::npos) << at_next.second;
}

TEST_F(RenderedMessage, ADeviceASocketOrAFolderIsRefusedNamingThePath) {
  const fs::path socket_path = dir_ / "agenda.sock";
  const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(s, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socket_path.c_str());
  ASSERT_EQ(::bind(s, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);

  const std::pair<fs::path, std::string> cases[] = {
      {"/dev/null", "\"/dev/null\" is a device, not a file: attach a file saved on disk"},
      {"/dev/zero", "\"/dev/zero\" is a device, not a file"},
      {socket_path, "\"" + socket_path.string() + "\" is a socket, not a file"},
      {dir_, "\"" + dir_.string() + "\" is a folder, not a file"},
  };
  for (const auto& [path, says] : cases) {
    message m = basic_message();
    for (const auto& [field, what] :
         {refusal([&] { (void)attachment::from_file(path); }), refusal([&] {
            m.attach({path, "", ""});
          }),
          refusal([&] {
            m.attach({path, "vide.pdf", "application/pdf"});
          })}) {
      EXPECT_EQ(field, "attachment") << path;
      EXPECT_NE(what.find(says), std::string::npos) << what;
    }
    EXPECT_TRUE(m.attachments().empty());
  }
  ::close(s);
}

TEST(Attachment, AFileNameNotInUtf8IsShownAndToBeRenamed) {
  message m;
  try {
    m.attach(attachment::from_memory("x", "caf\xe9.txt"));
    FAIL() << "a Latin-1 file name was taken";
  } catch (const invalid_input& e) {
    EXPECT_NE(e.reason().find("the file name \"caf?.txt\" is not in UTF-8"), std::string::npos)
        << e.reason();
    EXPECT_NE(e.reason().find("rename the file"), std::string::npos) << e.reason();
  }
}
