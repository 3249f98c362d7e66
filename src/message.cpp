#include <envoi/message.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>

#include <envoi/error.hpp>

#include "dkim_canon.hpp"
#include "mime/encoding.hpp"
#include "mime/icalendar.hpp"

namespace envoi {
namespace {

std::atomic<unsigned> forks{0};

// `n` (at most 64) random octets from the kernel's generator (getrandom), drawn 512 at a
// time: a sending loop needs 16 octets per message. The kernel's rather than OpenSSL's,
// whose first draw starts its providers, milliseconds a short program would spend for a
// Message-ID. A child process draws afresh after fork(), so that it never repeats its
// parent's octets.
void random_octets(unsigned char* out, std::size_t n) {
  static const bool fork_hook = [] {
    return ::pthread_atfork(nullptr, nullptr,
                            [] { forks.fetch_add(1, std::memory_order_relaxed); }) == 0;
  }();
  struct pool {
    std::array<unsigned char, 512> octets{};
    std::size_t used = 512;
    unsigned forks = 0;
  };
  thread_local pool p;
  const unsigned now = forks.load(std::memory_order_relaxed);
  if (p.used + n > p.octets.size() || p.forks != now || !fork_hook) {
    for (std::size_t got = 0; got < p.octets.size();) {
      const ssize_t r = ::getrandom(p.octets.data() + got, p.octets.size() - got, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0)
        throw std::system_error(errno, std::generic_category(),
                                "the system's random generator failed");
      got += static_cast<std::size_t>(r);
    }
    p.used = 0;
    p.forks = now;
  }
  std::memcpy(out, p.octets.data() + p.used, n);
  // Octets handed out are not kept.
  std::memset(p.octets.data() + p.used, 0, n);
  p.used += n;
}

std::string random_hex(std::size_t bytes) {
  unsigned char buffer[32];
  if (bytes > sizeof buffer) throw std::logic_error("random_hex: too many octets asked");
  random_octets(buffer, bytes);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out(2 * bytes, '\0');
  for (std::size_t i = 0; i < bytes; ++i) {
    out[2 * i] = hex[buffer[i] >> 4];
    out[2 * i + 1] = hex[buffer[i] & 15];
  }
  return out;
}

// RFC 5322 3.3. Names and digits are written by hand: strftime would follow the process
// locale ("mar., 14 juil.") and %z is not portable.
std::string format_date(std::chrono::system_clock::time_point when) {
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm local{};
  if (localtime_r(&t, &local) == nullptr) throw std::runtime_error("the date cannot be converted");

  const long offset = local.tm_gmtoff;
  const long minutes = (offset < 0 ? -offset : offset) / 60;
  return fmt::format("{}, {} {} {} {:02}:{:02}:{:02} {}{:02}{:02}", days[local.tm_wday],
                     local.tm_mday, months[local.tm_mon], local.tm_year + 1900, local.tm_hour,
                     local.tm_min, local.tm_sec, offset < 0 ? '-' : '+', minutes / 60,
                     minutes % 60);
}

std::string media_type_for(const std::filesystem::path& name) {
  struct entry {
    std::string_view extension;
    std::string_view type;
  };
  static constexpr entry table[] = {
      {".pdf", "application/pdf"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".txt", "text/plain"},
      {".ics", "text/calendar"},
      {".html", "text/html"},
      {".htm", "text/html"},
      {".csv", "text/csv"},
      {".doc", "application/msword"},
      {".docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
      {".xls", "application/vnd.ms-excel"},
      {".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
      {".odt", "application/vnd.oasis.opendocument.text"},
      {".zip", "application/zip"},
  };
  const std::string ext = mime::ascii_lower(name.extension().string());
  for (const entry& e : table) {
    if (e.extension == ext) return std::string(e.type);
  }
  return "application/octet-stream";
}

// RFC 2045 5.1: a token is printable ASCII but space and tspecials.
bool is_token_char(char c) noexcept {
  return c > 0x20 && c < 0x7F &&
         std::string_view("()<>@,;:\\\"/[]?=").find(c) == std::string_view::npos;
}

// A media type split for writing: "text/csv" and its parameters, each attribute (in
// lower case) with its value as given, a token or a quoted-string.
struct media_type {
  std::string type;
  std::vector<std::pair<std::string, std::string>> parameters;

  // Whether a parameter named `attribute` is present, in any of its RFC 2231 forms
  // (charset*, charset*0*).
  bool has(std::string_view attribute) const {
    return std::any_of(parameters.begin(), parameters.end(), [&](const auto& p) {
      return std::string_view(p.first).substr(0, p.first.find('*')) == attribute;
    });
  }
  bool is_text() const { return mime::ascii_lower(type).starts_with("text/"); }
};

// RFC 2045 5.1: type "/" subtype *(";" attribute "=" value), white space allowed around
// the semicolons. Comments are not taken. Nothing when `s` is not of that form.
std::optional<media_type> parse_media_type(std::string_view s) {
  std::size_t i = 0;
  const auto skip_space = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  };
  const auto token = [&] {
    const std::size_t start = i;
    while (i < s.size() && is_token_char(s[i])) ++i;
    return s.substr(start, i - start);
  };

  media_type out;
  skip_space();
  const std::string_view type = token();
  if (type.empty() || i == s.size() || s[i] != '/') return std::nullopt;
  ++i;
  const std::string_view subtype = token();
  if (subtype.empty()) return std::nullopt;
  out.type = std::string(type) + "/" + std::string(subtype);
  for (skip_space(); i < s.size(); skip_space()) {
    if (s[i] != ';') return std::nullopt;
    ++i;
    skip_space();
    const std::string_view attribute = token();
    if (attribute.empty() || i == s.size() || s[i] != '=') return std::nullopt;
    const std::size_t start = ++i;
    if (i < s.size() && s[i] == '"') {
      // A quoted-string of printable ASCII, with quoted-pairs.
      for (++i; i < s.size() && s[i] != '"'; ++i) {
        if (s[i] == '\\') ++i;
        if (i == s.size() || s[i] < 0x20 || s[i] > 0x7E) return std::nullopt;
      }
      if (i == s.size()) return std::nullopt;
      ++i;
    } else if (token().empty()) {
      return std::nullopt;
    }
    out.parameters.emplace_back(mime::ascii_lower(attribute), s.substr(start, i - start));
  }
  return out;
}

std::string attachment_name(const attachment& a) {
  return a.file_name.empty() ? a.path.filename().string() : a.file_name;
}

// A name most clients show correctly as a plain quoted parameter.
// A name that needs neither encoding nor folding goes out as a plain quoted parameter. One
// that looks like an encoded-word does not: `name=` is read as RFC 2047 by the very clients
// it exists for, so `=?utf-8?q?x?=.pdf` must be encoded to survive.
bool is_simple_file_name(std::string_view name) {
  if (name.find("=?") != std::string_view::npos) return false;
  return name.size() <= 60 && std::all_of(name.begin(), name.end(), [](char c) {
           return c >= 0x20 && c < 0x7F && c != '"' && c != '\\';
         });
}

std::string address_field(std::string_view name, const std::vector<mailbox>& list) {
  mime::header_folder field(name);
  for (std::size_t i = 0; i < list.size(); ++i) {
    std::vector<std::string> words = mime::phrase_words(
        list[i].display_name(), i == 0 ? mime::first_line_room(name) : mime::max_encoded_word);
    if (words.empty()) {
      words.push_back(list[i].address());
    } else {
      words.push_back("<" + list[i].address() + ">");
    }
    if (i + 1 < list.size()) words.back() += ',';
    for (const std::string& w : words) field.add(w);
  }
  return std::move(field).finish();
}

// Content-Type, Content-Transfer-Encoding, Content-ID and Content-Disposition of an
// attachment or inline image of media type `type`. The file name goes in both forms: RFC
// 2231 `filename*` is the standard, the RFC 2047 `name=` is what Outlook and several
// webmails read instead.
std::string attachment_headers(const attachment& a, const media_type& type, bool is_inline,
                               bool legacy_name) {
  const std::string name = attachment_name(a);
  const bool simple = is_simple_file_name(name);
  const bool named = simple || legacy_name;

  mime::header_folder content_type("Content-Type");
  content_type.add(type.type + (named || !type.parameters.empty() ? ";" : ""));
  for (std::size_t i = 0; i < type.parameters.size(); ++i) {
    const auto& [attribute, value] = type.parameters[i];
    content_type.add(attribute + "=" + value +
                     (named || i + 1 < type.parameters.size() ? ";" : ""));
  }
  if (simple) {
    content_type.add(mime::quoted_parameter("name", name));
  } else if (legacy_name) {
    for (const std::string& piece : mime::encoded_word_parameter("name", name))
      content_type.add(piece);
  }

  mime::header_folder disposition("Content-Disposition");
  disposition.add(is_inline ? "inline;" : "attachment;");
  const std::vector<std::string> file_pieces =
      simple ? std::vector{mime::quoted_parameter("filename", name)}
             : mime::rfc2231_parameter("filename", name);
  for (std::size_t i = 0; i < file_pieces.size(); ++i)
    disposition.add(i + 1 < file_pieces.size() ? file_pieces[i] + ";" : file_pieces[i]);

  std::string out = std::move(content_type).finish() + "Content-Transfer-Encoding: base64\r\n";
  // RFC 2392: the HTML refers to the part as cid:ID; the header carries <ID>.
  if (is_inline) out += "Content-ID: <" + a.content_id + ">\r\n";
  return out + std::move(disposition).finish();
}

void check_mailbox(const mailbox& m, const char* field) {
  if (m.address().empty()) throw invalid_input(field, "empty address");
}

// RFC 5322 3.6.4: id-left "@" id-right, both printable ASCII without specials. Angle
// brackets around the whole are accepted and dropped.
std::string checked_message_id(std::string id, const char* field) {
  if (id.size() >= 2 && id.front() == '<' && id.back() == '>') id = id.substr(1, id.size() - 2);
  const std::size_t at = id.find('@');
  const auto is_id_char = [](char c) {
    return c > 0x20 && c < 0x7F &&
           std::string_view("<>()\\,;:\"@ ").find(c) == std::string_view::npos;
  };
  if (at == std::string::npos || at == 0 || at + 1 == id.size() ||
      id.find('@', at + 1) != std::string::npos)
    throw invalid_input(field, "must be of the form id@host");
  if (!std::all_of(id.begin(), id.begin() + static_cast<std::ptrdiff_t>(at), is_id_char) ||
      !std::all_of(id.begin() + static_cast<std::ptrdiff_t>(at) + 1, id.end(), is_id_char))
    throw invalid_input(field, "holds a character not allowed in a Message-ID");
  if (id.size() > 250) throw invalid_input(field, "longer than 250 characters");
  return id;
}

// Refuses a path that names something other than a regular file, saying what it is and
// what to do instead.
[[noreturn]] void refuse_non_file(const std::filesystem::path& path,
                                  std::filesystem::file_type type, const char* field) {
  using std::filesystem::file_type;
  const std::string quoted = "\"" + path.string() + "\"";
  switch (type) {
    case file_type::directory:
      throw invalid_input(field, quoted + " is a folder, not a file: attach the files in it");
    case file_type::fifo:
      throw invalid_input(field, quoted +
                                     " is a pipe, not a file: save it to a file first, "
                                     "then attach that file");
    case file_type::character:
    case file_type::block:
      throw invalid_input(field, quoted + " is a device, not a file: attach a file saved on disk");
    case file_type::socket:
      throw invalid_input(field, quoted + " is a socket, not a file: attach a file saved on disk");
    default:
      throw invalid_input(field, quoted + " is not a file: attach a file saved on disk");
  }
}

// A file attachment must be a regular file: its size is announced before it is read, and
// it is read twice when the message is signed or its text examined for a charset. A pipe
// holds neither a size nor its data for a second reading; opening a FIFO waits for a
// writer, and a device may never end. The path's type comes from stat(), which opens
// nothing. A path that cannot be looked at yet (missing) is left to rendering, which says
// why.
void check_file_kind(const std::filesystem::path& path, const char* field) {
  using std::filesystem::file_type;
  std::error_code ec;
  const file_type type = std::filesystem::status(path, ec).type();
  if (ec || type == file_type::regular || type == file_type::not_found) return;
  refuse_non_file(path, type, field);
}

void check_attachment(const attachment& a, const char* field) {
  if (a.data) {
    if (a.file_name.empty())
      throw invalid_input(field, "an attachment made in memory needs a file name");
  } else {
    if (a.path.empty()) throw invalid_input(field, "no file given");
    if (attachment_name(a).empty())
      throw invalid_input(field, "the path " + a.path.string() + " names no file");
    check_file_kind(a.path, field);
  }
  const std::string name = attachment_name(a);
  if (mime::has_cr_lf_or_nul(name))
    throw invalid_input(field, "the file name contains a line break or a NUL character");
  if (!mime::is_valid_utf8(name)) {
    // Shown with '?' for the octets that are no UTF-8, so that the text stays printable.
    std::string shown;
    for (const char c : name) shown += static_cast<unsigned char>(c) < 0x80 ? c : '?';
    throw invalid_input(field, "the file name \"" + shown +
                                   "\" is not in UTF-8 (made by an older system, in Latin-1 "
                                   "perhaps): rename the file, retyping its accented letters");
  }
  if (!a.media_type.empty()) {
    const std::optional<media_type> type = parse_media_type(a.media_type);
    if (!type)
      throw invalid_input(field, "media type \"" + a.media_type +
                                     "\" is not type/subtype with optional ; attribute=value");
    // envoi writes the name itself, from file_name.
    if (type->has("name"))
      throw invalid_input(field, "media type \"" + a.media_type +
                                     "\" has a name parameter; give the name as file_name");
  }
}

// RFC 5545 3.3.11: TEXT holds no control character but tab; line ends are escaped.
void check_calendar_text(std::string_view text, const char* what) {
  if (!mime::is_valid_utf8(text))
    throw invalid_input("calendar_event", std::string(what) + " is not valid UTF-8");
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t' && c != '\r' && c != '\n') || u == 0x7F)
      throw invalid_input("calendar_event", std::string(what) + " holds a control character");
  }
}

// The headers envoi writes itself; a caller's header of the same name would duplicate or
// contradict them (RFC 5322 3.6 allows most of them once only).
bool is_reserved_header(std::string_view name) {
  static constexpr std::string_view reserved[] = {
      "date",       "from",         "sender",      "reply-to",   "to",
      "cc",         "bcc",          "subject",     "message-id", "in-reply-to",
      "references", "mime-version", "return-path", "received"};
  const std::string low = mime::ascii_lower(name);
  if (low.starts_with("content-")) return true;
  return std::find(std::begin(reserved), std::end(reserved), low) != std::end(reserved);
}

std::string random_boundary() {
  return "=_envoi_" + random_hex(12);
}

// One MIME entity of the message being rendered: a leaf whose body is text encoded up
// front or an attachment base64-encoded while streaming, or a multipart.
struct part {
  std::string headers;
  std::string body;
  const attachment* binary = nullptr;
  std::uint64_t binary_size = 0;
  std::string multipart;
  std::string multipart_parameters;
  std::vector<part> children;
  std::string boundary;
};

part text_part(std::string_view subtype, std::string_view text, const render_options& options,
               bool& uses_8bit, std::string_view extra_parameters = {}) {
  const mime::transfer_encoding cte = mime::choose_transfer_encoding(text, options.allow_8bit);
  uses_8bit = uses_8bit || cte == mime::transfer_encoding::eight_bit;
  part p;
  p.headers = "Content-Type: text/" + std::string(subtype) + "; charset=utf-8" +
              std::string(extra_parameters) +
              "\r\nContent-Transfer-Encoding: " + std::string(mime::to_string(cte)) + "\r\n";
  p.body = mime::encode_text(text, cte);
  return p;
}

// An attachment's file, open for reading, and its size.
struct opened_file {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file{nullptr, &std::fclose};
  std::uint64_t size = 0;
};

// Opens an attachment's file. The path is looked at first, so that a pipe or a device is
// never opened; O_NONBLOCK keeps open() from waiting for a writer should the path have
// become a FIFO since, and fstat() then refuses whatever is not a regular file.
opened_file open_attachment(const std::filesystem::path& path) {
  const auto fail = [&](int error) {
    throw std::system_error(error, std::generic_category(),
                            "cannot read attachment " + path.string());
  };
  check_file_kind(path, "attachment");
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) fail(errno);
  opened_file out;
  out.file.reset(::fdopen(fd, "rb"));
  if (!out.file) {
    const int error = errno;
    ::close(fd);
    fail(error);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail(errno);
  if (!S_ISREG(st.st_mode)) {
    using std::filesystem::file_type;
    refuse_non_file(path,
                    S_ISDIR(st.st_mode)    ? file_type::directory
                    : S_ISFIFO(st.st_mode) ? file_type::fifo
                    : S_ISCHR(st.st_mode)  ? file_type::character
                    : S_ISBLK(st.st_mode)  ? file_type::block
                    : S_ISSOCK(st.st_mode) ? file_type::socket
                                           : file_type::unknown,
                    "attachment");
  }
  // Reading a regular file never waits; the flag goes so that it cannot surprise.
  if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) fail(errno);
  out.size = static_cast<std::uint64_t>(st.st_size);
  return out;
}

// Feeds `file` to `sniffer` until its end, or until the answer is settled, a chunk at a
// time: a large text file costs a second reading, never its size in memory.
void examine(std::FILE* file, mime::charset_sniffer& sniffer, const std::filesystem::path& path) {
  std::vector<char> buffer(rendered_message::max_chunk);
  while (!sniffer.settled()) {
    const std::size_t n = std::fread(buffer.data(), 1, buffer.size(), file);
    sniffer.add(std::string_view(buffer.data(), n));
    if (n < buffer.size()) break;
  }
  if (std::ferror(file))
    throw std::system_error(errno, std::generic_category(),
                            "cannot read attachment " + path.string());
}

// The part of an attachment or inline image. A file is opened to learn its size, so that
// the message's size is known before a byte of it is sent. RFC 2046 4.1.2: text without a
// charset parameter is read as US-ASCII, so a text attachment whose caller named no
// charset has its bytes examined for the one to state (see attachment::media_type).
part binary_part(const attachment& a, bool is_inline, bool legacy_name) {
  media_type type;
  if (a.media_type.empty()) {
    type.type = media_type_for(attachment_name(a));
  } else if (auto given = parse_media_type(a.media_type)) {
    type = std::move(*given);
  } else {
    throw invalid_input("attachment", "media type \"" + a.media_type + "\" is not type/subtype");
  }
  const bool wants_charset = type.is_text() && !type.has("charset");

  part p;
  p.binary = &a;
  mime::charset_sniffer sniffer;
  if (a.data) {
    p.binary_size = a.data->size();
    if (wants_charset) sniffer.add(*a.data);
  } else {
    const opened_file f = open_attachment(a.path);
    p.binary_size = f.size;
    if (wants_charset) examine(f.file.get(), sniffer, a.path);
  }
  if (const std::string_view charset = mime::charset_parameter(sniffer.result());
      wants_charset && !charset.empty())
    type.parameters.insert(type.parameters.begin(), {"charset", std::string(charset)});
  p.headers = attachment_headers(a, type, is_inline, legacy_name);
  return p;
}

part multipart(std::string subtype, std::vector<part> children, std::string parameters = {}) {
  part p;
  p.multipart = std::move(subtype);
  p.multipart_parameters = std::move(parameters);
  p.children = std::move(children);
  return p;
}

// RFC 2046 5.1.1: a boundary must occur in no encapsulated part. Base64 and
// quoted-printable never hold "=_", so only 7bit and 8bit text and headers are searched.
bool occurs_in(const part& p, std::string_view needle) {
  if (p.headers.find(needle) != std::string::npos || p.body.find(needle) != std::string::npos)
    return true;
  return std::any_of(p.children.begin(), p.children.end(),
                     [&](const part& c) { return occurs_in(c, needle); });
}

void assign_boundaries(part& p, const part& root) {
  if (p.multipart.empty()) return;
  do {
    p.boundary = random_boundary();
  } while (occurs_in(root, p.boundary));
  mime::header_folder content_type("Content-Type");
  content_type.add("multipart/" + p.multipart + ";");
  if (!p.multipart_parameters.empty()) content_type.add(p.multipart_parameters + ";");
  content_type.add("boundary=\"" + p.boundary + "\"");
  p.headers = std::move(content_type).finish();
  for (part& c : p.children) assign_boundaries(c, root);
}

}  // namespace

