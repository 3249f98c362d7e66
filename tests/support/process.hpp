// Running a helper program (a Python checker, an OpenSSL command) from a test.
#pragma once

#include <filesystem>
#include <string>

namespace envoi::test {

struct command_result {
  /// The exit status; -1 when the command could not start or was killed.
  int status = -1;
  /// Standard output and standard error, interleaved.
  std::string output;
};

/// Runs `command` through the shell and collects what it prints.
command_result run_command(const std::string& command);

/// `s` as one shell word.
std::string shell_quoted(const std::string& s);

/// A folder of its own for one test, removed with everything in it when destroyed.
class temp_dir {
 public:
  /// Makes /tmp/envoi-PREFIX-PID-N, emptied first if it was left behind.
  explicit temp_dir(const std::string& prefix);
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace envoi::test
