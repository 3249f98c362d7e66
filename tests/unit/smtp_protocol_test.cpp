#include "smtp/protocol.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace envoi::smtp::detail {
namespace {

reply parse_all(std::initializer_list<std::string_view> lines, bool enhanced = false) {
  reply_parser p;
  p.expect_enhanced_codes(enhanced);
  for (auto line : lines) {
    const auto s = p.feed(line);
    EXPECT_NE(s, reply_parser::status::bad) << line;
  }
  return p.take();
}

// F22.
TEST(ReplyParser, ReadsAMultiLineGreetingToItsLastLine) {
  reply_parser p;
  EXPECT_EQ(p.feed("220-mail.example.test ESMTP"), reply_parser::status::more);
  EXPECT_EQ(p.feed("220-Usage abusif interdit."), reply_parser::status::more);
  EXPECT_EQ(p.feed("220 ready"), reply_parser::status::done);
  const auto r = p.take();
  EXPECT_EQ(r.code, 220);
  ASSERT_EQ(r.lines.size(), 3u);
  EXPECT_EQ(r.lines[2], "ready");
}

// F23: a bare "250" ends an EHLO reply; a "334" with no text is a challenge.
TEST(ReplyParser, AcceptsACodeWithNoText) {
  reply_parser p;
  EXPECT_EQ(p.feed("250-mail.example.test"), reply_parser::status::more);
  EXPECT_EQ(p.feed("250-PIPELINING"), reply_parser::status::more);
  EXPECT_EQ(p.feed("250"), reply_parser::status::done);
  EXPECT_TRUE(parse_ehlo(p.take()).pipelining);
  EXPECT_EQ(p.feed("334"), reply_parser::status::done);
  EXPECT_EQ(p.take().code, 334);
}

// F25.
TEST(ReplyParser, StripsAnEnhancedCodeOnlyWhenAdvertisedAndOfTheSameClass) {
  EXPECT_EQ(parse_all({"250 message processed"}, true).text(), "message processed");
  const auto queued = parse_all({"250 2.6.0 <id@example.test> Queued"}, true);
  EXPECT_EQ(queued.enhanced, "2.6.0");
  EXPECT_EQ(queued.text(), "<id@example.test> Queued");
  EXPECT_EQ(parse_all({"250 2.6.0 Queued"}, false).text(), "2.6.0 Queued");
  EXPECT_EQ(parse_all({"550 2.1.0 odd"}, true).enhanced, "");
}

TEST(ReplyParser, RefusesLinesThatAreNotReplies) {
  for (std::string_view bad : {"", "25", "abc", "2500 x", "099 x", "250x", "HTTP/1.1 400"}) {
    reply_parser p;
    EXPECT_EQ(p.feed(bad), reply_parser::status::bad) << bad;
  }
  reply_parser p;
  EXPECT_EQ(p.feed("250-first"), reply_parser::status::more);
  EXPECT_EQ(p.feed("550 other code"), reply_parser::status::bad);
}

TEST(ReplyParser, TakesUpToMaxLinesAndRefusesOneMore) {
  reply_parser p;
  for (std::size_t i = 1; i < reply_parser::max_lines; ++i)
    ASSERT_EQ(p.feed("250-line " + std::to_string(i)), reply_parser::status::more) << i;
  EXPECT_EQ(p.feed("250 last"), reply_parser::status::done);
  EXPECT_EQ(p.take().lines.size(), reply_parser::max_lines);

  for (std::size_t i = 0; i < reply_parser::max_lines; ++i)
    ASSERT_EQ(p.feed("220-hello"), reply_parser::status::more) << i;
  EXPECT_EQ(p.feed("220 hello"), reply_parser::status::too_long);
}

TEST(ReplyParser, TakesUpToMaxOctetsAndRefusesOneMore) {
  // Lines of 1 KiB with their code: 64 of them make 64 KiB.
  const std::string line = "250-" + std::string(1020, 'x');
  reply_parser p;
  for (std::size_t i = 0; i < reply_parser::max_octets / 1024; ++i)
    ASSERT_EQ(p.feed(line), reply_parser::status::more) << i;
  EXPECT_EQ(p.feed("250 x"), reply_parser::status::too_long);
  // The count starts over with the next reply.
  p.take();
  EXPECT_EQ(p.feed(line), reply_parser::status::more);
  EXPECT_EQ(p.feed("250 " + std::string(1020, 'x')), reply_parser::status::done);
}

TEST(Ehlo, ReadsCapabilitiesIncludingTheLegacyAuthForm) {
  const auto caps = parse_ehlo(
      parse_all({"250-mx.example.test", "250-PIPELINING", "250-SIZE 10240000",
                 "250-auth=LOGIN PLAIN", "250-STARTTLS", "250-8BITMIME", "250 SMTPUTF8"}));
  EXPECT_TRUE(caps.pipelining && caps.starttls && caps.eight_bit_mime && caps.smtputf8);
  EXPECT_EQ(caps.size_limit, 10240000u);
  EXPECT_EQ(caps.auth, (std::set<std::string>{"LOGIN", "PLAIN"}));
}

std::string stuff(std::string_view in) {
  std::string out;
  dot_stuff_state state;
  dot_stuff(in, state, out);
  dot_stuff_finish(state, out);
  return out;
}

TEST(DotStuffing, DoublesALeadingDotOnEveryLineIncludingTheFirst) {
  EXPECT_EQ(stuff(".profile mis à jour\r\n"), "..profile mis à jour\r\n.\r\n");
  EXPECT_EQ(stuff("Bonjour\r\n.\r\n.suite du texte\r\n..\r\nfin"),
            "Bonjour\r\n..\r\n..suite du texte\r\n...\r\nfin\r\n.\r\n");
}

TEST(DotStuffing, TurnsBareCrAndLfIntoCrlf) {
  EXPECT_EQ(stuff("Ligne 1\nLigne 2\rLigne 3\r\nLigne 4"),
            "Ligne 1\r\nLigne 2\r\nLigne 3\r\nLigne 4\r\n.\r\n");
  EXPECT_EQ(stuff("a\r"), "a\r\n.\r\n");
  EXPECT_EQ(stuff(""), ".\r\n");
  EXPECT_EQ(stuff("\n.x"), "\r\n..x\r\n.\r\n");
}

TEST(DotStuffing, GivesTheSameBytesWhateverHowTheInputIsSplit) {
  const std::string input = ".a\r\n.\r\nb\rc\n..d\r\r\n.\n\r.e";
  const std::string whole = stuff(input);
  for (std::size_t i = 0; i <= input.size(); ++i) {
    for (std::size_t j = i; j <= input.size(); ++j) {
      std::string out;
      dot_stuff_state state;
      dot_stuff(std::string_view(input).substr(0, i), state, out);
      dot_stuff(std::string_view(input).substr(i, j - i), state, out);
      dot_stuff(std::string_view(input).substr(j), state, out);
      dot_stuff_finish(state, out);
      ASSERT_EQ(out, whole) << "split at " << i << " and " << j;
    }
  }
}

TEST(DotStuffing, MatchesAPlainReadingOfTheRulesOnRandomText) {
  // The rules read one octet at a time, as a reference: CR, LF and CRLF each end a line
  // as CRLF; a line starting with '.' gets one more.
  const auto reference = [](const std::string& in) {
    std::string out;
    bool line_start = true;
    for (std::size_t i = 0; i < in.size(); ++i) {
      if (in[i] == '\r' || in[i] == '\n') {
        out += "\r\n";
        line_start = true;
        if (in[i] == '\r' && i + 1 < in.size() && in[i + 1] == '\n') ++i;
        continue;
      }
      if (line_start && in[i] == '.') out += '.';
      line_start = false;
      out += in[i];
    }
    if (!line_start) out += "\r\n";
    return out + ".\r\n";
  };
  std::mt19937 rng(5321);
  const std::string alphabet = "ab.\r\n .";
  for (int n = 0; n < 2000; ++n) {
    std::string input(rng() % 300, 'x');
    for (char& c : input) c = alphabet[rng() % alphabet.size()];
    const std::size_t split = input.empty() ? 0 : rng() % (input.size() + 1);
    std::string out;
    dot_stuff_state state;
    dot_stuff(std::string_view(input).substr(0, split), state, out);
    dot_stuff(std::string_view(input).substr(split), state, out);
    dot_stuff_finish(state, out);
    ASSERT_EQ(out, reference(input)) << testing::PrintToString(input) << " split " << split;
  }
}

// F49 (never "localhost") and F50 (the exact "IPv6:" tag; IPv4-mapped as IPv4).
TEST(EhloArgument, UsesAFullyQualifiedNameElseAnAddressLiteral) {
  EXPECT_EQ(ehlo_argument("poste-42.clinique.example", "192.0.2.10"), "poste-42.clinique.example");
  EXPECT_EQ(ehlo_argument("poste-42", "192.0.2.10"), "[192.0.2.10]");
  EXPECT_EQ(ehlo_argument("localhost", "127.0.0.1"), "[127.0.0.1]");
  EXPECT_EQ(ehlo_argument("poste-42", "2001:db8::19"), "[IPv6:2001:db8::19]");
  EXPECT_EQ(ehlo_argument("", "::ffff:192.0.2.47"), "[192.0.2.47]");
}

TEST(Xtext, EncodesPlusEqualsSpaceControlsAndEightBitOctets) {
  EXPECT_EQ(xtext("QQ314159@clinique.example"), "QQ314159@clinique.example");
  EXPECT_EQ(xtext("a+b=c d"), "a+2Bb+3Dc+20d");
  EXPECT_EQ(xtext("\r\n\x7f"), "+0D+0A+7F");
  EXPECT_EQ(xtext("zo\xc3\xa9"), "zo+C3+A9");
  EXPECT_EQ(xtext(""), "");
}

}  // namespace
}  // namespace envoi::smtp::detail
