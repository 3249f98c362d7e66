// AUTH, TLS and the transcript against the real Postfix started by scripts/mail-server.
#include <envoi/smtp/client.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include "mime/encoding.hpp"
#include "support/send_expectations.hpp"
#include "support/session_record.hpp"
#include "support/test_server.hpp"

namespace envoi::smtp {
namespace {

constexpr const char* password_variable = "ENVOI_TEST_AUTH_CLIENT_PASSWORD";

// The SHA-256 fingerprint of a PEM certificate file, computed by OpenSSL as
// `openssl x509 -fingerprint -sha256` would.
std::string certificate_fingerprint(const std::filesystem::path& pem) {
  FILE* f = std::fopen(pem.c_str(), "r");
  if (f == nullptr) return {};
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (cert == nullptr) return {};
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  X509_digest(cert, EVP_sha256(), digest, &length);
  X509_free(cert);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    char pair[4];
    std::snprintf(pair, sizeof pair, "%s%02X", i == 0 ? "" : ":", digest[i]);
    hex += pair;
  }
  return hex;
}

class SmtpClientAuthAgainstPostfix : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = test::mail_server();
    ASSERT_TRUE(s) << test::mail_server_skip_reason();
    server_ = *s;
  }

  account clinic_account(const std::string& login, const std::string& password) const {
    ::setenv(password_variable, password.c_str(), 1);
    account a;
    a.sender = mailbox("Clinique du Sud", login);
    a.host = server_.host;
    a.port = server_.submission_port;
    a.security = security::starttls;
    a.login = login;
    a.password = secret_ref::from_env(password_variable);
    a.ca_file = server_.ca;
    a.step_timeout = std::chrono::seconds(20);
    return a;
  }

  static std::string reminder(const std::string& from, const std::string& to) {
    return "From: " + from + "\r\nTo: " + to +
           "\r\nSubject: Rappel\r\n\r\nMedor a rendez-vous mardi a 14 h 30.\r\n";
  }

  std::filesystem::path server_certificate() const {
    return server_.ca.parent_path() / "server.crt";
  }

  test::settings server_;
};

TEST_F(SmtpClientAuthAgainstPostfix,
       EachPasswordMechanismDeliversAndLeavesNoSecretInTheTranscript) {
  // Both test users; the second one's password has ':' and UTF-8 letters.
  const std::vector<std::pair<std::string, std::string>> users = {
      {server_.user, server_.password}, {server_.user2, server_.password2}};
  int sent = 0;
  for (const auto& [login, password] : users) {
    for (const auto method : {auth_method::plain, auth_method::login, auth_method::cram_md5}) {
      auto a = clinic_account(login, password);
      a.auth = method;
      client c(a);
      test::session_record t;
      t.install(c);
      const auto data = reminder(login, "helene.dupont@example.test");
      const auto report = c.send({login, {"helene.dupont@example.test"}}, data);
      c.quit();
      ++sent;
      EXPECT_EQ(report.final_reply.code, 250);

      const auto text = t.text();
      const std::vector<std::string> secrets = {
          password, mime::base64(std::string(1, '\0') + login + '\0' + password),
          mime::base64(password), "Medor a rendez-vous"};
      for (const auto& secret : secrets)
        EXPECT_EQ(text.find(secret), std::string::npos) << secret << " in\n" << text;
      EXPECT_NE(text.find("S: 235 2.7.0 Authentication successful"), std::string::npos) << text;
      EXPECT_NE(text.find("C: <message: " + std::to_string(data.size()) + " octets>"),
                std::string::npos)
          << text;
    }
  }
  EXPECT_EQ(
      test::wait_for_maildir(server_, static_cast<std::size_t>(sent), std::chrono::seconds(10))
          .size(),
      static_cast<std::size_t>(sent));
}

