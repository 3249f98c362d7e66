#include <envoi/reminders.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include <envoi/error.hpp>

namespace {

namespace fs = std::filesystem;
namespace rem = envoi::reminders;
using namespace std::chrono;

class Appointments : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() / ("envoi-reminders-test-" + std::to_string(::getpid()) +
                                         "-" + std::to_string(++counter) + ".csv");
  }
  void TearDown() override { fs::remove(path_); }

  std::vector<rem::row> read(const std::string& text) {
    std::ofstream(path_, std::ios::binary) << text;
    return rem::read_appointments(path_);
  }

  fs::path path_;
};

const std::string header = "site,client_name,email,pet_name,appointment\n";

const rem::appointment& good(const rem::row& r) {
  if (const auto* e = std::get_if<rem::row_error>(&r))
    ADD_FAILURE() << "line " << e->line << ": " << e->field << ": " << e->reason;
  return std::get<rem::appointment>(r);
}

const rem::row_error& bad(const rem::row& r) {
  if (const auto* a = std::get_if<rem::appointment>(&r))
    ADD_FAILURE() << "line " << a->line << " was accepted";
  return std::get<rem::row_error>(r);
}

local_seconds at(int y, unsigned mo, unsigned d, int h, int mi, int s = 0) {
  return local_days(year(y) / month(mo) / day(d)) + hours(h) + minutes(mi) + seconds(s);
}

TEST_F(Appointments, ReadsRowsInFileOrderWithTheirLines) {
  const auto rows = read(header +
                         "sud,Hélène Dupont,helene@example.test,Médor,2026-12-08T14:30\n"
                         "nord,Zoé Marchand,zoe@example.test,Câline,2026-12-09T09:05\n");
  ASSERT_EQ(rows.size(), 2u);
  const auto& a = good(rows[0]);
  EXPECT_EQ(a.line, 2u);
  EXPECT_EQ(a.site, "sud");
  EXPECT_EQ(a.client, envoi::mailbox("Hélène Dupont", "helene@example.test"));
  EXPECT_EQ(a.pet_name, "Médor");
  EXPECT_EQ(a.when, at(2026, 12, 8, 14, 30));
  EXPECT_EQ(good(rows[1]).line, 3u);
  EXPECT_EQ(good(rows[1]).site, "nord");
}

TEST_F(Appointments, FindsColumnsInAnyOrderAndIgnoresExtraOnes) {
  const auto rows = read(
      "appointment,notes,pet_name,email,site,client_name\n"
      "2026-12-08T10:00,vaccin,Félix,francois@example.test,sud,François Lefèvre\n");
  ASSERT_EQ(rows.size(), 1u);
  const auto& a = good(rows[0]);
  EXPECT_EQ(a.pet_name, "Félix");
  EXPECT_EQ(a.client.display_name(), "François Lefèvre");
  EXPECT_EQ(a.when, at(2026, 12, 8, 10, 0));
}

TEST_F(Appointments, KeepsCommasAndDoubledQuotesInsideQuotedFields) {
  const auto rows = read(header +
                         "sud,\"Dupont, Hélène\",helene@example.test,Médor,2026-12-08T14:30\n"
                         "sud,\"Yves \"\"Le Doc\"\" Garnier\",yves@example.test,\"Rex\","
                         "2026-12-08T15:00\n");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(good(rows[0]).client.display_name(), "Dupont, Hélène");
  EXPECT_EQ(good(rows[1]).client.display_name(), "Yves \"Le Doc\" Garnier");
  EXPECT_EQ(good(rows[1]).pet_name, "Rex");
}

TEST_F(Appointments, AcceptsCrlfLineEnds) {
  const auto rows = read(
      "site,client_name,email,pet_name,appointment\r\n"
      "sud,A,a@example.test,Médor,2026-12-08T14:30\r\n"
      "sud,B,b@example.test,Félix,2026-12-08T15:30\r\n");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(good(rows[0]).when, at(2026, 12, 8, 14, 30));
  EXPECT_EQ(good(rows[1]).line, 3u);
  EXPECT_EQ(good(rows[1]).when, at(2026, 12, 8, 15, 30));
}

TEST_F(Appointments, SkipsAUtf8ByteOrderMark) {
  const auto rows = read("\xEF\xBB\xBF" + header + "sud,A,a@example.test,Médor,2026-12-08T14:30");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(good(rows[0]).site, "sud");
}

