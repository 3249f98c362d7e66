// The byte-level pieces of SMTP, kept free of I/O so that they can be tested alone:
// reply lines, EHLO capabilities, dot-stuffing and the EHLO argument.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <envoi/smtp/reply.hpp>

namespace envoi::smtp::detail {

/// Builds a reply from its lines (RFC 5321 4.2), one line at a time.
class reply_parser {
 public:
  enum class status { more, done, bad, too_long };

  /// The most lines, and octets of line text (line ends not counted), that one reply may
  /// have. Real replies are far smaller: an EHLO reply from Postfix, Exchange or Gmail has
  /// 8 to 20 lines, a greeting with a banner a few dozen, and RFC 5321 4.5.3.1.5 sets a
  /// line at 512 octets. These figures leave ten times that, and 64 KiB is also the
  /// longest line the client reads; a peer sending continuation lines without end is
  /// stopped after them, instead of holding memory that grows until the step's time-out.
  static constexpr std::size_t max_lines = 256;
  static constexpr std::size_t max_octets = 64 * 1024;

  /// Whether a leading "x.y.z" is an enhanced status code: only once the server has
  /// advertised ENHANCEDSTATUSCODES (RFC 2034), or a real first word would be eaten.
  void expect_enhanced_codes(bool on) noexcept { enhanced_ = on; }

  /// Feeds one line without its line end. `done` when it was the reply's last line;
  /// `bad` when the line is not a reply line or its code differs from the first line's;
  /// `too_long` when the reply would pass max_lines or max_octets with it.
  status feed(std::string_view line);

  /// The finished reply; the parser is then ready for the next one.
  smtp::reply take();

 private:
  bool enhanced_ = false;
  smtp::reply reply_;
  std::size_t octets_ = 0;
};

/// What a server's EHLO reply advertised.
struct capabilities {
  bool starttls = false;
  bool pipelining = false;
  bool eight_bit_mime = false;
  bool smtputf8 = false;
  bool enhanced_status_codes = false;
  bool dsn = false;
  /// SIZE's limit; 0 when SIZE has no limit or was not advertised.
  std::uint64_t size_limit = 0;
  bool size = false;
  /// Upper-case mechanism names from AUTH and the older AUTH= form.
  std::set<std::string> auth;
};

capabilities parse_ehlo(const smtp::reply& r);

/// Appends `in` to `out` as DATA text (RFC 5321 4.5.2): a dot at the start of a line is
/// doubled, and a CR or LF that is not part of a CRLF becomes CRLF (RFC 5321 2.3.8).
/// Works on pieces: `state` carries what it needs across calls; start it at {}.
struct dot_stuff_state {
  bool line_start = true;
  bool pending_cr = false;
};
void dot_stuff(std::string_view in, dot_stuff_state& state, std::string& out);
/// Ends DATA text: a CRLF if the text did not end with one, then ".CRLF".
void dot_stuff_finish(dot_stuff_state& state, std::string& out);

/// xtext (RFC 3461 4): octets from '!' to '~' other than '+' and '=' as they are, every
/// other octet as '+' and two upper-case hex digits. Used for ENVID and ORCPT.
std::string xtext(std::string_view in);

/// The EHLO argument when none is configured (RFC 5321 4.1.1.1, 4.1.3): the host name if
/// it is a fully qualified domain name, else the socket's local address as a literal,
/// `[192.0.2.1]` or `[IPv6:2001:db8::1]`, with an IPv4-mapped address given as IPv4.
std::string ehlo_argument(std::string_view host_name, std::string_view local_address);

}  // namespace envoi::smtp::detail
