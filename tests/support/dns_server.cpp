#include "support/dns_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string_view>
#include <thread>

extern char** environ;

namespace envoi::test {

namespace {

sockaddr_in loopback(unsigned short port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  return sa;
}

// True once a DNS query to the port gets an answer within 100 ms. UDP, not a TCP
// connection: dnsmasq serves each TCP connection in a child process, which would outlive
// the server as a zombie when the test stops it.
bool answers(unsigned short port) {
  // A query for ready.test, type A, class IN.
  static constexpr std::string_view query{
      "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"  // header: one question
      "\x05ready\x04test\x00"                             // the name
      "\x00\x01\x00\x01",                                 // type A, class IN
      28};
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return false;
  const auto sa = loopback(port);
  bool ok = ::sendto(fd, query.data(), query.size(), 0, reinterpret_cast<const sockaddr*>(&sa),
                     sizeof sa) == static_cast<ssize_t>(query.size());
  if (ok) {
    pollfd p{fd, POLLIN, 0};
    unsigned char reply[512];
    ok = ::poll(&p, 1, 100) == 1 && ::recv(fd, reply, sizeof reply, 0) >= 12;
  }
  ::close(fd);
  return ok;
}

}  // namespace

unsigned short unused_port() {
  // The kernel picks a free TCP port; the same number is then checked free for UDP.
  for (int tries = 0; tries < 20; ++tries) {
    const int tcp = ::socket(AF_INET, SOCK_STREAM, 0);
    auto sa = loopback(0);
    socklen_t len = sizeof sa;
    ::bind(tcp, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
    ::getsockname(tcp, reinterpret_cast<sockaddr*>(&sa), &len);
    const int udp = ::socket(AF_INET, SOCK_DGRAM, 0);
    const bool udp_free = ::bind(udp, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0;
    ::close(udp);
    ::close(tcp);
    const unsigned short port = ntohs(sa.sin_port);
    // 2024 is another service's on the machines these tests run on; never touch it.
    if (udp_free && port != 2024) return port;
  }
  throw std::runtime_error("no free loopback port");
}

dns_server::dns_server(const std::vector<std::string>& records) {
  port_ = unused_port();
  std::vector<std::string> args = {"/usr/sbin/dnsmasq", "--keep-in-foreground",
                                   "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                                   "--no-poll", "--pid-file=", "--listen-address=127.0.0.1",
                                   "--bind-interfaces", "--port=" + std::to_string(port_),
                                   // Names under .test are answered from the records alone.
                                   "--local=/test/"};
  args.insert(args.end(), records.begin(), records.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  // dnsmasq's start-up lines are of no use to a test's output.
  ::posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  ::posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  const int rc = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start /usr/sbin/dnsmasq (install dnsmasq-base)");

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!answers(port_)) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("dnsmasq exited at start-up");
    }
    if (std::chrono::steady_clock::now() > deadline) {
      stop();
      throw std::runtime_error("dnsmasq did not start listening within 5 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

dns_server::~dns_server() {
  stop();
}

void dns_server::stop() noexcept {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string dns_server::address() const {
  return "127.0.0.1:" + std::to_string(port_);
}

}  // namespace envoi::test
