// The SMTP client's MAIL/RCPT/DATA transaction against a scripted server: refused
// recipients, recipient limits, RSET, 421, time limits, pipelining, DSN, cancellation.
#include <envoi/smtp/client.hpp>

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>

#include <algorithm>
#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>
#include <type_traits>

#include "support/scripted_peer.hpp"
#include "support/send_expectations.hpp"

namespace envoi::smtp {
namespace {

using namespace std::chrono_literals;
using test::peer_connection;
using test::scripted_peer;

// A message the server took: its recipients and its text as sent (dot-stuffed).
struct stored_message {
  std::vector<std::string> recipients;
  std::string text;
};

// A small SMTP server for scripted_peer: it keeps the transaction state a real server
// keeps (DATA without a valid recipient is refused, RSET clears), stores what it accepts,
// and can be told to refuse some recipients, limit their number per transaction, or
// check that no command arrives before its turn.
class fake_server {
 public:
  /// EHLO lines between the first and the last (ENHANCEDSTATUSCODES).
  std::string extensions = "250-PIPELINING\r\n";
  /// Recipients per transaction before `too_many`; 0 for no limit.
  std::size_t recipient_limit = 0;
  std::string too_many = "452 4.5.3 Too many recipients\r\n";
  /// The reply to RCPT for an address; "250 2.1.5 Ok" when it returns empty.
  std::function<std::string(const std::string&)> rcpt_answer;
  /// Answer 554 to any command sent before the reply to the previous one (F48).
  bool strict = false;
  /// How long the greeting waits.
  std::chrono::milliseconds greeting_delay{0};
  /// How long the reply to each end of data waits.
  std::chrono::milliseconds final_delay{0};
  /// Called on the server's thread when an end of data arrived, before its reply.
  std::function<void()> on_end_of_data;

  scripted_peer::script script() {
    return [this](peer_connection& c) { run(c); };
  }

  std::vector<stored_message> stored() const {
    std::lock_guard lock(mutex_);
    return stored_;
  }
  int early_input() const { return early_.load(); }
  /// End-of-data lines already followed by the next commands before the server replied.
  int sent_ahead() const { return ahead_.load(); }

 private:
  void reply(peer_connection& c, const std::string& text) {
    if (strict && c.has_early_input(30ms)) {
      ++early_;
      c.send("554 5.5.0 SMTP synchronization error\r\n");
      return;
    }
    c.send(text);
  }

  void run(peer_connection& c) {
    if (strict && c.has_early_input(greeting_delay + 100ms)) ++early_;
    c.send("220 peer.example.test ESMTP\r\n");
    bool in_mail = false;
    std::vector<std::string> accepted;
    std::size_t asked = 0;
    for (std::string line; !(line = c.read_line()).empty();) {
      const auto word = line.substr(0, 4);
      if (word == "EHLO") {
        reply(c, "250-peer.example.test\r\n" + extensions + "250 ENHANCEDSTATUSCODES\r\n");
      } else if (word == "MAIL") {
        in_mail = true;
        accepted.clear();
        asked = 0;
        reply(c, "250 2.1.0 Ok\r\n");
      } else if (word == "RCPT") {
        const auto open = line.find('<');
        const auto address = line.substr(open + 1, line.find('>') - open - 1);
        std::string answer = rcpt_answer ? rcpt_answer(address) : "";
        if (recipient_limit != 0 && ++asked > recipient_limit) answer = too_many;
        if (answer.empty()) answer = "250 2.1.5 Ok\r\n";
        if (answer[0] == '2') accepted.push_back(address);
        reply(c, answer);
        if (answer.rfind("421", 0) == 0) return;
      } else if (word == "DATA") {
        if (!in_mail || accepted.empty()) {
          reply(c, "554 5.5.1 Error: no valid recipients\r\n");
          continue;
        }
        reply(c, "354 End data with <CR><LF>.<CR><LF>\r\n");
        std::string text;
        for (std::string l; (l = c.read_line()) != ".\r\n";) {
          if (l.empty()) return;  // the client left mid-message: nothing is stored
          text += l;
        }
        if (!strict && c.has_early_input(30ms)) ++ahead_;
        if (on_end_of_data) on_end_of_data();
        std::this_thread::sleep_for(final_delay);
        {
          std::lock_guard lock(mutex_);
          stored_.push_back({accepted, text});
        }
        in_mail = false;
        accepted.clear();
        reply(c, "250 2.0.0 Ok: queued as " + std::to_string(stored_.size()) + "\r\n");
      } else if (word == "RSET") {
        in_mail = false;
        accepted.clear();
        reply(c, "250 2.0.0 Ok\r\n");
      } else if (word == "QUIT") {
        c.send("221 2.0.0 Bye\r\n");
        c.client_closed(2s);
        return;
      } else {
        reply(c, "502 5.5.2 Error: command not recognized\r\n");
      }
    }
  }

  mutable std::mutex mutex_;
  std::vector<stored_message> stored_;
  std::atomic<int> early_{0};
  std::atomic<int> ahead_{0};
};

const std::string body = "Subject: Rappel\r\n\r\nBonjour,\r\n.vaccin de Filou\r\n";
const std::string body_on_wire = "Subject: Rappel\r\n\r\nBonjour,\r\n..vaccin de Filou\r\n";

std::string refuse_nobody(const std::string& address) {
  return address.rfind("nobody", 0) == 0 ? "550 5.1.1 <" + address + ">: User unknown\r\n" : "";
}

std::size_t count(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1))
    ++n;
  return n;
}

// F04: BDAT carries an exact count and no dot-stuffing. envoi sends with DATA even to a
// server offering CHUNKING, so a line starting with '.' is stuffed on the wire once and
// arrives as it was written.
TEST(SmtpTransaction, AServerOfferingChunkingGetsDataWithTheLeadingDotStuffedOnce_F04) {
  fake_server server;
  server.extensions = "250-PIPELINING\r\n250-CHUNKING\r\n";
  scripted_peer peer(server.script());
  client c(test::loopback_account(peer.port()));
  const std::string text = "Subject: note\r\n\r\n.note interne\r\nfin\r\n";
  c.send({"sud@example.test", {"zoe@example.test"}}, text);
  c.quit();
  const auto seen = peer.received();
  EXPECT_EQ(seen.find("BDAT"), std::string::npos) << seen;
  ASSERT_EQ(server.stored().size(), 1u);
  EXPECT_NE(server.stored()[0].text.find("\r\n..note interne\r\nfin\r\n"), std::string::npos)
      << server.stored()[0].text;
}

// Every recipient refused, some for now (450) and some for good (550), in either order:
// the message is refused for good, since sending it again would again fail for the 550
// one, and the reported reply is a 550; each recipient keeps its own reply.
TEST(SmtpTransaction, EveryRecipientRefusedIsTransientOnlyWhenEveryRefusalIs) {
  const auto answer = [](const std::string& address) -> std::string {
    if (address.rfind("busy", 0) == 0) return "450 4.2.1 <" + address + ">: try later\r\n";
    return refuse_nobody(address);
  };
  using list = std::vector<std::string>;
  for (const auto& to : {list{"busy@example.test", "nobody@example.test"},
                         list{"nobody@example.test", "busy@example.test"}}) {
    SCOPED_TRACE(to[0]);
    fake_server server;
    server.rcpt_answer = answer;
    scripted_peer peer(server.script());
    client c(test::loopback_account(peer.port()));
    const auto e = test::expect_send_error(c, {"sud@example.test", to}, body,
                                           errc::all_recipients_refused, step::rcpt);
    EXPECT_TRUE(e.is_permanent());
    EXPECT_EQ(e.reply().code, 550);
    ASSERT_EQ(e.report().recipients.size(), 2u);
    EXPECT_EQ(e.report().recipients[to[0] == "busy@example.test" ? 0 : 1].reply.code, 450);
  }
  fake_server server;
  server.rcpt_answer = answer;
  scripted_peer peer(server.script());
  client c(test::loopback_account(peer.port()));
  const auto e =
      test::expect_send_error(c, {"sud@example.test", {"busy1@example.test", "busy2@example.test"}},
                              body, errc::server_transient, step::rcpt);
  EXPECT_TRUE(e.is_transient());
  EXPECT_EQ(e.reply().code, 450);
}

// F42: every recipient refused: no DATA without PIPELINING (DATA refused by the server
// with it), RSET, and the next message on the same connection goes through.
TEST(SmtpTransaction, ResetsAfterEveryRecipientIsRefusedAndSendsTheNextMessage_F42) {
  for (const bool pipelining : {false, true}) {
    SCOPED_TRACE(pipelining ? "PIPELINING" : "lock-step");
    fake_server server;
    server.extensions = pipelining ? "250-PIPELINING\r\n" : "";
    server.rcpt_answer = refuse_nobody;
    scripted_peer peer(server.script());
    client c(test::loopback_account(peer.port()));
    const auto e = test::expect_send_error(
        c, {"sud@example.test", {"nobody1@example.test", "nobody2@example.test"}}, body,
        errc::all_recipients_refused, step::rcpt);
    EXPECT_TRUE(e.is_permanent());
    ASSERT_EQ(e.report().recipients.size(), 2u);
    EXPECT_EQ(e.report().recipients[1].reply.code, 550);

    const auto report = c.send({"sud@example.test", {"zoe@example.test"}}, body);
    EXPECT_TRUE(report.recipients[0].delivered);
    c.quit();
    const auto seen = peer.received();
    EXPECT_EQ(peer.accepted(), 1);
    EXPECT_EQ(count(seen, "DATA\r\n"), pipelining ? 2u : 1u) << seen;
    EXPECT_NE(seen.find("nobody2@example.test>\r\n" + std::string(pipelining ? "DATA\r\n" : "") +
                        "RSET\r\nMAIL FROM:"),
              std::string::npos)
        << seen;
    ASSERT_EQ(server.stored().size(), 1u);
    EXPECT_EQ(server.stored()[0].recipients, std::vector<std::string>{"zoe@example.test"});
  }
}

