#include "support/session_record.hpp"

namespace envoi::test {

using smtp::transcript_direction;

void session_record::install(smtp::client& c) {
  c.set_transcript(
      [this](transcript_direction d, std::string_view l) { lines.emplace_back(d, l); });
  c.set_log({[this](const log_event& e) { events.push_back(format(e)); }, log_level::debug});
}

std::string session_record::text() const {
  std::string all;
  for (const auto& [d, l] : lines)
    all += (d == transcript_direction::sent       ? "C: "
            : d == transcript_direction::received ? "S: "
                                                  : "* ") +
           l + "\n";
  for (const auto& e : events) all += "log: " + e + "\n";
  return all;
}

bool session_record::has(transcript_direction d, std::string_view line) const {
  for (const auto& [dir, l] : lines)
    if (dir == d && l == line) return true;
  return false;
}

std::string session_record::event(std::string_view name) const {
  for (const auto& e : events) {
    const auto start = e.find(' ') + 1;
    const auto end = e.find(' ', start);
    if (e.compare(start, end - start, name) == 0) return e;
  }
  return {};
}

std::vector<std::string> session_record::verbs() const {
  std::vector<std::string> out;
  for (const auto& [d, l] : lines)
    if (d == transcript_direction::sent && !l.empty() && l.front() != '<')
      out.push_back(l.substr(0, l.find_first_of(" :")));
  return out;
}

}  // namespace envoi::test