// The message as a list of segments: text kept as it will be sent, and attachments that
// are base64-encoded while streaming, from their file or from the message's memory.
struct rendered_message::state {
  struct segment {
    std::string text;
    const attachment* binary = nullptr;
    std::uint64_t binary_size = 0;
  };

  void add_text(std::string_view s) {
    if (s.empty()) return;
    if (segments.empty() || segments.back().binary != nullptr) segments.emplace_back();
    segments.back().text += s;
    size += s.size();
  }

  void add_binary(const attachment& a, std::uint64_t n) {
    segments.push_back({{}, &a, n});
    size += mime::base64_lines_size(n);
  }

  void add(const part& p, bool top) {
    add_text(p.headers);
    add_text("\r\n");
    if (!p.multipart.empty()) {
      for (const part& c : p.children) {
        add_text("--" + p.boundary + "\r\n");
        add(c, false);
      }
      add_text("--" + p.boundary + "--\r\n");
    } else if (p.binary != nullptr) {
      // The last base64 line's CRLF is the one RFC 2046 5.1.1 puts before the next
      // boundary line.
      add_binary(*p.binary, p.binary_size);
    } else {
      add_text(p.body);
      // Inside a multipart the CRLF before the boundary belongs to the boundary, so one is
      // always added; alone, the body only needs to end with a line end.
      if (!top || (!p.body.empty() && !p.body.ends_with("\r\n"))) add_text("\r\n");
    }
  }