// F43: the second recipient refused after DATA was already pipelined: the whole message
// goes to the first, the report lists the refusal, nothing empty or partial is stored.
TEST(SmtpTransaction, SendsTheWholeMessageToTheAcceptedRecipientWhenAnotherIsRefused_F43) {
  fake_server server;
  server.rcpt_answer = refuse_nobody;
  scripted_peer peer(server.script());
  client c(test::loopback_account(peer.port()));
  const auto report =
      c.send({"sud@example.test", {"ok@example.test", "nobody@example.test"}}, body);
  c.quit();
  ASSERT_EQ(report.recipients.size(), 2u);
  EXPECT_TRUE(report.recipients[0].delivered);
  EXPECT_FALSE(report.recipients[1].delivered);
  EXPECT_EQ(report.recipients[1].reply.code, 550);
  EXPECT_EQ(report.recipients[1].reply.enhanced, "5.1.1");
  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].recipients, std::vector<std::string>{"ok@example.test"});
  EXPECT_EQ(stored[0].text, body_on_wire);
}

// F46: 421 closes the channel (RFC 5321 3.8): a transient failure, and no command after it.
TEST(SmtpTransaction, StopsAtA421ToEhloAsATransientFailure_F46) {
  scripted_peer peer([](peer_connection& c) {
    c.send("220 peer.example.test ESMTP\r\n");
    c.read_line();
    c.send("421 4.7.0 Try again later, closing connection\r\n");
    c.client_closed();
  });
  client c(test::loopback_account(peer.port()));
  const auto e = test::expect_send_error(c, {"sud@example.test", {"zoe@example.test"}}, body,
                                         errc::server_transient, step::ehlo);
  EXPECT_TRUE(e.is_transient());
  EXPECT_EQ(e.reply().code, 421);
  const auto seen = peer.received();
  EXPECT_EQ(seen.find("HELO"), std::string::npos) << seen;
  EXPECT_EQ(seen.rfind("EHLO", 0), 0u) << seen;
  EXPECT_EQ(count(seen, "\r\n"), 1u) << seen;
}

TEST(SmtpTransaction, StopsAtA421ToRcptAsATransientFailure_F46) {
  for (const bool pipelining : {false, true}) {
    SCOPED_TRACE(pipelining ? "PIPELINING" : "lock-step");
    fake_server server;
    server.extensions = pipelining ? "250-PIPELINING\r\n" : "";
    server.rcpt_answer = [](const std::string& address) -> std::string {
      return address == "b@example.test" ? "421 4.7.0 Try again later, closing connection\r\n" : "";
    };
    scripted_peer peer(server.script());
    client c(test::loopback_account(peer.port()));
    const auto e = test::expect_send_error(
        c, {"sud@example.test", {"a@example.test", "b@example.test", "c@example.test"}}, body,
        errc::server_transient, step::rcpt);
    EXPECT_EQ(e.reply().code, 421);
    const auto seen = peer.received();
    // Pipelined, the rest of the group was written before the 421 was read; nothing after.
    const std::string last = pipelining ? "DATA\r\n" : "RCPT TO:<b@example.test>\r\n";
    EXPECT_EQ(seen.substr(seen.size() - last.size()), last) << seen;
    EXPECT_TRUE(server.stored().empty());
  }
}

namespace {

// Greets with PIPELINING, answers the first message's MAIL, RCPT and DATA sent together,
// and reads its data, leaving its final reply to the caller.
void take_first_pipelined_message(peer_connection& c) {
  c.send("220 peer.example.test ESMTP\r\n");
  c.read_line();
  c.send("250-peer.example.test\r\n250 PIPELINING\r\n");
  for (int i = 0; i < 3; ++i) c.read_line();
  c.send("250 Ok\r\n250 Ok\r\n354 Go ahead\r\n");
  c.read_data();
}

}  // namespace

TEST(SmtpTransaction, StopsAtA421ToTheEndOfDataAsATransientFailure_F46) {
  scripted_peer peer([](peer_connection& c) {
    take_first_pipelined_message(c);
    c.send("421 4.7.0 Try again later, closing connection\r\n");
    c.client_closed();
  });
  client c(test::loopback_account(peer.port()));
  const auto e = test::expect_send_error(c, {"sud@example.test", {"zoe@example.test"}}, body,
                                         errc::server_transient, step::data);
  EXPECT_EQ(e.reply().code, 421);
  // The server answered: it did not take the message.
  EXPECT_FALSE(e.report().outcome_unknown);
  const auto seen = peer.received();
  EXPECT_EQ(seen.substr(seen.size() - 3), ".\r\n") << "a command followed the 421";
}

// F44: 120 recipients, 50 per transaction: three transactions, each recipient accepted
// once, results in envelope order.
TEST(SmtpTransaction, SendsTheRestInANewTransactionAfterTooManyRecipients_F44) {
  envelope env{"sud@example.test", {}};
  for (int i = 0; i < 120; ++i) env.recipients.push_back("r" + std::to_string(i) + "@example.test");
  for (const bool pipelining : {false, true}) {
    SCOPED_TRACE(pipelining ? "PIPELINING" : "lock-step");
    fake_server server;
    server.extensions = pipelining ? "250-PIPELINING\r\n" : "";
    server.recipient_limit = 50;
    scripted_peer peer(server.script());
    client c(test::loopback_account(peer.port()));
    const auto report = c.send(env, body);
    c.quit();
    EXPECT_EQ(report.transactions, 3);
    ASSERT_EQ(report.recipients.size(), 120u);
    for (std::size_t i = 0; i < 120; ++i) {
      EXPECT_EQ(report.recipients[i].address, env.recipients[i]);
      EXPECT_TRUE(report.recipients[i].delivered) << env.recipients[i];
      EXPECT_EQ(report.recipients[i].reply.code, 250) << env.recipients[i];
    }
    const auto stored = server.stored();
    ASSERT_EQ(stored.size(), 3u);
    EXPECT_EQ(stored[0].recipients.size(), 50u);
    EXPECT_EQ(stored[1].recipients.size(), 50u);
    EXPECT_EQ(stored[2].recipients.size(), 20u);
    std::multiset<std::string> all;
    for (const auto& m : stored) {
      all.insert(m.recipients.begin(), m.recipients.end());
      EXPECT_EQ(m.text, body_on_wire);
    }
    EXPECT_EQ(all, std::multiset<std::string>(env.recipients.begin(), env.recipients.end()));
    // Without PIPELINING no RCPT follows the 452: 120 RCPT in all, plus one per 452.
    EXPECT_EQ(count(peer.received(), "RCPT TO:"), pipelining ? 120u + 70u + 20u : 122u);
  }
}

// F44: RFC 5321 4.5.3.1.10 asks clients to treat 552 for this case like 452.
TEST(SmtpTransaction, TreatsA552WithCode553AsTooManyRecipients_F44) {
  envelope env{"sud@example.test", {}};
  for (int i = 0; i < 7; ++i) env.recipients.push_back("r" + std::to_string(i) + "@example.test");
  fake_server server;
  server.recipient_limit = 3;
  server.too_many = "552 5.5.3 Too many recipients\r\n";
  scripted_peer peer(server.script());
  client c(test::loopback_account(peer.port()));
  const auto report = c.send(env, body);
  c.quit();
  EXPECT_EQ(report.transactions, 3);
  for (const auto& r : report.recipients) EXPECT_TRUE(r.delivered) << r.address;
  EXPECT_EQ(server.stored().size(), 3u);
}

// A 452 for the first recipient cannot mean "too many" (a server takes at least 100):
// that mailbox is refused for now, as a full one is by a server without enhanced codes,
// and the recipients after it still get the message, in the same transaction.
TEST(SmtpTransaction, A452ForTheFirstRecipientRefusesItForNowAndTheOthersGetTheMessage) {
  const envelope env{"sud@example.test",
                     {"full@example.test", "ok1@example.test", "ok2@example.test"}};
  for (const bool pipelining : {false, true}) {
    SCOPED_TRACE(pipelining ? "PIPELINING" : "lock-step");
    fake_server server;
    server.extensions = pipelining ? "250-PIPELINING\r\n" : "";
    server.rcpt_answer = [](const std::string& address) -> std::string {
      return address == "full@example.test" ? "452 Mailbox full\r\n" : "";
    };
    scripted_peer peer(server.script());
    client c(test::loopback_account(peer.port()));
    const auto report = c.send(env, body);
    c.quit();
    EXPECT_EQ(report.transactions, 1);
    ASSERT_EQ(report.recipients.size(), 3u);
    EXPECT_EQ(report.recipients[0].reply.code, 452);
    EXPECT_TRUE(report.recipients[0].reply.transient());
    EXPECT_FALSE(report.recipients[0].delivered);
    EXPECT_TRUE(report.recipients[1].delivered);
    EXPECT_TRUE(report.recipients[2].delivered);
    const auto stored = server.stored();
    ASSERT_EQ(stored.size(), 1u);
    EXPECT_EQ(stored[0].recipients,
              (std::vector<std::string>{"ok1@example.test", "ok2@example.test"}));
    EXPECT_EQ(count(peer.received(), "RCPT TO:"), 3u);
  }
  // After an accepted recipient the 452 reads as "too many", so the full mailbox is asked
  // again in a transaction of its own, where it is the first: refused for now. The
  // message was delivered to the other, so the send succeeds and reports the refusal.
  fake_server server;
  server.rcpt_answer = [](const std::string& address) -> std::string {
    return address == "full@example.test" ? "452 Mailbox full\r\n" : "";
  };
  scripted_peer peer(server.script());
  client c(test::loopback_account(peer.port()));
  const auto report = c.send({"sud@example.test", {"ok1@example.test", "full@example.test"}}, body);
  c.quit();
  EXPECT_EQ(report.transactions, 1);
  ASSERT_EQ(report.recipients.size(), 2u);
  EXPECT_TRUE(report.recipients[0].delivered);
  EXPECT_FALSE(report.recipients[1].delivered);
  EXPECT_EQ(report.recipients[1].reply.code, 452);
  EXPECT_EQ(server.stored().size(), 1u);
  EXPECT_EQ(count(peer.received(), "RCPT TO:<full@example.test>"), 2u);
}

