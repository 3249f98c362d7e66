#include <envoi/message.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>
#include <openssl/rand.h>

#include <envoi/error.hpp>

#include "mime/encoding.hpp"

namespace envoi {
namespace {

std::string random_hex(std::size_t bytes) {
  unsigned char buffer[32];
  if (bytes > sizeof buffer || RAND_bytes(buffer, static_cast<int>(bytes)) != 1)
    throw std::runtime_error("the system's random generator failed");
  std::string out;
  for (std::size_t i = 0; i < bytes; ++i) out += fmt::format("{:02x}", buffer[i]);
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

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
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
  const std::string ext = lower(name.extension().string());
  for (const entry& e : table) {
    if (e.extension == ext) return std::string(e.type);
  }
  return "application/octet-stream";
}

// RFC 2045 5.1: type "/" subtype, both tokens.
bool is_media_type(std::string_view s) {
  const auto is_token = [](std::string_view t) {
    return !t.empty() && std::all_of(t.begin(), t.end(), [](char c) {
      return c > 0x20 && c < 0x7F &&
             std::string_view("()<>@,;:\\\"/[]?=").find(c) == std::string_view::npos;
    });
  };
  const std::size_t slash = s.find('/');
  return slash != std::string_view::npos && is_token(s.substr(0, slash)) &&
         is_token(s.substr(slash + 1));
}

std::string read_file(const std::filesystem::path& path) {
  const auto fail = [&] {
    throw std::system_error(errno, std::generic_category(),
                            "cannot read attachment " + path.string());
  };
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (!file) fail();
  std::string data;
  char buffer[65536];
  while (true) {
    const std::size_t n = std::fread(buffer, 1, sizeof buffer, file.get());
    data.append(buffer, n);
    if (n < sizeof buffer) break;
  }
  if (std::ferror(file.get())) fail();
  return data;
}

std::string attachment_name(const attachment& a) {
  return a.file_name.empty() ? a.path.filename().string() : a.file_name;
}

// A name most clients show correctly as a plain quoted parameter.
bool is_simple_file_name(std::string_view name) {
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

// Content-Type and Content-Disposition with the file name in both forms: RFC 2231
// `filename*` is the standard, the RFC 2047 `name=` is what Outlook and several webmails
// read instead (they show "ATT00001.dat" otherwise).
std::string attachment_headers(const attachment& a, const std::string& name) {
  const std::string type = a.media_type.empty() ? media_type_for(name) : a.media_type;
  const bool simple = is_simple_file_name(name);

  mime::header_folder content_type("Content-Type");
  content_type.add(type + ";");
  const std::vector<std::string> name_pieces =
      simple ? std::vector{mime::quoted_parameter("name", name)}
             : mime::encoded_word_parameter("name", name);
  for (const std::string& piece : name_pieces) content_type.add(piece);

  mime::header_folder disposition("Content-Disposition");
  disposition.add("attachment;");
  const std::vector<std::string> file_pieces =
      simple ? std::vector{mime::quoted_parameter("filename", name)}
             : mime::rfc2231_parameter("filename", name);
  for (std::size_t i = 0; i < file_pieces.size(); ++i)
    disposition.add(i + 1 < file_pieces.size() ? file_pieces[i] + ";" : file_pieces[i]);

  return std::move(content_type).finish() + "Content-Transfer-Encoding: base64\r\n" +
         std::move(disposition).finish();
}

void check_mailbox(const mailbox& m, const char* field) {
  if (m.address().empty()) throw invalid_input(field, "empty address");
}

}  // namespace

message& message::from(mailbox m) {
  check_mailbox(m, "from");
  from_ = std::move(m);
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
  if (text.find_first_of("\r\n") != std::string::npos)
    throw invalid_input("subject", "contains a line break; a subject is a single line");
  if (text.find('\0') != std::string::npos)
    throw invalid_input("subject", "contains a NUL character");
  if (!mime::is_valid_utf8(text)) throw invalid_input("subject", "is not valid UTF-8");
  subject_ = std::move(text);
  return *this;
}

message& message::text(std::string body) {
  if (!mime::is_valid_utf8(body)) throw invalid_input("text", "is not valid UTF-8");
  text_ = std::move(body);
  return *this;
}

message& message::attach(attachment a) {
  if (a.path.empty()) throw invalid_input("attachment", "no file given");
  const std::string name = attachment_name(a);
  if (name.empty())
    throw invalid_input("attachment", "the path " + a.path.string() + " names no file");
  if (mime::has_cr_lf_or_nul(name))
    throw invalid_input("attachment", "the file name contains a line break or a NUL character");
  if (!mime::is_valid_utf8(name))
    throw invalid_input("attachment", "the file name is not valid UTF-8");
  if (!a.media_type.empty() && !is_media_type(a.media_type))
    throw invalid_input("attachment", "media type \"" + a.media_type + "\" is not type/subtype");
  attachments_.push_back(std::move(a));
  return *this;
}

message& message::date(std::chrono::system_clock::time_point t) {
  date_ = t;
  return *this;
}

message& message::message_id(std::string id) {
  if (id.size() >= 2 && id.front() == '<' && id.back() == '>') id = id.substr(1, id.size() - 2);

  // RFC 5322 3.6.4: id-left "@" id-right, both printable ASCII without specials.
  const std::size_t at = id.find('@');
  const auto is_id_char = [](char c) {
    return c > 0x20 && c < 0x7F &&
           std::string_view("<>()\\,;:\"@ ").find(c) == std::string_view::npos;
  };
  if (at == std::string::npos || at == 0 || at + 1 == id.size() ||
      id.find('@', at + 1) != std::string::npos)
    throw invalid_input("message_id", "must be of the form id@host");
  if (!std::all_of(id.begin(), id.begin() + static_cast<std::ptrdiff_t>(at), is_id_char) ||
      !std::all_of(id.begin() + static_cast<std::ptrdiff_t>(at) + 1, id.end(), is_id_char))
    throw invalid_input("message_id", "holds a character not allowed in a Message-ID");
  if (id.size() > 250) throw invalid_input("message_id", "longer than 250 characters");
  message_id_ = std::move(id);
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

envelope message::make_envelope() const {
  if (!from_) throw invalid_input("from", "the message has no sender");
  envelope e;
  e.mail_from = from_->address();
  for (const auto* list : {&to_, &cc_, &bcc_}) {
    for (const mailbox& m : *list) {
      // The same address twice would only deliver the same copy twice.
      if (std::find(e.recipients.begin(), e.recipients.end(), m.address()) == e.recipients.end())
        e.recipients.push_back(m.address());
    }
  }
  if (e.recipients.empty()) throw invalid_input("to", "the message has no recipient");
  return e;
}

std::string message::render() const {
  make_envelope();

  // The whole message, attachments included, is built in one string: a 10 MB attachment
  // costs about 14 MB of memory until rendering streams the files in 57-byte groups.
  std::string out = "Date: " + format_date(date_.value_or(std::chrono::system_clock::now())) +
                    "\r\nMessage-ID: <" + message_id() + ">\r\n";
  out += address_field("From", {*from_});
  // RFC 5322 3.6.3: Bcc is left out of the header entirely (the first method). A message
  // with blind recipients only gets an empty group, which some servers want in To.
  if (!to_.empty()) {
    out += address_field("To", to_);
  } else if (cc_.empty()) {
    out += "To: undisclosed-recipients:;\r\n";
  }
  if (!cc_.empty()) out += address_field("Cc", cc_);
  if (!subject_.empty()) out += mime::unstructured_field("Subject", subject_);
  out += "MIME-Version: 1.0\r\n";

  const mime::transfer_encoding cte = mime::choose_transfer_encoding(text_);
  std::string body = cte == mime::transfer_encoding::seven_bit ? mime::to_crlf(text_)
                                                               : mime::quoted_printable(text_);
  const std::string text_headers =
      "Content-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: " +
      std::string(mime::to_string(cte)) + "\r\n";
  if (attachments_.empty()) {
    out += text_headers + "\r\n" + body;
    if (!body.empty() && !body.ends_with("\r\n")) out += "\r\n";
    return out;
  }

  // RFC 2046 5.1.1: the boundary must not occur in any part. "=_" never appears in base64
  // or quoted-printable output, so only a 7bit text part can hold it.
  std::string boundary;
  do {
    boundary = "=_envoi_" + random_hex(12);
  } while (body.find("--" + boundary) != std::string::npos);

  out += "Content-Type: multipart/mixed; boundary=\"" + boundary + "\"\r\n\r\n";
  out += "--" + boundary + "\r\n" + text_headers + "\r\n" + body + "\r\n";
  for (const attachment& a : attachments_) {
    out += "--" + boundary + "\r\n" + attachment_headers(a, attachment_name(a)) + "\r\n";
    mime::append_base64_lines(out, read_file(a.path));
  }
  out += "--" + boundary + "--\r\n";
  return out;
}

}  // namespace envoi
