#include "support/token_endpoint.hpp"

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace envoi::test {

token_endpoint::token_endpoint() {
  const std::string script = std::string(ENVOI_SOURCE_DIR) + "/tests/tools/token_endpoint.py";
  const std::string command = std::string(ENVOI_PYTHON) + " " + shell_quoted(script) + " " +
                              shell_quoted(certificate_.certificate_file().string()) + " " +
                              shell_quoted(certificate_.key_file().string()) + " " +
                              shell_quoted((dir_ / "port").string()) + " " +
                              shell_quoted((dir_ / "requests.log").string());
  process_ = ::popen(command.c_str(), "w");
  if (process_ == nullptr) throw std::runtime_error("cannot start " + script);
  for (int i = 0; i < 200 && port_ == 0; ++i) {
    std::ifstream(dir_ / "port") >> port_;
    if (port_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  if (port_ == 0) throw std::runtime_error(script + " did not start within 5 s");
}

token_endpoint::~token_endpoint() {
  if (process_ != nullptr) ::pclose(process_);
}

std::string token_endpoint::url(const std::string& path) const {
  return "https://127.0.0.1:" + std::to_string(port_) + path;
}

std::vector<std::string> token_endpoint::requests() const {
  std::vector<std::string> lines;
  std::ifstream in(dir_ / "requests.log");
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace envoi::test
