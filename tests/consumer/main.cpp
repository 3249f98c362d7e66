// Uses the installed envoi headers and library: parses two mailboxes, builds a message and
// renders it. Exits 0 and prints one line when all of that works.
#include <envoi/mailbox.hpp>
#include <envoi/message.hpp>

#include <exception>
#include <iostream>
#include <string>

namespace {

int fail(const std::string& why) {
  std::cerr << "envoi consumer: " << why << '\n';
  return 1;
}

}  // namespace

int main() {
  try {
    auto from =
        envoi::mailbox::parse("Clinique du Parc <accueil@clinique-du-parc.example>", "from");
    if (from.address() != "accueil@clinique-du-parc.example")
      return fail("parse gave the address '" + from.address() + "'");
    if (from.display_name() != "Clinique du Parc")
      return fail("parse gave the display name '" + from.display_name() + "'");

    envoi::message message;
    message.from(from)
        .add_to(envoi::mailbox::parse("marie.dupont@example.test", "to"))
        .subject("Rappel de vaccination")
        .text("Bonjour,\nLe vaccin de Filou est à faire.\n");

    auto envelope = message.make_envelope();
    if (envelope.mail_from != from.address() || envelope.recipients.size() != 1)
      return fail("unexpected envelope");

    std::string bytes = message.render();
    if (bytes.find("\r\n\r\n") == std::string::npos)
      return fail("the rendered message has no header/body separator");
    if (bytes.find("Subject: Rappel de vaccination\r\n") == std::string::npos)
      return fail("the rendered message has no Subject header");
    if (bytes.find("accueil@clinique-du-parc.example") == std::string::npos)
      return fail("the rendered message lacks the sender");

    std::cout << "envoi consumer: rendered " << bytes.size() << " bytes for "
              << envelope.recipients.size() << " recipient\n";
    return 0;
  } catch (const std::exception& e) {
    return fail(std::string("unexpected exception: ") + e.what());
  }
}