TEST(SmtpTransaction, FailsTransientlyWhenTheServerTakesNoRecipientAtAll) {
  fake_server server;
  server.rcpt_answer = [](const std::string&) { return "452 4.5.3 Too many recipients\r\n"; };
  scripted_peer peer(server.script());
  client c(test::loopback_account(peer.port()));
  const auto e = test::expect_send_error(c, {"sud@example.test", {"zoe@example.test"}}, body,
                                         errc::server_transient, step::rcpt);
  EXPECT_EQ(e.reply().enhanced, "4.5.3");
  EXPECT_TRUE(server.stored().empty());
}

// F39 (a): the step's limit covers the whole reply, so a server dripping one byte at a
// time cannot keep a session alive.
TEST(SmtpTimeouts, EndsAGreetingDrippedOneByteAtATimeAtTheGreetingLimit_F39) {
  scripted_peer peer([](peer_connection& c) {
    for (const char ch : std::string("220 peer.example.test ESMTP\r\n")) {
      c.send(std::string(1, ch));
      if (c.client_closed(200ms)) return;
    }
  });
  auto a = test::loopback_account(peer.port());
  a.step_timeout.reset();
  a.timeouts.greeting = 700ms;
  client c(a);
  const auto started = std::chrono::steady_clock::now();
  const auto e = test::expect_send_error(c, {"sud@example.test", {"zoe@example.test"}}, body,
                                         errc::timed_out, step::greeting);
  EXPECT_TRUE(e.is_transient());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
}

// F39 (b): silence after the end of data: a time-out that says the message may have been
// delivered.
TEST(SmtpTimeouts, ReportsSilenceAfterTheEndOfDataAsPossiblyDelivered_F39) {
  scripted_peer peer([](peer_connection& c) {
    c.send("220 peer.example.test ESMTP\r\n");
    c.read_line();
    c.send("250-peer.example.test\r\n250 PIPELINING\r\n");
    c.read_line();
    c.read_line();
    c.read_line();
    c.send("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n");
    c.read_data();
    c.client_closed(5s);
  });
  auto a = test::loopback_account(peer.port());
  a.step_timeout.reset();
  a.timeouts.data_end = 500ms;
  client c(a);
  const auto e = test::expect_send_error(c, {"sud@example.test", {"zoe@example.test"}}, body,
                                         errc::timed_out, step::data);
  EXPECT_TRUE(e.is_transient());
  EXPECT_TRUE(e.report().outcome_unknown);
  EXPECT_NE(e.report().detail.find("may have delivered"), std::string::npos) << e.what();
}

// A final reply that cannot be read is no verdict either: the server may have the message.
TEST(SmtpTimeouts, ReportsGarbageAfterTheEndOfDataAsPossiblyDelivered) {
  scripted_peer peer([](peer_connection& c) {
    c.send("220 peer.example.test ESMTP\r\n");
    c.read_line();
    c.send("250 peer.example.test\r\n");
    c.read_line();
    c.send("250 2.1.0 Ok\r\n");
    c.read_line();
    c.send("250 2.1.5 Ok\r\n");
    c.read_line();
    c.send("354 go ahead\r\n");
    c.read_data();
    c.send("Queued, thank you\r\n");
    c.client_closed(5s);
  });
  client c(test::loopback_account(peer.port()));
  const auto e = test::expect_send_error(c, {"sud@example.test", {"zoe@example.test"}}, body,
                                         errc::protocol_error, step::data);
  EXPECT_TRUE(e.report().outcome_unknown);
  EXPECT_TRUE(e.report().recipients.at(0).accepted());
  EXPECT_FALSE(e.report().recipients.at(0).delivered);
  EXPECT_NE(e.report().detail.find("no final reply could be read: the server may have delivered"),
            std::string::npos)
      << e.what();
}

// A port where another kind of server answers: the error says to check the host and port.
TEST(SmtpReplies, SaysAServerAnsweringInAnotherProtocolIsNotAMailServer) {
  scripted_peer peer([](peer_connection& c) {
    c.send("HTTP/1.1 400 Bad Request\r\n\r\n");
    c.client_closed(5s);
  });
  client c(test::loopback_account(peer.port()));
  const auto e = test::expect_send_error(c, {"sud@example.test", {"zoe@example.test"}}, body,
                                         errc::protocol_error, step::greeting);
  EXPECT_FALSE(e.report().outcome_unknown);
  EXPECT_NE(e.report().detail.find("127.0.0.1 port " + std::to_string(peer.port()) +
                                   " is not a mail server; check the host and port"),
            std::string::npos)
      << e.what();
}

// Sends `line` again and again until the client leaves (or 100,000 times).
void send_without_end(peer_connection& c, const std::string& line) {
  std::string batch;
  for (int i = 0; i < 100; ++i) batch += line;
  for (int i = 0; i < 1000; ++i) {
    c.send(batch);
    if (c.client_closed(1ms)) return;
  }
}

// A reply of continuation lines without end is given up on once it passes the reply
// limit (256 lines or 64 KiB), at once rather than at the step's time limit, as is a line
// without end; at the greeting, the error says the port may not be a mail server.
TEST(SmtpReplies, GivesUpOnAGreetingThatNeverEnds) {
  const std::pair<std::string, std::string> cases[] = {
      {"220-hello\r\n", "reply longer than 256 lines or 64 KiB"},
      {"220-" + std::string(1000, 'x') + "\r\n", "reply longer than 256 lines or 64 KiB"},
      {"220 " + std::string(1000, 'x'), "reply line longer than 64 KiB"}};
  for (const auto& [line, what] : cases) {
    SCOPED_TRACE(what + ", lines of " + std::to_string(line.size()));
    scripted_peer peer([&](peer_connection& c) { send_without_end(c, line); });
    auto a = test::loopback_account(peer.port());
    a.step_timeout = 20s;
    client c(a);
    const auto started = std::chrono::steady_clock::now();
    const auto e = test::expect_send_error(c, {"sud@example.test", {"zoe@example.test"}}, body,
                                           errc::protocol_error, step::greeting);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
    EXPECT_TRUE(e.is_transient());
    EXPECT_FALSE(e.report().outcome_unknown);
    EXPECT_EQ(e.report().detail, what + ": 127.0.0.1 port " + std::to_string(peer.port()) +
                                     " may not be a mail server (check the host and port)");
    peer.wait();
    EXPECT_EQ(peer.received(), "") << "the client spoke to a peer that never finished greeting";
  }
}

TEST(SmtpReplies, GivesUpOnAnEhloReplyThatNeverEnds) {
  scripted_peer peer([](peer_connection& c) {
    c.send("220 peer.example.test ESMTP\r\n");
    c.read_line();
    c.send("250-peer.example.test\r\n");
    send_without_end(c, "250-PIPELINING\r\n");
  });
  auto a = test::loopback_account(peer.port());
  a.step_timeout = 20s;
  client c(a);
  const auto started = std::chrono::steady_clock::now();
  const auto e = test::expect_send_error(c, {"sud@example.test", {"zoe@example.test"}}, body,
                                         errc::protocol_error, step::ehlo);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  EXPECT_TRUE(e.is_transient());
  EXPECT_EQ(e.report().detail, "reply longer than 256 lines or 64 KiB");
  peer.wait();
  EXPECT_EQ(peer.received().find("MAIL"), std::string::npos) << peer.received();
}

// F39 (c): each RCPT answered slowly but within its own limit: the overall limit ends it.
TEST(SmtpTimeouts, EndsASlowSessionAtTheOverallLimit_F39) {
  fake_server server;
  server.extensions = "";
  server.rcpt_answer = [](const std::string&) {
    std::this_thread::sleep_for(150ms);
    return std::string{};
  };
  scripted_peer peer(server.script());
  auto a = test::loopback_account(peer.port());
  a.timeouts.total = 800ms;
  client c(a);
  envelope env{"sud@example.test", {}};
  for (int i = 0; i < 20; ++i) env.recipients.push_back("r" + std::to_string(i) + "@example.test");
  const auto started = std::chrono::steady_clock::now();
  const auto e = test::expect_send_error(c, env, body, errc::timed_out, step::rcpt);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_NE(e.report().detail.find("overall"), std::string::npos) << e.what();
  EXPECT_TRUE(server.stored().empty());
}

