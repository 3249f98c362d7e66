// The SMTP client against the real Postfix started by scripts/mail-server.
#include <envoi/smtp/client.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

#include <boost/asio/io_context.hpp>

#include <unistd.h>

#include "support/send_expectations.hpp"
#include "support/test_server.hpp"

namespace envoi::smtp {
namespace {

constexpr const char* password_variable = "ENVOI_TEST_CLIENT_PASSWORD";

class SmtpClientAgainstPostfix : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = test::mail_server();
    ASSERT_TRUE(s) << test::mail_server_skip_reason();
    server_ = *s;
  }

  // The clinic's account on the submission port: STARTTLS, AUTH, the test CA.
  account clinic_account(std::string password) const {
    ::setenv(password_variable, password.c_str(), 1);
    account a;
    a.sender = mailbox("Clinique du Sud", server_.user);
    a.host = server_.host;
    a.port = server_.submission_port;
    a.security = security::starttls;
    a.login = server_.user;
    a.password = secret_ref::from_env(password_variable);
    a.ca_file = server_.ca;
    a.step_timeout = std::chrono::seconds(20);
    return a;
  }

  static message reminder(const std::string& from, const std::string& to) {
    message m;
    m.from(mailbox("Clinique vétérinaire du Sud", from))
        .add_to(mailbox("Dupont, Hélène", to))
        .subject("Rappel : vaccin de Médor, été 2026")
        .text("Bonjour,\n.\n.profile\nMédor a rendez-vous mardi à 14 h 30.\n");
    return m;
  }

  static send_error expect_failure(client& c, const message& m, errc expected, step where) {
    return test::expect_send_error(c, m.make_envelope(), m.render(), expected, where);
  }

  test::settings server_;
};

TEST_F(SmtpClientAgainstPostfix, DeliversOverStarttlsWithAuthPlainExactlyTheRenderedBytes) {
  auto a = clinic_account(server_.password);
  a.auth = auth_method::plain;
  client c(a);
  const auto m = reminder(server_.user, "helene.dupont@example.test");
  const auto rendered = m.render();
  const auto report = c.send(m.make_envelope(), rendered);
  c.quit();

  ASSERT_EQ(report.recipients.size(), 1u);
  EXPECT_TRUE(report.recipients[0].accepted());
  EXPECT_EQ(report.final_reply.code, 250);
  EXPECT_NE(report.final_reply.text().find("queued as"), std::string::npos);

  const auto files = test::wait_for_maildir(server_, 1, std::chrono::seconds(10));
  ASSERT_EQ(files.size(), 1u);
  const auto delivered = test::read_delivered(files[0]);
  EXPECT_EQ(test::sent_message(delivered), rendered);
  EXPECT_NE(delivered.find("Authenticated sender: " + server_.user), std::string::npos);
  EXPECT_NE(delivered.find("using TLS"), std::string::npos);
}

TEST_F(SmtpClientAgainstPostfix, DeliversOverImplicitTlsWithAuthLoginAndAUtf8Password) {
  auto a = clinic_account(server_.password2);
  a.port = server_.smtps_port;
  a.security = security::tls;
  a.auth = auth_method::login;
  a.login = server_.user2;
  a.sender = mailbox("Clinique des Quatre-Chemins", server_.user2);
  client c(a);
  const auto m = reminder(server_.user2, "zoe@example.test");
  const auto report = c.send(m.make_envelope(), m.render());
  // The same connection carries a second message.
  const auto m2 = reminder(server_.user2, "gaelle@example.test");
  const auto report2 = c.send(m2.make_envelope(), m2.render());
  c.quit();
  EXPECT_EQ(report.final_reply.code, 250);
  EXPECT_EQ(report2.final_reply.code, 250);
  const auto files = test::wait_for_maildir(server_, 2, std::chrono::seconds(10));
  EXPECT_EQ(test::delivered_to(files, "zoe@example.test").size(), 1u);
  EXPECT_EQ(test::delivered_to(files, "gaelle@example.test").size(), 1u);
}