TEST_F(Appointments, CountsLinesInsideQuotedLineBreaks) {
  const auto rows = read(
      "site,client_name,email,pet_name,appointment,notes\n"
      "sud,A,a@example.test,Médor,2026-12-08T14:30,\"allergique\r\nà la pénicilline\"\n"
      "sud,B,b@example.test,Félix,2026-12-08T15:30,\n");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(good(rows[0]).line, 2u);
  EXPECT_EQ(good(rows[1]).line, 4u);
}

TEST_F(Appointments, SkipsBlankLines) {
  const auto rows = read(header + "\nsud,A,a@example.test,Médor,2026-12-08T14:30\n\n");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(good(rows[0]).line, 3u);
}

TEST_F(Appointments, AcceptsSecondsAndASpaceInsteadOfT) {
  const auto rows = read(header + "sud,A,a@example.test,Médor,2026-12-08 14:30:15\n");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(good(rows[0]).when, at(2026, 12, 8, 14, 30, 15));
}

TEST_F(Appointments, RefusesAHeaderWithoutAColumn) {
  try {
    read("site,client_name,pet_name,appointment\nsud,A,Médor,2026-12-08T14:30\n");
    FAIL() << "no error";
  } catch (const envoi::invalid_input& e) {
    EXPECT_EQ(e.field(), path_.string() + ":1: header");
    EXPECT_NE(std::string(e.what()).find("\"email\""), std::string::npos) << e.what();
  }
}

TEST_F(Appointments, RefusesAnEmptyFile) {
  EXPECT_THROW(read(""), envoi::invalid_input);
}

TEST_F(Appointments, RefusesAFileThatDoesNotExist) {
  EXPECT_THROW(rem::read_appointments(path_.string() + ".absent"), envoi::invalid_input);
}

TEST_F(Appointments, ReportsARowWithTheWrongNumberOfFieldsAndGoesOn) {
  const auto rows = read(header +
                         "sud,Dupont, Hélène,helene@example.test,Médor,2026-12-08T14:30\n"
                         "sud,A,a@example.test,Médor\n"
                         "sud,B,b@example.test,Félix,2026-12-08T15:30\n");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(bad(rows[0]).line, 2u);
  EXPECT_EQ(bad(rows[0]).field, "row");
  EXPECT_EQ(bad(rows[0]).reason, "expected 5 fields as in the header, got 6");
  EXPECT_EQ(bad(rows[1]).line, 3u);
  EXPECT_EQ(bad(rows[1]).reason, "expected 5 fields as in the header, got 4");
  EXPECT_EQ(good(rows[2]).line, 4u);
}

TEST_F(Appointments, ReportsEmptyRequiredFields) {
  const auto rows = read(header +
                         ",A,a@example.test,Médor,2026-12-08T14:30\n"
                         "sud,  ,a@example.test,Médor,2026-12-08T14:30\n"
                         "sud,A,a@example.test,,2026-12-08T14:30\n");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(bad(rows[0]).field, "site");
  EXPECT_EQ(bad(rows[1]).field, "client_name");
  EXPECT_EQ(bad(rows[2]).field, "pet_name");
}

TEST_F(Appointments, ReportsAnInvalidEmailAndGoesOn) {
  const auto rows = read(header +
                         "sud,Jean Martin,jean.martin@@example.test,Rex,2026-12-08T10:45\n"
                         "sud,Paul,pas-une-adresse,Rex,2026-12-08T10:45\n"
                         "sud,Zoé,,Câline,2026-12-08T11:00\n"
                         "sud,B,b@example.test,Félix,2026-12-08T15:30\n");
  ASSERT_EQ(rows.size(), 4u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(bad(rows[i]).line, i + 2);
    EXPECT_EQ(bad(rows[i]).field, "email");
    EXPECT_FALSE(bad(rows[i]).reason.empty());
    EXPECT_NE(bad(rows[i]).reason.substr(0, 7), "email: ") << "the field is not repeated";
  }
  EXPECT_EQ(good(rows[3]).client.address(), "b@example.test");
}

