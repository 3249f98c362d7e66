// A certificate for 127.0.0.1 from a CA made for the test, and a CA that signed nothing,
// for TLS servers on loopback.
#pragma once

#include <filesystem>

#include "support/process.hpp"

namespace envoi::test {

class loopback_certificate {
 public:
  /// Makes both CAs and the server's certificate and key with the openssl command.
  /// Throws std::runtime_error with the command's output when it fails.
  loopback_certificate();

  /// The CA that signed the certificate: an account's ca_file.
  std::filesystem::path ca_file() const { return dir_ / "ca.crt"; }
  /// A CA that signed nothing the server shows.
  std::filesystem::path other_ca_file() const { return dir_ / "other.crt"; }
  std::filesystem::path certificate_file() const { return dir_ / "server.crt"; }
  std::filesystem::path key_file() const { return dir_ / "server.key"; }

 private:
  temp_dir dir_{"loopback-certificate"};
};

}  // namespace envoi::test