TEST_F(SmtpClientAuthAgainstPostfix, RefusedCredentialsStayOutOfTranscriptErrorAndReport) {
  const std::string wrong = "Faux-mot-de-passe-é";
  for (const auto method : {auth_method::plain, auth_method::login, auth_method::cram_md5}) {
    auto a = clinic_account(server_.user, wrong);
    a.auth = method;
    client c(a);
    test::session_record t;
    t.install(c);
    const auto e = test::expect_send_error(c, {server_.user, {"helene.dupont@example.test"}},
                                           reminder(server_.user, "helene.dupont@example.test"),
                                           errc::auth_failed, step::auth);
    const auto everything = t.text() + e.what() + e.report().detail + e.reply().to_string();
    for (const auto& secret :
         {wrong, mime::base64(std::string(1, '\0') + server_.user + '\0' + wrong),
          mime::base64(wrong)})
      EXPECT_EQ(everything.find(secret), std::string::npos) << secret << " in\n" << everything;
    EXPECT_NE(t.text().find("S: 535 5.7.8"), std::string::npos) << t.text();
  }
  EXPECT_TRUE(test::wait_for_maildir(server_, 1, std::chrono::seconds(1)).empty());
}

TEST_F(SmtpClientAuthAgainstPostfix, SaysEhloAgainAfterStarttlsAndAuthenticatesOnlyThen) {
  // F32: the submission port offers AUTH only under TLS (smtpd_tls_auth_only); the client
  // must forget the plaintext capabilities, say EHLO again, and not again after AUTH.
  client c(clinic_account(server_.user, server_.password));
  test::session_record t;
  t.install(c);
  c.send({server_.user, {"helene.dupont@example.test"}},
         reminder(server_.user, "helene.dupont@example.test"));
  c.quit();
  EXPECT_EQ(t.verbs(), (std::vector<std::string>{"EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT",
                                                 "DATA", "QUIT"}))
      << t.text();
  // Before TLS the server listed no AUTH; after it, it did.
  const auto text = t.text();
  const auto tls = text.find("* TLS established");
  ASSERT_NE(tls, std::string::npos) << text;
  EXPECT_EQ(text.substr(0, tls).find("S: 250-AUTH"), std::string::npos) << text;
  EXPECT_NE(text.find("S: 250-AUTH", tls), std::string::npos) << text;
}

TEST_F(SmtpClientAuthAgainstPostfix, APinnedCertificateReplacesTheChainCheckInBothTlsModes) {
  const auto pin = certificate_fingerprint(server_certificate());
  ASSERT_FALSE(pin.empty()) << server_certificate();
  int sent = 0;
  for (const auto mode : {security::starttls, security::tls}) {
    auto a = clinic_account(server_.user, server_.password);
    a.security = mode;
    a.port = mode == security::tls ? server_.smtps_port : server_.submission_port;
    // An unrelated CA: without the pin this fails (RefusesACertificateNotSignedByTheConfiguredCa).
    a.ca_file = server_.other_ca;
    a.tls_fingerprint_sha256 = sha256_fingerprint(pin);
    client c(a);
    test::session_record t;
    t.install(c);
    const auto report = c.send({server_.user, {"helene.dupont@example.test"}},
                               reminder(server_.user, "helene.dupont@example.test"));
    c.quit();
    ++sent;
    EXPECT_EQ(report.final_reply.code, 250);
    EXPECT_NE(t.text().find("server certificate SHA-256 " + pin), std::string::npos) << t.text();
  }
  EXPECT_EQ(test::wait_for_maildir(server_, 2, std::chrono::seconds(10)).size(), 2u);
}

TEST_F(SmtpClientAuthAgainstPostfix, RefusesACertificateThatDoesNotMatchThePinBeforeAnyAuth) {
  const auto seen = certificate_fingerprint(server_certificate());
  // The CA's own fingerprint: a real certificate, but not the server's.
  const auto other = certificate_fingerprint(server_.ca);
  ASSERT_FALSE(other.empty());
  for (const auto mode : {security::starttls, security::tls}) {
    auto a = clinic_account(server_.user, server_.password);
    a.security = mode;
    a.port = mode == security::tls ? server_.smtps_port : server_.submission_port;
    a.tls_fingerprint_sha256 = sha256_fingerprint(other);
    client c(a);
    test::session_record t;
    t.install(c);
    const auto e = test::expect_send_error(c, {server_.user, {"helene.dupont@example.test"}},
                                           reminder(server_.user, "helene.dupont@example.test"),
                                           errc::certificate_untrusted, step::tls);
    EXPECT_TRUE(e.is_permanent());
    EXPECT_NE(e.report().detail.find(seen), std::string::npos) << e.report().detail;
    const auto verbs = t.verbs();
    EXPECT_EQ(std::count(verbs.begin(), verbs.end(), "AUTH"), 0) << t.text();
  }
  EXPECT_TRUE(test::wait_for_maildir(server_, 1, std::chrono::seconds(1)).empty());
}