TEST_F(SmtpClientAgainstPostfix, WrongPasswordIsAnAuthenticationErrorNamingTheStep) {
  client c(clinic_account("not-the-password"));
  const auto e = expect_failure(c, reminder(server_.user, "helene.dupont@example.test"),
                                errc::auth_failed, step::auth);
  EXPECT_EQ(e.reply().code, 535);
  EXPECT_EQ(e.reply().enhanced, "5.7.8");
  EXPECT_TRUE(e.is_permanent());
  EXPECT_NE(std::string(e.what()).find("auth failed: 535 5.7.8"), std::string::npos) << e.what();
  EXPECT_EQ(std::string(e.what()).find("not-the-password"), std::string::npos);
  // What to check: the login tried and where its password came from.
  EXPECT_NE(std::string(e.what()).find("login \"" + server_.user +
                                       "\" with the password from environment variable " +
                                       password_variable),
            std::string::npos)
      << e.what();
  EXPECT_TRUE(test::wait_for_maildir(server_, 1, std::chrono::seconds(1)).empty());
}

TEST_F(SmtpClientAgainstPostfix, RefusesACertificateNotSignedByTheConfiguredCa) {
  // F34 (an untrusted issuer, as for a self-signed certificate) and F33 (c).
  for (const auto mode : {security::starttls, security::tls}) {
    auto a = clinic_account(server_.password);
    a.ca_file = server_.other_ca;
    a.security = mode;
    a.port = mode == security::tls ? server_.smtps_port : server_.submission_port;
    client c(a);
    const auto e = expect_failure(c, reminder(server_.user, "helene.dupont@example.test"),
                                  errc::certificate_untrusted, step::tls);
    EXPECT_TRUE(e.is_permanent());
    // What to change: the CA file, or a pin with the fingerprint of the certificate seen.
    const std::string& detail = e.report().detail;
    EXPECT_NE(detail.find("set ca_file to the certificate authority"), std::string::npos) << detail;
    EXPECT_TRUE(std::regex_search(
        detail, std::regex("tls_fingerprint_sha256 = \"([0-9A-F]{2}:){31}[0-9A-F]{2}\"")))
        << detail;
  }
  EXPECT_TRUE(test::wait_for_maildir(server_, 1, std::chrono::seconds(1)).empty());
}

