#include <envoi/dkim.hpp>

#include <fstream>
#include <memory>
#include <random>
#include <string>

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <envoi/error.hpp>
#include <envoi/message.hpp>

#include "dkim_canon.hpp"
#include "support/process.hpp"

namespace {

using envoi::dkim_signer;
using envoi::invalid_input;
using envoi::mailbox;
using envoi::message;
using envoi::test::run_command;
using envoi::test::shell_quoted;
using envoi::test::temp_dir;

// A fresh private key in PEM: "RSA" with `bits`, or "ED25519".
std::string new_key_pem(const char* type, unsigned bits = 0) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      bits != 0 ? EVP_PKEY_Q_keygen(nullptr, nullptr, type, static_cast<size_t>(bits))
                : EVP_PKEY_Q_keygen(nullptr, nullptr, type),
      &EVP_PKEY_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

const std::string& rsa_pem() {
  static const std::string pem = new_key_pem("RSA", 2048);
  return pem;
}

const std::string& ed25519_pem() {
  static const std::string pem = new_key_pem("ED25519");
  return pem;
}

std::string sha256(std::string_view s) {
  std::string out(32, '\0');
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), reinterpret_cast<unsigned char*>(out.data()), &n, EVP_sha256(),
             nullptr);
  return out;
}

std::string relaxed_hash_in_pieces(std::string_view body, std::size_t split) {
  envoi::detail::relaxed_body_hash h;
  h.update(body.substr(0, split));
  h.update(body.substr(split));
  return h.finish();
}

message reminder() {
  message m;
  m.from(mailbox("Clinique vétérinaire des Érables", "rappels@erables-veto.example.test"))
      .add_to(mailbox("Zoé Martin", "zoe@example.test"))
      .subject("Rappel : rendez-vous de Câline le mardi 8 décembre 2026 à 14 h 30")
      .text("Bonjour Madame Martin,\n\nNous vous attendons avec Câline   mardi.  \n\n\n");
  return m;
}

struct verification {
  bool verified = false;
  std::string output;
};

// Writes the message and has dkimpy check it, serving the signer's key as DNS would.
verification verify(const std::string& wire, const dkim_signer& signer) {
  temp_dir dir("dkim");
  const auto path = dir / "message.eml";
  std::ofstream(path, std::ios::binary) << wire;
  const std::string name = signer.selector() + "._domainkey." + signer.domain();
  const auto r =
      run_command(std::string(ENVOI_PYTHON) + " " +
                  shell_quoted(std::string(ENVOI_SOURCE_DIR) + "/tests/tools/check_dkim.py") + " " +
                  shell_quoted(path.string()) + " " + shell_quoted(name) + " " +
                  shell_quoted(signer.dns_record()));
  return {r.status == 0 && r.output.find("\nverified") != std::string::npos, r.output};
}

std::string render_signed(const message& m, const dkim_signer& signer) {
  envoi::render_options options;
  options.dkim = &signer;
  return m.render(options);
}

TEST(Dkim, RelaxedHeaderFollowsTheRfcExample) {
  // RFC 6376 3.4.5.
  EXPECT_EQ(envoi::detail::relaxed_header("A: X\r\n"), "a:X");
  EXPECT_EQ(envoi::detail::relaxed_header("B : Y\t\r\n\tZ  \r\n"), "b:Y Z");
  EXPECT_EQ(envoi::detail::relaxed_header("Subject:   \r\n"), "subject:");
  EXPECT_EQ(envoi::detail::relaxed_header("Subject: Rappel : mardi\r\n"), "subject:Rappel : mardi");
}

TEST(Dkim, RelaxedBodyFollowsTheRfcExampleWhereverThePiecesAreSplit) {
  // RFC 6376 3.4.5: " C \r\nD \t E\r\n\r\n\r\n" becomes " C\r\nD E\r\n".
  const std::string body = " C \r\nD \t E\r\n\r\n\r\n";
  for (std::size_t split = 0; split <= body.size(); ++split)
    EXPECT_EQ(relaxed_hash_in_pieces(body, split), sha256(" C\r\nD E\r\n")) << split;
}

TEST(Dkim, RelaxedBodyEndsWithOneLineEndAndKeepsInnerEmptyLines) {
  EXPECT_EQ(relaxed_hash_in_pieces("", 0), sha256(""));
  EXPECT_EQ(relaxed_hash_in_pieces("\r\n\r\n", 2), sha256(""));
  EXPECT_EQ(relaxed_hash_in_pieces("abc", 1), sha256("abc\r\n"));
  const std::string body = "a\r\n\r\n \r\nb \r\n\r\n";
  for (std::size_t split = 0; split <= body.size(); ++split)
    EXPECT_EQ(relaxed_hash_in_pieces(body, split), sha256("a\r\n\r\n\r\nb\r\n")) << split;
}

