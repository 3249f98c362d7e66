// A local OAuth 2.0 token endpoint over HTTPS (tests/tools/token_endpoint.py), with a
// certificate for 127.0.0.1 from a CA made for it (loopback_certificate).
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "support/loopback_certificate.hpp"
#include "support/process.hpp"

namespace envoi::test {

class token_endpoint {
 public:
  /// Makes the CA and certificate with the openssl command and starts the endpoint.
  /// Throws std::runtime_error with the commands' output when either fails.
  token_endpoint();
  /// Closes the endpoint's standard input, which ends it, and waits for it.
  ~token_endpoint();
  token_endpoint(const token_endpoint&) = delete;
  token_endpoint& operator=(const token_endpoint&) = delete;

  /// "https://127.0.0.1:PORT/PATH".
  std::string url(const std::string& path = "/token") const;
  /// The CA that signed the endpoint's certificate.
  std::filesystem::path ca_file() const { return certificate_.ca_file(); }
  /// A CA that signed nothing the endpoint shows.
  std::filesystem::path other_ca_file() const { return certificate_.other_ca_file(); }
  /// Each request's form fields, one JSON object per request, in order.
  std::vector<std::string> requests() const;

 private:
  loopback_certificate certificate_;
  temp_dir dir_{"token-endpoint"};
  std::FILE* process_ = nullptr;
  int port_ = 0;
};

}  // namespace envoi::test
