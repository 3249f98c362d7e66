#include <envoi/preset.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <envoi/error.hpp>

#include "dns.hpp"
#include "support/process.hpp"

namespace {

// The fields of one CSV line; a field may be quoted ("a, b"), with "" for a quote.
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
      fields.back() += '"';
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      fields.emplace_back();
    } else if (c != '\r') {
      fields.back() += c;
    }
  }
  return fields;
}

// The rows of data/smtp-presets.csv as read now, each a map from column to value, so
// that a row added to the file is checked without touching this test.
std::vector<std::map<std::string, std::string>> csv_rows() {
  std::ifstream in(std::string(ENVOI_SOURCE_DIR) + "/data/smtp-presets.csv");
  std::string line;
  std::getline(in, line);
  const auto header = csv_fields(line);
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto fields = csv_fields(line);
    std::map<std::string, std::string> row;
    for (std::size_t i = 0; i < header.size() && i < fields.size(); ++i) row[header[i]] = fields[i];
    rows.push_back(row);
  }
  return rows;
}

envoi::security security_of(const std::string& csv) {
  return csv == "SSL" ? envoi::security::tls : envoi::security::starttls;
}

TEST(PresetTable, EveryCsvRowResolvesFromItsDomainOrRelayName) {
  const auto rows = csv_rows();
  ASSERT_GE(rows.size(), 50u);
  EXPECT_EQ(envoi::presets().size(), rows.size());
  for (const auto& row : rows) {
    const std::string key = row.at("domain");
    SCOPED_TRACE(key);
    const bool relay = key.starts_with("relay:");
    const auto p =
        relay ? envoi::find_relay(key.substr(6)) : envoi::find_preset("prenom.nom@" + key);
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->key, key);
    EXPECT_EQ(p->host, row.at("host"));
    EXPECT_EQ(std::to_string(p->port), row.at("port"));
    EXPECT_EQ(p->security, security_of(row.at("security")));
    EXPECT_EQ(p->oauth2, row.at("auth").find("OAuth2") != std::string::npos);
    EXPECT_EQ(p->password, row.at("auth").find("password-cleartext") != std::string::npos);
    EXPECT_EQ(p->source, row.at("source"));
    EXPECT_FALSE(p->provider.empty());
    EXPECT_NE(p->port, 25);
    if (!relay) {
      const auto s = envoi::suggest_settings("prenom.nom@" + key, {.use_dns = false});
      EXPECT_EQ(s.source, envoi::suggestion_source::table);
      EXPECT_EQ(s.login,
                row.at("username") == "%EMAILLOCALPART%" ? "prenom.nom" : "prenom.nom@" + key);
    }
  }
}

// The build's generator stops on a row it cannot map rather than compiling it in.
TEST(PresetGenerator, RefusesPort25AndUnknownSecurityNamingTheLine) {
  const envoi::test::temp_dir dir("presets");
  const std::string source = ENVOI_SOURCE_DIR;
  const auto generate = [&](const std::string& row) {
    std::ofstream(dir / "bad.csv") << "domain,host,port,security,auth,username,source\n"
                                   << "ok.test,smtp.ok.test,465,SSL,password-cleartext,"
                                      "%EMAILADDRESS%,here\n"
                                   << row << "\n";
    return envoi::test::run_command(
        "/usr/bin/python3 " + envoi::test::shell_quoted(source + "/cmake/generate_presets.py") +
        " " + envoi::test::shell_quoted((dir / "bad.csv").string()) + " " +
        envoi::test::shell_quoted(source + "/data/smtp-providers.toml") + " " +
        envoi::test::shell_quoted((dir / "out.cpp").string()));
  };
  const auto port25 = generate(
      "bad.test,smtp.bad.test,25,STARTTLS,password-cleartext,"
      "%EMAILADDRESS%,here");
  EXPECT_NE(port25.status, 0);
  EXPECT_NE(port25.output.find("bad.csv:3: port 25"), std::string::npos) << port25.output;
  const auto security = generate(
      "bad.test,smtp.bad.test,465,TLS,password-cleartext,"
      "%EMAILADDRESS%,here");
  EXPECT_NE(security.status, 0);
  EXPECT_NE(security.output.find("unknown security"), std::string::npos) << security.output;
  const auto fine = generate("good.test,smtp.good.test,587,STARTTLS,OAuth2,%EMAILLOCALPART%,here");
  EXPECT_EQ(fine.status, 0) << fine.output;
}