TEST_F(Appointments, ReportsABadClientNameUnderItsOwnColumn) {
  const auto rows =
      read(header + std::string("sud,Jean\0Martin,jean@example.test,Rex,2026-12-08T10:45\n", 55));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(bad(rows[0]).field, "client_name") << bad(rows[0]).reason;
}

TEST_F(Appointments, NamesTheFieldThatIsNotUtf8) {
  // A spreadsheet that saves in Latin-1 writes "Hélène" as H\xe9l\xe8ne.
  const auto rows = read(header +
                         "sud,H\xe9l\xe8ne,h@example.test,M\xe9"
                         "dor,2026-12-08T09:00\n");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(bad(rows[0]).field, "client_name");
  EXPECT_NE(bad(rows[0]).reason.find("UTF-8"), std::string::npos) << bad(rows[0]).reason;
}

TEST_F(Appointments, UsesTheClientNameAsDisplayNameEvenWhenTheEmailHasOne) {
  const auto rows = read(header +
                         "sud,Hélène Dupont,Maman <helene@example.test>,Médor,"
                         "2026-12-08T14:30\n");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(good(rows[0]).client, envoi::mailbox("Hélène Dupont", "helene@example.test"));
}

TEST_F(Appointments, ReportsAnAppointmentThatIsNotALocalDateTime) {
  const std::vector<std::string> wrong = {
      "demain 14h",       "2026-12-08",        "2026-13-01T10:00",
      "2026-02-30T10:00", "2026-12-08T24:00",  "2026-12-08T14:60",
      "08/12/2026 14:30", "2026-12-08T14:30Z", "2026-12-08T14:30:00+01:00"};
  std::string text = header;
  for (const auto& w : wrong) text += "sud,A,a@example.test,Médor," + w + "\n";
  const auto rows = read(text);
  ASSERT_EQ(rows.size(), wrong.size());
  for (std::size_t i = 0; i < wrong.size(); ++i) {
    EXPECT_EQ(bad(rows[i]).field, "appointment") << wrong[i];
    EXPECT_NE(bad(rows[i]).reason.find(wrong[i]), std::string::npos) << bad(rows[i]).reason;
  }
}

TEST_F(Appointments, ReportsAQuotingMistake) {
  const auto rows = read(header +
                         "sud,\"Dupont\" Hélène,a@example.test,Médor,2026-12-08T14:30\n"
                         "sud,B,b@example.test,Félix,2026-12-08T15:30\n"
                         "sud,\"never closed,c@example.test,Rex,2026-12-08T16:30\n");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(bad(rows[0]).field, "row");
  EXPECT_EQ(good(rows[1]).line, 3u);
  EXPECT_EQ(bad(rows[2]).line, 4u);
  EXPECT_EQ(bad(rows[2]).field, "row");
}

TEST(SampleAppointments, HaveExactlyOneBadRow) {
  const auto rows =
      rem::read_appointments(fs::path(ENVOI_SOURCE_DIR) / "examples/data/rendez-vous-demain.csv");
  ASSERT_GE(rows.size(), 15u);
  int errors = 0;
  for (const auto& r : rows) {
    if (const auto* e = std::get_if<rem::row_error>(&r)) {
      ++errors;
      EXPECT_EQ(e->field, "email");
      continue;
    }
    const auto& a = std::get<rem::appointment>(r);
    EXPECT_TRUE(a.site == "sud" || a.site == "nord") << a.site;
    EXPECT_EQ(a.client.domain(), "example.test");
    EXPECT_FALSE(a.client.local_part().starts_with("unknown"));
  }
  EXPECT_EQ(errors, 1);
}

TEST(FrenchDate, NamesTheWeekdayDayMonthAndYear) {
  EXPECT_EQ(rem::french_date(2026y / December / 8d), "mardi 8 décembre 2026");
  EXPECT_EQ(rem::french_date(2026y / February / 28d), "samedi 28 février 2026");
  EXPECT_EQ(rem::french_date(2028y / February / 29d), "mardi 29 février 2028");
  EXPECT_EQ(rem::french_date(2026y / August / 15d), "samedi 15 août 2026");
}

TEST(FrenchDate, WritesTheFirstOfTheMonthAsAnOrdinal) {
  EXPECT_EQ(rem::french_date(2026y / December / 1d), "mardi 1er décembre 2026");
  EXPECT_EQ(rem::french_date(2027y / January / 1d), "vendredi 1er janvier 2027");
  EXPECT_EQ(rem::french_date(2026y / October / 1d), "jeudi 1er octobre 2026");
}

