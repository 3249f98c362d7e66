#include <envoi/mailbox.hpp>

#include <string>

#include <gtest/gtest.h>

#include <envoi/error.hpp>

using envoi::invalid_input;
using envoi::mailbox;

namespace {

// The reason invalid_input gives for `text`, or "" when it parses.
std::string reason_for(std::string_view text, std::string_view field = "to") {
  try {
    mailbox::parse(text, field);
  } catch (const invalid_input& e) {
    EXPECT_EQ(e.field(), field);
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Mailbox, ParsesNameAndAddress) {
  const mailbox m = mailbox::parse("Clinique du Sud <sud@example.test>");
  EXPECT_EQ(m.display_name(), "Clinique du Sud");
  EXPECT_EQ(m.address(), "sud@example.test");
  EXPECT_EQ(m.local_part(), "sud");
  EXPECT_EQ(m.domain(), "example.test");
}

TEST(Mailbox, ParsesQuotedNameWithSpecials) {
  const mailbox m = mailbox::parse(R"(  "Dupont, Jean \"JB\"" <a@b.test>  )");
  EXPECT_EQ(m.display_name(), R"(Dupont, Jean "JB")");
  EXPECT_EQ(m.address(), "a@b.test");
}

TEST(Mailbox, ParsesBareAddressAndAddressInBrackets) {
  EXPECT_EQ(mailbox::parse("a@b.test"), mailbox("", "a@b.test"));
  EXPECT_EQ(mailbox::parse("<a@b.test>"), mailbox("", "a@b.test"));
}

TEST(Mailbox, AcceptsAnUnquotedNameWithAComma) {
  // What people type on a command line; the header form quotes it.
  const mailbox m = mailbox::parse("Dupont, Hélène <helene.dupont@example.test>");
  EXPECT_EQ(m.display_name(), "Dupont, Hélène");
}

TEST(Mailbox, ConvertsAnInternationalisedDomainToItsAsciiForm) {
  const mailbox m = mailbox::parse("Zoé <zoe@Clinique-Vétérinaire.test>");
  // The expected form is what Python's independent IDNA codec gives for this name.
  EXPECT_EQ(m.address(), "zoe@xn--clinique-vtrinaire-kwbb.test");
  EXPECT_FALSE(m.needs_smtputf8());
  EXPECT_EQ(m.to_header(), "=?utf-8?Q?Zo=C3=A9?= <zoe@xn--clinique-vtrinaire-kwbb.test>");
  // IDNA 2008 with the UTS 46 non-transitional mapping: ß stays a letter of its own.
  EXPECT_EQ(mailbox::parse("a@straße.test").domain(), "xn--strae-oqa.test");
  // Already-ASCII domains are left as written.
  EXPECT_EQ(mailbox::parse("a@Example.TEST").domain(), "Example.TEST");
}

TEST(Mailbox, FlagsAUtf8LocalPartAsNeedingSmtputf8) {
  EXPECT_TRUE(mailbox::parse("zoé@example.test").needs_smtputf8());
  EXPECT_FALSE(mailbox::parse("zoe@example.test").needs_smtputf8());
}

TEST(Mailbox, RefusesADomainThatIsNotAValidInternationalisedName) {
  try {
    mailbox::parse("a@\xE2\x98\x83\xE2\x98\x83.test", "to");  // U+2603 SNOWMAN, disallowed
    FAIL() << "accepted";
  } catch (const invalid_input& e) {
    EXPECT_EQ(e.field(), "to");
    EXPECT_NE(std::string(e.what()).find("internationalised"), std::string::npos) << e.what();
  }
}

TEST(Mailbox, AcceptsQuotedLocalPartsLiteralsAndUtf8) {
  EXPECT_EQ(mailbox::parse("\"jean@accueil\"@example.test").domain(), "example.test");
  EXPECT_EQ(mailbox::parse("\"jean@accueil\"@example.test").local_part(), "\"jean@accueil\"");
  EXPECT_NO_THROW(mailbox::parse("\"jean dupont\"@example.test"));
  EXPECT_NO_THROW(mailbox::parse("postmaster@[192.0.2.1]"));
  EXPECT_NO_THROW(mailbox::parse("postmaster@[IPv6:2001:db8::19]"));
  EXPECT_NO_THROW(mailbox::parse("zoé@exemple.test"));
  EXPECT_NO_THROW(mailbox::parse("zoe@clinique-vétérinaire.test"));
  EXPECT_NO_THROW(mailbox::parse("o'brien+rappel@a-b.example.test"));
  EXPECT_NO_THROW(mailbox::parse("root@localhost"));
}

TEST(Mailbox, ReasonsSayWhatIsWrong) {
  struct bad {
    const char* text;
    const char* reason;
  };
  const bad cases[] = {
      {"jean.example.test", "missing @"},
      {"jean@", "empty domain"},
      {"@example.test", "nothing before the @"},
      {"a@b@example.test", "more than one @"},
      {"Jean <jean@example.test", "'<' without '>'"},
      {"jean@example.test>", "'>' without '<'"},
      {"Jean <jean@example.test> x", "text after '>'"},
      {".jean@example.test", "starts with a dot"},
      {"jean.@example.test", "ends with a dot"},
      {"jean..dupont@example.test", "two dots in a row before the @"},
      {"jean dupont@example.test", "a space is not allowed before the @"},
      {"jean,dupont@example.test", "',' is not allowed before the @"},
      {"jean@exa_mple.test", "'_' is not allowed in a domain"},
      {"jean@example..test", "the domain has a dot at an end or two dots in a row"},
      {"jean@-example.test", "hyphen"},
      {"jean@[300.1.1.1]", "address literal"},
      {"\"Jean <jean@example.test>", "unterminated quoted display name"},
      {"", "empty address"},
      {"   ", "empty address"},
  };
  for (const bad& c : cases) {
    const std::string reason = reason_for(c.text);
    EXPECT_NE(reason.find(c.reason), std::string::npos)
        << "input " << c.text << " gave \"" << reason << "\"";
  }
  EXPECT_NE(reason_for(std::string(65, 'a') + "@example.test").find("64"), std::string::npos);
  EXPECT_NE(reason_for("a@" + std::string(64, 'b') + ".test").find("63"), std::string::npos);
}

TEST(Mailbox, RefusesLineBreaksAndNulAnywhere) {
  // F36: a line break in a name or address would let the caller's text start a header.
  EXPECT_NE(reason_for("Zoé\nX-Injected: 1 <zoe@example.test>").find("line break"),
            std::string::npos);
  EXPECT_NE(reason_for("zoe@example.test\r\nBcc: spy@example.test").find("line break"),
            std::string::npos);
  EXPECT_NE(reason_for(std::string("zoe@exa\0mple.test", 17)).find("NUL"), std::string::npos);
  EXPECT_THROW(mailbox("Zoé\r", "zoe@example.test"), invalid_input);
  EXPECT_THROW(mailbox("Zoé", "zoe@example.test\n"), invalid_input);
  EXPECT_THROW(mailbox("Zo\xE9", "zoe@example.test"), invalid_input);
}

TEST(Mailbox, ConstructorNamesTheField) {
  try {
    mailbox("Jean", "pas-une-adresse", "cc");
    FAIL() << "no exception";
  } catch (const invalid_input& e) {
    EXPECT_EQ(e.field(), "cc");
    EXPECT_NE(std::string(e.what()).find("missing @"), std::string::npos);
  }
}

TEST(Mailbox, HeaderFormIsTheBareAddressWithoutAName) {
  EXPECT_EQ(mailbox::parse("zoe@example.test").to_header(), "zoe@example.test");
  EXPECT_EQ(mailbox::parse("Zoe Martin <zoe@example.test>").to_header(),
            "Zoe Martin <zoe@example.test>");
}

TEST(Mailbox, HeaderFormQuotesSpecials) {
  // F11.
  EXPECT_EQ(mailbox("Dupont, Jean-Baptiste (Direction)", "jb@example.test").to_header(),
            "\"Dupont, Jean-Baptiste (Direction)\" <jb@example.test>");
  EXPECT_EQ(mailbox(R"(Le "Doc")", "doc@example.test").to_header(),
            R"("Le \"Doc\"" <doc@example.test>)");
}

TEST(Mailbox, HeaderFormEncodesNonAsciiNamesWithTheirSpecials) {
  // F16 and F56 (c): the name alone is non-ASCII, so the header stays ASCII.
  EXPECT_EQ(mailbox::parse("Dupont, Hélène <helene.dupont@example.test>").to_header(),
            "=?utf-8?Q?Dupont=2C_H=C3=A9l=C3=A8ne?= <helene.dupont@example.test>");
  EXPECT_EQ(mailbox::parse("Zoé <zoe@example.test>").to_header(),
            "=?utf-8?Q?Zo=C3=A9?= <zoe@example.test>");
}

TEST(Mailbox, ANameBeforeABareAddressIsToldToUseAngleBrackets) {
  EXPECT_NE(reason_for("Clinique du Sud accueil@example.test", "from")
                .find("Name <accueil@example.test>"),
            std::string::npos)
      << reason_for("Clinique du Sud accueil@example.test", "from");
  // Other mistakes keep their own reason alone.
  EXPECT_EQ(reason_for("a b@example.test, c@example.test").find("angle brackets"),
            std::string::npos);
  EXPECT_EQ(reason_for("accueil@exa mple.test").find("angle brackets"), std::string::npos);
}

TEST(Mailbox, SpacesTypedAroundTheAtOrInTheDomainAreShownWithoutThem) {
  for (const char* typed : {"helene @orange.fr", "helene@ orange.fr", "helene @ orange.fr",
                            "helene@orange .fr", " helene\t@orange.fr"}) {
    const std::string reason = reason_for(typed, "to");
    EXPECT_NE(reason.find("did you mean helene@orange.fr?"), std::string::npos) << typed;
    EXPECT_EQ(reason.find("angle brackets"), std::string::npos) << reason;
    EXPECT_EQ(reason.find("<@"), std::string::npos) << reason;
  }
  // Spaces that cannot be seen, pasted with the address, and a dot ending the domain.
  for (const char* typed :
       {"helene@orange.fr\xC2\xA0", "\xE2\x80\x8Bhelene@orange.fr", "helene@orange\xE2\x80\xAF.fr",
        "helene@orange.fr.", "helene @orange.fr.."}) {
    const std::string reason = reason_for(typed, "to");
    EXPECT_NE(reason.find("did you mean helene@orange.fr?"), std::string::npos) << reason;
  }
  // A name of several words before a spaced @ is no typing slip to undo; nothing invalid
  // is suggested either.
  EXPECT_EQ(reason_for("Hélène Dupont @orange.fr").find("did you mean"), std::string::npos);
  EXPECT_EQ(reason_for("Hélène Dupont @orange.fr").find("<@"), std::string::npos);
  EXPECT_EQ(reason_for("helene @orange..fr").find("did you mean"), std::string::npos);
}
