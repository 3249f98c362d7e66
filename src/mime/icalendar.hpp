// An appointment as an iCalendar object (RFC 5545) with METHOD:REQUEST (iTIP, RFC 5546),
// ready to travel as a text/calendar part (iMIP, RFC 6047). Internal to envoi.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <envoi/message.hpp>

namespace envoi::mime {

/// RFC 5545 3.1: a content line is at most 75 octets, CRLF excluded.
inline constexpr std::size_t ical_line_octets = 75;

/// A TEXT value (RFC 5545 3.3.11): backslash, ';' and ',' escaped with a backslash, every
/// line end (CRLF, LF or CR) written as "\n".
std::string ical_escape_text(std::string_view utf8);

/// One content line, folded (RFC 5545 3.1): lines of at most 75 octets joined by CRLF and
/// a space, never splitting a UTF-8 character, ended by CRLF.
std::string ical_fold(std::string_view line);

/// A parameter value (RFC 5545 3.2) as a quoted-string, with DQUOTE, line ends and '^'
/// written as RFC 6868 caret escapes, since a quoted-string can hold none of them.
std::string ical_param_value(std::string_view utf8);

/// A UTC time as RFC 5545 3.3.5 form 2: "20261208T133000Z".
std::string ical_utc_time(std::chrono::sys_seconds t);

/// The whole VCALENDAR with METHOD:REQUEST for `e`, CRLF line ends, folded. `organizer`
/// and `attendees` are the ones to write (the caller has applied the message's defaults).
std::string icalendar_request(const calendar_event& e, const mailbox& organizer,
                              const std::vector<mailbox>& attendees,
                              std::chrono::sys_seconds stamp);

}  // namespace envoi::mime