// F38: a RCPT reply that comes after the limit must not answer the next message's
// command: the connection is closed on the time-out and the next message opens another.
TEST(SmtpTimeouts, NeverReadsALateReplyAsTheAnswerToTheNextMessage_F38) {
  fake_server server;
  int connection = 0;
  scripted_peer peer(
      [&](peer_connection& c) {
        if (++connection == 1) {
          c.send("220 peer.example.test ESMTP\r\n");
          c.read_line();
          c.send("250-peer.example.test\r\n250 ENHANCEDSTATUSCODES\r\n");
          c.read_line();
          c.send("250 2.1.0 Ok\r\n");
          c.read_line();
          std::this_thread::sleep_for(700ms);
          c.send("250 2.1.5 Recipient OK\r\n");
          c.client_closed(3s);
          return;
        }
        server.script()(c);
      },
      2);
  auto a = test::loopback_account(peer.port());
  a.step_timeout.reset();
  a.timeouts.rcpt = 300ms;
  client c(a);
  test::expect_send_error(c, {"sud@example.test", {"zoe@example.test"}}, body, errc::timed_out,
                          step::rcpt);
  const auto report = c.send({"sud@example.test", {"filou@example.test"}}, body);
  c.quit();
  EXPECT_TRUE(report.recipients[0].delivered);
  EXPECT_EQ(report.final_reply.code, 250);
  EXPECT_EQ(peer.accepted(), 2);
  ASSERT_EQ(server.stored().size(), 1u);
  EXPECT_EQ(server.stored()[0].recipients, std::vector<std::string>{"filou@example.test"});
}

TEST(SmtpTimeouts, UsesTheRfc5321LimitsUnlessTheAccountSaysOtherwise) {
  const account a;
  EXPECT_FALSE(a.step_timeout.has_value());
  EXPECT_EQ(a.timeouts.greeting, std::chrono::minutes(5));
  EXPECT_EQ(a.timeouts.mail, std::chrono::minutes(5));
  EXPECT_EQ(a.timeouts.rcpt, std::chrono::minutes(5));
  EXPECT_EQ(a.timeouts.data_start, std::chrono::minutes(2));
  EXPECT_EQ(a.timeouts.data_block, std::chrono::minutes(3));
  EXPECT_EQ(a.timeouts.data_end, std::chrono::minutes(10));
}

// --- Fault sweep (STYLE.md 15): the server fails at each step of a session in turn, in
// each way a server fails, until the session succeeds.

// `out_of_step` is a reply of the wrong kind: neither what was asked for nor a refusal.
enum class fault { drop, transient, permanent, garbage, out_of_step, silence };
enum sweep_step { greeting, ehlo, mail, rcpt, data, content, end_of_data, quit, steps };

const char* name(fault f) {
  switch (f) {
    case fault::drop:
      return "drop";
    case fault::transient:
      return "4xx";
    case fault::permanent:
      return "5xx";
    case fault::garbage:
      return "garbage";
    case fault::out_of_step:
      return "out of step";
    case fault::silence:
      return "silence";
  }
  return "";
}

// A session that behaves until step `at`, fails there in the way `f` says, then keeps
// answering normally if the client goes on. A message counts as stored only when the
// whole text arrived and the server answered 250 to its end.
void faulty_session(peer_connection& c, int at, fault f, bool pipelining,
                    std::vector<std::string>& stored) {
  // Answers with `normal`, or fails; false when the session must end here. `odd` is the
  // out-of-step reply: a 354 where 250 is due, a 250 where 354 or 220 is.
  const auto answer = [&](int s, const std::string& normal, const std::string& four,
                          const std::string& five, const std::string& odd = "354 Go ahead\r\n") {
    if (s != at) {
      c.send(normal);
      return true;
    }
    switch (f) {
      case fault::drop:
        return false;
      case fault::transient:
        c.send(four);
        return four.rfind("421", 0) != 0;
      case fault::permanent:
        c.send(five);
        return true;
      case fault::garbage:
        c.send("Hello, this is not SMTP\r\n");
        return true;
      case fault::out_of_step:
        c.send(odd);
        return true;
      case fault::silence:
        c.client_closed(5s);
        return false;
    }
    return false;
  };
  if (!answer(greeting, "220 peer.example.test ESMTP\r\n", "421 4.3.2 Not now\r\n",
              "554 5.3.2 No service here\r\n", "250 peer.example.test\r\n"))
    return;
  // Like a real server, it refuses RCPT without MAIL and DATA without a recipient.
  bool in_mail = false;
  bool has_recipient = false;
  for (std::string line; !(line = c.read_line()).empty();) {
    const auto word = line.substr(0, 4);
    bool go_on = true;
    if (word == "EHLO") {
      go_on = answer(
          ehlo,
          pipelining ? "250-peer.example.test\r\n250 PIPELINING\r\n" : "250 peer.example.test\r\n",
          "451 4.3.0 Try later\r\n", "502 5.5.2 EHLO not known\r\n");
    } else if (word == "HELO" || word == "RSET") {
      in_mail = has_recipient = false;
      c.send("250 peer.example.test\r\n");
    } else if (word == "MAIL") {
      in_mail = true;
      go_on = answer(mail, "250 Ok\r\n", "451 4.3.0 Try later\r\n", "553 5.7.1 Sender refused\r\n");
      if (at == mail) in_mail = false;
    } else if (word == "RCPT" && !in_mail) {
      c.send("503 5.5.1 Error: need MAIL command\r\n");
    } else if (word == "RCPT") {
      go_on = answer(rcpt, "250 Ok\r\n", "450 4.2.1 Try later\r\n", "550 5.1.1 Unknown user\r\n");
      has_recipient = at != rcpt;
    } else if (word == "DATA" && !has_recipient) {
      c.send("554 5.5.1 Error: no valid recipients\r\n");
    } else if (word == "DATA") {
      go_on = answer(data, "354 Go ahead\r\n", "451 4.3.0 Try later\r\n", "554 5.5.1 No\r\n",
                     "250 2.0.0 fine, no data needed\r\n");
      if (!go_on) return;
      if (at == data) continue;
      // The content: a fault after its first line is a reply (or silence) before the end.
      std::string text;
      bool complete = false;
      for (std::string l; !(l = c.read_line()).empty();) {
        if (l == ".\r\n") {
          complete = true;
          break;
        }
        text += l;
        if (at == content && text == l &&
            !answer(content, "", "451 4.3.0 Disk full\r\n", "554 5.6.0 Bad\r\n"))
          return;
      }
      if (!complete) return;
      in_mail = has_recipient = false;
      if (at == content) continue;  // its reply was the fault, already sent
      if (at != end_of_data) stored.push_back(text);
      go_on = answer(end_of_data, "250 2.0.0 Ok: queued\r\n", "451 4.3.0 Not queued\r\n",
                     "554 5.6.0 Refused\r\n");
    } else if (word == "QUIT") {
      answer(quit, "221 Bye\r\n", "421 4.3.0 Whatever\r\n", "500 5.5.1 Whatever\r\n", "250 Ok\r\n");
      c.client_closed(5s);
      return;
    }
    if (!go_on) return;
  }
}

TEST(SmtpFaultSweep, EndsEachFaultAtEachStepWithTheRightErrorOrADeliveredMessage) {
  const envoi::step where[] = {step::greeting, step::ehlo, step::mail, step::rcpt,
                               step::data,     step::data, step::data, step::quit};
  for (const bool pipelining : {false, true}) {
    for (int at = 0; at <= steps; ++at) {
      for (const auto f : {fault::drop, fault::transient, fault::permanent, fault::garbage,
                           fault::out_of_step, fault::silence}) {
        SCOPED_TRACE(std::string(pipelining ? "PIPELINING" : "lock-step") + ", step " +
                     std::to_string(at) + ", " + name(f));
        std::vector<std::string> stored;
        std::optional<send_error> error;
        send_report report;
        {
          scripted_peer peer(
              [&](peer_connection& c) { faulty_session(c, at, f, pipelining, stored); });
          auto a = test::loopback_account(peer.port());
          a.step_timeout = 400ms;  // short, yet long enough for a loaded machine
          client c(a);
          const auto started = std::chrono::steady_clock::now();
          try {
            report = c.send({"sud@example.test", {"zoe@example.test"}}, body);
            c.quit();
          } catch (const send_error& e) {
            error = e;
          }
          EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
        }  // the session has ended: `stored` is complete

        // The server refusing EHLO with 5xx gets HELO (RFC 5321 4.1.4) and the session
        // goes on; a fault at QUIT comes after the delivery.
        const bool delivers = at >= quit || (at == ehlo && f == fault::permanent);
        if (delivers) {
          EXPECT_FALSE(error) << error->what();
          EXPECT_TRUE(report.recipients.at(0).delivered);
          ASSERT_EQ(stored.size(), 1u);
          EXPECT_EQ(stored[0], body_on_wire);
          continue;
        }
        ASSERT_TRUE(error) << "no error";
        EXPECT_TRUE(stored.empty()) << "the server stored a message that failed";
        EXPECT_EQ(error->step(), where[at]) << error->what();
        errc expected{};
        switch (f) {
          case fault::drop:
            expected = errc::connection_closed;
            break;
          case fault::transient:
            expected = errc::server_transient;
            break;
          case fault::permanent:
            expected = at == rcpt ? errc::all_recipients_refused : errc::server_permanent;
            break;
          case fault::garbage:
          case fault::out_of_step:
            expected = errc::protocol_error;
            break;
          case fault::silence:
            expected = errc::timed_out;
            break;
        }
        EXPECT_EQ(error->code(), make_error_code(expected)) << error->what();
        EXPECT_EQ(error->is_transient(), f != fault::permanent) << error->what();
        // Only a final reply lost, garbled or out of step leaves the outcome open.
        const bool lost_final = at == end_of_data && f != fault::transient && f != fault::permanent;
        if (at != content) EXPECT_EQ(error->report().outcome_unknown, lost_final) << error->what();
      }
    }
  }
}

