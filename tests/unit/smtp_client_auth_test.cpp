// The SMTP client's AUTH step and transcript against scripted peers on loopback.
#include <envoi/smtp/client.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include <openssl/ssl.h>
#include <envoi/oauth2_endpoint.hpp>

#include "mime/encoding.hpp"
#include "support/scripted_peer.hpp"
#include "support/send_expectations.hpp"
#include "support/session_record.hpp"
#include "support/tls_peer.hpp"
#include "support/token_endpoint.hpp"

namespace envoi::smtp {
namespace {

using test::peer_connection;
using test::scripted_peer;

constexpr const char* password_variable = "ENVOI_TEST_AUTH_PEER_PASSWORD";
constexpr const char* user = "sud@example.test";
constexpr const char* password = "Tr3s-S3cret-peer";
// base64 of "\0sud@example.test\0Tr3s-S3cret-peer", "sud@example.test", the password.
constexpr const char* plain_response = "AHN1ZEBleGFtcGxlLnRlc3QAVHIzcy1TM2NyZXQtcGVlcg==";
constexpr const char* user_b64 = "c3VkQGV4YW1wbGUudGVzdA==";
constexpr const char* password_b64 = "VHIzcy1TM2NyZXQtcGVlcg==";
constexpr const char* body = "Subject: x\r\n\r\nMedor est en pleine forme.\r\n";

std::string xoauth2(const std::string& token) {
  return mime::base64(std::string("user=") + user + "\x01" + "auth=Bearer " + token + "\x01\x01");
}

// SMTP AUTH over plain TCP is allowed to loopback only, which is where these peers are.
account auth_account(std::uint16_t port) {
  ::setenv(password_variable, password, 1);
  account a;
  a.sender = mailbox("Clinique du Sud", user);
  a.host = "127.0.0.1";
  a.port = port;
  a.security = security::none;
  a.login = user;
  a.password = secret_ref::from_env(password_variable);
  a.step_timeout = std::chrono::seconds(5);
  return a;
}

envelope one_recipient() {
  return {user, {"zoe@example.test"}};
}

// Greets, answers EHLO with `extensions`, hands each AUTH line to `auth` (which runs the
// exchange and sends the final reply), and accepts any message.
using auth_script = std::function<void(peer_connection&, const std::string& auth_line)>;
scripted_peer::script auth_server(std::string extensions, auth_script auth,
                                  int* delivered = nullptr) {
  return [extensions, auth, delivered](peer_connection& c) {
    c.send("220 peer.example.test ESMTP\r\n");
    for (std::string line; !(line = c.read_line()).empty();) {
      if (line.rfind("EHLO", 0) == 0) {
        c.send("250-peer.example.test\r\n" + extensions + "250 8BITMIME\r\n");
      } else if (line.rfind("AUTH", 0) == 0) {
        auth(c, line);
      } else if (line.rfind("DATA", 0) == 0) {
        c.send("354 go ahead\r\n");
        c.read_data();
        if (delivered) ++*delivered;
        c.send("250 queued\r\n");
      } else if (line.rfind("QUIT", 0) == 0) {
        c.send("221 bye\r\n");
        return;
      } else {
        c.send("250 ok\r\n");
      }
    }
  };
}

// The lines a peer received, without their CRLF.
std::vector<std::string> lines_of(const std::string& bytes) {
  std::vector<std::string> lines;
  for (std::size_t pos = 0; pos < bytes.size();) {
    auto end = bytes.find("\r\n", pos);
    if (end == std::string::npos) end = bytes.size();
    lines.push_back(bytes.substr(pos, end - pos));
    pos = end + 2;
  }
  return lines;
}

// The lines from the first AUTH up to the first MAIL or QUIT.
std::vector<std::string> auth_lines(const std::string& bytes) {
  std::vector<std::string> out;
  bool in = false;
  for (auto& l : lines_of(bytes)) {
    if (l.rfind("AUTH", 0) == 0) in = true;
    if (l.rfind("MAIL", 0) == 0 || l.rfind("QUIT", 0) == 0) in = false;
    if (in) out.push_back(l);
  }
  return out;
}

// A token provider that hands out the given tokens in turn and records each call.
class listed_tokens final : public token_provider {
 public:
  explicit listed_tokens(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {}
  std::string access_token(bool refresh) override {
    std::lock_guard lock(mutex_);
    calls_.push_back(refresh);
    return tokens_.at(std::min(calls_.size() - 1, tokens_.size() - 1));
  }
  std::vector<bool> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> tokens_;
  std::vector<bool> calls_;
};

TEST(SmtpClientAuth, PlainGoesInOneRoundTripToAServerThatWantsTheInitialResponse) {
  // F27, first server: AUTH PLAIN without an argument would be refused.
  int delivered = 0;
  scripted_peer peer(auth_server(
      "250-AUTH PLAIN LOGIN\r\n",
      [](peer_connection& c, const std::string& line) {
        c.send(line == "AUTH PLAIN\r\n" ? "535 5.7.8 no\r\n" : "235 2.7.0 ok\r\n");
      },
      &delivered));
  client c(auth_account(peer.port()));
  c.send(one_recipient(), body);
  c.quit();
  EXPECT_EQ(auth_lines(peer.received()),
            std::vector<std::string>{std::string("AUTH PLAIN ") + plain_response});
  EXPECT_EQ(delivered, 1);
}

TEST(SmtpClientAuth, PlainAnswersAnEmptyChallengeFromAServerThatIgnoresTheInitialResponse) {
  // F27, second server: it asks with "334 " and takes the response on its own line; F23:
  // the challenge may even be a bare "334".
  for (const std::string challenge : {"334 \r\n", "334\r\n"}) {
    int delivered = 0;
    scripted_peer peer(auth_server(
        "250-AUTH PLAIN\r\n",
        [challenge](peer_connection& c, const std::string&) {
          c.send(challenge);
          const auto answer = c.read_line();
          c.send(answer == std::string(plain_response) + "\r\n" ? "235 2.7.0 ok\r\n"
                                                                : "535 5.7.8 no\r\n");
        },
        &delivered));
    client c(auth_account(peer.port()));
    c.send(one_recipient(), body);
    c.quit();
    EXPECT_EQ(auth_lines(peer.received()).size(), 2u) << peer.received();
    EXPECT_EQ(delivered, 1);
  }
}

TEST(SmtpClientAuth, LoginIgnoresTheChallengeTextOfDifferentServers) {
  // F26: servers A and B word their challenges differently, F23's sends none; server C
  // refuses LOGIN with an initial response, which envoi never sends.
  const std::vector<std::pair<std::string, std::string>> challenges = {
      {"334 VXNlcm5hbWU6\r\n", "334 UGFzc3dvcmQ6\r\n"},
      {"334 dXNlcm5hbWU=\r\n", "334 cGFzc3dvcmQ=\r\n"},
      {"334\r\n", "334 \r\n"}};
  for (const auto& [first, second] : challenges) {
    int delivered = 0;
    scripted_peer peer(auth_server(
        "250-AUTH LOGIN\r\n",
        [first, second](peer_connection& c, const std::string& line) {
          if (line != "AUTH LOGIN\r\n") {
            c.send("535 5.7.8 no initial response here\r\n");
            return;
          }
          c.send(first);
          c.read_line();
          c.send(second);
          c.read_line();
          c.send("235 2.7.0 ok\r\n");
        },
        &delivered));
    client c(auth_account(peer.port()));
    c.send(one_recipient(), body);
    c.quit();
    EXPECT_EQ(auth_lines(peer.received()),
              (std::vector<std::string>{"AUTH LOGIN", user_b64, password_b64}));
    EXPECT_EQ(delivered, 1);
  }
}

TEST(SmtpClientAuth, CramMd5AnswersTheChallengeWithTheKeyedDigest) {
  int delivered = 0;
  scripted_peer peer(auth_server(
      "250-AUTH CRAM-MD5\r\n",
      [](peer_connection& c, const std::string&) {
        c.send("334 PDEuMkBwZWVyLmV4YW1wbGUudGVzdD4=\r\n");
        // "sud@example.test " + hex HMAC-MD5, by Python's hmac.
        const auto answer = c.read_line();
        c.send(answer ==
                       "c3VkQGV4YW1wbGUudGVzdCBhMjIwZmZmZTQzMGE2OGIwOWM"
                       "zMjJjZDZkMGU0NWQ2NA==\r\n"
                   ? "235 2.7.0 ok\r\n"
                   : "535 5.7.8 no\r\n");
      },
      &delivered));
  auto a = auth_account(peer.port());
  a.auth = auth_method::cram_md5;
  client c(a);
  c.send(one_recipient(), body);
  c.quit();
  EXPECT_EQ(delivered, 1);
}

TEST(SmtpClientAuth, HonoursTheLegacyAuthEqualsLine) {
  int delivered = 0;
  scripted_peer peer(auth_server(
      "250-AUTH=LOGIN PLAIN\r\n",
      [](peer_connection& c, const std::string&) { c.send("235 2.7.0 ok\r\n"); }, &delivered));
  client c(auth_account(peer.port()));
  c.send(one_recipient(), body);
  c.quit();
  EXPECT_EQ(auth_lines(peer.received()),
            std::vector<std::string>{std::string("AUTH PLAIN ") + plain_response});
  EXPECT_EQ(delivered, 1);
}

TEST(SmtpClientAuth, PicksLoginFromAnExchangeServerOfferingLoginAndXoauth2Only) {
  // F28, server X.
  int delivered = 0;
  scripted_peer peer(auth_server(
      "250-AUTH LOGIN XOAUTH2\r\n",
      [](peer_connection& c, const std::string& line) {
        if (line != "AUTH LOGIN\r\n") {
          c.send("504 5.7.4 Unrecognized authentication type\r\n");
          return;
        }
        c.send("334 VXNlcm5hbWU6\r\n");
        c.read_line();
        c.send("334 UGFzc3dvcmQ6\r\n");
        c.read_line();
        c.send("235 2.7.0 ok\r\n");
      },
      &delivered));
  client c(auth_account(peer.port()));
  c.send(one_recipient(), body);
  c.quit();
  EXPECT_EQ(auth_lines(peer.received()).front(), "AUTH LOGIN");
  EXPECT_EQ(delivered, 1);
}

// Exchange Online's habit (F28): PLAIN is listed, then refused with 504; LOGIN works.
auth_script plain_refused_login_accepted() {
  return [](peer_connection& c, const std::string& line) {
    if (line.rfind("AUTH PLAIN", 0) == 0) {
      c.send("504 5.7.4 Unrecognized authentication type\r\n");
      return;
    }
    c.send("334 VXNlcm5hbWU6\r\n");
    c.read_line();
    c.send("334 UGFzc3dvcmQ6\r\n");
    c.read_line();
    c.send("235 2.7.0 ok\r\n");
  };
}

TEST(SmtpClientAuth, TriesTheNextMechanismWhenTheServerAnswers504ToOneItListed) {
  int delivered = 0;
  scripted_peer peer(
      auth_server("250-AUTH PLAIN LOGIN\r\n", plain_refused_login_accepted(), &delivered));
  client c(auth_account(peer.port()));
  c.send(one_recipient(), body);
  c.quit();
  EXPECT_EQ(auth_lines(peer.received()),
            (std::vector<std::string>{std::string("AUTH PLAIN ") + plain_response, "AUTH LOGIN",
                                      user_b64, password_b64}));
  EXPECT_EQ(delivered, 1);
}

TEST(SmtpClientAuth, AForcedMechanismAnswered504IsNotReplacedByAnother) {
  scripted_peer peer(auth_server("250-AUTH PLAIN LOGIN\r\n", plain_refused_login_accepted()));
  auto a = auth_account(peer.port());
  a.auth = auth_method::plain;
  client c(a);
  const auto e = test::expect_send_error(c, one_recipient(), body, errc::auth_failed, step::auth);
  EXPECT_EQ(e.reply().code, 504);
  EXPECT_EQ(peer.received().find("AUTH LOGIN"), std::string::npos) << peer.received();
}

// A 250 to AUTH, or a 334 after the last round of any mechanism, answers no AUTH: not a
// refused login (permanent) but a protocol error, the connection closed without a word
// more.
TEST(SmtpClientAuth, AnAuthAnsweredOutOfStepIsAProtocolErrorNotARefusedLogin) {
  const std::pair<auth_script, std::string> cases[] = {
      {[](peer_connection& c, const std::string&) { c.send("250 2.0.0 Ok\r\n"); },
       "the server answered AUTH with 250 where 235 was expected: it does not follow SMTP"},
      {[](peer_connection& c, const std::string&) {
         for (int i = 0; i < 10; ++i) {
           c.send("334 \r\n");
           if (c.read_line().empty()) return;
         }
       },
       "the server answered AUTH with 334 where 235 was expected: it does not follow SMTP"}};
  for (const auto& [script, detail] : cases) {
    SCOPED_TRACE(detail);
    int delivered = 0;
    scripted_peer peer(auth_server("250-AUTH PLAIN\r\n", script, &delivered));
    client c(auth_account(peer.port()));
    const auto e =
        test::expect_send_error(c, one_recipient(), body, errc::protocol_error, step::auth);
    EXPECT_FALSE(e.is_permanent());
    EXPECT_EQ(e.report().detail, detail);
    peer.wait();
    EXPECT_EQ(peer.received().find("MAIL"), std::string::npos) << peer.received();
    EXPECT_EQ(peer.received().find("QUIT"), std::string::npos) << peer.received();
    EXPECT_EQ(delivered, 0);
  }
}

TEST(SmtpClientAuth, AForcedMechanismTheServerDoesNotOfferIsAnErrorNamingBoth) {
  // F28: the account forces PLAIN; the server offers LOGIN and XOAUTH2, or no AUTH.
  for (const std::string offered : {"250-AUTH LOGIN XOAUTH2\r\n", ""}) {
    scripted_peer peer(auth_server(
        offered, [](peer_connection& c, const std::string&) { c.send("235 2.7.0 ok\r\n"); }));
    auto a = auth_account(peer.port());
    a.auth = auth_method::plain;
    client c(a);
    const auto e =
        test::expect_send_error(c, one_recipient(), body, errc::auth_not_offered, step::auth);
    const auto& detail = e.report().detail;
    EXPECT_NE(detail.find("PLAIN"), std::string::npos) << detail;
    EXPECT_NE(detail.find(offered.empty() ? "offers no AUTH" : "offers LOGIN XOAUTH2"),
              std::string::npos)
        << detail;
    EXPECT_EQ(peer.received().find("AUTH"), std::string::npos) << peer.received();
    EXPECT_EQ(peer.received().find("MAIL"), std::string::npos) << peer.received();
  }
}

TEST(SmtpClientAuth, ServerWithoutAuthGetsNoAuthLineAndAnExplicitError) {
  // F28, server Y, with automatic choice.
  scripted_peer peer(
      auth_server("", [](peer_connection& c, const std::string&) { c.send("235 2.7.0 ok\r\n"); }));
  client c(auth_account(peer.port()));
  const auto e =
      test::expect_send_error(c, one_recipient(), body, errc::auth_not_offered, step::auth);
  EXPECT_NE(e.report().detail.find("the server offers no AUTH on this port: if the server takes "
                                   "mail from this machine without one (a relay), leave the "
                                   "login out of the account; otherwise use its port for logins"),
            std::string::npos)
      << e.report().detail;
  EXPECT_EQ(peer.received().find("AUTH"), std::string::npos) << peer.received();
}

TEST(SmtpClientAuth, EmptyPasswordIsALocalErrorBeforeAnyAuthByte) {
  // F28: an unset value is never encoded and sent.
  scripted_peer peer(
      auth_server("250-AUTH PLAIN LOGIN\r\n",
                  [](peer_connection& c, const std::string&) { c.send("235 2.7.0 ok\r\n"); }));
  auto a = auth_account(peer.port());
  ::setenv("ENVOI_TEST_EMPTY_PASSWORD", "", 1);
  a.password = secret_ref::from_env("ENVOI_TEST_EMPTY_PASSWORD");
  client c(a);
  const auto e =
      test::expect_send_error(c, one_recipient(), body, errc::secret_unavailable, step::auth);
  EXPECT_EQ(peer.received().find("AUTH"), std::string::npos) << peer.received();
  // The variable is named once, the reason given once.
  const std::string what = e.what();
  EXPECT_NE(what.find("environment variable ENVOI_TEST_EMPTY_PASSWORD is empty"), std::string::npos)
      << what;
  const std::string reason = make_error_code(errc::secret_unavailable).message();
  EXPECT_EQ(what.find(reason), what.rfind(reason)) << what;
}

// An XOAUTH2 server that accepts only `good_token`, refusing others as Gmail does: a 334
// with a base64 JSON error, then 535 after the client's empty line (F30).
auth_script xoauth2_server(std::string good_token, std::vector<std::string>* answers) {
  return [good_token, answers](peer_connection& c, const std::string& line) {
    if (line == "AUTH XOAUTH2 " + xoauth2(good_token) + "\r\n") {
      c.send("235 2.7.0 Accepted\r\n");
      return;
    }
    c.send(
        "334 " +
        mime::base64(R"({"status":"401","schemes":"bearer","scope":"https://mail.google.com/"})") +
        "\r\n");
    answers->push_back(c.read_line());
    c.send("535-5.7.8 Username and Password not accepted.\r\n535 5.7.8 Learn more\r\n");
  };
}

TEST(SmtpClientAuth, Xoauth2RefreshesAnExpiredTokenAndTriesOnceMore) {
  // F30 (b): the expired token is refused, the provider gives a fresh one, AUTH again.
  std::vector<std::string> answers;
  int delivered = 0;
  scripted_peer peer(auth_server("250-AUTH LOGIN XOAUTH2\r\n",
                                 xoauth2_server("fresh-token-42", &answers), &delivered));
  auto tokens = std::make_shared<listed_tokens>(
      std::vector<std::string>{"expired-token-41", "fresh-token-42"});
  auto a = auth_account(peer.port());
  a.password = {};
  a.token_provider = tokens;
  client c(a);
  test::session_record t;
  t.install(c);
  const auto report = c.send(one_recipient(), body);
  c.quit();
  EXPECT_EQ(tokens->calls(), (std::vector<bool>{false, true}));
  EXPECT_EQ(answers, std::vector<std::string>{"\r\n"});  // exactly an empty line
  EXPECT_EQ(delivered, 1);
  EXPECT_EQ(auth_lines(peer.received()).size(), 3u) << peer.received();
  std::string text = t.text() + report.final_reply.to_string() + report.detail;
  for (const auto& r : report.recipients) text += r.reply.to_string();
  for (const std::string secret : {std::string("expired-token-41"), std::string("fresh-token-42"),
                                   xoauth2("expired-token-41"), xoauth2("fresh-token-42")})
    EXPECT_EQ(text.find(secret), std::string::npos) << secret << " in\n" << text;
  EXPECT_TRUE(t.has(transcript_direction::sent, "AUTH XOAUTH2 <redacted>")) << text;
  EXPECT_EQ(t.event("smtp.token_refused"), "warning smtp.token_refused mechanism=XOAUTH2") << text;
  EXPECT_EQ(t.event("smtp.authenticated"),
            "info smtp.authenticated mechanism=XOAUTH2 login=sud@example.test")
      << text;
  EXPECT_NE(t.event("smtp.line").find("debug smtp.line direction=received text="),
            std::string::npos)
      << text;
}

TEST(SmtpClientAuth, Xoauth2WithTokensFromAnHttpsTokenEndpoint) {
  // The whole flow with real parts: the provider gets access-1 from the local token
  // endpoint, the server refuses it (334 then 535), the provider refreshes (access-2),
  // AUTH is tried once more and the message goes.
  test::token_endpoint endpoint;
  ::setenv("ENVOI_TEST_OAUTH_REFRESH", "refresh-secret-5150", 1);
  oauth2_settings settings;
  settings.token_url = endpoint.url();
  settings.client_id = "envoi-app";
  settings.refresh_token = secret_ref::from_env("ENVOI_TEST_OAUTH_REFRESH");
  settings.ca_file = endpoint.ca_file();
  auto provider = std::make_shared<oauth2_endpoint_provider>(settings);

  std::vector<std::string> answers;
  int delivered = 0;
  scripted_peer peer(
      auth_server("250-AUTH XOAUTH2\r\n", xoauth2_server("access-2", &answers), &delivered));
  auto a = auth_account(peer.port());
  a.password = {};
  a.token_provider = provider;
  client c(a);
  test::session_record t;
  t.install(c);
  const auto report = c.send(one_recipient(), body);
  c.quit();
  EXPECT_EQ(delivered, 1);
  EXPECT_EQ(answers, std::vector<std::string>{"\r\n"});
  EXPECT_EQ(provider->requests(), 2);
  EXPECT_EQ(endpoint.requests().size(), 2u);
  const std::string text = t.text() + report.detail;
  for (const std::string secret : {std::string("access-1"), std::string("access-2"),
                                   std::string("refresh-secret-5150"), xoauth2("access-2")})
    EXPECT_EQ(text.find(secret), std::string::npos) << secret << " in\n" << text;
}

TEST(SmtpClientAuth, Xoauth2RefusedTwiceIsAnAuthFailureCarryingTheServersError) {
  std::vector<std::string> answers;
  scripted_peer peer(auth_server("250-AUTH XOAUTH2\r\n", xoauth2_server("never", &answers)));
  auto tokens = std::make_shared<listed_tokens>(
      std::vector<std::string>{"expired-token-41", "also-bad-token-43"});
  auto a = auth_account(peer.port());
  a.token_provider = tokens;
  client c(a);
  const auto started = std::chrono::steady_clock::now();
  const auto e = test::expect_send_error(c, one_recipient(), body, errc::auth_failed, step::auth);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
  EXPECT_EQ(tokens->calls(), (std::vector<bool>{false, true}));
  EXPECT_EQ(answers.size(), 2u);
  EXPECT_EQ(e.reply().code, 535);
  EXPECT_NE(e.report().detail.find(R"("status":"401")"), std::string::npos) << e.report().detail;
  const std::string what = e.what();
  for (const std::string secret : {std::string("expired-token-41"),
                                   std::string("also-bad-token-43"), xoauth2("expired-token-41")})
    EXPECT_EQ(what.find(secret), std::string::npos) << what;
  EXPECT_EQ(peer.received().find("MAIL"), std::string::npos) << peer.received();
}

TEST(SmtpClientAuth, Xoauth2SendsAValidTokenOnTheAuthLineToAServerThatNeedsIt) {
  // F30 (a) and (c): a server that refuses AUTH XOAUTH2 without an initial response; the
  // first token is good, so the provider is asked once and nothing is refreshed.
  std::vector<std::string> answers;
  int delivered = 0;
  auto refuse_bare = xoauth2_server("good-token-1", &answers);
  scripted_peer peer(auth_server(
      "250-AUTH XOAUTH2\r\n",
      [refuse_bare](peer_connection& c, const std::string& line) {
        if (line == "AUTH XOAUTH2\r\n")
          c.send("504 5.7.4 Unrecognized authentication type\r\n");
        else
          refuse_bare(c, line);
      },
      &delivered));
  auto tokens = std::make_shared<listed_tokens>(std::vector<std::string>{"good-token-1"});
  auto a = auth_account(peer.port());
  a.token_provider = tokens;
  client c(a);
  c.send(one_recipient(), body);
  c.quit();
  EXPECT_EQ(tokens->calls(), std::vector<bool>{false});
  EXPECT_TRUE(answers.empty());
  EXPECT_EQ(auth_lines(peer.received()),
            std::vector<std::string>{"AUTH XOAUTH2 " + xoauth2("good-token-1")});
  EXPECT_EQ(delivered, 1);
}

TEST(SmtpClientAuth, OauthBearerIsPreferredWhenOfferedWithAToken) {
  int delivered = 0;
  std::string seen;
  scripted_peer peer(auth_server(
      "250-AUTH PLAIN XOAUTH2 OAUTHBEARER\r\n",
      [&seen](peer_connection& c, const std::string& line) {
        seen = line;
        c.send("235 2.7.0 ok\r\n");
      },
      &delivered));
  auto a = auth_account(peer.port());
  a.token_provider = std::make_shared<listed_tokens>(std::vector<std::string>{"tok-7"});
  client c(a);
  c.send(one_recipient(), body);
  c.quit();
  const auto expected = mime::base64(std::string("n,a=") + user +
                                     ",\x01host=127.0.0.1\x01port=" + std::to_string(peer.port()) +
                                     "\x01" + "auth=Bearer tok-7\x01\x01");
  EXPECT_EQ(seen, "AUTH OAUTHBEARER " + expected + "\r\n");
  EXPECT_EQ(delivered, 1);
}

TEST(SmtpClientAuth, ATokenProviderThatThrowsFailsTheAuthStepBeforeAnyAuthByte) {
  struct broken final : token_provider {
    std::string access_token(bool) override { throw std::runtime_error("token endpoint down"); }
  };
  scripted_peer peer(
      auth_server("250-AUTH XOAUTH2\r\n",
                  [](peer_connection& c, const std::string&) { c.send("235 ok\r\n"); }));
  auto a = auth_account(peer.port());
  a.token_provider = std::make_shared<broken>();
  client c(a);
  const auto e =
      test::expect_send_error(c, one_recipient(), body, errc::secret_unavailable, step::auth);
  EXPECT_NE(e.report().detail.find("token endpoint down"), std::string::npos);
  EXPECT_EQ(peer.received().find("AUTH"), std::string::npos);
}

TEST(SmtpClientAuth, StopsBeforeAnyCredentialWhenTheTlsHandshakeFails) {
  // F33 (c): STARTTLS is accepted, then what comes back is not TLS.
  scripted_peer peer([](peer_connection& c) {
    c.send("220 peer.example.test ESMTP\r\n");
    c.read_line();
    c.send("250-peer.example.test\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n");
    c.read_line();
    c.send("220 2.0.0 Ready to start TLS\r\n");
    c.read_line(std::chrono::milliseconds(300));  // the ClientHello, binary
    c.send("this is not a TLS record\r\n");
    c.client_closed();
  });
  auto a = auth_account(peer.port());
  a.security = security::starttls;
  client c(a);
  test::expect_send_error(c, one_recipient(), body, errc::tls_handshake_failed, step::tls);
  const auto seen = peer.received();
  EXPECT_EQ(seen.find("AUTH"), std::string::npos) << seen;
  EXPECT_EQ(seen.find("MAIL"), std::string::npos) << seen;
  EXPECT_EQ(seen.find(password_b64), std::string::npos) << seen;
}

// What a send to a peer whose TLS goes no higher than 1.1 left behind.
struct tls11_session {
  // A plain OpenSSL client allowing TLS 1.1, on the peer's first connection.
  test::tls_outcome control;
  // The peer's side of each handshake: the control's, then the client's.
  std::vector<test::tls_outcome> peer_side;
  send_error error{{}, {}};
  // Every byte the peer read outside TLS.
  std::string received;
};

// Sends with `s` to a peer whose first connection takes a TLS 1.1 handshake from a plain
// OpenSSL client (implicit TLS), and whose second, the client's, offers STARTTLS when `s`
// asks for it and then a handshake with the same certificate and protocol versions.
tls11_session send_to_a_tls11_peer(security s) {
  const test::loopback_certificate certificate;
  tls11_session out;
  std::mutex mutex;
  int connection = 0;
  scripted_peer peer(
      [&](peer_connection& c) {
        if (connection++ == 1 && s == security::starttls) {
          c.send("220 peer.example.test ESMTP\r\n");
          c.read_line();
          c.send("250-peer.example.test\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n");
          c.read_line();
          c.send("220 2.0.0 Ready to start TLS\r\n");
        }
        auto outcome = test::tls_accept(c, certificate, TLS1_1_VERSION);
        {
          std::lock_guard lock(mutex);
          out.peer_side.push_back(std::move(outcome));
        }
        c.client_closed();
      },
      2);
  out.control = test::tls_connect(peer.port(), TLS1_1_VERSION);
  {
    auto a = auth_account(peer.port());
    a.security = s;
    a.ca_file = certificate.ca_file();
    client c(a);
    out.error =
        test::expect_send_error(c, one_recipient(), body, errc::tls_handshake_failed, step::tls);
  }
  peer.wait();
  out.received = peer.received();
  return out;
}

// Checks that the peer did speak TLS 1.1, and that it refused the client's handshake
// because the client offered no version it takes: with OpenSSL's default security level a
// client that offered TLS 1.1 would fail too, but later and for another reason.
void expect_refused_for_the_version(const tls11_session& run) {
  EXPECT_TRUE(run.control.established) << run.control.error;
  EXPECT_EQ(run.control.version, "TLSv1.1");
  ASSERT_EQ(run.peer_side.size(), 2u);
  EXPECT_TRUE(run.peer_side[0].established) << run.peer_side[0].error;
  EXPECT_FALSE(run.peer_side[1].established) << run.peer_side[1].version;
  EXPECT_NE(run.peer_side[1].error.find("unsupported protocol"), std::string::npos)
      << run.peer_side[1].error;
  EXPECT_EQ(run.error.report().failed_step, step::tls);
  for (const std::string secret : {"AUTH", "MAIL", plain_response, password_b64, password})
    EXPECT_EQ(run.received.find(secret), std::string::npos) << secret << " in " << run.received;
}

TEST(SmtpClientTls, RefusesAnImplicitTlsServerThatGoesNoHigherThanTls11) {
  // The client asks for TLS 1.2 at least: a server offering TLS 1.1 at most (with the old
  // ciphers that needs) fails the handshake, and not a byte follows in the clear.
  const auto run = send_to_a_tls11_peer(security::tls);
  expect_refused_for_the_version(run);
  EXPECT_EQ(run.received, "");
}

TEST(SmtpClientTls, RefusesAStarttlsServerThatGoesNoHigherThanTls11) {
  // The same after STARTTLS: the handshake fails and no AUTH or credential follows.
  const auto run = send_to_a_tls11_peer(security::starttls);
  expect_refused_for_the_version(run);
  EXPECT_EQ(lines_of(run.received), (std::vector<std::string>{"EHLO [127.0.0.1]", "STARTTLS"}))
      << run.received;
}

TEST(SmtpClientTranscript, ShowsBothDirectionsWithAuthDataAndTheMessageRedacted) {
  // Each mechanism, and a refused one: neither the secret nor any base64 form of it may
  // reach the transcript, the report or the exception.
  const std::vector<std::string> secrets = {password, plain_response, password_b64,
                                            "Medor est en pleine forme"};
  struct run {
    std::string offered;
    auth_script script;
    bool accepted;
    // What the transcript shows for the AUTH command and how many lines it redacts.
    std::string shown_auth;
    int redacted_lines;
  };
  const std::vector<run> runs = {
      {"250-AUTH PLAIN\r\n",
       [](peer_connection& c, const std::string&) { c.send("235 2.7.0 ok\r\n"); }, true,
       "AUTH PLAIN <redacted>", 0},
      {"250-AUTH LOGIN\r\n",
       [](peer_connection& c, const std::string&) {
         c.send("334 VXNlcm5hbWU6\r\n");
         c.read_line();
         c.send("334 UGFzc3dvcmQ6\r\n");
         c.read_line();
         c.send("235 2.7.0 ok\r\n");
       },
       true, "AUTH LOGIN", 2},
      {"250-AUTH CRAM-MD5\r\n",
       [](peer_connection& c, const std::string&) {
         c.send("334 PDEuMkBwZWVyLmV4YW1wbGUudGVzdD4=\r\n");
         c.read_line();
         c.send("235 2.7.0 ok\r\n");
       },
       true, "AUTH CRAM-MD5", 1},
      {"250-AUTH PLAIN\r\n",
       [](peer_connection& c, const std::string&) {
         c.send("535 5.7.8 Error: authentication failed\r\n");
       },
       false, "AUTH PLAIN <redacted>", 0},
  };
  for (const auto& r : runs) {
    scripted_peer peer(auth_server(r.offered, r.script));
    client c(auth_account(peer.port()));
    test::session_record t;
    t.install(c);
    std::string everything;
    try {
      const auto report = c.send(one_recipient(), body);
      c.quit();
      EXPECT_TRUE(r.accepted);
      everything = report.final_reply.to_string() + report.detail;
      EXPECT_TRUE(t.has(transcript_direction::sent,
                        "<message: " + std::to_string(std::strlen(body)) + " octets>"))
          << t.text();
      EXPECT_TRUE(t.has(transcript_direction::received, "250 queued")) << t.text();
    } catch (const send_error& e) {
      EXPECT_FALSE(r.accepted) << e.what();
      everything = std::string(e.what()) + e.report().detail + e.reply().to_string();
    }
    EXPECT_TRUE(t.has(transcript_direction::received, "220 peer.example.test ESMTP")) << t.text();
    EXPECT_TRUE(t.has(transcript_direction::sent, r.shown_auth)) << t.text();
    EXPECT_EQ(std::count(t.lines.begin(), t.lines.end(),
                         std::pair{transcript_direction::sent, std::string("<redacted>")}),
              r.redacted_lines)
        << t.text();
    EXPECT_TRUE(t.has(transcript_direction::sent, "MAIL FROM:<sud@example.test>") == r.accepted)
        << t.text();
    // The debug log shows the same redacted lines, and the outcome.
    EXPECT_NE(t.text().find("log: debug smtp.line direction=sent text=\"" + r.shown_auth + "\""),
              std::string::npos)
        << t.text();
    EXPECT_FALSE(t.event(r.accepted ? "smtp.sent" : "smtp.failed").empty()) << t.text();
    const auto text = t.text() + everything;
    for (const auto& secret : secrets)
      EXPECT_EQ(text.find(secret), std::string::npos) << secret << " in\n" << text;
    // The LOGIN user name's base64 is on a client line too, so it is redacted as well.
    EXPECT_EQ(text.find(user_b64), std::string::npos) << text;
  }
}

}  // namespace
}  // namespace envoi::smtp
