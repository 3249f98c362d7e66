#include <envoi/reminders.hpp>

#include <array>
#include <charconv>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include <envoi/error.hpp>

#include "text_file.hpp"

#include "mime/encoding.hpp"

namespace envoi::reminders {
namespace {

namespace chr = std::chrono;

// One CSV record (RFC 4180 2), with the line it starts on and the first quoting mistake
// in it, if any. A mistake does not stop the parse: the record still ends at the next
// line break outside quotes, so one bad row cannot swallow the rest of the file.
struct record {
  std::size_t line = 0;
  std::vector<std::string> fields;
  std::string error;
};

class csv_parser {
 public:
  explicit csv_parser(std::string_view text) : text_(text) {
    // Spreadsheets on Windows start UTF-8 exports with a byte order mark.
    if (text_.starts_with("\xEF\xBB\xBF")) text_.remove_prefix(3);
  }

  // The next record, or nothing at the end of the text. Blank lines are skipped.
  std::optional<record> next() {
    while (pos_ < text_.size()) {
      record r{line_, {}, {}};
      read_fields(r);
      if (r.fields.size() == 1 && r.fields[0].empty() && !quoted_) continue;
      return r;
    }
    return std::nullopt;
  }

 private:
  // Consumes a line end (CRLF, LF, or a lone CR from old Mac exports) if one is at pos_.
  bool line_end() {
    if (text_[pos_] == '\r') {
      pos_ += pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n' ? 2 : 1;
    } else if (text_[pos_] == '\n') {
      ++pos_;
    } else {
      return false;
    }
    ++line_;
    return true;
  }