// --- Several messages queued on one client (RFC 2920 across messages), cancellation.

std::string numbered_body(int i) {
  return "Subject: Rappel " + std::to_string(i) + "\r\n\r\nBonjour " + std::to_string(i) + "\r\n";
}

struct outcome {
  std::error_code ec;
  send_report report;
  bool done = false;
};

// Queues `count` numbered messages, one recipient each (r0@, r1@...), on one client for
// the peer at `port`, then QUIT, and runs them all to the end.
std::vector<outcome> send_numbered(std::uint16_t port, int count) {
  boost::asio::io_context io;
  client c(io.get_executor(), test::loopback_account(port));
  std::vector<outcome> results(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i)
    c.async_send({"sud@example.test", {"r" + std::to_string(i) + "@example.test"}},
                 numbered_body(i), [&, i](std::error_code ec, send_report r) {
                   results[static_cast<std::size_t>(i)] = {ec, std::move(r), true};
                 });
  c.async_quit([](std::error_code) {});
  io.run();
  return results;
}

TEST(SmtpQueue, SendsQueuedMessagesInOrderEachEndOfDataCarryingTheNextCommands) {
  fake_server server;
  scripted_peer peer(server.script());
  const auto results = send_numbered(peer.port(), 5);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(results[i].done) << i;
    EXPECT_FALSE(results[i].ec) << i << ": " << results[i].ec.message();
    EXPECT_EQ(results[i].report.final_reply.text(), "Ok: queued as " + std::to_string(i + 1));
    EXPECT_EQ(results[i].report.recipients.at(0).address,
              "r" + std::to_string(i) + "@example.test");
  }
  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(stored[i].text, numbered_body(i));
  EXPECT_EQ(peer.accepted(), 1);
  // Messages 1 to 4 went out with the end of data before: one round trip each.
  EXPECT_EQ(server.sent_ahead(), 4);
  EXPECT_NE(peer.received().find(".\r\nMAIL FROM:<sud@example.test>\r\nRCPT TO:<r1@example.test>"
                                 "\r\nDATA\r\n"),
            std::string::npos);
}

// F48: a strict server without PIPELINING never sees a command before its reply, even
// with messages queued and a greeting that takes its time.
TEST(SmtpQueue, WaitsForEachReplyWhenTheServerDoesNotPipeline_F48) {
  fake_server server;
  server.extensions = "250-8BITMIME\r\n";
  server.strict = true;
  server.greeting_delay = 300ms;
  scripted_peer peer(server.script());
  boost::asio::io_context io;
  client c(io.get_executor(), test::loopback_account(peer.port()));
  std::vector<outcome> results(3);
  for (int i = 0; i < 3; ++i)
    c.async_send({"sud@example.test", {"a@example.test", "b@example.test"}}, numbered_body(i),
                 [&, i](std::error_code ec, send_report r) {
                   results[i] = {ec, std::move(r), true};
                 });
  c.async_quit([](std::error_code) {});
  io.run();
  for (const auto& r : results) EXPECT_FALSE(r.ec) << r.ec.message() << " " << r.report.detail;
  EXPECT_EQ(server.early_input(), 0) << peer.received();
  EXPECT_EQ(server.stored().size(), 3u);
}

TEST(SmtpQueue, ARefusedMessageInTheQueueNeitherLosesNorDuplicatesTheOthers) {
  fake_server server;
  server.rcpt_answer = refuse_nobody;
  scripted_peer peer(server.script());
  boost::asio::io_context io;
  client c(io.get_executor(), test::loopback_account(peer.port()));
  std::vector<outcome> results(3);
  const std::vector<std::string> to = {"a@example.test", "nobody@example.test", "c@example.test"};
  for (int i = 0; i < 3; ++i)
    c.async_send({"sud@example.test", {to[i]}}, numbered_body(i),
                 [&, i](std::error_code ec, send_report r) {
                   results[i] = {ec, std::move(r), true};
                 });
  c.async_quit([](std::error_code) {});
  io.run();
  EXPECT_FALSE(results[0].ec);
  EXPECT_EQ(results[1].ec, make_error_code(errc::all_recipients_refused));
  EXPECT_FALSE(results[2].ec);
  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored[0].text, numbered_body(0));
  EXPECT_EQ(stored[1].text, numbered_body(2));
  EXPECT_EQ(peer.accepted(), 1);
}

// The connection drops after the first message's data: that message may have been
// delivered (transient, outcome unknown); the next ones, whose commands went out ahead,
// are sent again on a new connection, each once.
TEST(SmtpQueue, RetriesMessagesNotYetSentOnANewConnectionAfterADrop) {
  fake_server server;
  int connection = 0;
  scripted_peer peer(
      [&](peer_connection& c) {
        if (++connection == 2) return server.script()(c);
        take_first_pipelined_message(c);
      },
      2);
  const auto results = send_numbered(peer.port(), 3);
  EXPECT_EQ(results[0].ec, make_error_code(errc::connection_closed));
  EXPECT_TRUE(results[0].report.outcome_unknown);
  EXPECT_TRUE(is_transient(results[0].ec));
  EXPECT_FALSE(results[1].ec) << results[1].report.detail;
  EXPECT_FALSE(results[2].ec) << results[2].report.detail;
  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored[0].text, numbered_body(1));
  EXPECT_EQ(stored[1].text, numbered_body(2));
}

// Terminal cancellation of the message in progress closes the connection and completes
// it with errc::cancelled; the message queued behind it goes out on a new connection.
TEST(SmtpQueue, CancellingTheRunningMessageClosesTheConnectionAndLeavesTheQueue) {
  fake_server server;
  boost::asio::io_context io;
  boost::asio::cancellation_signal signal;
  std::chrono::steady_clock::time_point cancelled_at;
  int connection = 0;
  scripted_peer peer(
      [&](peer_connection& c) {
        if (++connection == 2) return server.script()(c);
        c.send("220 peer.example.test ESMTP\r\n");
        c.read_line();
        c.send("250 peer.example.test\r\n");
        c.read_line();  // MAIL, never answered: the caller cancels now
        boost::asio::post(io, [&] {
          cancelled_at = std::chrono::steady_clock::now();
          signal.emit(boost::asio::cancellation_type::terminal);
        });
        c.client_closed(5s);  // until the client gives up
      },
      2);
  client c(io.get_executor(), test::loopback_account(peer.port()));
  outcome first;
  outcome second;
  c.async_send(
      {"sud@example.test", {"a@example.test"}}, numbered_body(0),
      boost::asio::bind_cancellation_slot(signal.slot(), [&](std::error_code ec, send_report r) {
        first = {ec, std::move(r), true};
        EXPECT_LT(std::chrono::steady_clock::now() - cancelled_at, 2s);
      }));
  c.async_send({"sud@example.test", {"b@example.test"}}, numbered_body(1),
               [&](std::error_code ec, send_report r) {
                 second = {ec, std::move(r), true};
               });
  c.async_quit([](std::error_code) {});
  io.run();
  EXPECT_EQ(first.ec, make_error_code(errc::cancelled));
  EXPECT_EQ(first.report.failed_step, step::mail);
  EXPECT_FALSE(second.ec) << second.report.detail;
  EXPECT_EQ(peer.accepted(), 2);
  ASSERT_EQ(server.stored().size(), 1u);
  EXPECT_EQ(server.stored()[0].text, numbered_body(1));
}

// A message whose commands went out ahead with the previous end of data: cancelled, it
// ends by closing the connection before any of its data, after the previous message's
// final reply was read.
TEST(SmtpQueue, CancellingAMessageSentAheadNeverSendsItsData) {
  fake_server server;
  boost::asio::io_context io;
  boost::asio::cancellation_signal signal;
  // The second message is cancelled once the first one's end of data, and the commands
  // sent ahead with it, reached the server, and before the server replies.
  server.final_delay = 300ms;
  server.on_end_of_data = [&] {
    boost::asio::post(io, [&] { signal.emit(boost::asio::cancellation_type::terminal); });
  };
  scripted_peer peer(server.script());
  client c(io.get_executor(), test::loopback_account(peer.port()));
  outcome first;
  outcome second;
  c.async_send({"sud@example.test", {"a@example.test"}}, numbered_body(0),
               [&](std::error_code ec, send_report r) {
                 first = {ec, std::move(r), true};
               });
  c.async_send(
      {"sud@example.test", {"b@example.test"}}, numbered_body(1),
      boost::asio::bind_cancellation_slot(signal.slot(), [&](std::error_code ec, send_report r) {
        second = {ec, std::move(r), true};
      }));
  io.run();
  EXPECT_FALSE(first.ec) << first.report.detail;
  EXPECT_EQ(second.ec, make_error_code(errc::cancelled));
  EXPECT_EQ(server.sent_ahead(), 1) << "the second message's commands did not go out ahead";
  ASSERT_EQ(server.stored().size(), 1u);
  EXPECT_EQ(server.stored()[0].text, numbered_body(0));
  EXPECT_EQ(peer.received().find("Bonjour 1"), std::string::npos) << peer.received();
}

