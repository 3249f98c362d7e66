// Appointment reminders: the appointments file and the French reminder message.
//
// The file is CSV (RFC 4180: commas, double quotes, quoted fields may hold commas and
// line breaks) in UTF-8 with a header line naming the columns
// `site, client_name, email, pet_name, appointment`, in any order; the appointment is an
// ISO 8601 local date-time, `2026-12-08T14:30` (seconds optional, a space may replace T).
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <variant>
#include <vector>

#include <envoi/config.hpp>
#include <envoi/mailbox.hpp>
#include <envoi/message.hpp>

namespace envoi::reminders {

struct appointment {
  /// The file's line where the row starts (the header is line 1).
  std::size_t line = 0;
  std::string site;
  mailbox client;
  std::string pet_name;
  std::chrono::local_seconds when;
};

/// A row that cannot be used, and why.
struct row_error {
  std::size_t line = 0;
  /// The column at fault ("email", "appointment", ...), or "row".
  std::string field;
  std::string reason;
};

using row = std::variant<appointment, row_error>;

/// Reads every row, in file order. A bad row becomes a row_error and reading goes on.
/// Throws invalid_input when the file cannot be read or its header lacks a column.
std::vector<row> read_appointments(const std::filesystem::path& csv);

/// "mardi 8 décembre 2026".
std::string french_date(std::chrono::year_month_day d);
/// "14 h 30", "9 h".
std::string french_time(std::chrono::hh_mm_ss<std::chrono::seconds> t);

/// The reminder for one appointment, from the site's account, with `attachments`.
message make_reminder(const appointment& a, const site& s,
                      const std::vector<attachment>& attachments = {});

}  // namespace envoi::reminders
