#include <envoi/smtp/client.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "support/scripted_peer.hpp"
#include "support/send_expectations.hpp"

namespace envoi::smtp {
namespace {

using test::peer_connection;
using test::scripted_peer;

constexpr const char* password_variable = "ENVOI_TEST_PEER_PASSWORD";
constexpr const char* password = "Tr3s-S3cret-peer";

account peer_account(std::uint16_t port) {
  ::setenv(password_variable, password, 1);
  account a;
  a.sender = mailbox("Clinique du Sud", "sud@example.test");
  a.host = "127.0.0.1";
  a.port = port;
  a.security = security::starttls;
  a.login = "sud@example.test";
  a.password = secret_ref::from_env(password_variable);
  a.step_timeout = std::chrono::seconds(5);
  return a;
}

envelope one_recipient() {
  return {"sud@example.test", {"zoe@example.test"}};
}

// Answers EHLO with `ehlo_reply`, then answers every later command with `answer` until
// the client leaves.
scripted_peer::script greet_then(std::string ehlo_reply, std::string answer) {
  return [ehlo_reply, answer](peer_connection& c) {
    c.send("220 peer.example.test ESMTP\r\n");
    if (c.read_line().empty()) return;
    c.send(ehlo_reply);
    for (std::string line; !(line = c.read_line()).empty();) {
      if (line.rfind("QUIT", 0) == 0) {
        c.send("221 bye\r\n");
        return;
      }
      c.send(answer);
    }
  };
}

TEST(SmtpClient, SendsNoCredentialsWhenStarttlsIsNotOffered) {
  // F33 (a): the STARTTLS line was removed; nothing sensitive may follow.
  scripted_peer peer(greet_then("250-peer.example.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n",
                                "250 ok\r\n"));
  client c(peer_account(peer.port()));
  const auto e = test::expect_send_error(c, one_recipient(), "Subject: x\r\n\r\nbody\r\n",
                                         errc::starttls_not_offered, step::starttls);
  EXPECT_TRUE(e.is_permanent());
  // What to check: the port.
  EXPECT_NE(std::string(e.what()).find("port " + std::to_string(peer.port()) +
                                       " of 127.0.0.1 offers no encryption to start: check the "
                                       "port (587 for starttls, 465 with security tls)"),
            std::string::npos)
      << e.what();
  const auto seen = peer.received();
  EXPECT_EQ(seen.find("AUTH"), std::string::npos) << seen;
  EXPECT_EQ(seen.find("MAIL"), std::string::npos) << seen;
  EXPECT_EQ(seen.find(password), std::string::npos);
  EXPECT_NE(seen.find("QUIT"), std::string::npos) << seen;
}

TEST(SmtpClient, StopsWhenTheServerRefusesStarttls) {
  // F33 (b): 454 to STARTTLS.
  scripted_peer peer(greet_then("250-peer.example.test\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n",
                                "454 4.7.0 TLS not available due to local problem\r\n"));
  client c(peer_account(peer.port()));
  const auto e = test::expect_send_error(c, one_recipient(), "Subject: x\r\n\r\nbody\r\n",
                                         errc::starttls_refused, step::starttls);
  EXPECT_EQ(e.reply().code, 454);
  const auto seen = peer.received();
  EXPECT_EQ(seen.find("AUTH"), std::string::npos) << seen;
  EXPECT_EQ(seen.find("MAIL"), std::string::npos) << seen;
}

TEST(SmtpClient, AStarttlsAnsweredOutOfStepIsAProtocolErrorNotARefusal) {
  // A 250 is neither the 220 that starts TLS nor a refusal: the server is out of step.
  scripted_peer peer(greet_then("250-peer.example.test\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n",
                                "250 2.0.0 Ok\r\n"));
  client c(peer_account(peer.port()));
  const auto e = test::expect_send_error(c, one_recipient(), "Subject: x\r\n\r\nbody\r\n",
                                         errc::protocol_error, step::starttls);
  EXPECT_FALSE(e.is_permanent());
  EXPECT_EQ(
      e.report().detail,
      "the server answered STARTTLS with 250 where 220 was expected: it does not follow SMTP");
  peer.wait();
  const auto seen = peer.received();
  EXPECT_EQ(seen.find("AUTH"), std::string::npos) << seen;
  EXPECT_EQ(seen.find("MAIL"), std::string::npos) << seen;
  EXPECT_EQ(seen.find("QUIT"), std::string::npos) << seen;
}

TEST(SmtpClient, RefusesDataSentBeforeTheTlsHandshake) {
  // A man in the middle answering STARTTLS and then injecting a reply in the clear.
  scripted_peer peer([](peer_connection& c) {
    c.send("220 peer.example.test ESMTP\r\n");
    c.read_line();
    c.send("250-peer.example.test\r\n250 STARTTLS\r\n");
    c.read_line();
    c.send("220 2.0.0 Ready to start TLS\r\n250 injected\r\n");
    c.client_closed();
  });
  client c(peer_account(peer.port()));
  // The server agreed to STARTTLS, then broke the protocol: no refusal, never permanent.
  const auto e = test::expect_send_error(c, one_recipient(), "Subject: x\r\n\r\nbody\r\n",
                                         errc::protocol_error, step::starttls);
  EXPECT_FALSE(e.is_permanent());
  EXPECT_NE(e.report().detail.find("after its STARTTLS reply, before the TLS handshake"),
            std::string::npos)
      << e.report().detail;
  EXPECT_EQ(peer.received().find("AUTH"), std::string::npos);
}

TEST(SmtpClient, SendsOverPlainTcpOnlyWhenAskedAndReportsEachRecipient) {
  // F33: with security none, an offered STARTTLS is not used.
  std::string data_seen;
  scripted_peer peer([&](peer_connection& c) {
    c.send("220-peer.example.test ESMTP\r\n220 ready\r\n");
    c.read_line();
    c.send("250-peer.example.test\r\n250-STARTTLS\r\n250\r\n");
    c.read_line();  // MAIL
    c.send("250 2.1.0 Ok\r\n");
    c.read_line();  // RCPT ok
    c.send("250 2.1.5 Ok\r\n");
    c.read_line();  // RCPT refused
    c.send("550 5.1.1 <nobody@example.test>: Recipient address rejected\r\n");
    c.read_line();  // DATA
    c.send("354 go ahead\r\n");
    data_seen = c.read_data();
    c.send("250 2.0.0 Ok: queued as 4ABC\r\n");
    if (c.read_line().rfind("QUIT", 0) == 0) c.send("221 2.0.0 Bye\r\n");
  });
  auto a = peer_account(peer.port());
  a.security = security::none;
  a.login.clear();
  client c(a);
  const auto report = c.send({"sud@example.test", {"zoe@example.test", "nobody@example.test"}},
                             ".profile\r\nBonjour\r\n.\r\nfin");
  c.quit();
  ASSERT_EQ(report.recipients.size(), 2u);
  EXPECT_TRUE(report.recipients[0].accepted());
  EXPECT_FALSE(report.recipients[1].accepted());
  EXPECT_EQ(report.recipients[1].reply.code, 550);
  EXPECT_EQ(report.final_reply.to_string(), "250 2.0.0 Ok: queued as 4ABC");
  EXPECT_EQ(data_seen, "..profile\r\nBonjour\r\n..\r\nfin\r\n");
  EXPECT_EQ(peer.received().find("STARTTLS"), std::string::npos);
}

std::string place(const account& a) {
  return a.host + " port " + std::to_string(a.port);
}

// F40 and the circle it led into: a port that takes the connection and says nothing is as
// often another kind of server (a web server waits for the client to speak) as a port
// for implicit TLS. On a port with no known use the error says first to check the host
// and port, and only then that it may want TLS.
TEST(SmtpClient, ReportsASilentServerAsATimeoutOfTheStepItWaitedIn) {
  for (const auto mode : {security::none, security::starttls}) {
    SCOPED_TRACE(to_string(mode));
    scripted_peer peer([](peer_connection& c) { c.client_closed(std::chrono::seconds(3)); });
    auto a = peer_account(peer.port());
    a.security = mode;
    if (mode == security::none) a.login.clear();
    a.step_timeout = std::chrono::milliseconds(300);
    client c(a);
    const auto e =
        test::expect_send_error(c, one_recipient(), "x", errc::timed_out, step::greeting);
    EXPECT_TRUE(e.is_transient());
    EXPECT_EQ(e.report().detail, "no greeting: the server took the connection but said nothing; " +
                                     place(a) +
                                     " may not be a mail server (check the host and port), or "
                                     "it expects TLS from the first byte: then set security to "
                                     "tls");
  }
}

// A port where nothing listens: the error names it and says what to check.
TEST(SmtpClient, SaysNothingTakesConnectionsOnARefusedPort) {
  std::uint16_t port = 0;
  {
    // A port that was free a moment ago, and is closed again.
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor probe(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    port = probe.local_endpoint().port();
  }
  auto a = peer_account(port);
  client c(a);
  const auto e =
      test::expect_send_error(c, one_recipient(), "x", errc::connect_failed, step::connect);
  EXPECT_TRUE(e.is_transient());
  EXPECT_NE(e.report().detail.find("nothing takes connections on " + place(a) +
                                   ": check the port (587 for starttls, 465 for tls) and that "
                                   "the server runs"),
            std::string::npos)
      << e.report().detail;
}

// A greeting that starts and never ends is no silence.
TEST(SmtpClient, SaysAGreetingThatBeganButNeverEndedIsNotSilence) {
  scripted_peer peer([](peer_connection& c) {
    c.send("220-peer.example.test slow\r\n");
    c.client_closed(std::chrono::seconds(3));
  });
  auto a = peer_account(peer.port());
  a.step_timeout = std::chrono::milliseconds(300);
  client c(a);
  const auto e = test::expect_send_error(c, one_recipient(), "x", errc::timed_out, step::greeting);
  EXPECT_EQ(e.report().detail, "the greeting began but did not end in time; " + place(a) +
                                   " may not be a mail server (check the host and port)");
}

// A listener on 127.31.4.65:`port`, for the ports whose number says something; nullopt
// when it cannot listen there (not root, or the port is taken).
std::optional<scripted_peer> peer_on(std::uint16_t port, scripted_peer::script run) {
  try {
    return std::optional<scripted_peer>(std::in_place, std::move(run), 1, "127.31.4.65", port);
  } catch (const std::runtime_error&) {
    return std::nullopt;
  }
}

// On 465, the port of implicit TLS (RFC 8314), silence most likely waits for our
// handshake: after saying to check the host and port, the error says to set tls. On 25
// and 587, which start in plain text, it does not.
TEST(SmtpClient, AdvisesTlsForASilentServerOnlyOnPort465) {
  for (const std::uint16_t port : {465, 587, 25}) {
    SCOPED_TRACE(port);
    auto peer = peer_on(port, [](peer_connection& c) { c.client_closed(std::chrono::seconds(3)); });
    if (!peer) GTEST_SKIP() << "cannot listen on 127.31.4.65 port " << port;
    auto a = peer_account(port);
    a.host = "127.31.4.65";
    a.step_timeout = std::chrono::milliseconds(300);
    client c(a);
    const auto e =
        test::expect_send_error(c, one_recipient(), "x", errc::timed_out, step::greeting);
    std::string expected = "no greeting: the server took the connection but said nothing; " +
                           place(a) + " may not be a mail server (check the host and port)";
    if (port == 465)
      expected +=
          ", or it expects TLS from the first byte, as port 465 usually does: set security to "
          "tls";
    EXPECT_EQ(e.report().detail, expected);
  }
}

// F40: implicit TLS against a server that answers in plain text, at once. On a port with
// no known use it may be another kind of server, said first, or a mail server starting in
// plain text.
TEST(SmtpClient, ExplainsAPlaintextGreetingWhereTlsWasExpected) {
  scripted_peer peer([](peer_connection& c) {
    c.send("220 peer.example.test ESMTP\r\n");
    c.client_closed();
  });
  auto a = peer_account(peer.port());
  a.security = security::tls;
  client c(a);
  const auto started = std::chrono::steady_clock::now();
  const auto e =
      test::expect_send_error(c, one_recipient(), "x", errc::tls_handshake_failed, step::tls);
  EXPECT_NE(e.report().detail.find(": the server did not answer in TLS; " + place(a) +
                                   " may not be a mail server (check the host and port), or it "
                                   "is one that starts in plain text: then set security to "
                                   "starttls"),
            std::string::npos)
      << e.what();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
}

// On 587 and 25, ports that start in plain text, the answer in plain text is most likely
// a mail server's greeting: the error says to set starttls. On 465 it does not.
TEST(SmtpClient, AdvisesStarttlsForAPlaintextAnswerOnlyOnPorts25And587) {
  for (const std::uint16_t port : {587, 25, 465}) {
    SCOPED_TRACE(port);
    auto peer = peer_on(port, [](peer_connection& c) {
      c.send("220 peer.example.test ESMTP\r\n");
      c.client_closed();
    });
    if (!peer) GTEST_SKIP() << "cannot listen on 127.31.4.65 port " << port;
    auto a = peer_account(port);
    a.host = "127.31.4.65";
    a.security = security::tls;
    client c(a);
    const auto e =
        test::expect_send_error(c, one_recipient(), "x", errc::tls_handshake_failed, step::tls);
    std::string expected = ": the server did not answer in TLS; " + place(a) +
                           " may not be a mail server (check the host and port)";
    if (port != 465)
      expected += ", or it starts in plain text, as port " + std::to_string(port) +
                  " does: set security to starttls";
    EXPECT_TRUE(e.report().detail.ends_with(expected)) << e.report().detail;
  }
}

// A plain-text server that advertises `extensions`, accepts everything, and records the
// commands it was sent; QUIT is answered unless `answer_quit` is false.
scripted_peer::script accepting_server(std::string extensions, bool answer_quit = true) {
  return [extensions, answer_quit](peer_connection& c) {
    c.send("220 peer.example.test ESMTP\r\n");
    for (std::string line; !(line = c.read_line()).empty();) {
      if (line.rfind("EHLO", 0) == 0) {
        c.send("250-peer.example.test\r\n" + extensions + "250 ENHANCEDSTATUSCODES\r\n");
      } else if (line.rfind("DATA", 0) == 0) {
        c.send("354 go ahead\r\n");
        c.read_data();
        c.send("250 2.0.0 Ok: queued as 1\r\n");
      } else if (line.rfind("QUIT", 0) == 0) {
        if (answer_quit) c.send("221 2.0.0 Bye\r\n");
        c.client_closed(std::chrono::seconds(20));
        return;
      } else {
        c.send("250 2.0.0 Ok\r\n");
      }
    }
  };
}

account plain_account(std::uint16_t port) {
  auto a = peer_account(port);
  a.security = security::none;
  a.login.clear();
  return a;
}

TEST(SmtpClient, RefusesEnvelopeAddressesThatCouldAddCommands) {
  scripted_peer peer(accepting_server(""));
  client c(plain_account(peer.port()));
  for (const envelope& bad :
       {envelope{"sud@example.test\r\nRSET", {"zoe@example.test"}},
        envelope{"sud@example.test", {"zoe@example.test>\r\nRCPT TO:<spy@example.test"}},
        envelope{"sud@example.test", {"zoe@example.test> NOTIFY=NEVER"}}}) {
    const auto e = test::expect_send_error(c, bad, "x", errc::invalid_envelope, step::mail);
    EXPECT_TRUE(e.is_permanent());
  }
  EXPECT_EQ(peer.accepted(), 0) << "no connection is made for a bad envelope";
}

TEST(SmtpClient, AsksForSmtputf8OnlyForAUtf8LocalPart) {
  scripted_peer peer(accepting_server("250-SMTPUTF8\r\n250-8BITMIME\r\n"));
  client c(plain_account(peer.port()));
  c.send({"sud@example.test", {"zoé@example.test"}}, "Subject: x\r\n\r\nx\r\n");
  c.send({"sud@example.test", {"zoe@xn--exmple-cua.test"}}, "Subject: x\r\n\r\nx\r\n");
  c.quit();
  const auto seen = peer.received();
  EXPECT_NE(seen.find("MAIL FROM:<sud@example.test> SMTPUTF8\r\nRCPT TO:<zoé@example.test>"),
            std::string::npos)
      << seen;
  EXPECT_NE(seen.find("MAIL FROM:<sud@example.test>\r\nRCPT TO:<zoe@xn--exmple-cua.test>"),
            std::string::npos)
      << seen;
}

TEST(SmtpClient, SendsNothingWhenAUtf8AddressMeetsAServerWithoutSmtputf8) {
  scripted_peer peer(accepting_server(""));
  client c(plain_account(peer.port()));
  test::expect_send_error(c, {"sud@example.test", {"zoé@example.test"}}, "x",
                          errc::smtputf8_not_offered, step::mail);
  EXPECT_EQ(peer.received().find("MAIL"), std::string::npos) << peer.received();
}

// F52 (the SIZE part): refused here, before MAIL.
TEST(SmtpClient, SendsNothingLargerThanTheServersSizeLimit) {
  scripted_peer peer(accepting_server("250-SIZE 100\r\n"));
  client c(plain_account(peer.port()));
  const auto e = test::expect_send_error(c, one_recipient(), std::string(101, 'x'),
                                         errc::message_too_large, step::mail);
  EXPECT_TRUE(e.is_permanent());
  EXPECT_EQ(peer.received().find("MAIL"), std::string::npos) << peer.received();
}

TEST(SmtpClient, SendsNothingLargerThanTheAccountsQuotaAllows) {
  // The provider's limit, from the account, where the server announces none.
  scripted_peer peer(accepting_server(""));
  auto a = plain_account(peer.port());
  a.quota.max_message_bytes = 2048;
  client c(a);
  const auto e = test::expect_send_error(c, one_recipient(), std::string(2049, 'x'),
                                         errc::message_too_large, step::mail);
  EXPECT_NE(e.report().detail.find("the account's quota allows at most 2048"), std::string::npos)
      << e.report().detail;
  EXPECT_EQ(peer.received().find("MAIL"), std::string::npos) << peer.received();
}

// F40 (the QUIT part).
TEST(SmtpClient, DoesNotWaitLongForAQuitThatIsNeverAnswered) {
  // F40: QUIT never answered.
  scripted_peer peer(accepting_server("", /*answer_quit=*/false));
  auto a = plain_account(peer.port());
  a.step_timeout = std::chrono::seconds(60);
  client c(a);
  c.send(one_recipient(), "Subject: x\r\n\r\nx\r\n");
  const auto started = std::chrono::steady_clock::now();
  c.quit();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(7));
}

TEST(SmtpClient, ClosesWithoutEndingDataWhenAnAttachmentCannotBeReadMidway) {
  // The file shrinks after the message was rendered, while DATA is under way: the client
  // must not end the data, so that the server delivers nothing truncated.
  const auto path = std::filesystem::temp_directory_path() /
                    ("envoi-shrinking-" + std::to_string(::getpid()) + ".pdf");
  std::ofstream(path, std::ios::binary) << std::string(300 * 1024, 'P');
  bool ended = true;
  {
    scripted_peer peer([&](peer_connection& c) {
      c.send("220 peer.example.test ESMTP\r\n");
      for (std::string line; !(line = c.read_line()).empty();) {
        if (line.rfind("EHLO", 0) == 0) {
          c.send("250-peer.example.test\r\n250 PIPELINING\r\n");
        } else if (line.rfind("DATA", 0) == 0) {
          std::filesystem::resize_file(path, 1000);
          c.send("354 go ahead\r\n");
          for (std::string l; !(l = c.read_line()).empty();)
            if (l == ".\r\n") return;
          ended = false;
          return;
        } else {
          c.send("250 2.0.0 Ok\r\n");
        }
      }
    });
    message m;
    m.from(mailbox("", "sud@example.test")).add_to(mailbox("", "zoe@example.test"));
    m.subject("Compte rendu").text("Bonjour").attach(attachment::from_file(path));
    client c(plain_account(peer.port()));
    test::expect_send_error(c, m.make_envelope(), m, errc::local_failure, step::data);
  }  // the peer's script has ended
  EXPECT_FALSE(ended) << "the end of data was sent for a message that could not be read";
  std::filesystem::remove(path);
}

TEST(SmtpClient, SendsEightBitTextOnlyToAServerOfferingEightBitMime) {
  // RFC 6152: raw 8-bit data only with BODY=8BITMIME, and only where it is offered.
  message m;
  m.from(mailbox("", "sud@example.test")).add_to(mailbox("Zoé", "zoe@example.test"));
  m.subject("Reçu").text("Reçu à l'été, merci.\n");
  for (const bool offered : {false, true}) {
    scripted_peer peer(accepting_server(offered ? "250-8BITMIME\r\n" : ""));
    client c(plain_account(peer.port()));
    c.send(m.make_envelope(), m);
    c.quit();
    const auto seen = peer.received();
    const bool has_8bit = std::any_of(
        seen.begin(), seen.end(), [](char ch) { return static_cast<unsigned char>(ch) >= 0x80; });
    EXPECT_EQ(has_8bit, offered) << seen;
    EXPECT_EQ(seen.find("BODY=8BITMIME") != std::string::npos, offered) << seen;
    EXPECT_EQ(seen.find("Content-Transfer-Encoding: 8bit") != std::string::npos, offered);
  }
}

}  // namespace
}  // namespace envoi::smtp
