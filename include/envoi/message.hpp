// A mail message and its rendering to the exact bytes that follow SMTP DATA.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <envoi/mailbox.hpp>

namespace envoi {

/// A file sent with a message. The file is read when the message is rendered.
struct attachment {
  std::filesystem::path path;
  /// The name the recipient sees (UTF-8); the file's own name when empty.
  std::string file_name;
  /// The media type, e.g. "application/pdf"; derived from the extension when empty.
  std::string media_type;
};

/// The addresses an SMTP transaction uses: MAIL FROM and one RCPT TO each.
struct envelope {
  std::string mail_from;
  std::vector<std::string> recipients;
};

/// A message: headers, a UTF-8 text body and attachments. Every setter checks its input
/// and throws invalid_input naming the field; CR, LF and NUL are refused in header text.
class message {
 public:
  message& from(mailbox m);
  message& add_to(mailbox m);
  message& add_cc(mailbox m);
  /// Blind copies go into the envelope only; no Bcc header is ever written.
  message& add_bcc(mailbox m);
  message& subject(std::string text);
  /// The text body, UTF-8. Line ends may be LF, CR or CRLF; all are sent as CRLF.
  message& text(std::string body);
  message& attach(attachment a);
  /// The Date header's time; the time of rendering when never set.
  message& date(std::chrono::system_clock::time_point t);
  /// The Message-ID without angle brackets (`id@host`); a unique one when never set.
  message& message_id(std::string id);

  const std::optional<mailbox>& from() const noexcept { return from_; }
  const std::vector<mailbox>& to() const noexcept { return to_; }
  const std::vector<mailbox>& cc() const noexcept { return cc_; }
  const std::vector<mailbox>& bcc() const noexcept { return bcc_; }
  const std::string& subject() const noexcept { return subject_; }
  const std::string& text() const noexcept { return text_; }
  const std::vector<attachment>& attachments() const noexcept { return attachments_; }
  /// The Message-ID that rendering uses; generated on first call when never set.
  const std::string& message_id() const;

  /// The envelope: From's address, then every To, Cc and Bcc address.
  /// Throws invalid_input when there is no From or no recipient.
  envelope make_envelope() const;

  /// The message as sent after DATA: CRLF line ends, no line over 998 octets, headers in
  /// ASCII, before dot-stuffing. Throws invalid_input when From or every recipient is
  /// missing, and std::system_error when an attachment cannot be read.
  std::string render() const;

 private:
  std::optional<mailbox> from_;
  std::vector<mailbox> to_, cc_, bcc_;
  std::string subject_;
  std::string text_;
  std::vector<attachment> attachments_;
  std::optional<std::chrono::system_clock::time_point> date_;
  mutable std::string message_id_;
};

}  // namespace envoi