TEST(Dkim, RsaSignatureVerifiesWithAnIndependentVerifier) {
  const auto signer = dkim_signer::from_pem("erables-veto.example.test", "rappels", rsa_pem());
  EXPECT_EQ(signer.algorithm(), "rsa-sha256");
  const std::string wire = render_signed(reminder(), signer);
  ASSERT_TRUE(wire.starts_with("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;"));
  const verification v = verify(wire, signer);
  EXPECT_TRUE(v.verified) << v.output << wire;
}

TEST(Dkim, Ed25519SignatureVerifiesWithAnIndependentVerifier) {
  // RFC 8463.
  const auto signer = dkim_signer::from_pem("erables-veto.example.test", "ed", ed25519_pem());
  EXPECT_EQ(signer.algorithm(), "ed25519-sha256");
  const verification v = verify(render_signed(reminder(), signer), signer);
  EXPECT_TRUE(v.verified) << v.output;
}

TEST(Dkim, AChangedBodyOrSubjectNoLongerVerifies) {
  const auto signer = dkim_signer::from_pem("erables-veto.example.test", "rappels", rsa_pem());
  const std::string wire = render_signed(reminder(), signer);
  std::string body_changed = wire;
  body_changed.replace(body_changed.find("Madame"), 6, "Monsieur");
  EXPECT_FALSE(verify(body_changed, signer).verified);
  std::string subject_changed = wire;
  subject_changed.replace(subject_changed.find("Subject: Rappel"), 15, "Subject: Rapel ");
  EXPECT_FALSE(verify(subject_changed, signer).verified);
}

TEST(Dkim, BlindCopiesStayOutOfTheMessageAndTheSignedFields) {
  // F55: with DKIM on, the Bcc recipients are still in the envelope, no Bcc field is
  // written, and h= does not list one.
  const auto signer = dkim_signer::from_pem("erables-veto.example.test", "rappels", rsa_pem());
  message m = reminder();
  m.add_bcc(mailbox::parse("a@example.test")).add_bcc(mailbox::parse("b@example.test"));
  EXPECT_EQ(m.make_envelope().recipients,
            (std::vector<std::string>{"zoe@example.test", "a@example.test", "b@example.test"}));
  const std::string wire = render_signed(m, signer);
  const std::string header = wire.substr(0, wire.find("\r\n\r\n"));
  EXPECT_EQ(header.find("Bcc"), std::string::npos);
  EXPECT_EQ(header.find("a@example.test"), std::string::npos);
  const verification v = verify(wire, signer);
  EXPECT_TRUE(v.verified) << v.output;
  EXPECT_NE(v.output.find("h=from:to:subject:date:message-id:mime-version:content-type:"
                          "content-transfer-encoding:from\n"),
            std::string::npos)
      << v.output;
}

TEST(Dkim, SignsAMessageWithAFileAttachmentAndAnHtmlBodyStreamedAsUsual) {
  temp_dir dir("dkim-attach");
  std::string pdf(300 * 1024, '\0');
  std::mt19937 rng(6376);
  for (char& c : pdf) c = static_cast<char>(rng());
  std::ofstream(dir / "relevé été.pdf", std::ios::binary) << pdf;

  const auto signer = dkim_signer::from_pem("erables-veto.example.test", "ed", ed25519_pem());
  message m = reminder();
  m.html("<p>Bonjour, <b>Câline</b> est attendue.</p>\n")
      .attach(envoi::attachment::from_file(dir / "relevé été.pdf"));
  envoi::render_options options;
  options.dkim = &signer;
  options.allow_8bit = true;
  envoi::rendered_message stream = m.render_stream(options);
  const std::uint64_t announced = stream.size();
  std::string wire;
  while (stream.next(wire)) {
  }
  EXPECT_EQ(wire.size(), announced);
  // Signed mail avoids 8bit even where the server would take it.
  EXPECT_FALSE(stream.uses_8bit());
  EXPECT_EQ(wire.find("8bit"), std::string::npos);
  const verification v = verify(wire, signer);
  EXPECT_TRUE(v.verified) << v.output;
}

TEST(Dkim, KeyAndNameErrorsNameTheFieldAndTheReason) {
  try {
    dkim_signer::from_pem("example.test", "s1", "not a key");
    FAIL();
  } catch (const invalid_input& e) {
    EXPECT_EQ(e.field(), "dkim.key_file");
  }
  try {
    dkim_signer::from_pem("example.test", "s1", new_key_pem("RSA", 512));
    FAIL();
  } catch (const invalid_input& e) {
    EXPECT_EQ(e.field(), "dkim.key_file");
    EXPECT_NE(e.reason().find("1024"), std::string::npos);
  }
  try {
    dkim_signer::from_pem("exemple .fr", "s1", rsa_pem());
    FAIL();
  } catch (const invalid_input& e) {
    EXPECT_EQ(e.field(), "dkim.domain");
  }
  try {
    dkim_signer::from_pem_file("example.test", "s1", "/nonexistent/dkim.pem");
    FAIL();
  } catch (const invalid_input& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dkim.pem"), std::string::npos) << e.what();
  }
}

}  // namespace
