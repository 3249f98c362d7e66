#include <envoi/mailbox.hpp>

#include <arpa/inet.h>
#include <idn2.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>

#include <envoi/error.hpp>

#include "mime/encoding.hpp"

namespace envoi {
namespace {

// RFC 5321 4.5.3.1.1 and 4.5.3.1.2: size limits of the parts of a path.
constexpr std::size_t max_local_part = 64;
constexpr std::size_t max_domain = 255;
constexpr std::size_t max_label = 63;

bool is_alnum(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool is_8bit(char c) noexcept {
  return static_cast<unsigned char>(c) >= 0x80;
}

// RFC 5322 3.2.3 atext; 8-bit bytes are let through for UTF-8 local parts (RFC 6532 3.2).
bool is_local_char(char c) noexcept {
  return is_alnum(c) || is_8bit(c) ||
         std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

std::string quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

std::string_view trim(std::string_view s) noexcept {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

// The position of the closing DQUOTE of the quoted-string opening at `open`, or npos.
std::size_t closing_quote(std::string_view s, std::size_t open) noexcept {
  for (std::size_t i = open + 1; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i;
    }
  }
  return std::string_view::npos;
}

// Refuses what no part of a mailbox may hold, whatever the syntax.
void check_text(std::string_view text, std::string_view field, std::string_view what) {
  if (mime::has_cr_lf_or_nul(text))
    throw invalid_input(
        std::string(field),
        std::string(what) +
            (mime::has_line_break(text) ? " contains a line break" : " contains a NUL character"));
  if (!mime::is_valid_utf8(text))
    throw invalid_input(std::string(field), std::string(what) + " is not valid UTF-8");
}

void check_local_part(std::string_view local, std::string_view address, std::string_view field) {
  const auto fail = [&](const std::string& reason) {
    throw invalid_input(std::string(field), reason + " in " + quoted(address));
  };
  if (local.empty()) fail("nothing before the @");
  if (local.size() > max_local_part) fail("the part before the @ is longer than 64 characters");

  if (local.front() == '"') {
    // RFC 5322 3.2.4: a quoted local part holds printable characters and quoted-pairs.
    for (std::size_t i = 1; i + 1 < local.size(); ++i) {
      const char c = local[i];
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        fail("unescaped '\"' inside the quoted local part");
      } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
        fail("control character in the local part");
      }
    }
    return;
  }

  // RFC 5322 3.4.1: an unquoted local part is a dot-atom.
  if (local.front() == '.') fail("the part before the @ starts with a dot");
  if (local.back() == '.') fail("the part before the @ ends with a dot");
  if (local.find("..") != std::string_view::npos) fail("two dots in a row before the @");
  for (const char c : local) {
    if (c != '.' && !is_local_char(c))
      fail((c == ' ' ? std::string("a space") : std::string("'") + c + "'") +
           " is not allowed before the @ (unless that part is in double quotes)");
  }
}

void check_domain(std::string_view domain, std::string_view address, std::string_view field) {
  const auto fail = [&](const std::string& reason) {
    throw invalid_input(std::string(field), reason + " in " + quoted(address));
  };
  if (domain.empty()) fail("empty domain (nothing after @)");

  if (domain.front() == '[') {
    // RFC 5321 4.1.3: an address literal, IPv4 or "IPv6:" followed by an IPv6 address.
    if (domain.back() != ']') fail("'[' without ']' in the domain");
    std::string inner(domain.substr(1, domain.size() - 2));
    unsigned char buffer[16];
    bool ok = false;
    if (inner.rfind("IPv6:", 0) == 0) {
      ok = inet_pton(AF_INET6, inner.c_str() + 5, buffer) == 1;
    } else {
      ok = inet_pton(AF_INET, inner.c_str(), buffer) == 1;
    }
    if (!ok) fail("not a valid address literal");
    return;
  }

  if (domain.size() > max_domain) fail("domain longer than 255 characters");
  std::size_t pos = 0;
  while (true) {
    const std::size_t dot = std::min(domain.find('.', pos), domain.size());
    const std::string_view label = domain.substr(pos, dot - pos);
    // RFC 1035 2.3.1 (with RFC 1123 2.1): letters, digits and inner hyphens. 8-bit bytes
    // stand for an internationalised label, accepted as UTF-8.
    if (label.empty()) fail("the domain has a dot at an end or two dots in a row");
    if (label.size() > max_label)
      fail("a part of the domain between dots is longer than 63 characters");
    if (label.front() == '-' || label.back() == '-')
      fail("a part of the domain starts or ends with a hyphen");
    for (const char c : label) {
      if (!is_alnum(c) && c != '-' && !is_8bit(c))
        fail(std::string("'") + c + "' is not allowed in a domain");
    }
    if (dot == domain.size()) break;
    pos = dot + 1;
  }
}

// Spaces a person cannot see or did not mean: ASCII space and tab, and in UTF-8 the
// no-break space, the narrow no-break and thin spaces, the zero-width space and the
// byte-order mark (pasted from word processors and web pages).
constexpr std::string_view stray_spaces[] = {
    " ", "\t", "\xC2\xA0", "\xE2\x80\xAF", "\xE2\x80\x89", "\xE2\x80\x8B", "\xEF\xBB\xBF"};

// Checks `address` and returns the position of the '@' between local part and domain.
std::size_t check_address(std::string_view address, std::string_view field) {
  check_text(address, field, "the address");
  if (address.empty()) throw invalid_input(std::string(field), "empty address");

  // The '@' that counts is the one outside a quoted local part.
  std::size_t at = std::string_view::npos;
  std::size_t count = 0;
  for (std::size_t i = 0; i < address.size(); ++i) {
    if (address[i] == '"' && i == 0) {
      const std::size_t close = closing_quote(address, i);
      if (close == std::string_view::npos)
        throw invalid_input(std::string(field),
                            "unterminated quoted local part in " + quoted(address));
      i = close;
    } else if (address[i] == '@') {
      at = i;
      ++count;
    }
  }
  if (count == 0) throw invalid_input(std::string(field), "missing @ in " + quoted(address));
  if (count > 1) throw invalid_input(std::string(field), "more than one @ in " + quoted(address));
  // UTF-8 is allowed in an address, but an invisible space there (pasted with it from a
  // document or a web page) makes an address no one has.
  for (const std::string_view w : stray_spaces)
    if (w.size() > 1 && address.find(w) != std::string_view::npos)
      throw invalid_input(
          std::string(field),
          "an invisible space (no-break, thin or zero-width) is in " + quoted(address));

  check_local_part(address.substr(0, at), address, field);
  check_domain(address.substr(at + 1), address, field);
  return at;
}

std::string unquote(std::string_view s) {
  std::string out;
  for (std::size_t i = 1; i + 1 < s.size(); ++i) {
    if (s[i] == '\\' && i + 2 < s.size()) ++i;
    out += s[i];
  }
  return out;
}

}  // namespace

mailbox::mailbox(std::string display_name, std::string address, std::string_view field)
    : display_name_(std::move(display_name)), address_(std::move(address)) {
  check_text(display_name_, field, "the display name");
  const std::size_t at = check_address(address_, field);

  // An internationalised domain goes out as A-labels (RFC 5890, IDNA 2008 with the UTS 46
  // mapping), which every server accepts; only a UTF-8 local part needs SMTPUTF8.
  const std::string_view domain = std::string_view(address_).substr(at + 1);
  if (!mime::is_ascii(domain)) {
    const std::string unicode(domain);
    char* ascii = nullptr;
    const int rc = idn2_to_ascii_8z(unicode.c_str(), &ascii, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
    const std::unique_ptr<char, decltype(&idn2_free)> owner(ascii, &idn2_free);
    if (rc != IDN2_OK)
      throw invalid_input(std::string(field), "the domain " + quoted(unicode) +
                                                  " is not a valid internationalised name (" +
                                                  idn2_strerror(rc) + ")");
    address_.replace(at + 1, std::string::npos, ascii);
    check_domain(ascii, address_, field);
  }
}

namespace {

// `s` without stray spaces at its ends.
std::string_view trim_stray_spaces(std::string_view s) noexcept {
  for (bool again = true; again;) {
    again = false;
    for (const std::string_view w : stray_spaces) {
      if (s.starts_with(w)) {
        s.remove_prefix(w.size());
        again = true;
      }
      if (s.ends_with(w)) {
        s.remove_suffix(w.size());
        again = true;
      }
    }
  }
  return s;
}

// `s` without any stray space.
std::string without_stray_spaces(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    const auto w = std::find_if(std::begin(stray_spaces), std::end(stray_spaces),
                                [&](std::string_view w) { return s.substr(i).starts_with(w); });
    if (w != std::end(stray_spaces)) {
      i += w->size();
    } else {
      out += s[i++];
    }
  }
  return out;
}

// What the address `t` (whose only @ is at `at`) most likely was, when it differs from a
// valid address only by typing slips: spaces, seen or not, around its @, at its ends or
// in its domain, and dots ending the domain. A space inside the part before the @ is
// another mistake (a name before the address) and gets no suggestion.
std::optional<std::string> slip_corrected(std::string_view t, std::size_t at) {
  const std::string_view local = trim_stray_spaces(t.substr(0, at));
  if (local.empty() || without_stray_spaces(local) != local) return std::nullopt;
  std::string domain = without_stray_spaces(t.substr(at + 1));
  while (!domain.empty() && domain.back() == '.') domain.pop_back();
  const std::string candidate = std::string(local) + "@" + domain;
  if (candidate == t) return std::nullopt;
  try {
    return mailbox::parse(candidate).address();
  } catch (const invalid_input&) {
    return std::nullopt;
  }
}

}  // namespace

mailbox mailbox::parse(std::string_view text, std::string_view field) {
  check_text(text, field, "the mailbox");
  const std::string_view t = trim(text);
  if (t.empty()) throw invalid_input(std::string(field), "empty address");

  // The '<' that opens the address is the first one outside a quoted display name.
  std::size_t open = std::string_view::npos;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '"') {
      const std::size_t close = closing_quote(t, i);
      if (close == std::string_view::npos)
        throw invalid_input(std::string(field), "unterminated quoted display name in " + quoted(t));
      i = close;
    } else if (t[i] == '<') {
      open = i;
      break;
    }
  }
  if (open == std::string_view::npos) {
    if (t.find('>') != std::string_view::npos)
      throw invalid_input(std::string(field), "'>' without '<' in " + quoted(t));
    try {
      return mailbox("", std::string(t), field);
    } catch (const invalid_input& e) {
      const auto at = t.rfind('@');
      if (at == std::string_view::npos || t.find('@') != at) throw;
      // "helene @orange.fr", "helene@orange.fr.", a no-break space pasted after it:
      // slips that leave no doubt about the address meant.
      if (const auto meant = slip_corrected(t, at))
        throw invalid_input(std::string(field), e.reason() + "; did you mean " + *meant + "?");
      // "Clinique du Sud accueil@example.fr": a name written before a bare address.
      const auto space = t.find_last_of(" \t", at);
      if (space == std::string_view::npos || space + 1 == at) throw;
      throw invalid_input(std::string(field), e.reason() +
                                                  "; a name goes before the address, which is then "
                                                  "written between angle brackets: Name <" +
                                                  std::string(trim(t.substr(space + 1))) + ">");
    }
  }

  const std::size_t close = t.find('>', open);
  if (close == std::string_view::npos)
    throw invalid_input(std::string(field), "'<' without '>' in " + quoted(t));
  if (!trim(t.substr(close + 1)).empty())
    throw invalid_input(std::string(field), "text after '>' in " + quoted(t));

  // A display name may be quoted (and then hold specials) or written as it comes.
  std::string_view name = trim(t.substr(0, open));
  std::string display_name;
  if (!name.empty() && name.front() == '"') {
    const std::size_t end = closing_quote(name, 0);
    if (end == std::string_view::npos)
      throw invalid_input(std::string(field), "unterminated quoted display name in " + quoted(t));
    if (end + 1 != name.size())
      throw invalid_input(std::string(field), "text after the quoted display name in " + quoted(t));
    display_name = unquote(name);
  } else {
    display_name = std::string(name);
  }
  return mailbox(std::move(display_name), std::string(trim(t.substr(open + 1, close - open - 1))),
                 field);
}

std::string_view mailbox::local_part() const noexcept {
  const std::string_view a = address_;
  const std::size_t at = a.rfind('@');
  return at == std::string_view::npos ? a : a.substr(0, at);
}

std::string_view mailbox::domain() const noexcept {
  const std::string_view a = address_;
  const std::size_t at = a.rfind('@');
  return at == std::string_view::npos ? std::string_view() : a.substr(at + 1);
}

bool mailbox::needs_smtputf8() const noexcept {
  return !mime::is_ascii(local_part());
}

std::string mailbox::to_header() const {
  // The domain is already ASCII; a UTF-8 local part is written as it is (RFC 6532 3.2),
  // which needs a server offering SMTPUTF8.
  if (display_name_.empty()) return address_;
  std::string out;
  for (const std::string& word : mime::phrase_words(display_name_)) {
    out += word;
    out += ' ';
  }
  out += '<';
  out += address_;
  out += '>';
  return out;
}

}  // namespace envoi
