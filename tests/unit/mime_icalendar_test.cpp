// White-box tests of the iCalendar writer (src/ is on the test include path).
#include "mime/icalendar.hpp"

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mime/encoding.hpp"

namespace mime = envoi::mime;

namespace {

std::vector<std::string> physical_lines(const std::string& s) {
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < s.size()) {
    const std::size_t eol = s.find("\r\n", pos);
    lines.push_back(s.substr(pos, eol - pos));
    pos = eol == std::string::npos ? s.size() : eol + 2;
  }
  return lines;
}

// RFC 5545 3.1: unfolding removes every CRLF followed by one white space character.
std::string unfold(const std::string& folded) {
  std::string out;
  for (std::size_t i = 0; i < folded.size(); ++i) {
    if (folded.compare(i, 3, "\r\n ") == 0) {
      i += 2;
      continue;
    }
    out += folded[i];
  }
  return out;
}

// RFC 5545 3.3.11, read independently of the writer.
std::string unescape(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      ++i;
      out += text[i] == 'n' || text[i] == 'N' ? '\n' : text[i];
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string random_utf8(std::mt19937& rng, int max_length) {
  static const char* const pieces[] = {"a", "Z", " ", ",",  ";", "\\", "\n", "é",
                                       "€", "🐾", ":", "\"", "^", "\t", "x",  "ß"};
  std::uniform_int_distribution<int> length(0, max_length);
  std::uniform_int_distribution<std::size_t> pick(0, std::size(pieces) - 1);
  std::string out;
  for (int i = length(rng); i > 0; --i) out += pieces[pick(rng)];
  return out;
}

envoi::calendar_event event() {
  using namespace std::chrono;
  envoi::calendar_event e;
  e.uid = "rdv-42@sud.example.test";
  e.start = sys_days{year{2026} / December / 8} + hours{13} + minutes{30};
  e.end = e.start + minutes{45};
  e.summary = "Vaccination de Médor";
  e.location = "Clinique du Sud, salle 2";
  return e;
}

}  // namespace

TEST(ICalendar, TextEscapesCommaSemicolonBackslashAndLineEnds) {
  EXPECT_EQ(mime::ical_escape_text("a,b;c\\d\ne\r\nf\rg"), "a\\,b\\;c\\\\d\\ne\\nf\\ng");
  EXPECT_EQ(mime::ical_escape_text("Médor: rappel"), "Médor: rappel");
}

TEST(ICalendar, FoldedLinesAreAtMost75OctetsAndNeverSplitACharacter) {
  std::mt19937 rng(5545);
  for (int i = 0; i < 2000; ++i) {
    const std::string text = random_utf8(rng, 120);
    const std::string line = "SUMMARY:" + mime::ical_escape_text(text);
    const std::string folded = mime::ical_fold(line);
    ASSERT_TRUE(folded.ends_with("\r\n"));
    for (const std::string& physical : physical_lines(folded)) {
      ASSERT_LE(physical.size(), mime::ical_line_octets) << physical;
      ASSERT_TRUE(mime::is_valid_utf8(physical)) << "a fold splits a character: " << physical;
    }
    const std::string back = unfold(folded);
    ASSERT_EQ(back, line + "\r\n");
    ASSERT_EQ(unescape(back.substr(8, back.size() - 10)), text);
  }
}

TEST(ICalendar, FoldingHoldsAtEveryLength) {
  // Every split point of a line mixing one-, two-, three- and four-octet characters.
  std::string text;
  while (text.size() < 400) text += "aé€🐾";
  for (std::size_t n = 0; n <= text.size(); ++n) {
    if (!mime::is_valid_utf8(text.substr(0, n))) continue;
    const std::string line = "DESCRIPTION:" + text.substr(0, n);
    const std::string folded = mime::ical_fold(line);
    for (const std::string& physical : physical_lines(folded)) {
      ASSERT_LE(physical.size(), 75u);
      ASSERT_TRUE(mime::is_valid_utf8(physical));
    }
    ASSERT_EQ(unfold(folded), line + "\r\n") << n;
  }
}

TEST(ICalendar, ParameterValuesUseCaretEscapes) {
  // RFC 6868: a quoted parameter value holds no DQUOTE or line end.
  EXPECT_EQ(mime::ical_param_value("Le \"Doc\" ^\nMartin"), "\"Le ^'Doc^' ^^^nMartin\"");
  EXPECT_EQ(mime::ical_param_value("Dupont, Hélène; Dr"), "\"Dupont, Hélène; Dr\"");
}

TEST(ICalendar, RequestHoldsTheRequiredPropertiesInUtc) {
  using namespace std::chrono;
  const envoi::mailbox organizer("Clinique du Sud", "sud@example.test");
  const std::string ics = mime::icalendar_request(
      event(), organizer, {envoi::mailbox("Dupont, Hélène", "helene@example.test")},
      sys_days{year{2026} / November / 1} + hours{9});
  for (const char* line :
       {"BEGIN:VCALENDAR\r\n", "VERSION:2.0\r\n", "METHOD:REQUEST\r\n", "BEGIN:VEVENT\r\n",
        "UID:rdv-42@sud.example.test\r\n", "DTSTAMP:20261101T090000Z\r\n",
        "DTSTART:20261208T133000Z\r\n", "DTEND:20261208T141500Z\r\n",
        "SUMMARY:Vaccination de Médor\r\n", "LOCATION:Clinique du Sud\\, salle 2\r\n",
        "ORGANIZER;CN=\"Clinique du Sud\":mailto:sud@example.test\r\n",
        "ATTENDEE;CN=\"Dupont, Hélène\";ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:"
        "mailto:helene@example.test\r\n",
        "END:VEVENT\r\n"})
    EXPECT_NE(unfold(ics).find(line), std::string::npos) << line << "\n" << ics;
  EXPECT_EQ(ics.find("VTIMEZONE"), std::string::npos);
  EXPECT_TRUE(ics.ends_with("END:VCALENDAR\r\n"));
  for (const std::string& physical : physical_lines(ics)) EXPECT_LE(physical.size(), 75u);
}

TEST(ICalendar, LocalTimesCarryTheirZoneAndItsDefinition) {
  // RFC 5545 3.2.19: a TZID needs a VTIMEZONE of the same name.
  envoi::calendar_event e = event();
  e.time_zone = "Europe/Paris";
  e.utc_offset = std::chrono::minutes{60};
  const std::string ics =
      mime::icalendar_request(e, envoi::mailbox("", "sud@example.test"), {}, e.start);
  for (const char* line :
       {"BEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\n", "TZOFFSETFROM:+0100\r\n",
        "TZOFFSETTO:+0100\r\n", "DTSTART;TZID=Europe/Paris:20261208T143000\r\n",
        "DTEND;TZID=Europe/Paris:20261208T151500\r\n", "ORGANIZER:mailto:sud@example.test\r\n"})
    EXPECT_NE(ics.find(line), std::string::npos) << line << "\n" << ics;
  e.time_zone = "America/St_Johns";
  e.utc_offset = -std::chrono::minutes{150};
  EXPECT_NE(mime::icalendar_request(e, envoi::mailbox("", "a@b.test"), {}, e.start)
                .find("TZOFFSETTO:-0230\r\n"),
            std::string::npos);
}