  void fail(int error, const std::string& what) const {
    throw std::system_error(error, std::generic_category(), what);
  }

  void open_file(const attachment& a, std::uint64_t expected) {
    opened_file opened = open_attachment(a.path);
    if (opened.size != expected) changed_size(a, expected);
    file = std::move(opened.file);
  }

  [[noreturn]] void changed_size(const attachment& a, std::uint64_t expected) const {
    throw std::system_error(std::make_error_code(std::errc::io_error),
                            "attachment " + a.path.string() +
                                " changed size while the message was being sent (" +
                                std::to_string(expected) + " octets expected)");
  }

  // Appends base64 lines for at most `max_bytes` more bytes of the current attachment.
  void append_binary(std::string& out, const segment& seg, std::uint64_t max_bytes) {
    const std::uint64_t n = std::min(max_bytes, seg.binary_size - offset);
    if (seg.binary->data) {
      mime::append_base64_lines(out, std::string_view(*seg.binary->data).substr(offset, n));
      offset += n;
      return;
    }
    if (!file) open_file(*seg.binary, seg.binary_size);
    buffer.resize(n);
    if (n > 0 && std::fread(buffer.data(), 1, n, file.get()) != n) {
      if (std::ferror(file.get()))
        fail(errno, "cannot read attachment " + seg.binary->path.string());
      changed_size(*seg.binary, seg.binary_size);
    }
    mime::append_base64_lines(out, std::string_view(buffer.data(), n));
    offset += n;
    if (offset == seg.binary_size) {
      // A file that grew would be sent cut short while size() promised otherwise.
      if (std::fgetc(file.get()) != EOF) changed_size(*seg.binary, seg.binary_size);
      file.reset();
    }
  }