// Cancelled after its end of data was sent: the server may already have committed it.
TEST(SmtpQueue, CancellingWhileWaitingForTheFinalReplySaysTheOutcomeIsUnknown) {
  fake_server server;
  boost::asio::io_context io;
  boost::asio::cancellation_signal signal;
  server.final_delay = 500ms;
  server.on_end_of_data = [&] {
    boost::asio::post(io, [&] { signal.emit(boost::asio::cancellation_type::terminal); });
  };
  scripted_peer peer(server.script());
  client c(io.get_executor(), test::loopback_account(peer.port()));
  outcome result;
  c.async_send(
      {"sud@example.test", {"a@example.test"}}, numbered_body(0),
      boost::asio::bind_cancellation_slot(signal.slot(), [&](std::error_code ec, send_report r) {
        result = {ec, std::move(r), true};
      }));
  io.run();
  EXPECT_EQ(result.ec, make_error_code(errc::cancelled));
  EXPECT_TRUE(result.report.outcome_unknown);
}

TEST(SmtpQueue, DestroyingTheClientCompletesEveryQueuedMessageWithCancelled) {
  scripted_peer peer([](peer_connection& c) {
    c.send("220 peer.example.test ESMTP\r\n");
    c.read_line();
    c.send("250 peer.example.test\r\n");
    c.client_closed(5s);  // MAIL is never answered
  });
  boost::asio::io_context io;
  std::vector<outcome> results(2);
  {
    client c(io.get_executor(), test::loopback_account(peer.port()));
    for (int i = 0; i < 2; ++i)
      c.async_send({"sud@example.test", {"a@example.test"}}, numbered_body(i),
                   [&, i](std::error_code ec, send_report r) {
                     results[i] = {ec, std::move(r), true};
                   });
    io.run_for(300ms);
  }
  io.run();
  for (const auto& r : results) {
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.ec, make_error_code(errc::cancelled)) << r.ec.message();
  }
}

// A message still waiting in the queue completes at once with errc::cancelled; the
// others are untouched.
TEST(SmtpQueue, CancellingAQueuedMessageRemovesOnlyThatMessage) {
  fake_server server;
  server.extensions = "";  // no sending ahead: the second message is only queued
  scripted_peer peer(server.script());
  boost::asio::io_context io;
  client c(io.get_executor(), test::loopback_account(peer.port()));
  boost::asio::cancellation_signal signal;
  std::vector<outcome> results(3);
  std::vector<int> order;
  for (int i = 0; i < 3; ++i) {
    auto handler = [&, i](std::error_code ec, send_report r) {
      results[i] = {ec, std::move(r), true};
      order.push_back(i);
    };
    const envelope env{"sud@example.test", {"r" + std::to_string(i) + "@example.test"}};
    if (i == 1)
      c.async_send(env, numbered_body(i),
                   boost::asio::bind_cancellation_slot(signal.slot(), handler));
    else
      c.async_send(env, numbered_body(i), handler);
  }
  boost::asio::post(io, [&] { signal.emit(boost::asio::cancellation_type::terminal); });
  c.async_quit([](std::error_code) {});
  io.run();
  EXPECT_EQ(results[1].ec, make_error_code(errc::cancelled));
  EXPECT_FALSE(results[0].ec);
  EXPECT_FALSE(results[2].ec);
  EXPECT_EQ(order.front(), 1) << "the cancelled message completes before the others end";
  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored[0].text, numbered_body(0));
  EXPECT_EQ(stored[1].text, numbered_body(2));
}

// --- Futures as completion tokens, the io_context run on a thread of its own.

// Runs an io_context on a thread until destroyed; declared before the client, it outlives
// it, so the client's last handlers still have a thread to run on.
class io_thread {
 public:
  io_thread() : thread_([this] { io_.run(); }) {}
  ~io_thread() {
    work_.reset();
    thread_.join();
  }
  boost::asio::io_context& io() { return io_; }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
      io_.get_executor()};
  std::thread thread_;
};

// The completion signature starts with std::error_code, not boost::system::error_code,
// so Asio's use_future does not turn the error into an exception: the future holds the
// whole signature, the code and the report.
using send_outcome = std::tuple<std::error_code, send_report>;
using send_future = std::future<send_outcome>;

TEST(SmtpFuture, DeliversTheReportOfASentMessageThroughAFuture) {
  fake_server server;
  scripted_peer peer(server.script());
  io_thread runner;
  client c(runner.io().get_executor(), test::loopback_account(peer.port()));
  auto sent =
      c.async_send({"sud@example.test", {"zoe@example.test"}}, body, boost::asio::use_future);
  static_assert(std::is_same_v<decltype(sent), send_future>);
  ASSERT_EQ(sent.wait_for(10s), std::future_status::ready);
  const auto [ec, report] = sent.get();
  EXPECT_FALSE(ec) << ec.message() << " " << report.detail;
  ASSERT_EQ(report.recipients.size(), 1u);
  EXPECT_EQ(report.recipients[0].address, "zoe@example.test");
  EXPECT_TRUE(report.recipients[0].accepted());
  EXPECT_TRUE(report.recipients[0].delivered);
  EXPECT_EQ(report.final_reply.code, 250);
  EXPECT_EQ(report.final_reply.text(), "Ok: queued as 1");
  EXPECT_EQ(report.failed_step, step::none);

  auto quit = c.async_quit(boost::asio::use_future);
  ASSERT_EQ(quit.wait_for(10s), std::future_status::ready);
  EXPECT_FALSE(quit.get());
  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].recipients, std::vector<std::string>{"zoe@example.test"});
  EXPECT_EQ(stored[0].text, body_on_wire);
  EXPECT_NE(peer.received().find("QUIT\r\n"), std::string::npos) << peer.received();
}

// A refused recipient reaches the future as the client's own code and report, the same
// as a handler would get them; get() does not throw.
TEST(SmtpFuture, DeliversTheRefusalOfEveryRecipientThroughAFuture) {
  fake_server server;
  server.rcpt_answer = refuse_nobody;
  scripted_peer peer(server.script());
  io_thread runner;
  client c(runner.io().get_executor(), test::loopback_account(peer.port()));
  auto sent =
      c.async_send({"sud@example.test", {"nobody@example.test"}}, body, boost::asio::use_future);
  ASSERT_EQ(sent.wait_for(10s), std::future_status::ready);
  send_outcome outcome;
  ASSERT_NO_THROW(outcome = sent.get());
  const auto& [ec, report] = outcome;
  EXPECT_EQ(ec, make_error_code(errc::all_recipients_refused)) << ec.message();
  EXPECT_EQ(&ec.category(), &error_category());
  EXPECT_EQ(report.failed_step, step::rcpt);
  EXPECT_EQ(report.error_reply.code, 550);
  ASSERT_EQ(report.recipients.size(), 1u);
  EXPECT_EQ(report.recipients[0].address, "nobody@example.test");
  EXPECT_EQ(report.recipients[0].reply.code, 550);
  EXPECT_FALSE(report.recipients[0].delivered);

  auto quit = c.async_quit(boost::asio::use_future);
  ASSERT_EQ(quit.wait_for(10s), std::future_status::ready);
  EXPECT_FALSE(quit.get());
  EXPECT_TRUE(server.stored().empty());
  // DATA went out pipelined behind RCPT (RFC 2920), but no line of the message did.
  EXPECT_EQ(peer.received().find("Subject: Rappel"), std::string::npos) << peer.received();
}

// --- DSN (RFC 3461).

envelope dsn_envelope() {
  envelope env{"sud@example.test", {"zoe@example.test", "filou@example.test", "rex@example.test"}};
  env.ret = dsn_return::headers;
  env.envid = "rappel 42+vaccin=oui";
  env.dsn = {
      {dsn_notify::success | dsn_notify::failure | dsn_notify::delay, "Zoe+Dupont@example.test"},
      {dsn_notify::never, ""}};
  return env;
}

TEST(SmtpDsn, SendsRetEnvidNotifyAndOrcptInXtextToAServerOfferingDsn) {
  fake_server server;
  server.extensions = "250-PIPELINING\r\n250-DSN\r\n";
  scripted_peer peer(server.script());
  client c(test::loopback_account(peer.port()));
  const auto report = c.send(dsn_envelope(), body);
  c.quit();
  EXPECT_FALSE(report.dsn_not_offered);
  const auto seen = peer.received();
  EXPECT_NE(seen.find("MAIL FROM:<sud@example.test> RET=HDRS ENVID=rappel+2042+2Bvaccin+3Doui\r\n"
                      "RCPT TO:<zoe@example.test> NOTIFY=SUCCESS,FAILURE,DELAY "
                      "ORCPT=rfc822;Zoe+2BDupont@example.test\r\n"
                      "RCPT TO:<filou@example.test> NOTIFY=NEVER\r\n"
                      "RCPT TO:<rex@example.test>\r\n"
                      "DATA\r\n"),
            std::string::npos)
      << seen;
}

TEST(SmtpDsn, SendsWithoutDsnAndSaysSoWhenTheServerDoesNotOfferIt) {
  fake_server server;
  scripted_peer peer(server.script());
  client c(test::loopback_account(peer.port()));
  const auto report = c.send(dsn_envelope(), body);
  c.quit();
  EXPECT_TRUE(report.dsn_not_offered);
  EXPECT_TRUE(report.recipients[0].delivered);
  const auto seen = peer.received();
  EXPECT_EQ(seen.find("RET="), std::string::npos) << seen;
  EXPECT_EQ(seen.find("NOTIFY="), std::string::npos) << seen;
  EXPECT_EQ(seen.find("ORCPT="), std::string::npos) << seen;
  EXPECT_EQ(seen.find("ENVID="), std::string::npos) << seen;
  EXPECT_EQ(server.stored().size(), 1u);
}

