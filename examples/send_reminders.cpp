// Sends appointment reminders, one mail per CSV row, each from its site's account; the
// passwords come from the environment variables the config names. Usage:
//   send_reminders --config envoi.toml --csv rendez-vous.csv [--attach conseils.pdf]...
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>

#include <envoi/config.hpp>
#include <envoi/error.hpp>
#include <envoi/reminders.hpp>
#include <envoi/smtp/client.hpp>

namespace rem = envoi::reminders;

int main(int argc, char** argv) try {
  // Read the command line: one config, one CSV, any number of attachments.
  std::map<std::string, std::vector<std::string>> args;
  for (int i = 1; i + 1 < argc; i += 2) args[argv[i]].push_back(argv[i + 1]);
  if (argc % 2 == 0 || args["--config"].size() != 1 || args["--csv"].size() != 1 ||
      args.size() != 2 + args.count("--attach")) {
    std::cerr << "usage: send_reminders --config FILE --csv FILE [--attach FILE]...\n";
    return 2;
  }
  std::cout << std::unitbuf;  // each line is out as soon as it is printed
  std::vector<envoi::attachment> attachments;
  for (const auto& path : args["--attach"]) {
    if (!std::filesystem::is_regular_file(path))
      throw envoi::invalid_input("--attach", "no such file: " + path);
    attachments.push_back({path, {}, {}});
  }

  // Load the sites and the appointments; either failing is a setup error (status 2).
  const auto config = envoi::load_config(args["--config"][0]);
  const auto rows = rem::read_appointments(args["--csv"][0]);

  // Send each valid row through its site's connection, opened on first use and reused.
  std::map<std::string, envoi::smtp::client, std::less<>> clients;
  // A site whose account failed (login, TLS, connection) is not tried again for each row.
  std::map<std::string, std::string, std::less<>> failed_sites;
  int accepted = 0, refused = 0, invalid = 0, unknown = 0, setup = 0;
  for (auto row : rows) {
    // A bad row, or one naming a site the config lacks, never reaches a server.
    if (auto* a = std::get_if<rem::appointment>(&row); a && !config.sites.contains(a->site))
      row = rem::row_error{a->line, "site", "no site \"" + a->site + "\" in the config"};
    if (const auto* bad = std::get_if<rem::row_error>(&row)) {
      std::cout << "line " << bad->line << ": invalid " << bad->field << ": " << bad->reason
                << '\n';
      ++invalid;
      continue;
    }
    const auto& appt = std::get<rem::appointment>(row);
    const auto& site = config.sites.find(appt.site)->second;
    if (const auto f = failed_sites.find(appt.site); f != failed_sites.end()) {
      std::cout << "line " << appt.line << ": not sent " << appt.client.address() << ": "
                << f->second << '\n';
      ++refused;
      continue;
    }
    auto& client = clients.try_emplace(appt.site, site.account).first->second;

    // The verification copy goes in the envelope only, so the client never sees it.
    const auto msg = rem::make_reminder(appt, site, attachments);
    auto envelope = msg.make_envelope();
    if (const auto& copy = site.account.bcc_copy) envelope.add_recipient(*copy);

    // Send; what counts is the reply to the client's own address, not to the copy's.
    std::cout << "line " << appt.line << ": ";
    try {
      const auto report = client.send(envelope, msg);
      const auto mine =
          std::find_if(report.recipients.begin(), report.recipients.end(),
                       [&](const auto& r) { return r.address == appt.client.address(); });
      if (mine != report.recipients.end() && !mine->accepted()) {
        std::cout << "refused " << mine->address << ": " << mine->reply.to_string() << '\n';
        ++refused;
      } else {
        std::cout << "accepted " << appt.client.address() << " (" << report.final_reply.to_string()
                  << ")\n";
        ++accepted;
      }
    } catch (const envoi::smtp::send_error& e) {
      // The error names the step that failed, the server's reply and what it means.
      if (e.report().outcome_unknown) {
        // The whole message went out and no verdict came: sending it again on the next
        // run could give the client a second copy.
        std::cout << "may have been sent to " << appt.client.address()
                  << " (check before sending it again): " << e.what() << '\n';
        ++unknown;
        continue;
      }
      std::cout << "not sent " << appt.client.address() << ": " << e.what() << '\n';
      ++refused;
      if (e.step() < envoi::step::mail)  // the account itself failed: stop using it
        failed_sites[appt.site] =
            "site " + appt.site + " could not send (line " + std::to_string(appt.line) + ")";
      if (e.code() == envoi::errc::secret_unavailable) ++setup;
    }
  }

  // Say goodbye to each server, then sum up; any row not accepted makes the status 1.
  for (auto& [id, client] : clients) client.quit();
  std::cout << accepted << " accepted, " << refused << " refused, " << invalid << " invalid";
  if (unknown > 0) std::cout << ", " << unknown << " with no verdict (do not send them again)";
  std::cout << '\n';
  return setup ? 2 : refused + invalid + unknown == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "send_reminders: " << e.what() << '\n';
  return 2;
}
