// DNS look-ups for provider discovery: SRV (RFC 2782, RFC 6186) and MX records, through
// the C library's resolver (libresolv), with the server and time limit chosen by the
// caller so that tests can ask a server of their own.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <envoi/preset.hpp>

namespace envoi::detail {

struct srv_record {
  std::uint16_t priority = 0;
  std::uint16_t weight = 0;
  std::uint16_t port = 0;
  /// Lower case, without the final dot; "." when the service is not offered (RFC 2782).
  std::string target;
};

struct mx_record {
  std::uint16_t preference = 0;
  /// Lower case, without the final dot.
  std::string host;
};

enum class dns_status {
  /// The server answered with records of the type asked for.
  ok,
  /// The server answered that there are none (NXDOMAIN, or the name has no such records).
  none,
  /// No usable answer: no server answered in time, or it refused or failed (SERVFAIL).
  unavailable,
};

template <class Record>
struct dns_answer {
  dns_status status = dns_status::unavailable;
  std::vector<Record> records;
};

/// One resolver state, configured once; not safe to share between threads.
class dns_resolver {
 public:
  /// Throws invalid_input ("dns server") when options.server is not `IPV4[:PORT]`.
  explicit dns_resolver(const dns_options& options);
  ~dns_resolver();
  dns_resolver(const dns_resolver&) = delete;
  dns_resolver& operator=(const dns_resolver&) = delete;

  /// The SRV records of `name` (`_submission._tcp.example.fr`), in the server's order.
  dns_answer<srv_record> srv(std::string_view name);
  /// The MX records of `domain`, lowest preference first.
  dns_answer<mx_record> mx(std::string_view domain);

 private:
  struct state;
  std::unique_ptr<state> state_;
};

/// The order in which to try SRV records (RFC 2782): by priority, lowest first; within a
/// priority, a weighted random draw, so that a record of weight 60 comes first about 60%
/// of the time against one of weight 40. Records whose target is "." are kept.
std::vector<srv_record> order_srv(std::vector<srv_record> records, std::mt19937& random);

}  // namespace envoi::detail
