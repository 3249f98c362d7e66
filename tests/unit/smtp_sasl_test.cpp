#include "smtp/sasl.hpp"

#include "mime/encoding.hpp"

#include <gtest/gtest.h>

namespace envoi::smtp::detail::sasl {
namespace {

credentials user_and_password(std::string user, std::string password) {
  return {std::move(user), std::move(password), {}, "mail.example.test", 587};
}

TEST(Sasl, Base64RoundTripsEveryLengthAndRefusesWhatIsNotBase64) {
  std::string bytes;
  for (int i = 0; i < 10; ++i) {
    const auto decoded = mime::decode_base64(mime::base64(bytes));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(*decoded, bytes);
    bytes += static_cast<char>(0xf0 - i);
  }
  EXPECT_EQ(mime::base64(std::string_view("\0u\0p", 4)), "AHUAcA==");
  EXPECT_FALSE(mime::decode_base64("abc"));
  EXPECT_FALSE(mime::decode_base64("ab!d"));
  EXPECT_EQ(mime::decode_base64(""), std::string());
}

TEST(Sasl, AutomaticChoicePrefersPlainThenLoginThenCramMd5ForAPassword) {
  const means password{true, false};
  EXPECT_EQ(choose(auth_method::automatic, {"CRAM-MD5", "LOGIN", "PLAIN"}, password),
            mechanism::plain);
  EXPECT_EQ(choose(auth_method::automatic, {"CRAM-MD5", "LOGIN"}, password), mechanism::login);
  EXPECT_EQ(choose(auth_method::automatic, {"CRAM-MD5", "XOAUTH2"}, password), mechanism::cram_md5);
  // A token mechanism is no use without a token provider.
  EXPECT_EQ(choose(auth_method::automatic, {"XOAUTH2"}, password), std::nullopt);
  EXPECT_EQ(choose(auth_method::automatic, {}, password), std::nullopt);
}

TEST(Sasl, AutomaticChoicePrefersOauthBearerThenXoauth2ForAToken) {
  const means token{false, true};
  EXPECT_EQ(choose(auth_method::automatic, {"OAUTHBEARER", "PLAIN", "XOAUTH2"}, token),
            mechanism::oauthbearer);
  EXPECT_EQ(choose(auth_method::automatic, {"LOGIN", "XOAUTH2"}, token), mechanism::xoauth2);
  EXPECT_EQ(choose(auth_method::automatic, {"LOGIN", "PLAIN"}, token), std::nullopt);
  // With both, a server without OAuth still gets the password.
  EXPECT_EQ(choose(auth_method::automatic, {"LOGIN", "PLAIN"}, {true, true}), mechanism::plain);
}

TEST(Sasl, ListsEveryFitCandidateBestFirstOrOnlyTheForcedOne) {
  const std::set<std::string> all = {"CRAM-MD5", "LOGIN", "OAUTHBEARER", "PLAIN", "XOAUTH2"};
  EXPECT_EQ(candidates(auth_method::automatic, all, {true, true}),
            (std::vector<mechanism>{mechanism::oauthbearer, mechanism::xoauth2, mechanism::plain,
                                    mechanism::login, mechanism::cram_md5}));
  EXPECT_EQ(candidates(auth_method::automatic, all, {true, false}),
            (std::vector<mechanism>{mechanism::plain, mechanism::login, mechanism::cram_md5}));
  EXPECT_EQ(candidates(auth_method::login, all, {true, true}),
            std::vector<mechanism>{mechanism::login});
}

TEST(Sasl, ForcedMechanismIsUsedOnlyWhenOffered) {
  // F28: Exchange Online advertises LOGIN and XOAUTH2 only.
  const std::set<std::string> exchange = {"LOGIN", "XOAUTH2"};
  EXPECT_EQ(choose(auth_method::plain, exchange, {true, false}), std::nullopt);
  EXPECT_EQ(choose(auth_method::login, exchange, {true, false}), mechanism::login);
  EXPECT_EQ(choose(auth_method::xoauth2, exchange, {false, true}), mechanism::xoauth2);
  EXPECT_EQ(choose(auth_method::cram_md5, {}, {true, false}), std::nullopt);
}

TEST(Sasl, PlainSendsItsInitialResponseOnTheAuthLineWithUtf8Credentials) {
  exchange ex(mechanism::plain, user_and_password("zoé@example.test", "pässwörd"));
  EXPECT_EQ(ex.command(), "AUTH PLAIN AHpvw6lAZXhhbXBsZS50ZXN0AHDDpHNzd8O2cmQ=");
  EXPECT_EQ(ex.shown_command("<redacted>"), "AUTH PLAIN <redacted>");
  // F27: a server that ignores the initial response asks again with an empty challenge.
  EXPECT_EQ(ex.respond(""), "AHpvw6lAZXhhbXBsZS50ZXN0AHDDpHNzd8O2cmQ=");
  EXPECT_EQ(ex.respond(""), "*");
}

TEST(Sasl, PlainWaitsForTheChallengeWhenTheLineWouldPassFiveHundredTwelveOctets) {
  exchange ex(mechanism::plain, user_and_password("u", std::string(400, 'p')));
  EXPECT_EQ(ex.command(), "AUTH PLAIN");
  EXPECT_EQ(ex.shown_command("<redacted>"), "AUTH PLAIN");
  const auto answer = mime::decode_base64(ex.respond(""));
  ASSERT_TRUE(answer);
  EXPECT_EQ(*answer, std::string("\0u\0", 3) + std::string(400, 'p'));
}

TEST(Sasl, LoginIgnoresTheChallengeTextAndSendsUserThenPassword) {
  // F26 and F23: "Username:", other wording, lower case, or nothing at all.
  for (const std::string_view first : {"VXNlcm5hbWU6", "dXNlcm5hbWU=", "VXNlciBOYW1lAA==", ""}) {
    exchange ex(mechanism::login, user_and_password("zoé@example.test", "pässwörd"));
    EXPECT_EQ(ex.command(), "AUTH LOGIN");
    EXPECT_EQ(ex.respond(first), mime::base64("zoé@example.test"));
    EXPECT_EQ(ex.respond("UGFzc3dvcmQ6"), mime::base64("pässwörd"));
    EXPECT_EQ(ex.respond(""), "*");
  }
}

TEST(Sasl, CramMd5AnswersTheRfc2195Example) {
  EXPECT_EQ(
      cram_md5_response("tim", "tanstaaftanstaaf", "<1896.697170952@postoffice.reston.mci.net>"),
      "tim b913a602c7eda7a495b4e6e7334d3890");
  exchange ex(mechanism::cram_md5, user_and_password("tim", "tanstaaftanstaaf"));
  EXPECT_EQ(ex.command(), "AUTH CRAM-MD5");
  const auto answer =
      mime::decode_base64(ex.respond("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"));
  ASSERT_TRUE(answer);
  EXPECT_EQ(*answer, "tim b913a602c7eda7a495b4e6e7334d3890");
}

TEST(Sasl, CramMd5CancelsAChallengeThatIsNotBase64OrEmpty) {
  exchange ex(mechanism::cram_md5, user_and_password("tim", "x"));
  EXPECT_EQ(ex.respond(""), "*");
  exchange ex2(mechanism::cram_md5, user_and_password("tim", "x"));
  EXPECT_EQ(ex2.respond("not base64!"), "*");
}

TEST(Sasl, Xoauth2PutsTheTokenOnTheAuthLineAndAnswersAnErrorWithAnEmptyLine) {
  credentials c{"someuser@example.com", {}, "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg", {}, 0};
  exchange ex(mechanism::xoauth2, c);
  EXPECT_EQ(ex.command(),
            "AUTH XOAUTH2 "
            "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNr"
            "QmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==");
  EXPECT_EQ(ex.shown_command("<redacted>"), "AUTH XOAUTH2 <redacted>");
  // F30: the refusal comes as a 334 whose text is base64 JSON; the answer is empty.
  const std::string json =
      R"({"status":"401","schemes":"bearer","scope":"https://mail.google.com/"})";
  EXPECT_EQ(ex.respond(mime::base64(json)), "");
  EXPECT_EQ(ex.server_error(), json);
}

TEST(Sasl, OauthBearerFollowsRfc7628AndAnswersAnErrorWithControlA) {
  credentials c{"user@example.com",
                {},
                "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
                "server.example.com",
                587};
  exchange ex(mechanism::oauthbearer, c);
  EXPECT_EQ(ex.command(),
            "AUTH OAUTHBEARER "
            "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9NTg3AWF1dGg9QmVh"
            "cmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB");
  const std::string json = R"({"status":"invalid_token"})";
  EXPECT_EQ(ex.respond(mime::base64(json)), "AQ==");
  EXPECT_EQ(ex.server_error(), json);
}

TEST(Sasl, OauthBearerEscapesCommaAndEqualsInTheUserName) {
  credentials c{"a,b=c", {}, "t", "h", 25};
  exchange ex(mechanism::oauthbearer, c);
  const auto decoded =
      mime::decode_base64(ex.command().substr(std::string("AUTH OAUTHBEARER ").size()));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->rfind("n,a=a=2Cb=3Dc,\x01", 0), 0u) << *decoded;
}

}  // namespace
}  // namespace envoi::smtp::detail::sasl