TEST(SmtpDsn, RefusesNeverCombinedWithOtherNotifications) {
  scripted_peer peer(fake_server().script(), 0);
  client c(test::loopback_account(peer.port()));
  envelope env{"sud@example.test", {"zoe@example.test"}};
  env.dsn = {{dsn_notify::never | dsn_notify::failure, ""}};
  test::expect_send_error(c, env, body, errc::invalid_envelope, step::rcpt);
  EXPECT_EQ(peer.accepted(), 0);
}

// --- Replies and EHLO as real servers send them (bug corpus).

// F22: a greeting of three lines, one per segment with gaps between them.
TEST(SmtpReplies, ReadsAMultiLineGreetingArrivingOneLinePerSegment_F22) {
  fake_server server;
  scripted_peer peer([&](peer_connection& c) {
    c.send("220-mail.example.test ESMTP\r\n");
    std::this_thread::sleep_for(200ms);
    c.send("220-Usage abusif interdit.\r\n");
    std::this_thread::sleep_for(200ms);
    // The fake server's own "220" ends the greeting.
    server.script()(c);
  });
  client c(test::loopback_account(peer.port()));
  const auto report = c.send({"sud@example.test", {"zoe@example.test"}}, body);
  c.quit();
  EXPECT_TRUE(report.recipients[0].delivered);
  EXPECT_EQ(peer.received().rfind("EHLO", 0), 0u) << "EHLO came before the greeting ended";
}

// F23: an EHLO reply whose last line is a bare "250": the extensions before it count.
TEST(SmtpReplies, ReadsTheExtensionsOfAnEhloReplyEndingWithABare250_F23) {
  std::string mail_group;
  scripted_peer peer([&](peer_connection& c) {
    c.send("220 peer.example.test ESMTP\r\n");
    c.read_line();
    c.send("250-mail.example.test\r\n250-PIPELINING\r\n250\r\n");
    c.read_line();
    // With PIPELINING understood, RCPT and DATA are already waiting behind MAIL.
    mail_group = c.has_early_input(200ms) ? "pipelined" : "lock-step";
    c.send("250 Ok\r\n");
    c.read_line();
    c.send("250 Ok\r\n");
    c.read_line();
    c.send("354 Go ahead\r\n");
    c.read_data();
    c.send("250 Ok\r\n");
    if (c.read_line().rfind("QUIT", 0) == 0) c.send("221 Bye\r\n");
  });
  client c(test::loopback_account(peer.port()));
  const auto report = c.send({"sud@example.test", {"zoe@example.test"}}, body);
  c.quit();
  EXPECT_EQ(report.final_reply.code, 250);
  EXPECT_EQ(mail_group, "pipelined");
}

// F25: a leading x.y.z is an enhanced code only once ENHANCEDSTATUSCODES was advertised;
// otherwise the first word of "250 message processed" is text.
TEST(SmtpReplies, KeepsTheFirstWordOfAFinalReplyWithoutEnhancedCodes_F25) {
  for (const bool enhanced : {false, true}) {
    scripted_peer peer([&](peer_connection& c) {
      c.send("220 peer.example.test ESMTP\r\n");
      c.read_line();
      c.send(enhanced ? "250-peer.example.test\r\n250 ENHANCEDSTATUSCODES\r\n"
                      : "250 peer.example.test\r\n");
      for (int i = 0; i < 3; ++i) {
        c.read_line();
        c.send(i == 2 ? "354 Go ahead\r\n" : "250 Ok\r\n");
      }
      c.read_data();
      c.send(enhanced ? "250 2.6.0 <id@example.test> Queued\r\n" : "250 message processed\r\n");
      if (c.read_line().rfind("QUIT", 0) == 0) c.send("221 Bye\r\n");
    });
    client c(test::loopback_account(peer.port()));
    const auto report = c.send({"sud@example.test", {"zoe@example.test"}}, body);
    c.quit();
    if (enhanced) {
      EXPECT_EQ(report.final_reply.enhanced, "2.6.0");
      EXPECT_EQ(report.final_reply.text(), "<id@example.test> Queued");
    } else {
      EXPECT_EQ(report.final_reply.enhanced, "");
      EXPECT_EQ(report.final_reply.text(), "message processed");
    }
  }
}

// F49: on a machine whose name is not fully qualified ("vm", "localhost"), the EHLO
// argument is the address literal of the connection's local address.
TEST(SmtpEhlo, SaysAnAddressLiteralWhenTheMachineNameIsNotFullyQualified_F49) {
  std::string argument;
  scripted_peer peer([&](peer_connection& c) {
    c.send("220 peer.example.test ESMTP\r\n");
    const auto line = c.read_line();
    argument = line.substr(5, line.size() - 7);
    c.client_closed(1s);
  });
  client c(test::loopback_account(peer.port()));
  try {
    c.send({"sud@example.test", {"zoe@example.test"}}, body);
  } catch (const send_error&) {
  }
  EXPECT_NE(argument, "localhost");
  EXPECT_TRUE(argument == "[127.0.0.1]" || argument.find('.') != std::string::npos) << argument;
}

// F50: the literal of an IPv6 local address has the exact "IPv6:" tag; an IPv4-mapped
// one (an IPv6 socket talking to an IPv4 peer) is written as plain IPv4.
TEST(SmtpEhlo, WritesIpv6AndIpv4MappedLocalAddressesAsRfc5321Literals_F50) {
  for (const auto& [address, literal] : {std::pair<std::string, std::string>{"::1", "[IPv6:::1]"},
                                         {"::ffff:127.0.0.1", "[127.0.0.1]"}}) {
    std::string argument;
    scripted_peer peer(
        [&](peer_connection& c) {
          c.send("220 peer.example.test ESMTP\r\n");
          const auto line = c.read_line();
          argument = line.substr(5, line.size() - 7);
          c.send("250 peer.example.test\r\n");
          for (std::string l; !(l = c.read_line()).empty();) {
            if (l.rfind("QUIT", 0) == 0) {
              c.send("221 Bye\r\n");
              return;
            }
            if (l.rfind("DATA", 0) == 0) {
              c.send("354 Go ahead\r\n");
              c.read_data();
            }
            c.send("250 Ok\r\n");
          }
        },
        1, address);
    auto a = test::loopback_account(peer.port());
    a.host = address;
    client c(a);
    const auto report = c.send({"sud@example.test", {"zoe@example.test"}}, body);
    c.quit();
    EXPECT_TRUE(report.recipients[0].delivered);
    // The machine here has a short name ("vm"); were it fully qualified, that is sent.
    if (argument.find('[') == 0)
      EXPECT_EQ(argument, literal);
    else
      EXPECT_NE(argument.find('.'), std::string::npos) << argument;
  }
}

// --- Replies out of step: neither what was asked for nor a refusal (RFC 5321 4.2.1).

// Greets and answers EHLO with `ehlo`, then MAIL, RCPT and DATA in lock-step with
// `mail`, `rcpt` and `data`; an end of data gets 250. What it sees is in the peer's record.
scripted_peer::script lock_step(std::string ehlo, std::string mail, std::string rcpt,
                                std::string data) {
  return [=](peer_connection& c) {
    c.send("220 peer.example.test ESMTP\r\n");
    for (std::string line; !(line = c.read_line()).empty();) {
      const auto word = line.substr(0, 4);
      if (word == "EHLO") {
        c.send(ehlo);
      } else if (word == "MAIL") {
        c.send(mail);
      } else if (word == "RCPT") {
        c.send(rcpt);
      } else if (word == "DATA") {
        c.send(data);
        if (data.rfind("354", 0) != 0) continue;
        c.read_data();
        c.send("250 2.0.0 Ok: queued\r\n");
      } else if (word == "QUIT") {
        c.send("221 2.0.0 Bye\r\n");
        return;
      } else {
        c.send("250 2.0.0 Ok\r\n");
      }
    }
  };
}

// The user's case: DATA answered with 250. Not a refusal, nothing permanent: a protocol
// error at DATA, the connection closed without RSET, and the next message goes out once,
// on a new connection.
TEST(SmtpOutOfStep, ADataAnsweredWith250IsAProtocolErrorNotARefusal) {
  fake_server server;
  int connection = 0;
  scripted_peer peer(
      [&](peer_connection& c) {
        if (++connection == 2) return server.script()(c);
        lock_step("250 peer.example.test\r\n", "250 2.1.0 Ok\r\n", "250 2.1.5 Ok\r\n",
                  "250 2.0.0 fine, no data needed\r\n")(c);
      },
      2);
  client c(test::loopback_account(peer.port()));
  const auto e = test::expect_send_error(c, {"sud@example.test", {"zoe@example.test"}}, body,
                                         errc::protocol_error, step::data);
  EXPECT_FALSE(e.is_permanent());
  EXPECT_FALSE(e.report().outcome_unknown);
  EXPECT_EQ(e.reply().code, 250);
  EXPECT_EQ(e.report().detail,
            "the server answered DATA with 250 where 354 was expected: it does not follow SMTP");
  EXPECT_NE(std::string(e.what()).find("data failed: 250 2.0.0 fine, no data needed"),
            std::string::npos)
      << e.what();

  const auto report = c.send({"sud@example.test", {"filou@example.test"}}, body);
  c.quit();
  EXPECT_TRUE(report.recipients.at(0).delivered);
  EXPECT_EQ(peer.accepted(), 2);
  ASSERT_EQ(server.stored().size(), 1u);
  EXPECT_EQ(server.stored()[0].recipients, std::vector<std::string>{"filou@example.test"});
  const auto first = peer.received().substr(0, peer.received().find("EHLO", 1));
  EXPECT_EQ(first.find("RSET"), std::string::npos) << first;
  EXPECT_EQ(first.find("Subject"), std::string::npos) << first;
}