TEST(PresetTable, FreeWantsTheLocalPartAsLogin) {
  const auto s = envoi::suggest_settings("prenom.nom@free.fr", {.use_dns = false});
  EXPECT_EQ(s.provider, "Free");
  EXPECT_EQ(s.host, "smtp.free.fr");
  EXPECT_EQ(s.port, 465);
  EXPECT_EQ(s.security, envoi::security::tls);
  EXPECT_EQ(s.login, "prenom.nom");
  EXPECT_FALSE(s.login_is_placeholder);
  EXPECT_EQ(envoi::find_preset("laposte.net")->login, envoi::login_form::local_part);
}

TEST(PresetTable, OrangeWantsTheWholeAddressAsLogin) {
  const auto s =
      envoi::suggest_settings("Cabinet Vétérinaire <Accueil@Wanadoo.FR>", {.use_dns = false});
  EXPECT_EQ(s.host, "smtp.orange.fr");
  EXPECT_EQ(s.login, "Accueil@Wanadoo.FR");
}

TEST(PresetTable, MatchesDomainsWhateverTheirCase) {
  ASSERT_TRUE(envoi::find_preset("someone@GMAIL.Com"));
  EXPECT_EQ(envoi::find_preset("someone@GMAIL.Com")->host, "smtp.gmail.com");
  EXPECT_EQ(envoi::find_preset("Orange.FR")->host, "smtp.orange.fr");
}

TEST(PresetTable, MatchesADomainBelowARowsDomain) {
  const auto p = envoi::find_preset("accueil@clinique-veto.onmicrosoft.com");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host, "smtp.office365.com");
  EXPECT_FALSE(envoi::find_preset("someone@fr"));
}

TEST(PresetTable, ComparesInternationalisedDomainsInTheirAsciiForm) {
  // No row holds a non-ASCII domain, so the ASCII form is checked not to match by
  // accident, and an IDN address is accepted without throwing.
  EXPECT_FALSE(envoi::find_preset("accueil@clinique-vétérinaire.fr"));
  const auto s = envoi::suggest_settings("accueil@clinique-vétérinaire.fr", {.use_dns = false});
  EXPECT_EQ(s.source, envoi::suggestion_source::none);
  ASSERT_FALSE(s.notes.empty());
  EXPECT_NE(s.notes.front().find("xn--clinique-vtrinaire-kwbb.fr"), std::string::npos);
}

TEST(PresetTable, NeverReturnsARelayForAnAddress) {
  EXPECT_FALSE(envoi::find_preset("someone@relay:mailjet"));
  EXPECT_FALSE(envoi::find_preset("mailjet"));
}

TEST(PresetTable, RefusesWhatIsNotAnAddress) {
  EXPECT_FALSE(envoi::find_preset("not an address"));
  EXPECT_THROW((void)envoi::suggest_settings("not an address"), envoi::invalid_input);
  EXPECT_THROW((void)envoi::suggest_settings("a@"), envoi::invalid_input);
}

TEST(PresetNotes, GmailAsksForAnAppPassword) {
  const auto s = envoi::suggest_settings("clinique@gmail.com", {.use_dns = false});
  EXPECT_TRUE(s.oauth2);
  EXPECT_TRUE(s.password);
  const bool app_password = std::any_of(s.notes.begin(), s.notes.end(), [](const auto& n) {
    return n.find("app password") != std::string::npos;
  });
  EXPECT_TRUE(app_password);
}

TEST(PresetNotes, MicrosoftSaysPasswordSignInEndsInDecember2026) {
  const auto s = envoi::suggest_settings("accueil@clinique.onmicrosoft.com", {.use_dns = false});
  EXPECT_EQ(s.provider, "Microsoft 365 (Exchange Online)");
  const bool december = std::any_of(s.notes.begin(), s.notes.end(), [](const auto& n) {
    return n.find("December 2026") != std::string::npos && n.find("OAuth2") != std::string::npos;
  });
  EXPECT_TRUE(december);
}

TEST(Relay, MailjetTakesTheApiKeyAsLoginAndTheSecretKeyAsPassword) {
  const auto p = envoi::find_relay("Mailjet");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host, "in-v3.mailjet.com");
  EXPECT_EQ(p->login, envoi::login_form::credential);
  EXPECT_EQ(p->login_hint, "MAILJET_API_KEY");
  EXPECT_EQ(p->password_hint, "API secret key");
  const auto s = envoi::suggest_relay("mailjet", "rappels@clinique-veto.fr");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->login, "MAILJET_API_KEY");
  EXPECT_TRUE(s->login_is_placeholder);
}

