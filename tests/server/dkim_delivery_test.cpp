// DKIM-signed mail through the real Postfix: what arrives still verifies.
#include <envoi/dkim.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <memory>

#include <envoi/smtp/client.hpp>

#include "support/process.hpp"
#include "support/test_server.hpp"

namespace envoi::smtp {
namespace {

constexpr const char* password_variable = "ENVOI_TEST_DKIM_PASSWORD";

// A key made for this run by the openssl command, as an administrator would.
std::string new_ed25519_key(const test::temp_dir& dir) {
  const auto path = dir / "dkim.pem";
  const auto r = test::run_command("openssl genpkey -algorithm ed25519 -out " +
                                   test::shell_quoted(path.string()));
  EXPECT_EQ(r.status, 0) << r.output;
  return path.string();
}

TEST(DkimThroughPostfix, BlindCopiesAreDeliveredAndEveryCopyVerifies) {
  // F55 with DKIM on: three recipients in the envelope, no Bcc field anywhere, and the
  // signature holds in each delivered copy.
  const auto server = test::mail_server();
  ASSERT_TRUE(server) << test::mail_server_skip_reason();
  test::temp_dir dir("dkim-postfix");

  ::setenv(password_variable, server->password.c_str(), 1);
  account a;
  a.sender = mailbox("Clinique du Sud", server->user);
  a.host = server->host;
  a.port = server->submission_port;
  a.login = server->user;
  a.password = secret_ref::from_env(password_variable);
  a.ca_file = server->ca;
  a.step_timeout = std::chrono::seconds(20);
  a.dkim = std::make_shared<const dkim_signer>(
      dkim_signer::from_pem_file("example.test", "envoi", new_ed25519_key(dir)));

  message m;
  m.from(mailbox("Clinique vétérinaire du Sud", server->user))
      .add_to(mailbox("Zoé Martin", "zoe@example.test"))
      .add_bcc(mailbox::parse("a@example.test"))
      .add_bcc(mailbox::parse("b@example.test"))
      .subject("Rappel : vaccin de Médor, été 2026")
      .text("Bonjour,\n\nMédor a rendez-vous mardi à 14 h 30.\n");
  client c(a);
  const auto report = c.send(m.make_envelope(), m);
  c.quit();
  ASSERT_EQ(report.recipients.size(), 3u);
  for (const auto& r : report.recipients) EXPECT_TRUE(r.accepted()) << r.address;

  const auto files = test::wait_for_maildir(*server, 3, std::chrono::seconds(10));
  ASSERT_EQ(files.size(), 3u);
  const std::string checker = std::string(ENVOI_SOURCE_DIR) + "/tests/tools/check_dkim.py";
  for (const auto& f : files) {
    const std::string delivered = test::read_delivered(f);
    EXPECT_FALSE(test::header_value(delivered, "Bcc")) << f;
    // Postfix's Maildir files end lines in LF; the checker wants the wire form.
    const auto wire = dir / (f.filename().string() + ".eml");
    std::ofstream(wire, std::ios::binary) << test::sent_message(delivered);
    const auto r =
        test::run_command(std::string(ENVOI_PYTHON) + " " + test::shell_quoted(checker) + " " +
                          test::shell_quoted(wire.string()) + " envoi._domainkey.example.test " +
                          test::shell_quoted(a.dkim->dns_record()));
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output.find("bcc"), std::string::npos) << r.output;
  }
}

}  // namespace
}  // namespace envoi::smtp
