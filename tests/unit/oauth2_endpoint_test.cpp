#include <envoi/oauth2_endpoint.hpp>

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include <envoi/error.hpp>

#include "support/token_endpoint.hpp"

namespace {

using envoi::errc;
using envoi::oauth2_endpoint_provider;
using envoi::oauth2_grant;
using envoi::oauth2_settings;
using envoi::secret_ref;

constexpr const char* refresh_variable = "ENVOI_TEST_REFRESH_TOKEN";
constexpr const char* secret_variable = "ENVOI_TEST_CLIENT_SECRET";

class OAuth2Endpoint : public ::testing::Test {
 protected:
  oauth2_settings settings(const std::string& refresh_token) const {
    ::setenv(refresh_variable, refresh_token.c_str(), 1);
    ::setenv(secret_variable, "s3cr3t-client-xyz", 1);
    oauth2_settings s;
    s.token_url = endpoint_.url("/tenant/oauth2/v2.0/token");
    s.client_id = "envoi-app";
    s.client_secret = secret_ref::from_env(secret_variable);
    s.refresh_token = secret_ref::from_env(refresh_variable);
    s.scope = "https://outlook.office365.com/SMTP.Send offline_access";
    s.ca_file = endpoint_.ca_file();
    s.timeout = std::chrono::seconds(3);
    return s;
  }

  // The system_error access_token() throws, checked to hold no secret.
  std::system_error failure(oauth2_endpoint_provider& p) {
    try {
      p.access_token(false);
    } catch (const std::system_error& e) {
      for (const char* secret : {"s3cr3t-client-xyz", "revoked-refresh-token-77"})
        EXPECT_EQ(std::string(e.what()).find(secret), std::string::npos) << e.what();
      return e;
    }
    ADD_FAILURE() << "no error";
    return std::system_error(std::error_code());
  }

  envoi::test::token_endpoint endpoint_;
};

TEST_F(OAuth2Endpoint, RefreshTokenGrantPostsTheFormAndKeepsTheTokenUntilItExpires) {
  oauth2_endpoint_provider p(settings("refresh-1"));
  EXPECT_EQ(p.access_token(false), "access-1");
  EXPECT_EQ(p.access_token(false), "access-1");  // cached: valid for an hour
  EXPECT_EQ(p.requests(), 1);
  const auto requests = endpoint_.requests();
  ASSERT_EQ(requests.size(), 1u);
  for (const char* field :
       {R"("grant_type": "refresh_token")", R"("refresh_token": "refresh-1")",
        R"("client_id": "envoi-app")", R"("client_secret": "s3cr3t-client-xyz")",
        R"("scope": "https://outlook.office365.com/SMTP.Send offline_access")",
        R"("_path": "/tenant/oauth2/v2.0/token")",
        R"("_content_type": "application/x-www-form-urlencoded")"})
    EXPECT_NE(requests[0].find(field), std::string::npos) << field << " in " << requests[0];
}

TEST_F(OAuth2Endpoint, ARefreshAsksTheEndpointAgain) {
  oauth2_endpoint_provider p(settings("refresh-1"));
  EXPECT_EQ(p.access_token(false), "access-1");
  EXPECT_EQ(p.access_token(true), "access-2");
  EXPECT_EQ(p.requests(), 2);
}

TEST_F(OAuth2Endpoint, UsesARotatedRefreshTokenForTheNextRequest) {
  oauth2_endpoint_provider p(settings("rotate-me"));
  p.access_token(false);
  p.access_token(true);
  const auto requests = endpoint_.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_NE(requests[0].find(R"("refresh_token": "rotate-me")"), std::string::npos);
  EXPECT_NE(requests[1].find(R"("refresh_token": "rotated-1")"), std::string::npos) << requests[1];
}

TEST_F(OAuth2Endpoint, ClientCredentialsGrantNeedsNoRefreshToken) {
  auto s = settings("");
  s.grant = oauth2_grant::client_credentials;
  s.refresh_token = {};
  s.scope = "https://outlook.office365.com/.default";
  oauth2_endpoint_provider p(s);
  EXPECT_EQ(p.access_token(false), "app-1");
  const auto requests = endpoint_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_NE(requests[0].find(R"("grant_type": "client_credentials")"), std::string::npos);
  EXPECT_EQ(requests[0].find("refresh_token"), std::string::npos);
}

TEST_F(OAuth2Endpoint, ARevokedRefreshTokenIsAnAuthFailureSayingWhatToDo) {
  oauth2_endpoint_provider p(settings("revoked-refresh-token-77"));
  const auto e = failure(p);
  EXPECT_EQ(e.code(), envoi::make_error_code(errc::auth_failed));
  const std::string what = e.what();
  EXPECT_NE(what.find("invalid_grant (Token has been expired or revoked.)"), std::string::npos)
      << what;
  EXPECT_NE(what.find("must consent again"), std::string::npos) << what;
}

TEST_F(OAuth2Endpoint, AnAnswerWithoutATokenIsAProtocolError) {
  auto s = settings("refresh-1");
  s.client_id = "html";
  oauth2_endpoint_provider p(s);
  EXPECT_EQ(failure(p).code(), envoi::make_error_code(errc::protocol_error));
}

TEST_F(OAuth2Endpoint, RefusesAnEndpointWhoseCertificateIsNotTrusted) {
  auto s = settings("refresh-1");
  s.ca_file = endpoint_.other_ca_file();
  oauth2_endpoint_provider p(s);
  EXPECT_EQ(failure(p).code(), envoi::make_error_code(errc::certificate_untrusted));
  EXPECT_TRUE(endpoint_.requests().empty());
}

TEST_F(OAuth2Endpoint, GivesUpOnASilentEndpointAtTheTimeLimit) {
  auto s = settings("refresh-1");
  s.client_id = "slow";
  s.timeout = std::chrono::milliseconds(800);
  oauth2_endpoint_provider p(s);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(failure(p).code(), envoi::make_error_code(errc::timed_out));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
}

TEST_F(OAuth2Endpoint, ANothingListeningPortIsAConnectFailure) {
  auto s = settings("refresh-1");
  s.token_url = "https://127.0.0.1:1/token";
  oauth2_endpoint_provider p(s);
  EXPECT_EQ(failure(p).code(), envoi::make_error_code(errc::connect_failed));
}

TEST_F(OAuth2Endpoint, SettingsErrorsNameTheField) {
  const auto field_of = [&](oauth2_settings s) {
    try {
      oauth2_endpoint_provider p(std::move(s));
    } catch (const envoi::invalid_input& e) {
      return e.field();
    }
    return std::string("accepted");
  };
  auto s = settings("refresh-1");
  s.token_url = "http://127.0.0.1/token";
  EXPECT_EQ(field_of(s), "token_url");
  s = settings("refresh-1");
  s.client_id.clear();
  EXPECT_EQ(field_of(s), "client_id");
  s = settings("refresh-1");
  s.refresh_token = {};
  EXPECT_EQ(field_of(s), "refresh_token");
}

}  // namespace