TEST(Relay, SendGridLoginIsTheLiteralWordApikey) {
  const auto s = envoi::suggest_relay("sendgrid", "rappels@clinique-veto.fr");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->login, "apikey");
  EXPECT_FALSE(s->login_is_placeholder);
}

TEST(Relay, MailgunLoginIsPostmasterOfTheSendersDomain) {
  const auto s = envoi::suggest_relay("mailgun", "rappels@Clinique-Veto.fr");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->host, "smtp.eu.mailgun.org");
  EXPECT_EQ(s->login, "postmaster@clinique-veto.fr");
  EXPECT_FALSE(s->login_is_placeholder);
}

TEST(Relay, IsFoundByAliasAndListedByName) {
  EXPECT_EQ(envoi::find_relay("ses")->host, "email-smtp.eu-west-3.amazonaws.com");
  EXPECT_EQ(envoi::find_relay("sendinblue")->host, "smtp-relay.brevo.com");
  EXPECT_FALSE(envoi::find_relay("gmail.com"));
  EXPECT_FALSE(envoi::find_relay("nosuchrelay"));
  const auto names = envoi::relay_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "brevo"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "scaleway-tem"), names.end());
}

envoi::account account_on(std::uint16_t port, envoi::security security, std::string host) {
  envoi::account a;
  a.host = std::move(host);
  a.port = port;
  a.security = security;
  return a;
}

bool has_code(const std::vector<envoi::settings_warning>& w, std::string_view code) {
  return std::any_of(w.begin(), w.end(), [&](const auto& x) { return x.code == code; });
}

TEST(CheckSettings, WarnsAboutPort25) {
  const auto w = envoi::check_settings(account_on(25, envoi::security::starttls, "smtp.orange.fr"));
  ASSERT_TRUE(has_code(w, "port_25"));
  EXPECT_NE(w.front().text.find("465"), std::string::npos);
}

TEST(CheckSettings, WarnsWhenPortAndSecurityDisagree) {
  EXPECT_TRUE(
      has_code(envoi::check_settings(account_on(587, envoi::security::tls, "h")), "tls_on_587"));
  EXPECT_TRUE(has_code(envoi::check_settings(account_on(465, envoi::security::starttls, "h")),
                       "starttls_on_465"));
  EXPECT_TRUE(has_code(envoi::check_settings(account_on(587, envoi::security::none, "smtp.x.fr")),
                       "no_encryption"));
}

TEST(CheckSettings, IsQuietForEveryPresetOfTheTable) {
  for (const auto& p : envoi::presets()) {
    SCOPED_TRACE(p.key);
    EXPECT_TRUE(envoi::check_settings(account_on(p.port, p.security, std::string(p.host))).empty());
  }
}

// RFC 2782 ordering, on records built here (the DNS side is tested against dnsmasq).
TEST(SrvOrder, PutsLowerPriorityFirstWhateverTheWeights) {
  std::mt19937 random(1);
  const auto ordered = envoi::detail::order_srv(
      {{20, 100, 465, "b.test"}, {10, 0, 465, "a.test"}, {30, 5, 465, "c.test"}}, random);
  ASSERT_EQ(ordered.size(), 3u);
  EXPECT_EQ(ordered[0].target, "a.test");
  EXPECT_EQ(ordered[1].target, "b.test");
  EXPECT_EQ(ordered[2].target, "c.test");
}

TEST(SrvOrder, DrawsWithinAPriorityInProportionToWeight) {
  int heavy_first = 0;
  for (std::uint32_t seed = 0; seed < 2000; ++seed) {
    std::mt19937 random(seed);
    const auto ordered = envoi::detail::order_srv(
        {{10, 10, 465, "light.test"}, {10, 90, 465, "heavy.test"}}, random);
    ASSERT_EQ(ordered.size(), 2u);
    if (ordered[0].target == "heavy.test") ++heavy_first;
  }
  // 90% expected; the bounds are far outside what 2000 draws stray by.
  EXPECT_GT(heavy_first, 1700);
  EXPECT_LT(heavy_first, 1900);
}

TEST(SrvOrder, PutsAWeightZeroRecordLastAgainstWeightedOnes) {
  int zero_first = 0;
  for (std::uint32_t seed = 0; seed < 1000; ++seed) {
    std::mt19937 random(seed);
    const auto ordered =
        envoi::detail::order_srv({{10, 0, 465, "zero.test"}, {10, 50, 465, "main.test"}}, random);
    if (ordered[0].target == "zero.test") ++zero_first;
  }
  // Only a draw of exactly 0 out of 0..50 picks it.
  EXPECT_LT(zero_first, 60);
}

}  // namespace
