#include <envoi/resolver.hpp>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include <envoi/error.hpp>

#include "support/process.hpp"

namespace {

using envoi::account_resolver;
using envoi::invalid_input;
using envoi::purpose;

// A group of three sites and five users. Sud shares its account (the default); Nord and
// Est do not. Marie and Luc work at two sites each; Paul and Anne have no account of
// their own.
constexpr const char* group = R"(
[sites.sud]
name = "Clinique du Sud"
from = "Clinique du Sud <sud@example.test>"
bcc_copy = "verif-sud@example.test"
[sites.sud.smtp]
host = "smtp.sud.example.test"
password_env = "ENVOI_SUD_PASSWORD"

[sites.nord]
name = "Clinique du Nord"
from = "nord@example.test"
shared_account = false
[sites.nord.smtp]
host = "smtp.nord.example.test"

[sites.est]
name = "Clinique de l'Est"
from = "est@example.test"
shared_account = false
bcc_copy = "verif-est@example.test"
[sites.est.smtp]
host = "smtp.est.example.test"
port = 465
security = "tls"

[users.marie]
sites = ["sud", "nord"]
from = "Dr Marie Dupont <marie.dupont@example.test>"
[users.marie.smtp]
host = "smtp.marie.example.test"
password_env = "ENVOI_MARIE_PASSWORD"

[users.paul]
site = "nord"
from = "paul@example.test"

[users.anne]
site = "sud"
from = "Anne Martin <anne.martin@example.test>"

[users.julie]
site = "est"
from = "julie@example.test"
[users.julie.smtp]
host = "smtp.julie.example.test"

[users.luc]
sites = ["sud", "est"]
from = "luc@example.test"
[users.luc.smtp]
host = "smtp.luc.example.test"
bcc_copy_is_not_a_key = false
)";

class Resolver : public ::testing::Test {
 protected:
  // `group` without the last line, which only the error test below keeps.
  static std::string group_text() {
    std::string text = group;
    return text.substr(0, text.rfind("bcc_copy_is_not_a_key"));
  }

  account_resolver load(const std::string& text) {
    const auto path = dir_ / "envoi.toml";
    std::ofstream(path) << text;
    return account_resolver(envoi::load_config(path));
  }

  invalid_input failure(purpose why, std::string_view site, std::string_view user) {
    const auto resolver = load(group_text());
    try {
      resolver.resolve(why, site, user);
    } catch (const invalid_input& e) {
      return e;
    }
    ADD_FAILURE() << "no error for " << site << "/" << user;
    return invalid_input("", "");
  }

  envoi::test::temp_dir dir_{"resolver"};
};

TEST_F(Resolver, RemindersAlwaysUseTheSitesAccount) {
  const auto resolver = load(group_text());
  for (const char* user : {"", "paul", "marie"}) {
    const auto r = resolver.resolve(purpose::reminder, "nord", user);
    EXPECT_EQ(r.account.host, "smtp.nord.example.test") << user;
    EXPECT_EQ(r.account.sender.address(), "nord@example.test");
    EXPECT_EQ(r.reason,
              "site account of Clinique du Nord: reminders are sent in the clinic's name");
    EXPECT_EQ(r.user, nullptr);
  }
}

TEST_F(Resolver, ASharedSiteSendsCorrespondenceOfEveryUser) {
  const auto resolver = load(group_text());
  for (const char* user : {"anne", "marie", "luc"}) {
    const auto r = resolver.resolve(purpose::correspondence, "sud", user);
    EXPECT_EQ(r.account.host, "smtp.sud.example.test") << user;
    EXPECT_EQ(r.reason, "site account of Clinique du Sud: shared with all its users");
    ASSERT_NE(r.user, nullptr);
    EXPECT_EQ(r.user->id, user);
  }
}

TEST_F(Resolver, AnUnsharedSiteSendsThroughTheUsersOwnAccount) {
  const auto resolver = load(group_text());
  const auto marie = resolver.resolve(purpose::correspondence, "nord", "marie");
  EXPECT_EQ(marie.account.host, "smtp.marie.example.test");
  EXPECT_EQ(marie.account.sender.address(), "marie.dupont@example.test");
  EXPECT_EQ(marie.account.sender.display_name(), "Dr Marie Dupont");
  EXPECT_EQ(marie.account.login, "marie.dupont@example.test");
  EXPECT_EQ(marie.reason,
            "account of marie <marie.dupont@example.test>: Clinique du Nord does not share "
            "its account");
  EXPECT_FALSE(marie.account.bcc_copy);
}

