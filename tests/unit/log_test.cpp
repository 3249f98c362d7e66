#include <envoi/log.hpp>
#include <envoi/smtp/client.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "support/scripted_peer.hpp"
#include "support/send_expectations.hpp"

namespace envoi {
namespace {

using test::peer_connection;
using test::scripted_peer;

TEST(LogEvent, FormatsOnOneLineQuotingWhatWouldBeAmbiguous) {
  const std::vector<log_field> fields = {{"host", "smtp.orange.fr"},
                                         {"reply", "250 2.0.0 Ok: queued as 4ABC"},
                                         {"detail", ""},
                                         {"text", "a\"b\\c=d"},
                                         {"line", "x\r\ny\x7F"},
                                         {"name", "Hélène"}};
  const log_event e{log_level::warning, "smtp.example", fields};
  EXPECT_EQ(format(e),
            "warning smtp.example host=smtp.orange.fr reply=\"250 2.0.0 Ok: queued as 4ABC\" "
            "detail=\"\" text=\"a\\\"b\\\\c=d\" line=\"x\\x0d\\x0ay\\x7f\" name=Hélène");
  EXPECT_EQ(e.field("host"), "smtp.orange.fr");
  EXPECT_EQ(e.field("absent"), "");
}

TEST(LogEvent, LevelsHaveNamesBothWays) {
  for (const auto level :
       {log_level::debug, log_level::info, log_level::warning, log_level::error}) {
    log_level parsed = log_level::error;
    ASSERT_TRUE(parse_log_level(to_string(level), parsed)) << to_string(level);
    EXPECT_EQ(parsed, level);
  }
  log_level unchanged = log_level::info;
  EXPECT_FALSE(parse_log_level("verbose", unchanged));
  EXPECT_FALSE(parse_log_level("", unchanged));
  EXPECT_FALSE(parse_log_level("debugs", unchanged));
  EXPECT_EQ(unchanged, log_level::info);
  log_level shouted = log_level::error;
  EXPECT_TRUE(parse_log_level("DEBUG", shouted));
  EXPECT_EQ(shouted, log_level::debug);
  const log_sink sink{[](const log_event&) {}, log_level::warning};
  EXPECT_FALSE(sink.enabled(log_level::info));
  EXPECT_TRUE(sink.enabled(log_level::warning));
  EXPECT_TRUE(sink.enabled(log_level::error));
  EXPECT_FALSE(log_sink{}.enabled(log_level::error));
}

// A plain-text session on loopback in which the second recipient is refused.
scripted_peer::script one_refused_recipient() {
  return [](peer_connection& c) {
    c.send("220 peer.example.test ESMTP\r\n");
    c.read_line();
    c.send("250-peer.example.test\r\n250 PIPELINING\r\n");
    c.read_line();  // MAIL
    c.read_line();  // RCPT
    c.read_line();  // RCPT
    c.read_line();  // DATA
    c.send(
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
        "550 5.1.1 <nobody@example.test>: Recipient address rejected\r\n354 go ahead\r\n");
    c.read_data();
    c.send("250 2.0.0 Ok: queued as 4ABC\r\n");
    if (c.read_line().rfind("QUIT", 0) == 0) c.send("221 2.0.0 Bye\r\n");
  };
}

const envelope two_recipients{"sud@example.test", {"zoe@example.test", "nobody@example.test"}};
constexpr const char* data = "Subject: Rappel\r\n\r\nMedor a rendez-vous mardi.\r\n";

// The events of sending `data` to `two_recipients`, one refused, at `threshold` and
// above, as format() writes them; `port` is the peer's.
std::vector<std::string> events_of_a_send(log_level threshold, std::uint16_t& port) {
  scripted_peer peer(one_refused_recipient());
  port = peer.port();
  smtp::client c(test::loopback_account(peer.port()));
  std::vector<std::string> events;
  c.set_log({[&](const log_event& e) { events.push_back(format(e)); }, threshold});
  c.send(two_recipients, data);
  c.quit();
  return events;
}

TEST(SmtpClientLog, TellsWhatHappenedAtInfoLevelWithoutTheDialogue) {
  std::uint16_t port = 0;
  const auto events = events_of_a_send(log_level::info, port);
  ASSERT_EQ(events.size(), 3u) << ::testing::PrintToString(events);
  EXPECT_EQ(events[0],
            "info smtp.connected host=127.0.0.1 address=127.0.0.1 port=" + std::to_string(port));
  EXPECT_EQ(events[1],
            "warning smtp.recipient_refused from=sud@example.test recipient=nobody@example.test "
            "reply=\"550 5.1.1 <nobody@example.test>: Recipient address rejected\"");
  EXPECT_EQ(events[2], "info smtp.sent from=sud@example.test recipients=2 accepted=1 octets=" +
                           std::to_string(std::string_view(data).size()) +
                           " transactions=1 reply=\"250 2.0.0 Ok: queued as 4ABC\"");
}

TEST(SmtpClientLog, DebugLevelAddsEachLineButNeverTheMessage) {
  std::uint16_t port = 0;
  std::string all;
  for (const auto& e : events_of_a_send(log_level::debug, port)) all += e + "\n";
  for (const std::string expected :
       {"debug smtp.line direction=received text=\"220 peer.example.test ESMTP\"",
        "debug smtp.line direction=sent text=\"MAIL FROM:<sud@example.test>\"",
        "debug smtp.line direction=sent text=\"<message: 47 octets>\"",
        "debug smtp.line direction=sent text=QUIT", "debug smtp.closed host=127.0.0.1"})
    EXPECT_NE(all.find(expected + "\n"), std::string::npos) << expected << " not in\n" << all;
  EXPECT_EQ(all.find("Medor"), std::string::npos) << all;
  EXPECT_EQ(all.find("Rappel"), std::string::npos) << all;
}

TEST(SmtpClientLog, AFailureSaysTheStepAndWhetherToTryAgain) {
  scripted_peer peer([](peer_connection& c) {
    c.send("220 peer.example.test ESMTP\r\n");
    c.read_line();
    c.send("250 peer.example.test\r\n");
    c.read_line();  // MAIL
    c.send("451 4.3.0 Try again later\r\n");
    if (c.read_line().rfind("RSET", 0) == 0) c.send("250 ok\r\n");
    if (c.read_line().rfind("QUIT", 0) == 0) c.send("221 bye\r\n");
  });
  smtp::client c(test::loopback_account(peer.port()));
  std::vector<std::string> events;
  c.set_log({[&](const log_event& e) { events.push_back(format(e)); }, log_level::warning});
  test::expect_send_error(c, two_recipients, data, errc::server_transient, step::mail);
  c.quit();
  ASSERT_EQ(events.size(), 1u) << ::testing::PrintToString(events);
  EXPECT_EQ(events[0], "warning smtp.failed from=sud@example.test recipients=2 step=mail error=\"" +
                           make_error_code(errc::server_transient).message() +
                           "\" reply=\"451 4.3.0 Try again later\" detail=\"\" transient=yes "
                           "outcome_unknown=no");
}

TEST(SmtpClientLog, ASinkThatThrowsNeverFailsTheSend) {
  scripted_peer peer(one_refused_recipient());
  smtp::client c(test::loopback_account(peer.port()));
  int calls = 0;
  c.set_log({[&](const log_event&) {
               ++calls;
               throw std::runtime_error("log file full");
             },
             log_level::debug});
  const auto report = c.send(two_recipients, data);
  c.quit();
  EXPECT_EQ(report.final_reply.code, 250);
  EXPECT_GT(calls, 10);
}

}  // namespace
}  // namespace envoi
