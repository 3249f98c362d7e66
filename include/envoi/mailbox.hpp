// A mailbox: an address with an optional display name (RFC 5322 3.4).
#pragma once

#include <string>
#include <string_view>

namespace envoi {

class mailbox {
 public:
  mailbox() = default;

  /// A mailbox from its parts. Throws invalid_input naming `field` when the address is
  /// not `local@domain` or when either part holds CR, LF or NUL. An internationalised
  /// domain (`clinique-vétérinaire.fr`) is converted to its ASCII form
  /// (`xn--clinique-vtrinaire-bzbf.fr`) here, and address() returns that form.
  mailbox(std::string display_name, std::string address, std::string_view field = "address");

  /// Parses `Name <local@domain>`, `"Dupont, Jean" <local@domain>` or a bare address.
  /// Throws invalid_input naming `field` and the reason.
  static mailbox parse(std::string_view text, std::string_view field = "address");

  const std::string& display_name() const noexcept { return display_name_; }
  const std::string& address() const noexcept { return address_; }
  std::string_view local_part() const noexcept;
  std::string_view domain() const noexcept;
  /// True when the local part is not ASCII (`zoé@example.test`): such an address can only
  /// be sent to a server that offers SMTPUTF8 (RFC 6531); it has no ASCII form.
  bool needs_smtputf8() const noexcept;

  /// The header form, ASCII only: the display name quoted or RFC 2047 encoded as needed,
  /// then `<address>`; the bare address when there is no display name. Not folded.
  std::string to_header() const;

  friend bool operator==(const mailbox&, const mailbox&) = default;

 private:
  std::string display_name_;
  std::string address_;
};

}  // namespace envoi
