#include <envoi/config.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include <envoi/error.hpp>

#include "support/token_endpoint.hpp"

namespace {

namespace fs = std::filesystem;

// Each test writes its files into a folder of its own, removed afterwards.
class Config : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() /
           ("envoi-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
    fs::create_directories(dir_ / "certs");
    // The CA files the configurations below name; only their PEM form is checked.
    for (const auto* name : {"ca.pem", "certs/ca.pem"})
      write("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", name);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& text, const std::string& name = "envoi.toml") {
    const auto path = dir_ / name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  // Loads `text` and returns the invalid_input it must throw.
  envoi::invalid_input failure(const std::string& text) {
    const auto path = write(text);
    try {
      envoi::load_config(path);
    } catch (const envoi::invalid_input& e) {
      return e;
    }
    ADD_FAILURE() << "no invalid_input for:\n" << text;
    return envoi::invalid_input("", "");
  }

  std::string at(int line, const std::string& key) const {
    return (dir_ / "envoi.toml").string() + ":" + std::to_string(line) + ": " + key;
  }

  fs::path dir_;
};

// A valid site; line 4 is [sites.sud.smtp], line 5 its host.
const std::string minimal = R"([sites.sud]
name = "Clinique vétérinaire du Sud"
from = "Clinique du Sud <sud@example.test>"
[sites.sud.smtp]
host = "smtp.example.test"
password_env = "ENVOI_SUD_PASSWORD"
)";

