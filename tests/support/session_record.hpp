// Records what a client tells about its sessions: the transcript, line by line, and every
// log event, down to debug, formatted. Tests search both for secrets and for steps.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <envoi/log.hpp>
#include <envoi/smtp/client.hpp>

namespace envoi::test {

struct session_record {
  std::vector<std::pair<smtp::transcript_direction, std::string>> lines;
  // format() of each log event, in order.
  std::vector<std::string> events;

  void install(smtp::client& c);

  // The transcript ("C: ", "S: ", "* " before each line), then the log events.
  std::string text() const;

  bool has(smtp::transcript_direction d, std::string_view line) const;

  // The first log event whose name is `name`, formatted; empty when there is none.
  std::string event(std::string_view name) const;

  // The commands the client sent, by their first word.
  std::vector<std::string> verbs() const;
};

}  // namespace envoi::test