  std::vector<segment> segments;
  std::uint64_t size = 0;
  bool uses_8bit = false;
  bool needs_smtputf8 = false;

  std::size_t index = 0;
  std::uint64_t offset = 0;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file{nullptr, &std::fclose};
  std::vector<char> buffer;
};

rendered_message::rendered_message(std::unique_ptr<state> s) noexcept : state_(std::move(s)) {}
rendered_message::rendered_message(rendered_message&&) noexcept = default;
rendered_message& rendered_message::operator=(rendered_message&&) noexcept = default;
rendered_message::~rendered_message() = default;

std::uint64_t rendered_message::size() const noexcept {
  return state_ ? state_->size : 0;
}

bool rendered_message::uses_8bit() const noexcept {
  return state_ && state_->uses_8bit;
}

bool rendered_message::needs_smtputf8() const noexcept {
  return state_ && state_->needs_smtputf8;
}

bool rendered_message::next(std::string& out) {
  if (!state_) return false;
  state& s = *state_;
  const std::size_t start = out.size();
  while (s.index < s.segments.size()) {
    const std::size_t room = max_chunk - (out.size() - start);
    const state::segment& seg = s.segments[s.index];
    if (seg.binary == nullptr) {
      const std::size_t n = std::min<std::size_t>(room, seg.text.size() - s.offset);
      if (n == 0) break;
      out.append(seg.text, s.offset, n);
      s.offset += n;
      if (s.offset < seg.text.size()) break;
    } else {
      // RFC 2045 6.8: whole 57-byte groups, so every line but the last is 76 characters
      // whatever the chunk boundaries.
      constexpr std::size_t line = 78;
      if (room < line) break;
      s.append_binary(out, seg, room / line * 57);
      if (s.offset < seg.binary_size || s.file) break;
    }
    ++s.index;
    s.offset = 0;
  }
  return out.size() > start;
}

