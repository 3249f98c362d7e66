#include "support/scripted_peer.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <string>

namespace envoi::test {

peer_connection::peer_connection(int fd, std::string& record, std::mutex& mutex)
    : fd_(fd), record_(record), mutex_(mutex) {}

void peer_connection::send(std::string_view bytes) {
  while (!bytes.empty()) {
    const auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

bool peer_connection::fill(std::chrono::milliseconds limit) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(limit.count())) <= 0) return false;
  char chunk[4096];
  const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
  if (n <= 0) return false;
  buffer_.append(chunk, static_cast<std::size_t>(n));
  std::lock_guard lock(mutex_);
  record_.append(chunk, static_cast<std::size_t>(n));
  return true;
}

std::string peer_connection::read_line(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (const auto eol = buffer_.find('\n'); eol != std::string::npos) {
      std::string line = buffer_.substr(0, eol + 1);
      buffer_.erase(0, eol + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !fill(left)) return {};
  }
}

std::string peer_connection::read_data(std::chrono::milliseconds limit) {
  std::string text;
  for (;;) {
    std::string line = read_line(limit);
    if (line.empty() || line == ".\r\n") return text;
    text += line;
  }
}

bool peer_connection::has_early_input(std::chrono::milliseconds limit) {
  if (!buffer_.empty()) return true;
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(limit.count())) <= 0) return false;
  char c;
  return ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

bool peer_connection::client_closed(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) > 0) {
      char c;
      const auto n = ::recv(fd_, &c, 1, MSG_PEEK);
      if (n <= 0) return true;
      if (!fill(std::chrono::milliseconds(0))) return true;
    }
  }
  return false;
}

scripted_peer::scripted_peer(script run, int connections, const std::string& address,
                             std::uint16_t port) {
  const bool v6 = address.find(':') != std::string::npos;
  listen_fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
  if (listen_fd_ < 0) throw std::runtime_error("scripted_peer: socket() failed");
  // A port given again by the next test may still have connections in TIME_WAIT.
  if (port != 0) {
    const int on = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  }
  sockaddr_storage addr{};
  socklen_t len = 0;
  if (v6) {
    // A v4-mapped address only binds with IPv6-only off.
    const int off = 0;
    ::setsockopt(listen_fd_, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    auto& a6 = reinterpret_cast<sockaddr_in6&>(addr);
    a6.sin6_family = AF_INET6;
    a6.sin6_port = htons(port);
    ::inet_pton(AF_INET6, address.c_str(), &a6.sin6_addr);
    len = sizeof a6;
  } else {
    auto& a4 = reinterpret_cast<sockaddr_in&>(addr);
    a4.sin_family = AF_INET;
    a4.sin_port = htons(port);
    ::inet_pton(AF_INET, address.c_str(), &a4.sin_addr);
    len = sizeof a4;
  }
  const socklen_t bound_len = len;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), bound_len) != 0 ||
      ::listen(listen_fd_, 8) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("scripted_peer: cannot listen on " + address + " port " +
                             std::to_string(port));
  }
  port_ = ntohs(v6 ? reinterpret_cast<sockaddr_in6&>(addr).sin6_port
                   : reinterpret_cast<sockaddr_in&>(addr).sin_port);

  thread_ = std::thread([this, run = std::move(run), connections] {
    for (int i = 0; i < connections; ++i) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 30000) <= 0) return;  // nobody came; the test will say so
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      {
        std::lock_guard lock(mutex_);
        ++accepted_;
      }
      peer_connection connection(fd, record_, mutex_);
      run(connection);
      ::close(fd);
    }
  });
}

scripted_peer::~scripted_peer() {
  ::shutdown(listen_fd_, SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
}

void scripted_peer::wait() {
  if (thread_.joinable()) thread_.join();
}

std::string scripted_peer::received() const {
  std::lock_guard lock(mutex_);
  return record_;
}

int scripted_peer::accepted() const {
  std::lock_guard lock(mutex_);
  return accepted_;
}

}  // namespace envoi::test
