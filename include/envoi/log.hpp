// The log sink: how the library tells the application what it did, since it never writes
// to stdout or stderr itself. Events have a level, a dotted name and named text fields;
// no secret (password, token, AUTH data) is ever put in one.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace envoi {

/// How much an event matters, least first.
enum class log_level : std::uint8_t { debug, info, warning, error };

/// "debug", "info", "warning" or "error".
std::string_view to_string(log_level level) noexcept;

/// The level named by `text` (the names of to_string, in any case); false when it names
/// none.
bool parse_log_level(std::string_view text, log_level& level) noexcept;

/// One named value of an event, e.g. {"host", "smtp.orange.fr"}.
struct log_field {
  std::string_view name;
  std::string_view value;
};

/// Something the library did or saw. The views stay valid only while the sink runs: a
/// sink that keeps an event copies it (or keeps format(event)).
struct log_event {
  log_level level = log_level::info;
  /// What happened, e.g. "smtp.connected"; the events are listed where they are sent
  /// (smtp::client::set_log).
  std::string_view name;
  std::span<const log_field> fields;

  /// The value of the field called `field_name`; empty when the event has none.
  std::string_view field(std::string_view field_name) const noexcept;
};

/// The event on one line: `info smtp.connected host=smtp.orange.fr port=465`. A value that
/// is empty or holds a space, a quote, a backslash, '=' or a control character is written
/// in double quotes, with `\"`, `\\` and `\xHH` escapes.
std::string format(const log_event& event);

/// Where events go: `write` receives every event at `threshold` or above. It runs on the
/// thread doing the work, inside the operation, so it should be quick; an exception it
/// throws is swallowed, so that logging never fails a send. An empty `write` logs nothing.
struct log_sink {
  std::function<void(const log_event&)> write;
  log_level threshold = log_level::info;

  bool enabled(log_level level) const noexcept { return write && level >= threshold; }
};

}  // namespace envoi
