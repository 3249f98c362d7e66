#include "dns.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstring>
#include <numeric>
#include <optional>

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>

#include <envoi/error.hpp>

namespace envoi::detail {

struct dns_resolver::state {
  struct __res_state res {};
};

namespace {

// "a.b.c.d" or "a.b.c.d:port" as a socket address.
sockaddr_in parse_server(std::string_view text) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  std::uint16_t port = 53;
  std::string_view host = text;
  if (const auto colon = text.find(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    const auto digits = text.substr(colon + 1);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (ec != std::errc() || end != digits.data() + digits.size() || port == 0)
      throw invalid_input("dns server", "expected IPV4:PORT, got \"" + std::string(text) + "\"");
  }
  const std::string host_z(host);
  if (::inet_pton(AF_INET, host_z.c_str(), &sa.sin_addr) != 1)
    throw invalid_input("dns server", "expected an IPv4 address, optionally with :PORT, got \"" +
                                          std::string(text) + "\"");
  sa.sin_port = htons(port);
  return sa;
}

std::string lower_name(const char* name) {
  std::string s(name);
  if (s.empty()) return ".";  // the root, which RFC 2782 uses for "not offered"
  if (s.size() > 1 && s.back() == '.') s.pop_back();
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Sends one query; fills `msg` with the parsed answer or says why there is none.
dns_status query(res_state res, std::string_view name, ns_type type,
                 std::array<unsigned char, NS_MAXMSG>& buffer, ns_msg& msg) {
  const std::string name_z(name);
  const int n = ::res_nquery(res, name_z.c_str(), ns_c_in, type, buffer.data(),
                             static_cast<int>(buffer.size()));
  if (n < 0) {
    // HOST_NOT_FOUND is NXDOMAIN and NO_DATA an empty answer: the server did answer.
    // TRY_AGAIN covers time-outs, SERVFAIL and REFUSED; NO_RECOVERY a malformed exchange.
    const int why = res->res_h_errno;
    return why == HOST_NOT_FOUND || why == NO_DATA ? dns_status::none : dns_status::unavailable;
  }
  if (::ns_initparse(buffer.data(), n, &msg) < 0) return dns_status::unavailable;
  return dns_status::ok;
}

}  // namespace

dns_resolver::dns_resolver(const dns_options& options) : state_(std::make_unique<state>()) {
  // Parsed before res_ninit so that a bad address throws with nothing to release.
  std::optional<sockaddr_in> server;
  if (!options.server.empty()) server = parse_server(options.server);

  res_state res = &state_->res;
  if (::res_ninit(res) != 0) {
    // Without a usable /etc/resolv.conf the state still holds defaults (the local
    // server); the queries then fail and report `unavailable`.
  }
  if (server) {
    res->nsaddr_list[0] = *server;
    res->nscount = 1;
  }
  // The system resolver counts its time limit in whole seconds, at least one.
  res->retrans = static_cast<int>(std::max<std::chrono::seconds::rep>(1, options.timeout.count()));
  res->retry = std::max(1, options.attempts);
  // The names asked are complete: no search list, no local domain appended.
  res->options &= ~static_cast<unsigned long>(RES_DEFNAMES | RES_DNSRCH);
}

dns_resolver::~dns_resolver() {
  ::res_nclose(&state_->res);
}

dns_answer<srv_record> dns_resolver::srv(std::string_view name) {
  auto buffer = std::make_unique<std::array<unsigned char, NS_MAXMSG>>();
  ns_msg msg{};
  dns_answer<srv_record> answer;
  answer.status = query(&state_->res, name, ns_t_srv, *buffer, msg);
  if (answer.status != dns_status::ok) return answer;

  for (int i = 0; i < ns_msg_count(msg, ns_s_an); ++i) {
    ns_rr rr{};
    // An answer may hold CNAMEs before the records; only SRV records count.
    if (::ns_parserr(&msg, ns_s_an, i, &rr) < 0 || ns_rr_type(rr) != ns_t_srv) continue;
    const unsigned char* rdata = ns_rr_rdata(rr);
    if (ns_rr_rdlen(rr) < 7) continue;  // priority, weight, port, and at least the root
    srv_record r;
    r.priority = static_cast<std::uint16_t>(::ns_get16(rdata));
    r.weight = static_cast<std::uint16_t>(::ns_get16(rdata + 2));
    r.port = static_cast<std::uint16_t>(::ns_get16(rdata + 4));
    std::array<char, NS_MAXDNAME> target{};
    if (::dn_expand(ns_msg_base(msg), ns_msg_end(msg), rdata + 6, target.data(),
                    static_cast<int>(target.size())) < 0)
      continue;
    r.target = lower_name(target.data());
    answer.records.push_back(std::move(r));
  }
  if (answer.records.empty()) answer.status = dns_status::none;
  return answer;
}

dns_answer<mx_record> dns_resolver::mx(std::string_view domain) {
  auto buffer = std::make_unique<std::array<unsigned char, NS_MAXMSG>>();
  ns_msg msg{};
  dns_answer<mx_record> answer;
  answer.status = query(&state_->res, domain, ns_t_mx, *buffer, msg);
  if (answer.status != dns_status::ok) return answer;

  for (int i = 0; i < ns_msg_count(msg, ns_s_an); ++i) {
    ns_rr rr{};
    if (::ns_parserr(&msg, ns_s_an, i, &rr) < 0 || ns_rr_type(rr) != ns_t_mx) continue;
    const unsigned char* rdata = ns_rr_rdata(rr);
    if (ns_rr_rdlen(rr) < 3) continue;
    mx_record r;
    r.preference = static_cast<std::uint16_t>(::ns_get16(rdata));
    std::array<char, NS_MAXDNAME> host{};
    if (::dn_expand(ns_msg_base(msg), ns_msg_end(msg), rdata + 2, host.data(),
                    static_cast<int>(host.size())) < 0)
      continue;
    r.host = lower_name(host.data());
    answer.records.push_back(std::move(r));
  }
  std::stable_sort(answer.records.begin(), answer.records.end(),
                   [](const auto& a, const auto& b) { return a.preference < b.preference; });
  if (answer.records.empty()) answer.status = dns_status::none;
  return answer;
}

std::vector<srv_record> order_srv(std::vector<srv_record> records, std::mt19937& random) {
  std::stable_sort(records.begin(), records.end(),
                   [](const auto& a, const auto& b) { return a.priority < b.priority; });
  std::vector<srv_record> ordered;
  ordered.reserve(records.size());
  auto group = records.begin();
  while (group != records.end()) {
    const auto end = std::find_if(group, records.end(),
                                  [&](const auto& r) { return r.priority != group->priority; });
    std::vector<srv_record> left(std::make_move_iterator(group), std::make_move_iterator(end));
    // RFC 2782: records of weight 0 go first in the list, so that they have a small
    // chance of being picked; then draw a number from 0 to the sum of the weights and
    // take the first record whose running sum reaches it.
    std::stable_partition(left.begin(), left.end(), [](const auto& r) { return r.weight == 0; });
    while (!left.empty()) {
      const std::uint32_t total =
          std::accumulate(left.begin(), left.end(), std::uint32_t{0},
                          [](std::uint32_t sum, const auto& r) { return sum + r.weight; });
      const std::uint32_t draw = std::uniform_int_distribution<std::uint32_t>(0, total)(random);
      std::uint32_t running = 0;
      auto pick = left.begin();
      for (; pick != left.end(); ++pick) {
        running += pick->weight;
        if (running >= draw) break;
      }
      if (pick == left.end()) pick = std::prev(left.end());
      ordered.push_back(std::move(*pick));
      left.erase(pick);
    }
    group = end;
  }
  return ordered;
}

}  // namespace envoi::detail
