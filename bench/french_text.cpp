#include "french_text.hpp"

namespace envoi::bench {

namespace {

// Written for these benchmarks: accents on about one word in six, lines of 60 to 90
// characters, as a clinic's letters have.
constexpr const char* paragraphs[] = {
    "Bonjour Madame Lefèvre,\n\n",
    "Nous vous rappelons le rendez-vous de Câline, votre chatte, le mardi 8 décembre 2026 "
    "à 14 h 30,\nà la clinique vétérinaire des Érables, 12 rue du Général-Leclerc à "
    "Fontenay-sous-Bois.\n\n",
    "Pour cette visite de contrôle annuelle, le docteur Béatrice Nguyễn procédera au rappel "
    "du vaccin\ncontre le typhus et le coryza, ainsi qu'à un examen complet : poids, dents, "
    "pelage, oreilles.\nSi Câline a présenté des symptômes inhabituels ces dernières "
    "semaines (perte d'appétit,\nvomissements, fatigue), notez-les : ils nous aideront à "
    "préparer l'examen.\n\n",
    "Merci de venir à jeun si une prise de sang est prévue : pas de repas après 20 h la "
    "veille,\nmais de l'eau à volonté. Pensez à apporter son carnet de santé et, pour les "
    "chats,\nune caisse de transport fermée ; la salle d'attente accueille aussi des "
    "chiens.\n\n",
    "En cas d'empêchement, merci de nous prévenir dès que possible, au moins 24 heures à "
    "l'avance :\nnous pourrons ainsi proposer ce créneau à un autre animal. Vous pouvez "
    "répondre à ce courriel\nou nous appeler au 01 23 45 67 89, du lundi au samedi, de 8 h "
    "à 19 h.\n\n",
    "Depuis le 1er septembre, nous proposons aussi des consultations de comportement et "
    "de nutrition :\nsi Câline prend du poids ou griffe les meubles, parlez-en au "
    "vétérinaire pendant la visite.\nUn bilan diététique personnalisé vous sera remis, "
    "avec des conseils adaptés à son âge,\nà son mode de vie (intérieur ou extérieur) et à "
    "ses éventuelles allergies. Les croquettes\nprescrites sont disponibles à l'accueil, "
    "où nos assistantes répondront volontiers à vos questions.\n\n",
    "Le stationnement est gratuit dans la cour de la clinique ; l'accès est de plain-pied "
    "pour les\npersonnes à mobilité réduite. Les règlements par carte, espèces ou chèque "
    "sont acceptés.\n\n",
    "Toute l'équipe se réjouit de vous accueillir toutes les deux.\n\n"
    "À très bientôt,\n"
    "L'équipe de la clinique vétérinaire des Érables\n",
};

}  // namespace

const std::string& reminder_body() {
  static const std::string body = [] {
    std::string s;
    for (const char* p : paragraphs) s += p;
    return s;
  }();
  return body;
}

std::string french_text(std::size_t size) {
  std::string out;
  out.reserve(size);
  const std::string& body = reminder_body();
  while (out.size() < size) {
    std::size_t n = std::min(body.size(), size - out.size());
    // Never cut a UTF-8 character.
    while (n > 0 && n < body.size() && (static_cast<unsigned char>(body[n]) & 0xC0) == 0x80) --n;
    out.append(body, 0, n);
    if (n == 0) break;
  }
  return out;
}

}  // namespace envoi::bench