  void read_fields(record& r) {
    std::string field;
    quoted_ = false;
    bool in_quotes = false, after_quotes = false;
    auto mistake = [&](std::string_view what) {
      if (r.error.empty()) r.error = what;
    };
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (in_quotes) {
        // RFC 4180 2.7: a quote inside a quoted field is written twice.
        if (c == '"' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '"') {
          field += '"';
          pos_ += 2;
        } else if (c == '"') {
          in_quotes = false;
          after_quotes = true;
          ++pos_;
        } else if (c == '\r' || c == '\n') {
          // RFC 4180 2.6: quoted fields may hold line breaks; keep them as LF.
          line_end();
          field += '\n';
        } else {
          field += c;
          ++pos_;
        }
        continue;
      }
      if (c == ',') {
        r.fields.push_back(std::move(field));
        field.clear();
        after_quotes = false;
        ++pos_;
      } else if (line_end()) {
        r.fields.push_back(std::move(field));
        return;
      } else if (c == '"' && field.empty() && !after_quotes) {
        in_quotes = quoted_ = true;
        ++pos_;
      } else {
        if (after_quotes) mistake("text after a closing quote; expected a comma");
        if (c == '"') mistake("a quote inside a field that does not start with a quote");
        field += c;
        ++pos_;
      }
    }
    if (in_quotes) mistake("a quoted field is never closed");
    r.fields.push_back(std::move(field));
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;
  bool quoted_ = false;
};

std::string_view trim(std::string_view s) {
  constexpr std::string_view space = " \t";
  const auto first = s.find_first_not_of(space);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(space) - first + 1);
}

// Reads `width` digits at `pos` into `out`, within [low, high].
bool digits(std::string_view s, std::size_t pos, std::size_t width, int low, int high, int& out) {
  if (pos + width > s.size()) return false;
  for (std::size_t i = pos; i < pos + width; ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  std::from_chars(s.data() + pos, s.data() + pos + width, out);
  return out >= low && out <= high;
}

// ISO 8601 local date-time: 2026-12-08T14:30, seconds optional, a space for the T.
std::optional<chr::local_seconds> parse_when(std::string_view s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (s.size() != 16 && s.size() != 19) return std::nullopt;
  if (!digits(s, 0, 4, 1, 9999, y) || s[4] != '-' || !digits(s, 5, 2, 1, 12, mo) || s[7] != '-' ||
      !digits(s, 8, 2, 1, 31, d))
    return std::nullopt;
  if ((s[10] != 'T' && s[10] != ' ') || !digits(s, 11, 2, 0, 23, h) || s[13] != ':' ||
      !digits(s, 14, 2, 0, 59, mi))
    return std::nullopt;
  if (s.size() == 19 && (s[16] != ':' || !digits(s, 17, 2, 0, 59, sec))) return std::nullopt;

  const chr::year_month_day date{chr::year(y), chr::month(static_cast<unsigned>(mo)),
                                 chr::day(static_cast<unsigned>(d))};
  if (!date.ok()) return std::nullopt;
  return chr::local_days(date) + chr::hours(h) + chr::minutes(mi) + chr::seconds(sec);
}

constexpr std::array<std::string_view, 5> columns = {"site", "client_name", "email", "pet_name",
                                                     "appointment"};

// Turns one record into an appointment, or says what is wrong with the first bad field.
row make_row(const record& r, const std::array<std::size_t, 5>& index, std::size_t width) {
  auto error = [&](std::string field, std::string reason) {
    return row_error{r.line, std::move(field), std::move(reason)};
  };
  if (!r.error.empty()) return error("row", r.error);
  if (r.fields.size() != width)
    return error(
        "row", fmt::format("expected {} fields as in the header, got {}", width, r.fields.size()));

  std::array<std::string, 5> v;
  for (std::size_t i = 0; i < columns.size(); ++i) v[i] = trim(r.fields[index[i]]);
  const auto& [site_id, client_name, email, pet_name, when_text] = v;

  for (std::size_t i = 0; i < columns.size(); ++i)
    if (!mime::is_valid_utf8(v[i]))
      return error(std::string(columns[i]),
                   "not valid UTF-8; save the file as UTF-8 (CSV UTF-8 in spreadsheets)");
  for (std::size_t i : {0u, 1u, 3u})
    if (v[i].empty()) return error(std::string(columns[i]), "empty; a value is required");
  for (std::size_t i : {1u, 3u})
    if (v[i].find_first_of("\r\n") != std::string::npos)
      return error(std::string(columns[i]), "holds a line break");

  appointment a;
  a.line = r.line;
  a.site = site_id;
  a.pet_name = pet_name;
  // The address is checked first; then only the name can fail, under its own column.
  try {
    const auto address = mailbox::parse(email, "email").address();
    a.client = mailbox(client_name, address, "client_name");
  } catch (const invalid_input& e) {
    return error(e.field(), e.reason());
  }
  if (auto when = parse_when(when_text))
    a.when = *when;
  else
    return error("appointment", fmt::format("expected a local date and time such as "
                                            "2026-12-08T14:30, got \"{}\"",
                                            when_text));
  return a;
}

// "Dupont, Hélène" is how files list people; a letter greets "Hélène Dupont".
std::string greeting_name(const std::string& name) {
  const auto comma = name.find(',');
  if (comma == std::string::npos || name.find(',', comma + 1) != std::string::npos) return name;
  const auto last = trim(std::string_view(name).substr(0, comma));
  const auto first = trim(std::string_view(name).substr(comma + 1));
  if (last.empty() || first.empty()) return name;
  return fmt::format("{} {}", first, last);
}

}  // namespace

std::vector<row> read_appointments(const std::filesystem::path& csv) {
  const auto text = detail::read_text_file(csv, "the appointments file");
  csv_parser parser(text);

  // The header names the columns, in any order; extra columns are ignored.
  const auto header = parser.next();
  const auto expected =
      fmt::format("expected a header line naming the columns {}", fmt::join(columns, ", "));
  if (!header) throw invalid_input(csv.string() + ":1: header", "the file is empty; " + expected);
  const auto header_field = fmt::format("{}:{}: header", csv.string(), header->line);
  std::array<std::size_t, 5> index{};
  for (std::size_t c = 0; c < columns.size(); ++c) {
    std::optional<std::size_t> found;
    for (std::size_t i = 0; i < header->fields.size(); ++i) {
      if (trim(header->fields[i]) != columns[c]) continue;
      if (found)
        throw invalid_input(header_field, fmt::format("column \"{}\" appears twice", columns[c]));
      found = i;
    }
    if (!found)
      throw invalid_input(header_field, fmt::format("no column \"{}\"; {}", columns[c], expected));
    index[c] = *found;
  }

  std::vector<row> rows;
  while (auto r = parser.next()) rows.push_back(make_row(*r, index, header->fields.size()));
  return rows;
}

std::string french_date(chr::year_month_day d) {
  if (!d.ok()) throw invalid_input("date", "not a valid calendar date");
  // chrono's weekday encoding counts from Sunday (0).
  static constexpr std::array<std::string_view, 7> days = {
      "dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"};
  static constexpr std::array<std::string_view, 12> months = {
      "janvier", "février", "mars",      "avril",   "mai",      "juin",
      "juillet", "août",    "septembre", "octobre", "novembre", "décembre"};

  const auto day = static_cast<unsigned>(d.day());
  // French writes the first day of a month as an ordinal, "1er", and the others as plain
  // numbers.
  const auto day_text = day == 1 ? std::string("1er") : std::to_string(day);
  return fmt::format("{} {} {} {}", days[chr::weekday(chr::sys_days(d)).c_encoding()], day_text,
                     months[static_cast<unsigned>(d.month()) - 1], static_cast<int>(d.year()));
}

std::string french_time(chr::hh_mm_ss<chr::seconds> t) {
  const auto hours = t.hours().count();
  const auto minutes = t.minutes().count();
  // French style: "14 h 30", and "9 h" on the hour; minutes always have two digits.
  if (minutes == 0) return fmt::format("{} h", hours);
  return fmt::format("{} h {:02}", hours, minutes);
}

// "de Médor", but "d'Olaf" and "d'Églantine": French elides "de" before a vowel.
std::string of_pet(std::string_view pet) {
  static constexpr std::string_view vowels[] = {"A", "E", "I", "O", "U", "Y", "a", "e", "i",
                                                "o", "u", "y", "À", "Â", "É", "È", "Ê", "Î",
                                                "Ô", "Û", "à", "â", "é", "è", "ê", "î", "ô"};
  for (const auto v : vowels)
    if (pet.substr(0, v.size()) == v) return fmt::format("d'{}", pet);
  return fmt::format("de {}", pet);
}

message make_reminder(const appointment& a, const site& s,
                      const std::vector<attachment>& attachments) {
  const auto day = chr::floor<chr::days>(a.when);
  const auto date = french_date(chr::year_month_day(day));
  const auto time = french_time(chr::hh_mm_ss<chr::seconds>(a.when - day));

  message m;
  m.from(s.account.sender);
  m.add_to(a.client);
  // French typography puts a space before the colon.
  m.subject(fmt::format("Rappel : rendez-vous {} le {} à {}", of_pet(a.pet_name), date, time));

  auto body = fmt::format(
      "Bonjour{},\n\n"
      "Nous vous rappelons le rendez-vous {} le {} à {}. Toute l'équipe se réjouit de "
      "vous accueillir tous les deux.\n\n",
      a.client.display_name().empty() ? "" : " " + greeting_name(a.client.display_name()),
      of_pet(a.pet_name), date, time);
  if (!attachments.empty())
    body += "Vous trouverez en pièce jointe quelques conseils pour préparer la visite.\n\n";
  body += fmt::format(
      "En cas d'empêchement, merci de nous prévenir dès que possible : nous pourrons "
      "ainsi proposer ce créneau à un autre animal.\n\n"
      "À très bientôt,\n"
      "{}\n",
      s.name);
  m.text(std::move(body));

  for (const auto& att : attachments) m.attach(att);
  return m;
}

}  // namespace envoi::reminders