TEST_F(Resolver, AUserOnSeveralSitesGetsEachSitesRule) {
  const auto resolver = load(group_text());
  EXPECT_EQ(resolver.resolve(purpose::correspondence, "sud", "luc").account.host,
            "smtp.sud.example.test");
  EXPECT_EQ(resolver.resolve(purpose::correspondence, "est", "luc").account.host,
            "smtp.luc.example.test");
  EXPECT_EQ(resolver.resolve(purpose::correspondence, "sud", "marie").account.host,
            "smtp.sud.example.test");
  EXPECT_EQ(resolver.resolve(purpose::correspondence, "nord", "marie").account.host,
            "smtp.marie.example.test");
}

TEST_F(Resolver, AUsersAccountKeepsTheSitesVerificationCopy) {
  const auto resolver = load(group_text());
  const auto julie = resolver.resolve(purpose::correspondence, "est", "julie");
  EXPECT_EQ(julie.account.host, "smtp.julie.example.test");
  EXPECT_EQ(julie.account.bcc_copy, "verif-est@example.test");
  EXPECT_EQ(julie.site->id, "est");
}

TEST_F(Resolver, CorrespondenceWithoutAUserUsesTheSitesAccount) {
  const auto r = load(group_text()).resolve(purpose::correspondence, "nord");
  EXPECT_EQ(r.account.host, "smtp.nord.example.test");
  EXPECT_EQ(r.reason,
            "site account of Clinique du Nord: sent in the site's name, as no user is named");
}

TEST_F(Resolver, NamesAnUnknownSiteAndListsTheKnownOnes) {
  const auto e = failure(purpose::reminder, "ouest", "");
  EXPECT_EQ(e.field(), "site");
  EXPECT_EQ(e.reason(), "no site \"ouest\" in the configuration; its sites are: est, nord, sud");
}

TEST_F(Resolver, NamesAnUnknownUser) {
  const auto e = failure(purpose::correspondence, "sud", "zoe");
  EXPECT_EQ(e.field(), "user");
  EXPECT_EQ(e.reason(),
            "no user \"zoe\" in the configuration; its users are: anne, julie, luc, marie, paul");
}

TEST_F(Resolver, RefusesAUserWhoDoesNotWorkAtTheSite) {
  const auto e = failure(purpose::correspondence, "nord", "julie");
  EXPECT_EQ(e.field(), "user");
  EXPECT_EQ(e.reason(),
            "julie does not work at Clinique du Nord (site \"nord\"); their sites are: est");
}

TEST_F(Resolver, RefusesAUserOfASharedSiteOnAnotherSite) {
  const auto e = failure(purpose::correspondence, "nord", "anne");
  EXPECT_EQ(e.field(), "user");
  EXPECT_EQ(e.reason(),
            "anne does not work at Clinique du Nord (site \"nord\"); their sites are: sud");
}

TEST_F(Resolver, SaysWhatToChangeForAUserWithoutAnAccountOnAnUnsharedSite) {
  const auto e = failure(purpose::correspondence, "nord", "paul");
  EXPECT_EQ(e.field(), "user");
  EXPECT_EQ(e.reason(),
            "paul has no SMTP account of their own, and Clinique du Nord does not share its "
            "account; add [users.paul.smtp] or set shared_account = true in [sites.nord]");
}

TEST_F(Resolver, TheConfigRefusesBadUserSites) {
  const auto refused = [&](const std::string& user_table) {
    try {
      load(group_text() + user_table);
    } catch (const invalid_input& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(refused("[users.zoe]\nsite = \"sud\"\nsites = [\"nord\"]\nfrom = \"a@example.test\"\n")
                .find("set either site or sites, not both"),
            std::string::npos);
  EXPECT_NE(refused("[users.zoe]\nsites = []\nfrom = \"a@example.test\"\n")
                .find("users.zoe.sites: expected a list of site ids"),
            std::string::npos);
  EXPECT_NE(refused("[users.zoe]\nsites = [\"sud\", \"ouest\"]\nfrom = \"a@example.test\"\n")
                .find("no [sites.ouest] in this file"),
            std::string::npos);
  EXPECT_NE(refused("[users.zoe]\nfrom = \"a@example.test\"\n").find("users.zoe.site: missing"),
            std::string::npos);
  // An unknown key in a user's smtp table is named with its full path.
  try {
    load(group);
    FAIL();
  } catch (const invalid_input& e) {
    EXPECT_NE(std::string(e.what()).find("users.luc.smtp.bcc_copy_is_not_a_key: unknown key"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(Resolver, SharedAccountMustBeTrueOrFalse) {
  std::string text = group_text();
  text.replace(text.find("shared_account = false"), 22, "shared_account = \"non\"");
  try {
    load(text);
    FAIL();
  } catch (const invalid_input& e) {
    EXPECT_NE(std::string(e.what()).find("sites.nord.shared_account: expected true or false"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