attachment attachment::from_file(std::filesystem::path path, std::string file_name,
                                 std::string media_type) {
  check_file_kind(path, "attachment");
  return {std::move(path), std::move(file_name), std::move(media_type), std::nullopt, {}};
}

attachment attachment::from_memory(std::string bytes, std::string file_name,
                                   std::string media_type) {
  return {{}, std::move(file_name), std::move(media_type), std::move(bytes), {}};
}

message& message::from(mailbox m) {
  check_mailbox(m, "from");
  from_ = std::move(m);
  return *this;
}

message& message::sender(mailbox m) {
  check_mailbox(m, "sender");
  sender_ = std::move(m);
  return *this;
}

message& message::add_reply_to(mailbox m) {
  check_mailbox(m, "reply_to");
  reply_to_.push_back(std::move(m));
  return *this;
}

message& message::add_to(mailbox m) {
  check_mailbox(m, "to");
  to_.push_back(std::move(m));
  return *this;
}

message& message::add_cc(mailbox m) {
  check_mailbox(m, "cc");
  cc_.push_back(std::move(m));
  return *this;
}

message& message::add_bcc(mailbox m) {
  check_mailbox(m, "bcc");
  bcc_.push_back(std::move(m));
  return *this;
}

message& message::subject(std::string text) {
  // RFC 5322 2.2: a header body holds no CR or LF except in folding, which envoi adds itself;
  // a line break here would start a header of the caller's choosing.
  if (mime::has_cr_lf_or_nul(text))
    throw invalid_input("subject", mime::has_line_break(text)
                                       ? "contains a line break; a subject is a single line"
                                       : "contains a NUL character");
  if (!mime::is_valid_utf8(text)) throw invalid_input("subject", "is not valid UTF-8");
  subject_ = std::move(text);
  return *this;
}

