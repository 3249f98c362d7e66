// Runs a fuzz target's entry point once on each file named on the command line, or on
// each file of each folder named, so that a corpus serves as a test without libFuzzer.
// A folder that is missing or empty is an error: a test that replays nothing proves nothing.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

bool run_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "replay: cannot read %s\n", p.c_str());
    return false;
  }
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // A copy in its own allocation, so that AddressSanitizer sees reads past the end.
  const std::vector<std::uint8_t> input(bytes.begin(), bytes.end());
  LLVMFuzzerTestOneInput(input.data(), input.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE_OR_FOLDER...\n", argv[0]);
    return 2;
  }
  std::size_t count = 0;
  for (int i = 1; i < argc; ++i) {
    const fs::path arg = argv[i];
    std::error_code ec;
    if (!fs::is_directory(arg, ec)) {
      if (!run_file(arg)) return 1;
      ++count;
      continue;
    }
    // Sorted, so a failure reproduces in the same order on every machine.
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(arg))
      if (entry.is_regular_file()) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    if (files.empty()) {
      std::fprintf(stderr, "replay: no input in %s\n", arg.c_str());
      return 1;
    }
    for (const auto& f : files) {
      std::fprintf(stderr, "replay: %s\n", f.c_str());
      if (!run_file(f)) return 1;
      ++count;
    }
  }
  std::printf("replay: %zu inputs, no finding\n", count);
  return 0;
}
