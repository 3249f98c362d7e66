#include "cases.hpp"

#include <cstdint>
#include <functional>
#include <utility>

namespace envoi::roundtrip {
namespace {

std::string repeat(const std::string& s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

// The message every case starts from; each case changes only what it is about.
round_trip_case plain(std::string id) {
  round_trip_case c;
  c.id = std::move(id);
  c.subject = "Rappel";
  c.from = {"Clinique du Sud", "sud@example.test"};
  c.to = {{"", "zoe@example.test"}};
  c.text = "Bonjour,\n";
  return c;
}

round_trip_case with(std::string id, const std::function<void(round_trip_case&)>& change) {
  round_trip_case c = plain(std::move(id));
  change(c);
  return c;
}

round_trip_case subject_case(std::string id, std::string subject) {
  return with(std::move(id), [&](round_trip_case& c) { c.subject = subject; });
}

// The name goes both in From and in a To, so both header kinds are exercised.
round_trip_case name_case(std::string id, std::string name) {
  return with(std::move(id), [&](round_trip_case& c) {
    c.from.name = name;
    c.to = {{name, "zoe@example.test"}, {"Cabinet", "cabinet@example.test"}};
  });
}

round_trip_case text_case(std::string id, std::string text) {
  return with(std::move(id), [&](round_trip_case& c) { c.text = text; });
}

// The same text in a multipart message, where nothing may be added at its end.
round_trip_case text_with_file_case(std::string id, std::string text) {
  return with(std::move(id), [&](round_trip_case& c) {
    c.text = text;
    c.files = {{"note.bin", 3, 7, ""}};
  });
}

round_trip_case file_case(std::string id, std::string name, std::size_t size) {
  return with(std::move(id), [&](round_trip_case& c) {
    c.files = {{name, size, static_cast<unsigned>(size) + 11, ""}};
  });
}

std::string long_html_line() {
  std::string html = "<p><a href=\"https://clinique.example.test/rappel?patient=M%C3%A9dor";
  for (int i = 0; html.size() < 2000; ++i) html += "&amp;p" + std::to_string(i) + "=valeur";
  return html + "\">Confirmer le rendez-vous de Médor</a></p>";
}

std::vector<round_trip_case> make_cases() {
  const std::string e_acute_60 = repeat("é", 60);
  std::vector<round_trip_case> cases = {
      // Subjects (F06, F14, F15).
      subject_case("SubjectAccents", "Réunion mensuelle"),
      subject_case("SubjectSixtyEAcute", e_acute_60),
      subject_case("SubjectEmoji", "Rappel vaccin 🐶🐱 — n'oubliez pas 💉"),
      subject_case("SubjectPawsOnly", repeat("🐾", 30)),
      subject_case("SubjectCjk", "狗的疫苗接种提醒 ワクチン接種のお知らせ 예방접종 안내"),
      subject_case("SubjectRightToLeft", "تذكير بموعد الطبيب البيطري – תזכורת לחיסון"),
      subject_case("SubjectCombiningMarks", "Me\u0301dor cafe\u0301 pin\u0303a Zoe\u0308"),
      subject_case("SubjectZeroWidthJoiners",
                   "Famille 👨‍👩‍👧 et chien 🐕‍🦺 a\u200Db\u200Cc"),
      subject_case("SubjectLooksLikeEncodedWord", "voir =?utf-8?q?x?= ici"),
      subject_case("SubjectIsAnEncodedWord", "=?utf-8?q?x?="),
      subject_case("SubjectQuestionEqualsSoup", "a=?b ?= =? ?=?c =?utf-8?B?eA==?="),
      subject_case("SubjectOnlySpaces", "     "),
      subject_case("SubjectLeadingTrailingSpaces", "  Rappel  du   jour  "),
      subject_case("SubjectTabs", "\tRappel\tdu\t\tjour\t"),
      subject_case("SubjectSpecials", "Re: \"Devis\" (urgent); <a@b.test> \\ 100% , [ok] é"),
      subject_case("SubjectLongWordNoSpace", repeat("x", 200)),
      subject_case("SubjectManyShortWords", repeat("mot ", 60) + "fin"),
      subject_case("SubjectFoldsAccentedWords",
                   "Relevé de compte – échéance de l'été – dossier n° 4521 – rappel important"),
      subject_case("SubjectUnderscoresAndEquals", "Q_encodé_ a=b =3D _é_"),
      subject_case("SubjectControlCharacters", "cloche\x07 et suppr\x7F et \x1B[0m"),
      subject_case("SubjectSingleAccent", "é"),
      subject_case("SubjectLongWordAfterAccent", "é " + repeat("x", 100) + " fin"),

      // Display names (F11, F16, F56 c).
      name_case("NameCommaAndAccent", "Dupont, Hélène"),
      name_case("NameQuotesAndBackslash", "Le \"Doc\" \\ Martin"),
      name_case("NameSpecials", "Martin (Dr.) ; <vet@clinique.test> : [x] @ home"),
      name_case("NameWithAtSign", "contact@clinique"),
      name_case("NameLooksLikeEncodedWord", "=?utf-8?q?x?="),
      name_case("NameLongNoSpaces", repeat("A", 200)),
      name_case("NameLongWithSpaces", repeat("Jean-Baptiste Hélène ", 8) + "fin"),
      name_case("NameLongQuoted", "Dupont, Jean-Baptiste (Direction financière et comptable)"),
      name_case("NameLongAsciiQuoted",
                "Dupont, Jean-Baptiste (Direction financiere et comptable) "
                "- service des relations avec les clients"),
      name_case("NameLeadingTrailingSpaces", "  Zoé  Martin  "),
      name_case("NameAsciiLeadingTrailingSpaces", "  Zoe  Martin  "),
      name_case("NameOnlySpaces", "   "),
      name_case("NameTab", "Zoé\tMartin"),
      name_case("NameEmoji", "Médor 🐶 & Félix 🐱"),
      name_case("NameCjk", "山田 太郎"),
      name_case("NameRightToLeft", "د. أحمد – ד\"ר כהן"),
      name_case("NameCombiningAndJoiners", "Zoe\u0308 👩‍⚕️ Ve\u0301to"),
      name_case("NameGroupLike", "Équipe: soins; accueil"),
      name_case("NameSixtyEAcute", e_acute_60),
      name_case("NameSingleQuoteCharacter", "\""),
      with("CcOnlyNoTo",
           [](round_trip_case& c) {
             c.to.clear();
             c.cc = {{"Zoé, accueil", "zoe@example.test"}};
           }),
      with("ManyRecipientsAndCc",
           [](round_trip_case& c) {
             c.to.clear();
             for (int i = 0; i < 30; ++i)
               c.to.push_back({"Hélène Dupont-Léger, n°" + std::to_string(i),
                               "client" + std::to_string(i) + "@example.test"});
             c.cc = {{"", "nom.seul@example.test"},
                     {"Cabinet \"Les Tilleuls\"", "tilleuls@example.test"},
                     {"Zoé", "zoe2@example.test"}};
           }),
      with("QuotedLocalPart",
           [](round_trip_case& c) {
             c.to = {{"Jean", "\"jean dupont\"@example.test"}};
           }),
      with("InternationalisedDomain",
           [](round_trip_case& c) {
             c.to = {{"Zoé", "contact@clinique-vétérinaire.test"}};
           }),

      // Bodies (F01, F02, F05, F08, F21).
      text_case("TextDotLines", ".profile mis à jour\nBonjour\n.\n.suite du texte\n..\nfin\n"),
      text_case("TextLoneDot", "."),
      text_case("TextFromLines", "From here on\nFrom: x@y.test\n>From quoted\nFrom\n"),
      text_case("TextBoundaryLookingLines",
                "--boundary\n--=_envoi_000000000000000000000000\n--=_envoi_--\n--\n"),
      text_case("TextBareCrLfMix", "Ligne 1\nLigne 2\rLigne 3\r\nLigne 4\n\r\n\rfin"),
      text_case("TextLongSingleLine", repeat("x", 1500)),
      text_case("TextLongAccentedLine", repeat("é", 1500)),
      text_case("TextLongHtmlLine", long_html_line() + "\n"),
      text_case("TextEmpty", ""),
      text_case("TextNoFinalNewline", "sans fin de ligne"),
      text_case("TextTrailingWhiteSpace", "espace en fin \n\ttab\t\nfin  "),
      text_case(
          "TextEmojiCjkRtl",
          "🐶 Médor\n狗\nשלום עליכם\nمرحبا\nZoe\u0308 👨‍👩‍👧\n"),
      text_case("TextQuotedPrintableEdges",
                repeat("a", 75) + "\n" + repeat("b", 76) + "\n" + repeat("c", 77) + "\n" +
                    repeat("d", 78) + "\n" + repeat("e", 79) + "\n" + repeat("=", 40) + "\n" +
                    repeat("f", 74) + " \n" + repeat("g", 75) + "é\n=3D =\n"),
      text_case("TextOnlyLineEnds", "\n\n\r\n\r"),
      text_case("TextControlCharacters", "a\x01z\fform feed\x7F\x1B[0m\n"),
      text_case("TextLooksLikeEncodedWord", "=?utf-8?q?x?=\n"),
      text_case("TextSpaceAtSoftBreak", repeat("mot ", 400)),
      text_case("TextLineOf998", repeat("y", 998) + "\n" + repeat("z", 999)),
      text_with_file_case("MultipartTextNoFinalNewline", "sans fin de ligne"),
      text_with_file_case("MultipartTextEmpty", ""),
      text_with_file_case("MultipartTextBareCrLfMix", "Ligne 1\nLigne 2\rLigne 3\r\n"),
      text_with_file_case("MultipartTextDotsAndBoundaries", ".\n--\n--=_envoi_\n..\n"),
      text_with_file_case("MultipartTextLongLine", repeat("é", 1500)),

      // Attachment bytes (F10): base64 groups of 3 and lines of 57 bytes.
      file_case("FileSize0", "vide.bin", 0),
      file_case("FileSize1", "un.bin", 1),
      file_case("FileSize2", "deux.bin", 2),
      file_case("FileSize3", "trois.bin", 3),
      file_case("FileSize57", "ligne.bin", 57),
      file_case("FileSize58", "ligne-plus-un.bin", 58),
      file_case("FileSize76", "soixante-seize.bin", 76),
      file_case("FileSize77", "soixante-dix-sept.bin", 77),
      file_case("FileSize300KB", "relevé.pdf", 300 * 1024),

      // Attachment names (F18, F19).
      file_case("FileNameAccents", "relevé été.pdf", 100),
      file_case("FileNameSpaces", "compte rendu  final .pdf", 100),
      file_case("FileNameQuotes", "Compte \"rendu\" v2.txt", 100),
      file_case("FileNameSemicolonAndEquals", "a;b=c; filename=x.txt", 100),
      file_case("FileNamePercent", "100% remboursé %41%.pdf", 100),
      file_case("FileNameLongAccented",
                "relevé été 2026 – Médor – vaccins, vermifuges et antiparasitaires – "
                "facture détaillée n° 4521 – copie certifiée conforme.pdf",
                100),
      file_case("FileNameLongAscii", repeat("facture-", 15) + ".pdf", 100),
      file_case("FileNameLooksLikeEncodedWord", "=?utf-8?q?x?=.pdf", 100),
      file_case("FileNameEmoji", "🐶 photo de Médor.jpg", 100),
      file_case("FileNameCjk", "狗的照片.png", 100),
      file_case("FileNameBackslash", "dossier\\scan.pdf", 100),
      file_case("FileNameApostrophe", "l'été d'Médor.pdf", 100),
      file_case("FileNameLeadingTrailingSpaces", "  note.txt  ", 100),
      file_case("FileNameSixtyAscii", repeat("n", 56) + ".pdf", 100),
      file_case("FileNameSixtyOneAscii", repeat("n", 57) + ".pdf", 100),
      file_case("FileNameParentheses", "scan (2) [copie] {final}.pdf", 100),
      with("SeveralFilesAndAwkwardEverything",
           [&](round_trip_case& c) {
             c.subject = "  " + e_acute_60 + " =?utf-8?q?x?= 🐶  ";
             c.from = {"Dupont, Hélène (accueil)", "accueil@example.test"};
             c.cc = {{"=?utf-8?q?x?=", "x@example.test"}};
             c.text = ".\nFrom x\n--boundary\r\nsans fin";
             c.files = {{"relevé été.pdf", 57, 3, "application/pdf"},
                        {"vide.txt", 0, 4, "text/plain"},
                        {"Compte \"rendu\" ; v2.csv", 77, 5, ""},
                        {"photo.jpg", 1, 6, ""}};
           }),
  };
  return cases;
}

}  // namespace

const std::vector<round_trip_case>& all_cases() {
  static const std::vector<round_trip_case> cases = make_cases();
  return cases;
}

std::string file_bytes(const file& f) {
  // xorshift32: the same bytes on every machine; 1..255 so that no byte is NUL.
  std::uint32_t x = f.seed * 2654435761u + 1;
  std::string out(f.size, '\0');
  for (char& c : out) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(1 + x % 255);
  }
  return out;
}

}  // namespace envoi::roundtrip