TEST(FrenchDate, RefusesADateThatDoesNotExist) {
  EXPECT_THROW(rem::french_date(2026y / February / 30d), envoi::invalid_input);
}

TEST(FrenchTime, WritesHoursAndTwoDigitMinutes) {
  EXPECT_EQ(rem::french_time(hh_mm_ss<seconds>(hours(14) + minutes(30))), "14 h 30");
  EXPECT_EQ(rem::french_time(hh_mm_ss<seconds>(hours(9) + minutes(5))), "9 h 05");
  EXPECT_EQ(rem::french_time(hh_mm_ss<seconds>(minutes(15))), "0 h 15");
}

TEST(FrenchTime, LeavesOutMinutesOnTheHour) {
  EXPECT_EQ(rem::french_time(hh_mm_ss<seconds>(hours(9))), "9 h");
  EXPECT_EQ(rem::french_time(hh_mm_ss<seconds>(hours(9) + seconds(40))), "9 h");
}

envoi::site sud() {
  envoi::site s;
  s.id = "sud";
  s.name = "Clinique vétérinaire du Sud";
  s.account.sender = envoi::mailbox("Clinique du Sud", "clinic@example.test");
  s.account.bcc_copy = "verification-sud@example.test";
  return s;
}

rem::appointment medor() {
  rem::appointment a;
  a.line = 2;
  a.site = "sud";
  a.client = envoi::mailbox("Dupont, Hélène", "helene.dupont@example.test");
  a.pet_name = "Médor";
  a.when = at(2026, 12, 8, 14, 30);
  return a;
}

TEST(Reminder, ComesFromTheSitesAccountAndGoesToTheClient) {
  const auto m = rem::make_reminder(medor(), sud());
  ASSERT_TRUE(m.from());
  EXPECT_EQ(*m.from(), sud().account.sender);
  ASSERT_EQ(m.to().size(), 1u);
  EXPECT_EQ(m.to()[0], medor().client);
  EXPECT_TRUE(m.cc().empty());
  EXPECT_TRUE(m.bcc().empty()) << "the verification copy is the sender's business";
}

TEST(Reminder, NamesPetDateAndTimeInItsSubject) {
  EXPECT_EQ(rem::make_reminder(medor(), sud()).subject(),
            "Rappel : rendez-vous de Médor le mardi 8 décembre 2026 à 14 h 30");
}

TEST(Reminder, ElidesDeBeforeAPetNameStartingWithAVowel) {
  for (const auto& [pet, expected] : {std::pair{"Olaf", "rendez-vous d'Olaf le"},
                                      std::pair{"Églantine", "rendez-vous d'Églantine le"},
                                      std::pair{"Hermès", "rendez-vous de Hermès le"}}) {
    auto a = medor();
    a.pet_name = pet;
    const auto m = rem::make_reminder(a, sud());
    EXPECT_NE(m.subject().find(expected), std::string::npos) << m.subject();
    EXPECT_NE(m.text().find(expected), std::string::npos) << m.text();
  }
}

TEST(Reminder, GreetsTheClientAndNamesPetDateTimeAndClinic) {
  const auto body = rem::make_reminder(medor(), sud()).text();
  EXPECT_EQ(body.rfind("Bonjour Hélène Dupont,", 0), 0u) << body;
  for (const auto* part :
       {"Médor", "mardi 8 décembre 2026", "14 h 30", "Clinique vétérinaire du Sud"})
    EXPECT_NE(body.find(part), std::string::npos) << part << " missing from:\n" << body;
}

TEST(Reminder, CarriesTheAttachments) {
  const std::vector<envoi::attachment> files = {
      {fs::path(ENVOI_SOURCE_DIR) / "examples/data/Conseils avant la visite – été.pdf", {}, {}}};
  const auto m = rem::make_reminder(medor(), sud(), files);
  ASSERT_EQ(m.attachments().size(), 1u);
  EXPECT_EQ(m.attachments()[0].path, files[0].path);
  EXPECT_NE(m.text().find("pièce jointe"), std::string::npos);
  EXPECT_EQ(rem::make_reminder(medor(), sud()).text().find("pièce jointe"), std::string::npos);
}

}  // namespace