message& message::text(std::string body) {
  if (!mime::is_valid_utf8(body)) throw invalid_input("text", "is not valid UTF-8");
  text_ = std::move(body);
  return *this;
}

message& message::html(std::string body) {
  if (!mime::is_valid_utf8(body)) throw invalid_input("html", "is not valid UTF-8");
  html_ = std::move(body);
  return *this;
}

message& message::attach(attachment a) {
  check_attachment(a, "attachment");
  attachments_.push_back(std::move(a));
  return *this;
}

std::string message::add_inline(attachment a) {
  check_attachment(a, "inline");
  if (a.content_id.empty()) {
    a.content_id = random_hex(16) + "@envoi.invalid";
  } else {
    // RFC 2392: a Content-ID has the form of a Message-ID.
    a.content_id = checked_message_id(std::move(a.content_id), "content_id");
  }
  for (const attachment& other : inline_) {
    if (other.content_id == a.content_id)
      throw invalid_input("content_id", "\"" + a.content_id + "\" is already used");
  }
  inline_.push_back(std::move(a));
  return inline_.back().content_id;
}

message& message::attach_calendar_event(calendar_event e) {
  if (e.end <= e.start) throw invalid_input("calendar_event", "the end is not after the start");
  if (!e.time_zone.empty()) {
    // IANA names: letters, digits and "/_+-"; anything else could break the TZID parameter.
    const bool plain = std::all_of(e.time_zone.begin(), e.time_zone.end(), [](char c) {
      return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
             c == '/' || c == '_' || c == '+' || c == '-';
    });
    if (!plain || e.time_zone.size() > 64)
      throw invalid_input("calendar_event", "time zone \"" + e.time_zone + "\" is not a zone name");
  }
  if (e.utc_offset <= std::chrono::hours(-24) || e.utc_offset >= std::chrono::hours(24))
    throw invalid_input("calendar_event", "the UTC offset is not within a day");
  check_calendar_text(e.summary, "the summary");
  check_calendar_text(e.location, "the location");
  check_calendar_text(e.description, "the description");
  check_calendar_text(e.uid, "the UID");
  if (mime::has_line_break(e.uid))
    throw invalid_input("calendar_event", "the UID contains a line break");
  if (e.uid.empty()) {
    // RFC 5545 3.8.4.7: unique worldwide; kept so that a resent invitation updates the
    // same event instead of adding a second one.
    e.uid = random_hex(16) + "@envoi.invalid";
  }
  calendar_ = std::move(e);
  return *this;
}

