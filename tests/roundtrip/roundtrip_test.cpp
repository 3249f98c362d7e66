// Round trip: every message of cases.cpp is rendered by envoi, then read back by two
// parsers that share no code, Python's email package (tests/tools/check_message.py) and
// Perl's MIME-tools with Email::Address::XS (tests/tools/check_message_perl). Each must find
// the subject, the mailboxes, the text and every attachment's name and bytes unchanged,
// and lint the wire form (line ends and lengths, encoded-words, header counts, no Bcc).
#include <envoi/message.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include <envoi/error.hpp>

#include "cases.hpp"
#include "support/message_json.hpp"
#include "support/process.hpp"

namespace envoi::roundtrip {
// GoogleTest shows a failing case by its name rather than as a byte dump.
void PrintTo(const round_trip_case& c, std::ostream* os) {
  *os << c.id;
}
}  // namespace envoi::roundtrip

namespace fs = std::filesystem;
using envoi::invalid_input;
using envoi::mailbox;
using envoi::message;
using envoi::roundtrip::round_trip_case;
using envoi::test::run_command;
using envoi::test::shell_quoted;

namespace {

// Each case works in a folder of its own, removed when the case ends.
class RoundTrip : public ::testing::TestWithParam<round_trip_case> {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("envoi-roundtrip-" + std::to_string(::getpid()) + "-" + GetParam().id);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const fs::path& name, std::string_view data) {
    const fs::path path = dir_ / name;
    std::ofstream(path, std::ios::binary)
        .write(data.data(), static_cast<std::streamsize>(data.size()));
    return path;
  }

  fs::path dir_;
};

TEST_P(RoundTrip, BothParsersReadBackWhatWasGiven) {
  const round_trip_case& c = GetParam();

  // The message, built only through the public API.
  message m;
  m.from(mailbox(c.from.name, c.from.address, "from")).subject(c.subject).text(c.text);
  for (const auto& p : c.to) m.add_to(mailbox(p.name, p.address, "to"));
  for (const auto& p : c.cc) m.add_cc(mailbox(p.name, p.address, "cc"));
  std::string files_json;
  for (std::size_t i = 0; i < c.files.size(); ++i) {
    const auto& f = c.files[i];
    const std::string bytes = envoi::roundtrip::file_bytes(f);
    // The file on disk has a plain name; the name under test is the one the message shows.
    const fs::path path = write("file" + std::to_string(i), bytes);
    m.attach({path, f.name, f.media_type});
    files_json +=
        (i ? ", " : "") + std::string("{\"file_name\": ") + envoi::test::json_string(f.name) +
        ", \"sha256\": " + envoi::test::json_string(envoi::test::sha256_hex(bytes)) +
        (f.media_type.empty() ? ""
                              : ", \"media_type\": " + envoi::test::json_string(f.media_type)) +
        "}";
  }

  // What both checkers compare the parsed message with (check_message.py's JSON form).
  const std::string expected = "{\"subject\": " + envoi::test::json_string(c.subject) +
                               ", \"from\": " + envoi::test::json_mailbox(*m.from()) +
                               ", \"to\": " + envoi::test::json_mailboxes(m.to()) +
                               ", \"cc\": " + envoi::test::json_mailboxes(m.cc()) +
                               ", \"text\": " + envoi::test::json_string(c.text) +
                               ", \"attachments\": [" + files_json +
                               "], \"absent_headers\": [\"Bcc\", \"Resent-Bcc\"]}";

  const std::string rendered = m.render();
  const fs::path eml = write("message.eml", rendered);
  const fs::path json = write("expected.json", expected);
  const std::string args = " " + shell_quoted(eml.string()) + " " + shell_quoted(json.string());
  const std::string tools = std::string(ENVOI_SOURCE_DIR) + "/tests/tools/";

  const envoi::test::command_result python = run_command(
      std::string(ENVOI_PYTHON) + " " + shell_quoted(tools + "check_message.py") + args);
  EXPECT_EQ(python.status, 0) << "Python's email package:\n" << python.output;
  const envoi::test::command_result perl = run_command(
      std::string(ENVOI_PERL) + " " + shell_quoted(tools + "check_message_perl") + args);
  EXPECT_EQ(perl.status, 0) << "Perl's MIME-tools:\n" << perl.output;
  if (python.status != 0 || perl.status != 0)
    ADD_FAILURE() << "--- rendered (first 4000 bytes) ---\n" << rendered.substr(0, 4000);
}

INSTANTIATE_TEST_SUITE_P(NastyInputs, RoundTrip, ::testing::ValuesIn(envoi::roundtrip::all_cases()),
                         [](const ::testing::TestParamInfo<round_trip_case>& info) {
                           return info.param.id;
                         });

TEST(RoundTripCases, AreAtLeastFiftyWithDistinctNames) {
  const auto& cases = envoi::roundtrip::all_cases();
  EXPECT_GE(cases.size(), 50u);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    for (std::size_t j = i + 1; j < cases.size(); ++j) EXPECT_NE(cases[i].id, cases[j].id);
  }
}

// F36: a header value with CR, LF or NUL never reaches a message; each setter refuses it
// and leaves the message as it was.
TEST(RoundTripRefusals, LineBreaksAndNulInHeaderTextAreRefusedWhenSet) {
  using namespace std::string_literals;
  const std::vector<std::string> bad = {"Bonjour\r\nBcc: spy@example.test",
                                        "Zoé\nX-Injected: 1",
                                        "a\rb",
                                        "a\r\n b",
                                        "nul\0here"s,
                                        "\r\n",
                                        "\0"s};
  message m;
  m.from(mailbox("Clinique", "sud@example.test")).subject("Rappel");
  m.add_to(mailbox::parse("zoe@example.test"));
  const fs::path file = fs::temp_directory_path() /
                        ("envoi-roundtrip-refusal-" + std::to_string(::getpid()) + ".bin");
  std::ofstream(file) << "x";

  for (const std::string& value : bad) {
    const std::string shown = ::testing::PrintToString(value);
    EXPECT_THROW(m.subject(value), invalid_input) << shown;
    EXPECT_THROW(mailbox(value, "zoe@example.test"), invalid_input) << shown;
    EXPECT_THROW(mailbox("Zoé", "zoe" + value + "@example.test"), invalid_input) << shown;
    EXPECT_THROW(mailbox("Zoé", "zoe@example.test" + value), invalid_input) << shown;
    EXPECT_THROW(mailbox::parse(value + " <zoe@example.test>"), invalid_input) << shown;
    EXPECT_THROW(mailbox::parse("\"" + value + "\" <zoe@example.test>"), invalid_input) << shown;
    EXPECT_THROW(m.attach({file, "scan" + value + ".pdf", ""}), invalid_input) << shown;
    EXPECT_THROW(m.attach({file, "scan.pdf", "application/pdf" + value}), invalid_input) << shown;
    EXPECT_THROW(m.message_id("id" + value + "@example.test"), invalid_input) << shown;
  }
  fs::remove(file);

  // Nothing of the refused values was kept.
  EXPECT_EQ(m.subject(), "Rappel");
  EXPECT_EQ(m.to().size(), 1u);
  EXPECT_TRUE(m.attachments().empty());
  const std::string rendered = m.render();
  EXPECT_EQ(rendered.find("spy@"), std::string::npos);
  EXPECT_EQ(rendered.find("X-Injected"), std::string::npos);
  EXPECT_EQ(rendered.find('\0'), std::string::npos);
}

}  // namespace
