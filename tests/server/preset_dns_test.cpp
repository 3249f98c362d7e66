// Provider discovery through DNS, against a dnsmasq started by each test on a free
// loopback port and answering only from the records the test gives it.
#include <envoi/preset.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include <envoi/error.hpp>

#include "dns.hpp"
#include "support/dns_server.hpp"

namespace {

using envoi::suggestion_source;
using envoi::test::dns_server;

envoi::suggest_options through(const std::string& server) {
  envoi::suggest_options o;
  o.dns.server = server;
  o.dns.timeout = std::chrono::seconds(1);
  return o;
}

bool any_note_has(const envoi::settings_suggestion& s, std::string_view words) {
  return std::any_of(s.notes.begin(), s.notes.end(),
                     [&](const auto& n) { return n.find(words) != std::string::npos; });
}

TEST(DnsResolver, ReadsEverySrvFieldAndLowersTheTarget) {
  const dns_server dns(
      {"--srv-host=_submissions._tcp.clinique.test,Mail.Clinique.test,465,10,60",
       "--srv-host=_submissions._tcp.clinique.test,backup.clinique.test,2465,20,0"});
  envoi::detail::dns_resolver resolver({.server = dns.address()});
  const auto answer = resolver.srv("_submissions._tcp.clinique.test");
  ASSERT_EQ(answer.status, envoi::detail::dns_status::ok);
  ASSERT_EQ(answer.records.size(), 2u);
  auto records = answer.records;
  std::sort(records.begin(), records.end(),
            [](const auto& a, const auto& b) { return a.priority < b.priority; });
  EXPECT_EQ(records[0].priority, 10);
  EXPECT_EQ(records[0].weight, 60);
  EXPECT_EQ(records[0].port, 465);
  EXPECT_EQ(records[0].target, "mail.clinique.test");
  EXPECT_EQ(records[1].port, 2465);
  EXPECT_EQ(records[1].target, "backup.clinique.test");
}

TEST(DnsResolver, SaysNoneForANameWithoutRecords) {
  const dns_server dns({"--mx-host=clinique.test,mx.clinique.test,10"});
  envoi::detail::dns_resolver resolver({.server = dns.address()});
  EXPECT_EQ(resolver.srv("_submission._tcp.clinique.test").status, envoi::detail::dns_status::none);
  EXPECT_EQ(resolver.mx("absent.test").status, envoi::detail::dns_status::none);
}

TEST(DnsResolver, SortsMxByPreference) {
  const dns_server dns({"--mx-host=clinique.test,second.clinique.test,20",
                        "--mx-host=clinique.test,first.clinique.test,5"});
  envoi::detail::dns_resolver resolver({.server = dns.address()});
  const auto answer = resolver.mx("clinique.test");
  ASSERT_EQ(answer.records.size(), 2u);
  EXPECT_EQ(answer.records[0].host, "first.clinique.test");
  EXPECT_EQ(answer.records[1].host, "second.clinique.test");
}

TEST(DnsResolver, RefusesAServerThatIsNotIpv4AndPort) {
  EXPECT_THROW(envoi::detail::dns_resolver({.server = "dns.example.test"}), envoi::invalid_input);
  EXPECT_THROW(envoi::detail::dns_resolver({.server = "127.0.0.1:0"}), envoi::invalid_input);
  EXPECT_THROW(envoi::detail::dns_resolver({.server = "127.0.0.1:x"}), envoi::invalid_input);
}

TEST(SuggestSettings, TakesSubmissionsSrvAsImplicitTls) {
  const dns_server dns({"--srv-host=_submissions._tcp.clinique.test,smtp.clinique.test,465,0,1",
                        "--srv-host=_submission._tcp.clinique.test,smtp.clinique.test,587,0,1"});
  const auto s = envoi::suggest_settings("accueil@clinique.test", through(dns.address()));
  EXPECT_EQ(s.source, suggestion_source::srv);
  EXPECT_EQ(s.host, "smtp.clinique.test");
  EXPECT_EQ(s.port, 465);
  EXPECT_EQ(s.security, envoi::security::tls);
  EXPECT_EQ(s.login, "accueil@clinique.test");
  EXPECT_NE(s.evidence.find("_submissions._tcp.clinique.test"), std::string::npos);
  EXPECT_FALSE(s.dns_failed);
}

TEST(SuggestSettings, FallsBackToSubmissionSrvAsStarttls) {
  const dns_server dns({"--srv-host=_submission._tcp.clinique.test,mail.clinique.test,587,0,0"});
  const auto s = envoi::suggest_settings("accueil@clinique.test", through(dns.address()));
  EXPECT_EQ(s.source, suggestion_source::srv);
  EXPECT_EQ(s.host, "mail.clinique.test");
  EXPECT_EQ(s.port, 587);
  EXPECT_EQ(s.security, envoi::security::starttls);
}

TEST(SuggestSettings, TakesTheLowestSrvPriority) {
  const dns_server dns(
      {"--srv-host=_submissions._tcp.clinique.test,backup.clinique.test,465,20,100",
       "--srv-host=_submissions._tcp.clinique.test,main.clinique.test,465,10,1"});
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(envoi::suggest_settings("a@clinique.test", through(dns.address())).host,
              "main.clinique.test");
}

TEST(SuggestSettings, SkipsAServiceWhoseSrvTargetIsDot) {
  // RFC 2782: "." says implicit TLS is not offered; STARTTLS still is.
  const dns_server dns({"--srv-host=_submissions._tcp.clinique.test",
                        "--srv-host=_submission._tcp.clinique.test,mail.clinique.test,587,0,0"});
  const auto s = envoi::suggest_settings("a@clinique.test", through(dns.address()));
  EXPECT_EQ(s.source, suggestion_source::srv);
  EXPECT_EQ(s.port, 587);
}

TEST(SuggestSettings, GuessesNothingWhenSrvSaysSubmissionIsNotOffered) {
  // The MX would point at Google, but the domain said plainly it offers no submission.
  const dns_server dns({"--srv-host=_submissions._tcp.clinique.test",
                        "--srv-host=_submission._tcp.clinique.test",
                        "--mx-host=clinique.test,aspmx.l.google.com,10"});
  const auto s = envoi::suggest_settings("a@clinique.test", through(dns.address()));
  EXPECT_EQ(s.source, suggestion_source::none);
  EXPECT_TRUE(s.host.empty());
  EXPECT_TRUE(any_note_has(s, "offers no server"));
  EXPECT_FALSE(s.dns_failed);
}

TEST(SuggestSettings, NeverSuggestsPort25FromSrv) {
  const dns_server dns({"--srv-host=_submission._tcp.clinique.test,mail.clinique.test,25,0,0",
                        "--srv-host=_submission._tcp.clinique.test,mail.clinique.test,587,10,0"});
  const auto s = envoi::suggest_settings("a@clinique.test", through(dns.address()));
  EXPECT_EQ(s.port, 587);
}

TEST(SuggestSettings, NamesTheProviderOfAKnownSrvTargetAndWarnsItIsElsewhere) {
  const dns_server dns({"--srv-host=_submissions._tcp.clinique.test,smtp.gmail.com,465,0,0"});
  const auto s = envoi::suggest_settings("a@clinique.test", through(dns.address()));
  EXPECT_EQ(s.provider, "Gmail / Google Workspace");
  EXPECT_TRUE(any_note_has(s, "outside clinique.test"));
  EXPECT_TRUE(any_note_has(s, "app password"));
}

TEST(SuggestSettings, RecognisesGoogleWorkspaceByItsMx) {
  const dns_server dns({"--mx-host=clinique-veto.test,aspmx.l.google.com,1",
                        "--mx-host=clinique-veto.test,alt1.aspmx.l.google.com,5"});
  const auto s =
      envoi::suggest_settings("Accueil <accueil@clinique-veto.test>", through(dns.address()));
  EXPECT_EQ(s.source, suggestion_source::mx);
  EXPECT_EQ(s.provider, "Gmail / Google Workspace");
  EXPECT_EQ(s.host, "smtp.gmail.com");
  EXPECT_EQ(s.login, "accueil@clinique-veto.test");
  EXPECT_NE(s.evidence.find("aspmx.l.google.com"), std::string::npos);
}

TEST(SuggestSettings, RecognisesMicrosoft365ByItsMx) {
  const dns_server dns(
      {"--mx-host=clinique-veto.test,clinique-veto-test.mail.protection.outlook.com,0"});
  const auto s = envoi::suggest_settings("accueil@clinique-veto.test", through(dns.address()));
  EXPECT_EQ(s.source, suggestion_source::mx);
  EXPECT_EQ(s.host, "smtp.office365.com");
  EXPECT_EQ(s.security, envoi::security::starttls);
  EXPECT_TRUE(any_note_has(s, "December 2026"));
}

TEST(SuggestSettings, RecognisesOvhByItsMx) {
  const dns_server dns({"--mx-host=clinique-veto.test,mx1.mail.ovh.net,1"});
  const auto s = envoi::suggest_settings("accueil@clinique-veto.test", through(dns.address()));
  EXPECT_EQ(s.source, suggestion_source::mx);
  EXPECT_EQ(s.host, "ssl0.ovh.net");
  EXPECT_EQ(s.port, 465);
}

TEST(SuggestSettings, AsksDnsAboutAnInternationalisedDomainInItsAsciiForm) {
  // clinique-vétérinaire.test is xn--clinique-vtrinaire-kwbb.test in DNS (IDNA 2008).
  const dns_server dns({"--mx-host=xn--clinique-vtrinaire-kwbb.test,aspmx.l.google.com,1"});
  const auto s =
      envoi::suggest_settings("accueil@clinique-vétérinaire.test", through(dns.address()));
  EXPECT_EQ(s.source, suggestion_source::mx);
  EXPECT_EQ(s.host, "smtp.gmail.com");
  EXPECT_EQ(s.login, "accueil@xn--clinique-vtrinaire-kwbb.test");
}

TEST(SuggestSettings, RecognisesGandiAndIonosByTheirMx) {
  const dns_server dns({"--mx-host=chez-gandi.test,spool.mail.gandi.net,10",
                        "--mx-host=chez-ionos.test,mx00.kundenserver.de,10",
                        "--mx-host=chez-ionos-fr.test,mx00.ionos.fr,10"});
  EXPECT_EQ(envoi::suggest_settings("a@chez-gandi.test", through(dns.address())).host,
            "mail.gandi.net");
  EXPECT_EQ(envoi::suggest_settings("a@chez-ionos.test", through(dns.address())).host,
            "smtp.1und1.de");
  EXPECT_EQ(envoi::suggest_settings("a@chez-ionos-fr.test", through(dns.address())).host,
            "smtp.ionos.fr");
}

TEST(SuggestSettings, SaysNothingIsKnownForAnUnknownMx) {
  const dns_server dns({"--mx-host=clinique-veto.test,mx.hebergeur-inconnu.test,10"});
  const auto s = envoi::suggest_settings("accueil@clinique-veto.test", through(dns.address()));
  EXPECT_EQ(s.source, suggestion_source::none);
  EXPECT_FALSE(s.dns_failed);
  EXPECT_TRUE(any_note_has(s, "Ask your mail provider"));
}

TEST(SuggestSettings, AsksNoDnsForADomainOfTheTable) {
  // The server named does not exist: a look-up would fail.
  const auto s = envoi::suggest_settings("a@orange.fr", through("127.0.0.1:1"));
  EXPECT_EQ(s.source, suggestion_source::table);
  EXPECT_FALSE(s.dns_failed);
}

TEST(SuggestSettings, ReportsADnsServerThatIsDown) {
  // Nothing listens on the port: the query is refused at once (ICMP port unreachable).
  const auto port = envoi::test::unused_port();
  const auto s =
      envoi::suggest_settings("a@clinique.test", through("127.0.0.1:" + std::to_string(port)));
  EXPECT_EQ(s.source, suggestion_source::none);
  EXPECT_TRUE(s.dns_failed);
  EXPECT_TRUE(any_note_has(s, "did not answer"));
}

TEST(SuggestSettings, GivesUpOnASilentDnsServerAfterOneTimeout) {
  // A socket that receives queries and never answers them.
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa), 0);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);

  const auto start = std::chrono::steady_clock::now();
  const auto s = envoi::suggest_settings(
      "a@clinique.test", through("127.0.0.1:" + std::to_string(ntohs(sa.sin_port))));
  const auto waited = std::chrono::steady_clock::now() - start;
  ::close(fd);
  EXPECT_EQ(s.source, suggestion_source::none);
  EXPECT_TRUE(s.dns_failed);
  // Not a speed target: the look-ups must stop after the first unanswered query (1 s
  // here) instead of waiting once per query; three queries would take at least 3 s.
  EXPECT_LT(waited, std::chrono::milliseconds(2900));
}

}  // namespace