TEST_F(Config, ReadsEveryKeyOfASite) {
  const auto cfg = envoi::load_config(write(R"([sites.sud]
name = "Clinique vétérinaire du Sud"
from = "Clinique du Sud <sud@example.test>"
bcc_copy = "Vérification <verif-sud@example.test>"
shared_account = true
[sites.sud.smtp]
host = "smtp.example.test"
port = 465
security = "tls"
auth = "login"
login = "api-key-123"
password_file = "/etc/envoi/sud.pw"
ca_file = "ca.pem"
ehlo_name = "poste-1.clinique.test"
timeout_seconds = 20
)"));
  ASSERT_EQ(cfg.sites.size(), 1u);
  const auto& s = cfg.sites.at("sud");
  EXPECT_EQ(s.id, "sud");
  EXPECT_EQ(s.name, "Clinique vétérinaire du Sud");
  EXPECT_EQ(s.account.sender, envoi::mailbox("Clinique du Sud", "sud@example.test"));
  EXPECT_EQ(s.account.bcc_copy, "verif-sud@example.test");
  EXPECT_EQ(s.account.host, "smtp.example.test");
  EXPECT_EQ(s.account.port, 465);
  EXPECT_EQ(s.account.security, envoi::security::tls);
  EXPECT_EQ(s.account.auth, envoi::auth_method::login);
  EXPECT_EQ(s.account.login, "api-key-123");
  EXPECT_EQ(s.account.password.describe(), "file /etc/envoi/sud.pw");
  EXPECT_EQ(s.account.ca_file, dir_ / "ca.pem");
  EXPECT_EQ(s.account.ehlo_name, "poste-1.clinique.test");
  EXPECT_EQ(s.account.step_timeout, std::chrono::seconds(20));
}

TEST_F(Config, DefaultsToStarttlsOnPort587WithTheSenderAsLogin) {
  const auto cfg = envoi::load_config(write(minimal));
  const auto& a = cfg.sites.at("sud").account;
  EXPECT_EQ(a.security, envoi::security::starttls);
  EXPECT_EQ(a.port, 587);
  EXPECT_EQ(a.auth, envoi::auth_method::automatic);
  EXPECT_EQ(a.login, "sud@example.test");
  EXPECT_EQ(a.password.describe(), "environment variable ENVOI_SUD_PASSWORD");
  EXPECT_FALSE(a.bcc_copy);
  EXPECT_TRUE(a.ca_file.empty());
}

TEST_F(Config, DefaultsThePortToTheSecurityModesOwn) {
  const auto cfg = envoi::load_config(write(R"([sites.a]
from = "a@example.test"
smtp = { host = "h", security = "tls" }
[sites.b]
from = "b@example.test"
smtp = { host = "localhost", security = "none" }
)"));
  EXPECT_EQ(cfg.sites.at("a").account.port, 465);
  EXPECT_EQ(cfg.sites.at("b").account.port, 25);
}

TEST_F(Config, SkipsAuthWhenNoPasswordIsConfigured) {
  const auto cfg = envoi::load_config(write(R"([sites.sud]
from = "sud@example.test"
[sites.sud.smtp]
host = "localhost"
security = "none"
)"));
  EXPECT_TRUE(cfg.sites.at("sud").account.login.empty());
  EXPECT_TRUE(cfg.sites.at("sud").account.password.empty());
}

TEST_F(Config, NamesTheSiteAfterTheSenderWhenNameIsMissing) {
  const auto cfg = envoi::load_config(write(R"([sites.nord]
from = "Clinique des Quatre-Chemins <staff@example.test>"
smtp = { host = "smtp.example.test", password_env = "PW" }
)"));
  EXPECT_EQ(cfg.sites.at("nord").name, "Clinique des Quatre-Chemins");
}

TEST_F(Config, ResolvesRelativePathsAgainstTheConfigFolder) {
  const auto cfg = envoi::load_config(write(R"([sites.sud]
from = "sud@example.test"
[sites.sud.smtp]
host = "smtp.example.test"
password_file = "secrets/sud.pw"
ca_file = "certs/ca.pem"
)"));
  const auto& a = cfg.sites.at("sud").account;
  EXPECT_EQ(a.ca_file, dir_ / "certs/ca.pem");
  EXPECT_EQ(a.password.describe(), "file " + (dir_ / "secrets/sud.pw").string());
}

TEST_F(Config, ReadsAUserDeclaredBeforeItsSite) {
  const auto cfg = envoi::load_config(write(R"([users.dr_martin]
site = "sud"
from = "Dr Martin <martin@example.test>"
[users.dr_martin.smtp]
host = "smtp.example.test"
password_env = "ENVOI_MARTIN_PASSWORD"
)" + minimal));
  EXPECT_EQ(cfg.sites.size(), 1u);
  EXPECT_TRUE(cfg.sites.at("sud").shared_account);
  const envoi::user& u = cfg.users.at("dr_martin");
  EXPECT_EQ(u.sites, std::vector<std::string>{"sud"});
  EXPECT_EQ(u.from.display_name(), "Dr Martin");
  ASSERT_TRUE(u.account);
  EXPECT_EQ(u.account->sender.address(), "martin@example.test");
  EXPECT_EQ(u.account->login, "martin@example.test");
  EXPECT_EQ(u.account->host, "smtp.example.test");
}

TEST_F(Config, RefusesAnUnknownKeyNamingIt) {
  const auto e = failure(minimal + "colour = \"blue\"\n");
  EXPECT_EQ(e.field(), at(7, "sites.sud.smtp.colour"));
  EXPECT_NE(std::string(e.what()).find("unknown key"), std::string::npos);
}

TEST_F(Config, RefusesAnUnknownTopLevelTable) {
  const auto e = failure("[site.sud]\nfrom = \"sud@example.test\"\n");
  EXPECT_EQ(e.field(), at(1, "site"));
}

TEST_F(Config, RefusesAPortThatIsNotANumber) {
  const auto e = failure(minimal + "port = \"abc\"\n");
  EXPECT_EQ(e.field(), at(7, "sites.sud.smtp.port"));
  EXPECT_EQ(std::string(e.what()),
            at(7, "sites.sud.smtp.port") + ": expected an integer from 1 to 65535, got \"abc\"");
}

TEST_F(Config, RefusesAPortOutOfRange) {
  for (const auto* port : {"0", "65536", "-25"}) {
    const auto e = failure(minimal + "port = " + port + "\n");
    EXPECT_EQ(e.field(), at(7, "sites.sud.smtp.port"));
    EXPECT_NE(std::string(e.what()).find(std::string("got ") + port), std::string::npos)
        << e.what();
  }
}

TEST_F(Config, RefusesAnUnknownSecurityMode) {
  const auto e = failure(minimal + "security = \"ssl\"\n");
  EXPECT_EQ(e.field(), at(7, "sites.sud.smtp.security"));
  EXPECT_NE(std::string(e.what()).find("expected one of starttls, tls, none, got \"ssl\""),
            std::string::npos)
      << e.what();
  EXPECT_NE(std::string(e.what()).find("is called tls here"), std::string::npos) << e.what();
}

TEST_F(Config, ReadsChoicesWrittenInCapitalsAsProvidersWriteThem) {
  const auto cfg =
      envoi::load_config(write(minimal + "security = \"STARTTLS\"\nauth = \"LOGIN\"\n"));
  EXPECT_EQ(cfg.sites.at("sud").account.security, envoi::security::starttls);
  EXPECT_EQ(cfg.sites.at("sud").account.auth, envoi::auth_method::login);
}

TEST_F(Config, RefusesAPasswordInTheFileWithoutQuotingIt) {
  for (const std::string key : {"password", "client_secret", "refresh_token"}) {
    const std::string table = key == "password" ? "" : "[sites.sud.smtp.oauth2]\n";
    const auto e = failure(minimal + table + key + " = \"Tr3s-S3cret\"\n");
    const std::string prefix = key == "password" ? "sites.sud.smtp." : "sites.sud.smtp.oauth2.";
    EXPECT_EQ(e.field(), at(key == "password" ? 7 : 8, prefix + key)) << e.what();
    EXPECT_NE(std::string(e.what()).find("secrets never go in this file"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find(key + "_env"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("Tr3s-S3cret"), std::string::npos) << e.what();
  }
}

TEST_F(Config, RefusesAnUnknownAuthMethod) {
  const auto e = failure(minimal + "auth = \"ntlm\"\n");
  EXPECT_EQ(e.field(), at(7, "sites.sud.smtp.auth"));
  EXPECT_NE(std::string(e.what()).find("cram-md5, xoauth2, oauthbearer"), std::string::npos)
      << e.what();
}

TEST_F(Config, ReadsEachAuthMethodName) {
  for (const auto& [name, method] : {std::pair{"cram-md5", envoi::auth_method::cram_md5},
                                     std::pair{"xoauth2", envoi::auth_method::xoauth2},
                                     std::pair{"oauthbearer", envoi::auth_method::oauthbearer}}) {
    const auto cfg = envoi::load_config(write(minimal + "auth = \"" + name + "\"\n"));
    EXPECT_EQ(cfg.sites.at("sud").account.auth, method) << name;
  }
}

TEST_F(Config, ReadsAPinnedCertificateFingerprintWithOrWithoutColons) {
  const std::string colons =
      "9f:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:B0:F0:"
      "0A:08";
  const std::string bare = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";
  for (const auto& text : {colons, bare}) {
    const auto cfg =
        envoi::load_config(write(minimal + "tls_fingerprint_sha256 = \"" + text + "\"\n"));
    const auto& pin = cfg.sites.at("sud").account.tls_fingerprint_sha256;
    EXPECT_FALSE(pin.empty());
    EXPECT_EQ(pin.to_string(),
              "9F:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:"
              "15:B0:F0:0A:08");
  }
  EXPECT_TRUE(
      envoi::load_config(write(minimal)).sites.at("sud").account.tls_fingerprint_sha256.empty());
}

TEST_F(Config, RefusesAFingerprintThatIsNotSha256Hex) {
  for (const std::string text :
       {"9F86D081", "SHA256:9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822C",
        "zz86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"}) {
    const auto e = failure(minimal + "tls_fingerprint_sha256 = \"" + text + "\"\n");
    EXPECT_EQ(e.field(), at(7, "sites.sud.smtp.tls_fingerprint_sha256")) << text;
    EXPECT_NE(std::string(e.what()).find("SHA-256 fingerprint"), std::string::npos) << e.what();
  }
}

TEST_F(Config, RefusesBothPasswordEnvAndPasswordFile) {
  const auto e = failure(minimal + "password_file = \"/etc/pw\"\n");
  EXPECT_EQ(e.field(), at(7, "sites.sud.smtp.password_file"));
  EXPECT_NE(std::string(e.what()).find("not both"), std::string::npos);
}

TEST_F(Config, RefusesAPasswordEnvThatIsNoVariableNameWithoutQuotingIt) {
  // The password itself, pasted where its variable's name belongs.
  for (const std::string pasted : {"Tr3s-S3cret!", "mot de passe", "9LIVES", "Tr0ub4dor"}) {
    std::string text = minimal;
    text.replace(text.find("ENVOI_SUD_PASSWORD"), 18, pasted);
    const auto e = failure(text);
    EXPECT_EQ(e.field(), at(6, "sites.sud.smtp.password_env")) << pasted;
    EXPECT_EQ(std::string(e.what()).find(pasted), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("never goes in this file"), std::string::npos) << e.what();
  }
}

TEST_F(Config, RefusesAPasswordFileThatIsNoFileWithoutQuotingIt) {
  // The password itself, pasted where a file's path belongs.
  const std::string by_variable = "password_env = \"ENVOI_SUD_PASSWORD\"";
  for (const std::string pasted : {"Tr3s-S3cret!", "mot de passe", "hunter2"}) {
    std::string text = minimal;
    text.replace(text.find(by_variable), by_variable.size(), "password_file = \"" + pasted + "\"");
    const auto e = failure(text);
    EXPECT_EQ(e.field(), at(6, "sites.sud.smtp.password_file")) << pasted;
    EXPECT_EQ(std::string(e.what()).find(pasted), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("never goes in this file"), std::string::npos) << e.what();
  }
  // A file of such a name beside the configuration is read as usual, and a path is
  // checked only when the password is needed.
  std::ofstream(dir_ / "sud-password") << "secret\n";
  std::string text = minimal;
  text.replace(text.find(by_variable), by_variable.size(), "password_file = \"sud-password\"");
  EXPECT_EQ(envoi::load_config(write(text)).sites.at("sud").account.password.read(), "secret");
  text.replace(text.find("sud-password"), 12, "secrets/absent.pw");
  EXPECT_NO_THROW(envoi::load_config(write(text)));
}

TEST_F(Config, SaysToDropTheDollarOfAShellVariable) {
  std::string text = minimal;
  text.replace(text.find("ENVOI_SUD_PASSWORD"), 18, "$ENVOI_SUD_PASSWORD");
  const auto e = failure(text);
  EXPECT_EQ(e.field(), at(6, "sites.sud.smtp.password_env"));
  EXPECT_NE(std::string(e.what()).find("without the '$'"), std::string::npos) << e.what();
}

TEST_F(Config, ReadsEachStepsTimeLimit) {
  const auto cfg = envoi::load_config(write(minimal + R"([sites.sud.smtp.timeouts]
connect = 10
greeting = 60
data_end = 900
total = 0
)"));
  const auto& limits = cfg.sites.at("sud").account.timeouts;
  EXPECT_EQ(limits.connect, std::chrono::seconds(10));
  EXPECT_EQ(limits.greeting, std::chrono::seconds(60));
  EXPECT_EQ(limits.data_end, std::chrono::seconds(900));
  EXPECT_EQ(limits.total, std::chrono::milliseconds(0));
  EXPECT_EQ(limits.rcpt, envoi::smtp_timeouts{}.rcpt);  // unchanged where not written
}

TEST_F(Config, RefusesAnUnknownStepOrALimitOfZero) {
  auto e = failure(minimal + "[sites.sud.smtp.timeouts]\nhelo = 30\n");
  EXPECT_EQ(e.field(), at(8, "sites.sud.smtp.timeouts.helo"));
  EXPECT_NE(std::string(e.what()).find("expected one of connect, tls_handshake"), std::string::npos)
      << e.what();
  e = failure(minimal + "[sites.sud.smtp.timeouts]\ngreeting = 0\n");
  EXPECT_EQ(e.field(), at(8, "sites.sud.smtp.timeouts.greeting"));
  EXPECT_NE(std::string(e.what()).find("from 1 to 86400"), std::string::npos) << e.what();
}

TEST_F(Config, RefusesAMissingHostAtItsTable) {
  const auto e = failure(R"([sites.sud]
from = "sud@example.test"
[sites.sud.smtp]
port = 587
)");
  EXPECT_EQ(e.field(), at(3, "sites.sud.smtp.host"));
  EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos);
}

TEST_F(Config, RefusesAnEmptyHost) {
  const auto e = failure("[sites.sud]\nfrom = \"sud@example.test\"\nsmtp = { host = \"\" }\n");
  EXPECT_EQ(e.field(), at(3, "sites.sud.smtp.host"));
}

TEST_F(Config, RefusesAMissingSmtpTable) {
  const auto e = failure("[sites.sud]\nfrom = \"sud@example.test\"\n");
  EXPECT_EQ(e.field(), at(1, "sites.sud.smtp"));
}

TEST_F(Config, RefusesABadFromAddress) {
  const auto e = failure(R"([sites.sud]
from = "Clinique du Sud <sud.example.test>"
smtp = { host = "smtp.example.test" }
)");
  EXPECT_EQ(e.field(), at(2, "sites.sud.from"));
}

TEST_F(Config, RefusesABadBccCopyAddress) {
  const auto e = failure(minimal +
                         "[sites.nord]\nfrom = \"n@example.test\"\n"
                         "bcc_copy = \"verif@@example.test\"\n");
  EXPECT_EQ(e.field(), at(9, "sites.nord.bcc_copy"));
}

TEST_F(Config, RefusesAMissingFrom) {
  const auto e = failure("[sites.sud]\nname = \"Sud\"\nsmtp = { host = \"h\" }\n");
  EXPECT_EQ(e.field(), at(1, "sites.sud.from"));
}

TEST_F(Config, RefusesASharedAccountThatIsNotABoolean) {
  const auto e = failure(R"([sites.sud]
from = "sud@example.test"
shared_account = "oui"
smtp = { host = "h" }
)");
  EXPECT_EQ(e.field(), at(3, "sites.sud.shared_account"));
  EXPECT_NE(std::string(e.what()).find("expected true or false, got \"oui\""), std::string::npos);
}

TEST_F(Config, RefusesALoginWithoutAPassword) {
  const auto e = failure(
      "[sites.sud]\nfrom = \"sud@example.test\"\n"
      "smtp = { host = \"h\", login = \"sud\" }\n");
  EXPECT_EQ(e.field(), at(3, "sites.sud.smtp.login"));
}

TEST_F(Config, RefusesATimeoutThatIsNotPositive) {
  const auto e = failure(minimal + "timeout_seconds = 0\n");
  EXPECT_EQ(e.field(), at(7, "sites.sud.smtp.timeout_seconds"));
}

TEST_F(Config, RefusesASiteThatIsNotATable) {
  const auto e = failure("[sites]\nsud = \"smtp.example.test\"\n");
  EXPECT_EQ(e.field(), at(2, "sites.sud"));
}

TEST_F(Config, ReadsADkimKeyForASiteWithTheSendersDomainByDefault) {
  const auto made = std::system(
      ("openssl genpkey -algorithm ed25519 -out " + (dir_ / "dkim.pem").string() + " 2>/dev/null")
          .c_str());
  ASSERT_EQ(made, 0);
  const auto cfg = envoi::load_config(
      write(minimal + "[sites.sud.dkim]\nselector = \"envoi2026\"\nkey_file = \"dkim.pem\"\n"));
  const auto& signer = cfg.sites.at("sud").account.dkim;
  ASSERT_TRUE(signer);
  EXPECT_EQ(signer->domain(), "example.test");
  EXPECT_EQ(signer->selector(), "envoi2026");
  EXPECT_EQ(signer->algorithm(), "ed25519-sha256");
}

TEST_F(Config, RefusesADkimTableWithAMissingOrBadKey) {
  // [sites.sud.dkim] is line 7.
  auto e = failure(minimal + "[sites.sud.dkim]\nselector = \"s1\"\n");
  EXPECT_EQ(e.field(), at(7, "sites.sud.dkim.key_file"));
  EXPECT_NE(e.reason().find("missing"), std::string::npos);

  write("not a key\n", "bad.pem");
  e = failure(minimal + "[sites.sud.dkim]\nselector = \"s1\"\nkey_file = \"bad.pem\"\n");
  EXPECT_EQ(e.field(), at(9, "sites.sud.dkim.key_file"));
  EXPECT_NE(e.reason().find("PEM private key"), std::string::npos) << e.reason();

  e = failure(minimal + "[sites.sud.dkim]\nselector = \"s1\"\nkey_file = \"absent.pem\"\n");
  EXPECT_EQ(e.field(), at(9, "sites.sud.dkim.key_file"));
  EXPECT_NE(e.reason().find("absent.pem"), std::string::npos) << e.reason();

  e = failure(minimal + "[sites.sud.dkim]\nselector = \"a b\"\nkey_file = \"bad.pem\"\n");
  EXPECT_EQ(e.field(), at(8, "sites.sud.dkim.selector"));

  e = failure(minimal + "[sites.sud.dkim]\nselector = \"s1\"\nkey = \"x\"\n");
  EXPECT_EQ(e.field(), at(9, "sites.sud.dkim.key"));
}

TEST_F(Config, ReadsAnOauth2TableIntoATokenProviderThatWorks) {
  envoi::test::token_endpoint endpoint;
  ::setenv("ENVOI_TEST_CONFIG_REFRESH", "refresh-from-config", 1);
  const auto cfg = envoi::load_config(write(R"([sites.sud]
from = "Clinique du Sud <sud@example.test>"
[sites.sud.smtp]
host = "smtp.office365.com"
auth = "xoauth2"
[sites.sud.smtp.oauth2]
token_url = ")" + endpoint.url() + R"("
client_id = "envoi-app"
refresh_token_env = "ENVOI_TEST_CONFIG_REFRESH"
scope = "https://outlook.office365.com/SMTP.Send offline_access"
ca_file = ")" + endpoint.ca_file().string() +
                                            "\"\n"));
  const envoi::account& a = cfg.sites.at("sud").account;
  EXPECT_EQ(a.auth, envoi::auth_method::xoauth2);
  EXPECT_EQ(a.login, "sud@example.test");  // the mailbox the token is for
  ASSERT_TRUE(a.token_provider);
  EXPECT_EQ(a.token_provider->access_token(false), "access-1");
  ASSERT_EQ(endpoint.requests().size(), 1u);
  EXPECT_NE(endpoint.requests()[0].find(R"("refresh_token": "refresh-from-config")"),
            std::string::npos);
}

TEST_F(Config, RefusesABadOauth2TableAtTheKeyToChange) {
  const std::string head = minimal + "[sites.sud.smtp.oauth2]\n";  // line 7
  auto e = failure(head + "token_url = \"http://example.test/token\"\nclient_id = \"x\"\n" +
                   "refresh_token_env = \"R\"\n");
  EXPECT_EQ(e.field(), at(8, "sites.sud.smtp.oauth2.token_url"));
  EXPECT_NE(e.reason().find("https"), std::string::npos);
  e = failure(head + "token_url = \"https://example.test/token\"\nclient_id = \"x\"\n");
  EXPECT_EQ(e.field(), at(7, "sites.sud.smtp.oauth2.refresh_token_env"));
  e = failure(head + "token_url = \"https://example.test/token\"\nclient_id = \"x\"\n" +
              "client_secret_env = \"A\"\nclient_secret_file = \"b\"\n");
  EXPECT_EQ(e.field(), at(11, "sites.sud.smtp.oauth2.client_secret_file"));
  e = failure(head + "grant = \"password\"\n");
  EXPECT_EQ(e.field(), at(8, "sites.sud.smtp.oauth2.grant"));
  e = failure(head + "tenant = \"x\"\n");
  EXPECT_EQ(e.field(), at(8, "sites.sud.smtp.oauth2.tenant"));
}

TEST_F(Config, DefaultsTheLoginToWhatTheProviderExpects) {
  // Free wants the local part alone; Orange, like most, the whole address.
  const auto cfg = envoi::load_config(write(R"([sites.free]
from = "Clinique <prenom.nom@free.fr>"
[sites.free.smtp]
host = "smtp.free.fr"
password_env = "ENVOI_FREE_PASSWORD"
[sites.orange]
from = "Clinique <clinique.sud@orange.fr>"
[sites.orange.smtp]
host = "smtp.orange.fr"
password_env = "ENVOI_ORANGE_PASSWORD"
)"));
  EXPECT_EQ(cfg.sites.at("free").account.login, "prenom.nom");
  EXPECT_EQ(cfg.sites.at("orange").account.login, "clinique.sud@orange.fr");
}

TEST_F(Config, ReadsASitesQuota) {
  const auto cfg = envoi::load_config(
      write(minimal +
            "[sites.sud.quota]\nper_second = 5\nper_day = 500\nmax_message_bytes = 26214400\n"));
  const envoi::quota& q = cfg.sites.at("sud").account.quota;
  EXPECT_EQ(q.per_second, 5u);
  EXPECT_EQ(q.per_hour, 0u);
  EXPECT_EQ(q.per_day, 500u);
  EXPECT_EQ(q.max_message_bytes, 26214400u);
}

TEST_F(Config, RefusesAQuotaThatIsNotAPositiveCount) {
  auto e = failure(minimal + "[sites.sud.quota]\nper_day = 0\n");
  EXPECT_EQ(e.field(), at(8, "sites.sud.quota.per_day"));
  EXPECT_NE(e.reason().find("expected an integer from 1"), std::string::npos);
  e = failure(minimal + "[sites.sud.quota]\nper_minute = 3\n");
  EXPECT_EQ(e.field(), at(8, "sites.sud.quota.per_minute"));
}

TEST_F(Config, RefusesAUserOfAnUnknownSite) {
  const auto e = failure(minimal + "[users.martin]\nsite = \"ouest\"\nfrom = \"m@example.test\"\n");
  EXPECT_EQ(e.field(), at(8, "users.martin.site"));
}

TEST_F(Config, ChecksAUsersSmtpTableLikeASites) {
  const auto e = failure(minimal +
                         "[users.martin]\nsite = \"sud\"\nfrom = \"m@example.test\"\n"
                         "smtp = { host = \"h\", port = 99999 }\n");
  EXPECT_EQ(e.field(), at(10, "users.martin.smtp.port"));
}

TEST_F(Config, RefusesAnUnknownKeyInAUser) {
  const auto e = failure(minimal +
                         "[users.martin]\nsite = \"sud\"\nfrom = \"m@example.test\"\n"
                         "password = \"secret\"\n");
  EXPECT_EQ(e.field(), at(10, "users.martin.password"));
}

TEST_F(Config, NamesFileLineAndColumnOfASyntaxError) {
  const auto e = failure("[sites.sud]\nfrom = \"sud@example.test\"\nname = \"Sud\n");
  const auto prefix = (dir_ / "envoi.toml").string() + ":3:";
  EXPECT_EQ(e.field().substr(0, prefix.size()), prefix) << e.field();
  EXPECT_GT(e.field().size(), prefix.size()) << "no column in " << e.field();
  EXPECT_NE(std::string(e.what()).find("TOML syntax error"), std::string::npos);
  EXPECT_NE(std::string(e.what()).find("a closing quote (\") is missing"), std::string::npos)
      << e.what();
}

TEST_F(Config, SaysWhatToChangeForCommonSyntaxErrors) {
  const auto says = [&](const std::string& line, const std::string& hint) {
    const auto e = failure("[sites.sud]\n" + line + "\n");
    EXPECT_NE(std::string(e.what()).find(hint), std::string::npos) << line << ": " << e.what();
  };
  says("name = Clinique du Sud", "text goes in double quotes");
  says("name = \"Clinique v\xE9t\xE9rinaire\"", "save it as UTF-8");  // Latin-1
  says("[sites.nord", "needs its closing ']'");
}

TEST_F(Config, RefusesAFileThatDoesNotExist) {
  const auto path = dir_ / "absent.toml";
  try {
    envoi::load_config(path);
    FAIL() << "no error";
  } catch (const envoi::invalid_input& e) {
    EXPECT_EQ(e.field(), path.string());
    EXPECT_EQ(e.reason(), "the configuration file does not exist");
  }
  try {
    envoi::load_config(dir_ / "certs");
    FAIL() << "no error for a folder";
  } catch (const envoi::invalid_input& e) {
    EXPECT_EQ(e.reason(), "the configuration file is a folder, not a file");
  }
}

TEST_F(Config, RefusesACaFileThatIsMissingOrNotPem) {
  const auto missing = failure(minimal + "ca_file = \"no-such-ca.pem\"\n");
  EXPECT_EQ(missing.field(), at(7, "sites.sud.smtp.ca_file"));
  EXPECT_NE(std::string(missing.what()).find("cannot read"), std::string::npos) << missing.what();
  write("not a certificate\n", "hostname");
  const auto not_pem = failure(minimal + "ca_file = \"hostname\"\n");
  EXPECT_EQ(not_pem.field(), at(7, "sites.sud.smtp.ca_file"));
  EXPECT_NE(std::string(not_pem.what()).find("no PEM certificate"), std::string::npos);
}

TEST_F(Config, RefusesAHostWithAPortInIt) {
  auto text = minimal;
  text.replace(text.find("smtp.example.test"), 17, "smtp.example.test:587");
  const auto e = failure(text);
  EXPECT_EQ(e.field(), at(5, "sites.sud.smtp.host"));
  EXPECT_NE(std::string(e.what()).find("the port goes in port"), std::string::npos) << e.what();
}

}  // namespace