// MAIL and RCPT answered with 354, EHLO with 354, HELO with 354 after EHLO was refused:
// each a protocol error at its step, before any message text, and never permanent.
TEST(SmtpOutOfStep, EachCommandAnsweredOutOfStepIsAProtocolErrorAtItsStep) {
  struct out_of_step_case {
    scripted_peer::script script;
    envoi::step where;
    std::string detail;
  };
  const std::string ehlo = "250 peer.example.test\r\n";
  const std::string ok = "250 2.0.0 Ok\r\n";
  const std::string go = "354 Go ahead\r\n";
  const out_of_step_case cases[] = {
      {lock_step(go, ok, ok, go), step::ehlo,
       "the server answered EHLO with 354 where 250 was expected: it does not follow SMTP"},
      {[](peer_connection& c) {
         c.send("220 peer.example.test ESMTP\r\n");
         c.read_line();
         c.send("502 5.5.2 Error: command not recognized\r\n");
         if (c.read_line().rfind("HELO", 0) == 0) c.send("354 Go ahead\r\n");
         c.client_closed();
       },
       step::ehlo,
       "the server answered HELO with 354 where 250 was expected: it does not follow SMTP"},
      {lock_step(ehlo, go, ok, go), step::mail,
       "the server answered MAIL with 354 where 250 was expected: it does not follow SMTP"},
      {lock_step(ehlo, ok, go, go), step::rcpt,
       "the server answered RCPT with 354 where 250 was expected: it does not follow SMTP"},
  };
  for (const auto& [script, where, detail] : cases) {
    SCOPED_TRACE(detail);
    scripted_peer peer(script);
    client c(test::loopback_account(peer.port()));
    const auto e = test::expect_send_error(c, {"sud@example.test", {"zoe@example.test"}}, body,
                                           errc::protocol_error, where);
    EXPECT_FALSE(e.is_permanent());
    EXPECT_FALSE(e.report().outcome_unknown);
    EXPECT_EQ(e.report().detail, detail);
    peer.wait();
    const auto seen = peer.received();
    EXPECT_EQ(seen.find("Subject"), std::string::npos) << seen;
    EXPECT_EQ(seen.find("QUIT"), std::string::npos) << "spoke on after the protocol error";
  }
}

// A final reply out of step (354 to the end of data) says nothing of the message, which
// the server may have taken: the outcome is unknown and the message is not sent again;
// the next one, whose commands went out ahead with that end of data, goes out once on a
// new connection.
TEST(SmtpOutOfStep, AnEndOfDataAnsweredWith354LeavesTheOutcomeUnknown) {
  fake_server server;
  int connection = 0;
  scripted_peer peer(
      [&](peer_connection& c) {
        if (++connection == 2) return server.script()(c);
        take_first_pipelined_message(c);
        c.send("354 Go ahead\r\n");
        c.client_closed(5s);
      },
      2);
  const auto results = send_numbered(peer.port(), 2);
  EXPECT_EQ(results[0].ec, make_error_code(errc::protocol_error));
  EXPECT_EQ(results[0].report.failed_step, step::data);
  EXPECT_FALSE(is_permanent(results[0].ec));
  EXPECT_TRUE(results[0].report.outcome_unknown);
  EXPECT_FALSE(results[0].report.recipients.at(0).delivered);
  EXPECT_NE(results[0].report.detail.find("the server answered the end of data with 354 where "
                                          "250 was expected: it does not follow SMTP; the whole "
                                          "message was sent"),
            std::string::npos)
      << results[0].report.detail;
  EXPECT_FALSE(results[1].ec) << results[1].report.detail;
  EXPECT_EQ(peer.accepted(), 2);
  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].text, numbered_body(1));
}

// One reply too many after EHLO, in the same segment: seen before MAIL goes out, as a
// protocol error of the EHLO exchange.
TEST(SmtpOutOfStep, AnExtraReplyAfterEhloIsAProtocolErrorBeforeMail) {
  scripted_peer peer(lock_step("250-peer.example.test\r\n250 PIPELINING\r\n250 2.0.0 extra\r\n",
                               "250 2.1.0 Ok\r\n", "250 2.1.5 Ok\r\n", "354 Go ahead\r\n"));
  client c(test::loopback_account(peer.port()));
  const auto e = test::expect_send_error(c, {"sud@example.test", {"zoe@example.test"}}, body,
                                         errc::protocol_error, step::ehlo);
  EXPECT_FALSE(e.is_permanent());
  EXPECT_EQ(e.reply().to_string(), "250 2.0.0 extra");
  EXPECT_EQ(e.report().detail,
            "the server sent one reply more than it was asked for: it does not follow SMTP");
  peer.wait();
  EXPECT_EQ(peer.received().find("MAIL"), std::string::npos) << peer.received();
}

// The user's second case: the extra reply comes after the commands went out (PIPELINING),
// so every reply lands on the command before its own; DATA gets RCPT's 250. A protocol
// error at DATA, before a byte of the message, not "refused (5xx)".
TEST(SmtpOutOfStep, ALateExtraReplyShiftingTheRepliesEndsAtDataBeforeTheMessage) {
  scripted_peer peer([](peer_connection& c) {
    c.send("220 peer.example.test ESMTP\r\n");
    c.read_line();
    c.send("250-peer.example.test\r\n250 PIPELINING\r\n");
    for (int i = 0; i < 3; ++i) c.read_line();
    c.send("250 2.0.0 extra\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 Go ahead\r\n");
    c.read_data(2s);
  });
  client c(test::loopback_account(peer.port()));
  const auto e = test::expect_send_error(c, {"sud@example.test", {"zoe@example.test"}}, body,
                                         errc::protocol_error, step::data);
  EXPECT_FALSE(e.is_permanent());
  EXPECT_FALSE(e.report().outcome_unknown);
  EXPECT_EQ(e.reply().to_string(), "250 2.1.5 Ok");
  EXPECT_EQ(e.report().detail,
            "the server answered DATA with 250 where 354 was expected: it does not follow SMTP");
  peer.wait();
  EXPECT_EQ(peer.received().find("Subject"), std::string::npos) << peer.received();
}

// A server that closes a kept connection while it is idle, saying 421 first: the next
// message finds the 421 waiting and goes out on a new connection, once.
TEST(SmtpOutOfStep, A421WaitingOnAKeptConnectionSendsTheNextMessageOnANewOne) {
  fake_server server;
  int connection = 0;
  scripted_peer peer(
      [&](peer_connection& c) {
        if (++connection == 2) return server.script()(c);
        c.send("220 peer.example.test ESMTP\r\n");
        c.read_line();
        c.send("250 peer.example.test\r\n");
        for (int i = 0; i < 3; ++i) {
          c.read_line();
          c.send(i < 2 ? "250 Ok\r\n" : "354 Go ahead\r\n");
        }
        c.read_data();
        c.send("250 2.0.0 Ok: queued\r\n421 4.4.2 peer.example.test Error: timeout exceeded\r\n");
      },
      2);
  client c(test::loopback_account(peer.port()));
  c.send({"sud@example.test", {"zoe@example.test"}}, body);
  const auto report = c.send({"sud@example.test", {"filou@example.test"}}, body);
  c.quit();
  EXPECT_TRUE(report.recipients.at(0).delivered);
  EXPECT_EQ(peer.accepted(), 2);
  ASSERT_EQ(server.stored().size(), 1u);
  EXPECT_EQ(server.stored()[0].recipients, std::vector<std::string>{"filou@example.test"});
}

// A RSET the server does not take may leave the refused transaction open: the next
// message does not join it, but goes out on a new connection.
TEST(SmtpOutOfStep, ARsetNotTakenLeavesTheConnectionUnused) {
  fake_server server;
  int connection = 0;
  scripted_peer peer(
      [&](peer_connection& c) {
        if (++connection == 2) return server.script()(c);
        c.send("220 peer.example.test ESMTP\r\n");
        for (std::string line; !(line = c.read_line()).empty();) {
          const auto word = line.substr(0, 4);
          if (word == "EHLO") c.send("250 peer.example.test\r\n");
          if (word == "MAIL") c.send("250 2.1.0 Ok\r\n");
          if (word == "RCPT") c.send("550 5.1.1 User unknown\r\n");
          if (word == "RSET") c.send("502 5.5.2 Error: command not recognized\r\n");
        }
      },
      2);
  client c(test::loopback_account(peer.port()));
  test::expect_send_error(c, {"sud@example.test", {"nobody@example.test"}}, body,
                          errc::all_recipients_refused, step::rcpt);
  const auto report = c.send({"sud@example.test", {"filou@example.test"}}, body);
  c.quit();
  EXPECT_TRUE(report.recipients.at(0).delivered);
  EXPECT_EQ(peer.accepted(), 2);
  ASSERT_EQ(server.stored().size(), 1u);
  EXPECT_EQ(server.stored()[0].recipients, std::vector<std::string>{"filou@example.test"});
}

}  // namespace
}  // namespace envoi::smtp
