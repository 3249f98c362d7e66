#include "mime/icalendar.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace envoi::mime {
namespace {

// The length of the UTF-8 character whose first byte is `c`; 1 for a stray byte.
std::size_t char_length(unsigned char c) noexcept {
  if (c >= 0xF0 && c < 0xF8) return 4;
  if (c >= 0xE0) return 3;
  if (c >= 0xC0) return 2;
  return 1;
}

std::string format_local(std::chrono::sys_seconds t) {
  using namespace std::chrono;
  const sys_days day = floor<days>(t);
  const year_month_day ymd(day);
  const hh_mm_ss<seconds> time(t - day);
  return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     time.hours().count(), time.minutes().count(), time.seconds().count());
}

// RFC 5545 3.3.14: "+0200", "-0330".
std::string utc_offset(std::chrono::minutes offset) {
  const long total = static_cast<long>(offset.count());
  const long magnitude = total < 0 ? -total : total;
  return fmt::format("{}{:02}{:02}", total < 0 ? '-' : '+', magnitude / 60, magnitude % 60);
}

std::string date_time_property(std::string_view name, const calendar_event& e,
                               std::chrono::sys_seconds t) {
  // RFC 5545 3.3.5: form 3 (local time with TZID) or form 2 (UTC, "Z").
  if (e.time_zone.empty()) return ical_fold(fmt::format("{}:{}", name, ical_utc_time(t)));
  return ical_fold(fmt::format("{};TZID={}:{}", name, e.time_zone, format_local(t + e.utc_offset)));
}

std::string calendar_user(std::string_view name, const mailbox& m,
                          std::string_view extra_parameters) {
  std::string line(name);
  if (!m.display_name().empty()) line += ";CN=" + ical_param_value(m.display_name());
  line += extra_parameters;
  // RFC 5545 3.3.3: a CAL-ADDRESS is a URI; RFC 6068 mailto.
  line += ":mailto:" + m.address();
  return ical_fold(line);
}

}  // namespace

std::string ical_escape_text(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  for (std::size_t i = 0; i < utf8.size(); ++i) {
    const char c = utf8[i];
    if (c == '\\' || c == ';' || c == ',') {
      out += '\\';
      out += c;
    } else if (c == '\r' || c == '\n') {
      out += "\\n";
      if (c == '\r' && i + 1 < utf8.size() && utf8[i + 1] == '\n') ++i;
    } else {
      out += c;
    }
  }
  return out;
}

std::string ical_fold(std::string_view line) {
  std::string out;
  out.reserve(line.size() + line.size() / 64 * 3 + 2);
  std::size_t room = ical_line_octets;
  std::size_t pos = 0;
  while (pos < line.size()) {
    // RFC 5545 3.1: whole characters only on each line; a continuation line's leading
    // space counts towards its 75 octets.
    std::size_t end = pos;
    while (end < line.size()) {
      const std::size_t n =
          std::min(char_length(static_cast<unsigned char>(line[end])), line.size() - end);
      if (end + n - pos > room) break;
      end += n;
    }
    out.append(line.substr(pos, end - pos));
    pos = end;
    if (pos < line.size()) {
      out += "\r\n ";
      room = ical_line_octets - 1;
    }
  }
  out += "\r\n";
  return out;
}

std::string ical_param_value(std::string_view utf8) {
  std::string out = "\"";
  for (std::size_t i = 0; i < utf8.size(); ++i) {
    const char c = utf8[i];
    if (c == '^') {
      out += "^^";
    } else if (c == '"') {
      out += "^'";
    } else if (c == '\r' || c == '\n') {
      out += "^n";
      if (c == '\r' && i + 1 < utf8.size() && utf8[i + 1] == '\n') ++i;
    } else if (static_cast<unsigned char>(c) < 0x20 && c != '\t') {
      // RFC 5545 3.1: QSAFE-CHAR excludes control characters; they carry nothing a
      // calendar shows in a name.
      out += ' ';
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string ical_utc_time(std::chrono::sys_seconds t) {
  return format_local(t) + "Z";
}

std::string icalendar_request(const calendar_event& e, const mailbox& organizer,
                              const std::vector<mailbox>& attendees,
                              std::chrono::sys_seconds stamp) {
  std::string out =
      "BEGIN:VCALENDAR\r\n"
      "PRODID:-//envoi//envoi mail library//EN\r\n"
      "VERSION:2.0\r\n"
      "CALSCALE:GREGORIAN\r\n"
      "METHOD:REQUEST\r\n";

  // RFC 5545 3.2.19: every TZID used needs its VTIMEZONE. The offset given for the
  // appointment is stated as the zone's only observance, which is right for this event;
  // clients that know the zone by name use their own rules anyway.
  if (!e.time_zone.empty()) {
    const std::string offset = utc_offset(e.utc_offset);
    out += "BEGIN:VTIMEZONE\r\n" + ical_fold("TZID:" + e.time_zone) +
           "BEGIN:STANDARD\r\n"
           "DTSTART:19700101T000000\r\n"
           "TZOFFSETFROM:" +
           offset + "\r\nTZOFFSETTO:" + offset + "\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";
  }

  out += "BEGIN:VEVENT\r\n";
  out += ical_fold("UID:" + e.uid);
  out += "DTSTAMP:" + ical_utc_time(stamp) + "\r\n";
  out += date_time_property("DTSTART", e, e.start);
  out += date_time_property("DTEND", e, e.end);
  if (!e.summary.empty()) out += ical_fold("SUMMARY:" + ical_escape_text(e.summary));
  if (!e.location.empty()) out += ical_fold("LOCATION:" + ical_escape_text(e.location));
  if (!e.description.empty()) out += ical_fold("DESCRIPTION:" + ical_escape_text(e.description));
  out += calendar_user("ORGANIZER", organizer, "");
  // RFC 5546 3.2.2: a REQUEST names its attendees; RSVP asks their client for an answer.
  for (const mailbox& a : attendees)
    out += calendar_user("ATTENDEE", a, ";ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE");
  out +=
      "SEQUENCE:0\r\n"
      "STATUS:CONFIRMED\r\n"
      "END:VEVENT\r\n"
      "END:VCALENDAR\r\n";
  return out;
}

}  // namespace envoi::mime