message& message::legacy_name_parameter(bool on) noexcept {
  legacy_name_parameter_ = on;
  return *this;
}

message& message::date(std::chrono::system_clock::time_point t) {
  date_ = t;
  return *this;
}

message& message::message_id(std::string id) {
  message_id_ = checked_message_id(std::move(id), "message_id");
  return *this;
}

message& message::in_reply_to(std::string id) {
  in_reply_to_ = checked_message_id(std::move(id), "in_reply_to");
  return *this;
}

message& message::add_reference(std::string id) {
  references_.push_back(checked_message_id(std::move(id), "references"));
  return *this;
}

message& message::add_header(std::string name, std::string value) {
  // RFC 5322 3.6.8: a field name is printable ASCII but ':'. The length limit keeps the
  // name and the start of its value within one line.
  const bool valid_name = !name.empty() && name.size() <= 76 &&
                          std::all_of(name.begin(), name.end(),
                                      [](char c) { return c > 0x20 && c < 0x7F && c != ':'; });
  if (!valid_name) throw invalid_input("header", "\"" + name + "\" is not a header field name");
  if (is_reserved_header(name))
    throw invalid_input(name, "is written by envoi itself and cannot be added");
  // RFC 5322 2.2: the value becomes one unstructured field; a line break in it would start
  // a header of the caller's choosing.
  if (mime::has_line_break(value)) throw invalid_input(name, "the value contains a line break");
  if (value.find('\0') != std::string::npos)
    throw invalid_input(name, "the value contains a NUL character");
  if (!mime::is_valid_utf8(value)) throw invalid_input(name, "the value is not valid UTF-8");
  headers_.emplace_back(std::move(name), std::move(value));
  return *this;
}

const std::string& message::message_id() const {
  if (message_id_.empty()) {
    // RFC 5322 3.6.4: unique worldwide; random bits before the sender's domain.
    std::string domain = from_ ? std::string(from_->domain()) : std::string();
    if (domain.empty() || !mime::is_ascii(domain)) domain = "envoi.invalid";
    message_id_ = random_hex(16) + "@" + domain;
  }
  return message_id_;
}

namespace {

// What every message needs before it can be sent or rendered.
void require_sender_and_recipient(bool has_sender, bool has_recipient) {
  if (!has_sender) throw invalid_input("from", "the message has no sender");
  if (!has_recipient) throw invalid_input("to", "the message has no recipient");
}

}  // namespace

envelope message::make_envelope() const {
  require_sender_and_recipient(from_.has_value(), !to_.empty() || !cc_.empty() || !bcc_.empty());
  envelope e;
  e.mail_from = from_->address();
  // The same address twice would only deliver the same copy twice.
  for (const auto* list : {&to_, &cc_, &bcc_})
    for (const mailbox& m : *list) e.add_recipient(m.address());
  return e;
}

bool envelope::add_recipient(std::string_view address) {
  const auto same = [address](std::string_view other) {
    const auto at = address.rfind('@');
    const auto other_at = other.rfind('@');
    if (at != other_at || address.substr(0, at) != other.substr(0, at)) return false;
    if (at == std::string_view::npos) return true;
    return mime::ascii_lower(address.substr(at)) == mime::ascii_lower(other.substr(at));
  };
  if (std::any_of(recipients.begin(), recipients.end(), same)) return false;
  recipients.emplace_back(address);
  return true;
}

