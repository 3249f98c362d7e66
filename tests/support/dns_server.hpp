// A throw-away DNS server for tests: dnsmasq on 127.0.0.1 and a free port, answering
// only from the records it is given (no upstream, no /etc/hosts), stopped when destroyed.
#pragma once

#include <string>
#include <vector>

#include <sys/types.h>

namespace envoi::test {

class dns_server {
 public:
  /// Starts dnsmasq with `records`, each a dnsmasq option such as
  /// `--srv-host=_submission._tcp.example.test,mail.example.test,587,0,0` or
  /// `--mx-host=example.test,aspmx.l.google.com,10`. Every name under `.test` is answered
  /// from these alone (NXDOMAIN otherwise). Throws std::runtime_error when dnsmasq does
  /// not start or does not answer within five seconds.
  explicit dns_server(const std::vector<std::string>& records);
  ~dns_server();
  dns_server(const dns_server&) = delete;
  dns_server& operator=(const dns_server&) = delete;

  /// `127.0.0.1:PORT`, for dns_options::server.
  std::string address() const;
  unsigned short port() const noexcept { return port_; }

 private:
  void stop() noexcept;

  pid_t pid_ = -1;
  unsigned short port_ = 0;
};

/// A loopback UDP and TCP port that nothing listens on when this returns.
unsigned short unused_port();

}  // namespace envoi::test
