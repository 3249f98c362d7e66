// A scripted SMTP peer on a loopback port: each accepted connection runs a script written
// as a plain function, and every byte the client sent is recorded for the test to check.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace envoi::test {

/// One accepted connection, as the script sees it. Plain TCP only.
class peer_connection {
 public:
  explicit peer_connection(int fd, std::string& record, std::mutex& mutex);

  /// Writes `bytes` as they are (the script supplies the CRLFs).
  void send(std::string_view bytes);
  /// Reads one line including its line end; empty when the client closed or after
  /// `limit` without a complete line.
  std::string read_line(std::chrono::milliseconds limit = std::chrono::seconds(10));
  /// Reads until the end-of-data line and returns the text as sent (still dot-stuffed).
  std::string read_data(std::chrono::milliseconds limit = std::chrono::seconds(10));
  /// True when the client sent bytes not read yet, or sends some within `limit`: a strict
  /// server's check for commands written before their turn (RFC 5321 4.3.1).
  bool has_early_input(std::chrono::milliseconds limit = std::chrono::milliseconds(50));
  /// True when the client has closed its side (reads return nothing more).
  bool client_closed(std::chrono::milliseconds limit = std::chrono::seconds(5));
  /// The connection's socket, for a script that runs a TLS handshake on it itself; what
  /// goes through it that way is not recorded.
  int native_handle() const noexcept { return fd_; }

 private:
  bool fill(std::chrono::milliseconds limit);

  int fd_;
  std::string buffer_;
  std::string& record_;
  std::mutex& mutex_;
};

class scripted_peer {
 public:
  using script = std::function<void(peer_connection&)>;

  /// Listens on `address` (a loopback address: 127.0.0.1, ::1, or ::ffff:127.0.0.1 for a
  /// dual-stack socket taking IPv4) with `port`, or one the system picks when it is 0, and
  /// runs `run` on each of up to `connections` connections, one after another. Throws
  /// std::runtime_error when it cannot listen (a port taken, or below 1024 without root).
  explicit scripted_peer(script run, int connections = 1, const std::string& address = "127.0.0.1",
                         std::uint16_t port = 0);
  /// Stops listening and waits for the script to end.
  ~scripted_peer();
  /// Waits until the script has run on every connection it was made for, or nobody came
  /// for 30 s, so that received() holds everything it read.
  void wait();

  std::uint16_t port() const noexcept { return port_; }
  /// Every byte received on every connection so far.
  std::string received() const;
  int accepted() const;

 private:
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  mutable std::mutex mutex_;
  std::string record_;
  int accepted_ = 0;
  std::thread thread_;
};

}  // namespace envoi::test