// A name of this machine that resolves to 127.0.0.1 but that the test certificate (made
// for localhost, 127.0.0.1 and ::1) does not name; empty when there is none.
std::string other_name_for_loopback() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return {};
  const std::string host = name;
  if (host.empty() || host == "localhost") return {};
  addrinfo hints{};
  hints.ai_family = AF_INET;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0) return {};
  const auto* in = reinterpret_cast<const sockaddr_in*>(found->ai_addr);
  const bool loopback = ntohl(in->sin_addr.s_addr) == INADDR_LOOPBACK;
  ::freeaddrinfo(found);
  return loopback ? host : std::string();
}

TEST_F(SmtpClientAuthAgainstPostfix, RefusesACertificateIssuedForAnotherNameInBothTlsModes) {
  // F34: the chain is trusted, but the certificate does not name the configured host.
  const auto host = other_name_for_loopback();
  if (host.empty()) GTEST_SKIP() << "this machine's name does not resolve to 127.0.0.1";
  for (const auto mode : {security::starttls, security::tls}) {
    auto a = clinic_account(server_.user, server_.password);
    a.host = host;
    a.security = mode;
    a.port = mode == security::tls ? server_.smtps_port : server_.submission_port;
    client c(a);
    test::session_record t;
    t.install(c);
    const auto e = test::expect_send_error(c, {server_.user, {"helene.dupont@example.test"}},
                                           reminder(server_.user, "helene.dupont@example.test"),
                                           errc::certificate_untrusted, step::tls);
    EXPECT_NE(e.report().detail.find("hostname mismatch"), std::string::npos) << e.report().detail;
    EXPECT_NE(e.report().detail.find("not issued for \"" + host + "\"; set host"),
              std::string::npos)
        << e.report().detail;
    const auto verbs = t.verbs();
    EXPECT_EQ(std::count(verbs.begin(), verbs.end(), "AUTH"), 0) << t.text();
  }
  EXPECT_TRUE(test::wait_for_maildir(server_, 1, std::chrono::seconds(1)).empty());
}

TEST_F(SmtpClientAuthAgainstPostfix, StarttlsModeAgainstTheImplicitTlsPortTimesOutWithAHint) {
  // F40: the implicit-TLS port waits for a handshake and never greets. Its number is not
  // 465, so the hint is to check the host and port (465 adds "set security to tls").
  auto a = clinic_account(server_.user, server_.password);
  a.port = server_.smtps_port;
  a.step_timeout = std::chrono::milliseconds(700);
  client c(a);
  const auto started = std::chrono::steady_clock::now();
  const auto e = test::expect_send_error(c, {server_.user, {"helene.dupont@example.test"}}, "x",
                                         errc::timed_out, step::greeting);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_NE(e.report().detail.find("said nothing; " + a.host + " port " + std::to_string(a.port) +
                                   " may not be a mail server (check the host and port)"),
            std::string::npos)
      << e.what();
}

TEST_F(SmtpClientAuthAgainstPostfix, ImplicitTlsAgainstAPlainPortFailsAtOnceWithAHint) {
  // F40: the plain port greets in clear text where a TLS record was expected. Its number
  // is not 25 or 587, so the hint is to check the host and port (those add starttls).
  auto a = clinic_account(server_.user, server_.password);
  a.port = server_.plain_port;
  a.security = security::tls;
  client c(a);
  const auto started = std::chrono::steady_clock::now();
  const auto e = test::expect_send_error(c, {server_.user, {"helene.dupont@example.test"}}, "x",
                                         errc::tls_handshake_failed, step::tls);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_NE(e.report().detail.find("did not answer in TLS; " + a.host + " port " +
                                   std::to_string(a.port) +
                                   " may not be a mail server (check the host and port)"),
            std::string::npos)
      << e.what();
}

}  // namespace
}  // namespace envoi::smtp