TEST_F(SmtpClientAgainstPostfix, AMissingCaFileIsALocalFailureAndIsReadAgainOnTheNextSend) {
  // The CA file is read when TLS is first needed. A failed read must leave nothing
  // behind: the same client reads it again on its next connection.
  const auto dir =
      std::filesystem::temp_directory_path() / ("envoi-ca-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto a = clinic_account(server_.password);
  a.ca_file = dir / "ca.pem";
  client c(a);
  const auto m = reminder(server_.user, "helene.dupont@example.test");
  const auto e = expect_failure(c, m, errc::local_failure, step::tls);
  EXPECT_NE(e.report().detail.find("cannot read the CA file " + a.ca_file.string()),
            std::string::npos)
      << e.report().detail;
  std::filesystem::copy_file(server_.ca, a.ca_file);
  const auto report = c.send(m.make_envelope(), m.render());
  c.quit();
  std::filesystem::remove_all(dir);
  EXPECT_EQ(report.final_reply.code, 250);
  EXPECT_EQ(test::wait_for_maildir(server_, 1, std::chrono::seconds(10)).size(), 1u);
}

TEST_F(SmtpClientAgainstPostfix, RefusesTheSystemRootsForAPrivateCa) {
  // F34: a private CA is not trusted unless configured.
  auto a = clinic_account(server_.password);
  a.ca_file.clear();
  client c(a);
  expect_failure(c, reminder(server_.user, "helene.dupont@example.test"),
                 errc::certificate_untrusted, step::tls);
}

TEST_F(SmtpClientAgainstPostfix, SaysToUseStarttlsWhenLoginsComeOnlyAfterIt) {
  // security = none against the submission port, which lists AUTH only after STARTTLS.
  auto a = clinic_account(server_.password);
  a.security = security::none;
  a.ca_file.clear();
  client c(a);
  const auto e = expect_failure(c, reminder(server_.user, "helene.dupont@example.test"),
                                errc::auth_not_offered, step::auth);
  EXPECT_NE(e.report().detail.find("set the account's security to starttls"), std::string::npos)
      << e.report().detail;
}

TEST_F(SmtpClientAgainstPostfix, GivesNoCredentialsToAServerWithoutStarttls) {
  // F33 (a), against Postfix.
  // The plain port offers neither STARTTLS nor AUTH: envoi must stop before either.
  auto a = clinic_account(server_.password);
  a.port = server_.plain_port;
  client c(a);
  expect_failure(c, reminder(server_.user, "helene.dupont@example.test"),
                 errc::starttls_not_offered, step::starttls);
  EXPECT_TRUE(test::wait_for_maildir(server_, 1, std::chrono::seconds(1)).empty());
}

TEST_F(SmtpClientAgainstPostfix, AnAccountWithoutALoginIsToldTheServerProbablyWantsOne) {
  // The submission port relays only for clients that logged in: Postfix refuses each
  // recipient with a 5.7.1 "Access denied", which says nothing about logging in.
  auto a = clinic_account(server_.password);
  a.login.clear();
  a.password = {};
  client c(a);
  const auto e = expect_failure(c, reminder(server_.user, "helene.dupont@example.test"),
                                errc::all_recipients_refused, step::rcpt);
  EXPECT_TRUE(e.reply().enhanced.starts_with("5.7.")) << e.what();
  EXPECT_NE(std::string(e.what()).find("this account has no login"), std::string::npos) << e.what();
  EXPECT_TRUE(test::wait_for_maildir(server_, 1, std::chrono::seconds(1)).empty());

  // An unknown mailbox (5.1.1) from an account that did log in gets no such hint.
  client logged_in(clinic_account(server_.password));
  const auto unknown = expect_failure(logged_in, reminder(server_.user, "unknown@example.test"),
                                      errc::all_recipients_refused, step::rcpt);
  EXPECT_EQ(std::string(unknown.what()).find("no login"), std::string::npos) << unknown.what();
}

TEST_F(SmtpClientAgainstPostfix, ReportsARefusedRecipientAndDeliversToTheOthers) {
  client c(clinic_account(server_.password));
  auto m = reminder(server_.user, "helene.dupont@example.test");
  m.add_to(mailbox("", "unknown.client@example.test"));
  const auto report = c.send(m.make_envelope(), m.render());
  c.quit();
  ASSERT_EQ(report.recipients.size(), 2u);
  EXPECT_TRUE(report.recipients[0].accepted());
  EXPECT_EQ(report.recipients[1].reply.code, 550);
  EXPECT_EQ(report.recipients[1].reply.enhanced, "5.1.1");
  const auto files = test::wait_for_maildir(server_, 1, std::chrono::seconds(10));
  EXPECT_EQ(test::delivered_to(files, "helene.dupont@example.test").size(), 1u);
}

TEST_F(SmtpClientAgainstPostfix, SendsTheBlindCopyInTheEnvelopeOnly) {
  client c(clinic_account(server_.password));
  auto m = reminder(server_.user, "helene.dupont@example.test");
  m.add_bcc(mailbox("", "verification-sud@example.test"));
  c.send(m.make_envelope(), m.render());
  c.quit();
  const auto files = test::wait_for_maildir(server_, 2, std::chrono::seconds(10));
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(test::delivered_to(files, "verification-sud@example.test").size(), 1u);
  for (const auto& f : files) EXPECT_FALSE(test::header_value(test::read_delivered(f), "Bcc")) << f;
}

TEST_F(SmtpClientAgainstPostfix, StreamsAMessageWithEightBitTextAndALargeAttachment) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("envoi-streamed-" + std::to_string(::getpid()) + ".pdf");
  std::string pdf(3 * 1024 * 1024, '\0');
  for (std::size_t i = 0; i < pdf.size(); ++i) pdf[i] = static_cast<char>(i * 7919 % 251);
  std::ofstream(path, std::ios::binary) << pdf;

  auto m = reminder(server_.user, "helene.dupont@example.test");
  m.date(std::chrono::system_clock::now()).message_id("streamed.1@example.test");
  m.attach(attachment::from_file(path, "Relevé été 2026 – Médor.pdf"));
  client c(clinic_account(server_.password));
  const auto report = c.send(m.make_envelope(), m);
  c.quit();
  EXPECT_EQ(report.final_reply.code, 250);

  // Postfix offers 8BITMIME, so the accented text went out as 8bit, not quoted-printable;
  // the whole message has the size a 8-bit rendering announces.
  const auto files = test::wait_for_maildir(server_, 1, std::chrono::seconds(10));
  ASSERT_EQ(files.size(), 1u);
  const auto sent = test::sent_message(test::read_delivered(files[0]));
  EXPECT_NE(sent.find("Content-Transfer-Encoding: 8bit"), std::string::npos);
  EXPECT_NE(sent.find("Médor a rendez-vous mardi à 14 h 30."), std::string::npos);
  render_options eight_bit;
  eight_bit.allow_8bit = true;
  EXPECT_EQ(sent.size(), m.render_stream(eight_bit).size());
  std::filesystem::remove(path);
}