rendered_message message::render_stream(const render_options& requested) const& {
  require_sender_and_recipient(from_.has_value(), !to_.empty() || !cc_.empty() || !bcc_.empty());
  auto s = std::make_unique<rendered_message::state>();
  render_options options = requested;
  options.allow_8bit = requested.allow_8bit && requested.dkim == nullptr;

  // The message's own header fields, in the order of RFC 5322 3.6; room for a usual set
  // of them at once.
  std::string headers;
  headers.reserve(1024);
  headers += "Date: ";
  headers += format_date(date_.value_or(std::chrono::system_clock::now()));
  headers += "\r\nMessage-ID: <";
  headers += message_id();
  headers += ">\r\n";
  headers += address_field("From", {*from_});
  if (sender_) headers += address_field("Sender", {*sender_});
  if (!reply_to_.empty()) headers += address_field("Reply-To", reply_to_);
  // RFC 5322 3.6.3: Bcc is left out of the header entirely (the first method). A message
  // with blind recipients only gets an empty group, which some servers want in To.
  if (!to_.empty()) {
    headers += address_field("To", to_);
  } else if (cc_.empty()) {
    headers += "To: undisclosed-recipients:;\r\n";
  }
  if (!cc_.empty()) headers += address_field("Cc", cc_);
  if (!subject_.empty()) headers += mime::unstructured_field("Subject", subject_);
  if (!in_reply_to_.empty()) headers += "In-Reply-To: <" + in_reply_to_ + ">\r\n";
  if (!references_.empty()) {
    mime::header_folder field("References");
    for (const std::string& id : references_) field.add("<" + id + ">");
    headers += std::move(field).finish();
  }
  for (const auto& [name, value] : headers_) headers += mime::unstructured_field(name, value);
  headers += "MIME-Version: 1.0\r\n";

  // RFC 6531 3.4: only a UTF-8 local part needs SMTPUTF8; display names are encoded-words.
  for (const auto* list : {&to_, &cc_, &bcc_, &reply_to_}) {
    for (const mailbox& m : *list) s->needs_smtputf8 |= !mime::is_ascii(m.local_part());
  }
  s->needs_smtputf8 |= !mime::is_ascii(from_->local_part());
  if (sender_) s->needs_smtputf8 |= !mime::is_ascii(sender_->local_part());

  // The body: text and HTML as alternatives (RFC 2046 5.1.4, plainest first), the HTML
  // with its images in multipart/related (RFC 2387), attachments in multipart/mixed.
  std::vector<part> alternatives;
  if (!html_ || !text_.empty())
    alternatives.push_back(text_part("plain", text_, options, s->uses_8bit));
  if (html_) {
    part html = text_part("html", *html_, options, s->uses_8bit);
    if (inline_.empty()) {
      alternatives.push_back(std::move(html));
    } else {
      std::vector<part> related;
      related.push_back(std::move(html));
      for (const attachment& a : inline_)
        related.push_back(binary_part(a, true, legacy_name_parameter_));
      alternatives.push_back(multipart("related", std::move(related), "type=\"text/html\""));
    }
  }
  if (calendar_) {
    // RFC 6047 2.4: the invitation is the last alternative, where calendar clients look.
    const calendar_event& e = *calendar_;
    std::vector<mailbox> attendees = e.attendees;
    if (attendees.empty()) {
      attendees = to_;
      attendees.insert(attendees.end(), cc_.begin(), cc_.end());
    }
    const std::string ics = mime::icalendar_request(
        e, e.organizer.address().empty() ? *from_ : e.organizer, attendees,
        e.stamp.value_or(
            std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now())));
    alternatives.push_back(text_part("calendar", ics, options, s->uses_8bit, "; method=REQUEST"));
  }
  part body = alternatives.size() == 1 ? std::move(alternatives.front())
                                       : multipart("alternative", std::move(alternatives));

  std::vector<part> mixed;
  for (const attachment& a : attachments_)
    mixed.push_back(binary_part(a, false, legacy_name_parameter_));
  // Images without an HTML body to show them still reach the recipient, as inline parts.
  if (!html_) {
    for (const attachment& a : inline_)
      mixed.push_back(binary_part(a, true, legacy_name_parameter_));
  }
  if (!mixed.empty()) {
    mixed.insert(mixed.begin(), std::move(body));
    body = multipart("mixed", std::move(mixed));
  }
  assign_boundaries(body, body);

  s->add_text(headers);
  s->add(body, true);
  if (options.dkim != nullptr) sign(*s, headers + body.headers, *options.dkim);
  return rendered_message(std::move(s));
}

void message::sign(rendered_message::state& s, std::string_view header_block,
                   const dkim_signer& signer) {
  // The body is everything after the header block and its empty line. Hashing it means
  // rendering it once, reading file attachments, before the signed message is handed out.
  auto pass = std::make_unique<rendered_message::state>();
  pass->segments = s.segments;
  rendered_message body(std::move(pass));
  detail::relaxed_body_hash hash;
  std::uint64_t skip = header_block.size() + 2;
  std::string chunk;
  while (body.next(chunk)) {
    const std::uint64_t n = std::min<std::uint64_t>(skip, chunk.size());
    hash.update(std::string_view(chunk).substr(static_cast<std::size_t>(n)));
    skip -= n;
    chunk.clear();
  }

  const std::string field = signer.signature_field(header_block, hash.finish());
  s.segments.front().text.insert(0, field);
  s.size += field.size();
}

std::string message::render(const render_options& options) const {
  rendered_message stream = render_stream(options);
  std::string out;
  out.reserve(static_cast<std::size_t>(stream.size()));
  while (stream.next(out)) {
  }
  return out;
}

}  // namespace envoi