TEST_F(SmtpClientAgainstPostfix, DeliversQueuedMessagesPipelinedOnOneConnection) {
  boost::asio::io_context io;
  client c(io.get_executor(), clinic_account(server_.password));
  std::vector<std::error_code> results(3, make_error_code(errc::cancelled));
  std::vector<message> messages;
  for (int i = 0; i < 3; ++i)
    messages.push_back(reminder(server_.user, "client" + std::to_string(i) + "@example.test"));
  for (int i = 0; i < 3; ++i)
    c.async_send(messages[i].make_envelope(), messages[i],
                 [&, i](std::error_code ec, send_report) { results[i] = ec; });
  c.async_quit([](std::error_code) {});
  io.run();
  for (const auto& ec : results) EXPECT_FALSE(ec) << ec.message();
  const auto files = test::wait_for_maildir(server_, 3, std::chrono::seconds(10));
  ASSERT_EQ(files.size(), 3u);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(test::delivered_to(files, "client" + std::to_string(i) + "@example.test").size(), 1u);
}

TEST_F(SmtpClientAgainstPostfix, AcceptsTheDsnParameters) {
  client c(clinic_account(server_.password));
  const auto m = reminder(server_.user, "helene.dupont@example.test");
  auto env = m.make_envelope();
  env.ret = dsn_return::headers;
  env.envid = "rappel-42+medor";
  env.dsn = {{dsn_notify::success | dsn_notify::failure, "H.Dupont+old@example.test"}};
  const auto report = c.send(env, m.render());
  c.quit();
  EXPECT_FALSE(report.dsn_not_offered);
  EXPECT_TRUE(report.recipients.at(0).delivered);

  // NOTIFY=SUCCESS: Postfix sends the sender (whose mail lands in the same Maildir) a
  // delivery report carrying back the ENVID and ORCPT, decoded from xtext.
  const auto files = test::wait_for_maildir(server_, 2, std::chrono::seconds(15));
  ASSERT_EQ(files.size(), 2u);
  std::string notice;
  for (const auto& f : files) {
    const auto text = test::read_delivered(f);
    if (text.find("Original-Envelope-Id:") != std::string::npos) notice = text;
  }
  EXPECT_NE(notice.find("Original-Envelope-Id: rappel-42+medor"), std::string::npos) << notice;
  EXPECT_NE(notice.find("Original-Recipient: rfc822;H.Dupont+old@example.test"), std::string::npos)
      << notice;
}

TEST_F(SmtpClientAgainstPostfix, DeliversToAUtf8LocalPartWithSmtputf8) {
  auto a = clinic_account(server_.password);
  client c(a);
  auto m = reminder(server_.user, "hélène.dupont@example.test");
  const auto report = c.send(m.make_envelope(), m);
  c.quit();
  EXPECT_TRUE(report.recipients.at(0).delivered) << report.recipients.at(0).reply.to_string();
  const auto files = test::wait_for_maildir(server_, 1, std::chrono::seconds(10));
  EXPECT_EQ(test::delivered_to(files, "hélène.dupont@example.test").size(), 1u);
}

// F52: a message larger than the server's SIZE limit is refused here, before MAIL.
TEST_F(SmtpClientAgainstPostfix, RefusesLocallyAMessageLargerThanTheServersSizeLimit_F52) {
  client c(clinic_account(server_.password));
  const auto m = reminder(server_.user, "helene.dupont@example.test");
  const std::string big = m.render() + std::string(11 * 1000 * 1000, 'x');
  const auto e =
      test::expect_send_error(c, m.make_envelope(), big, errc::message_too_large, step::mail);
  EXPECT_TRUE(e.is_permanent());
  EXPECT_NE(e.report().detail.find("at most 10240000"), std::string::npos) << e.what();
  // The connection stays usable: nothing of the refused message was sent.
  const auto report = c.send(m.make_envelope(), m.render());
  c.quit();
  EXPECT_TRUE(report.recipients.at(0).delivered);
  // Waited for, so that this delivery cannot land in the next test's Maildir window.
  EXPECT_EQ(test::wait_for_maildir(server_, 1, std::chrono::seconds(10)).size(), 1u);
}

}  // namespace
}  // namespace envoi::smtp
