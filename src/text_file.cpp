#include "text_file.hpp"

#include <cerrno>
#include <fstream>
#include <iterator>
#include <system_error>

#include <envoi/error.hpp>

namespace envoi::detail {

std::string file_problem(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto type = fs::status(path, ec).type();
  if (type == fs::file_type::not_found) return " does not exist";
  if (type == fs::file_type::directory) return " is a folder, not a file";
  // A pipe or a device is left to the one read that follows: opening a FIFO here would
  // wait for a writer, and the reader's own open would then wait for another.
  if (type == fs::file_type::fifo || type == fs::file_type::character ||
      type == fs::file_type::block || type == fs::file_type::socket)
    return {};
  if (std::ifstream(path, std::ios::binary)) return {};
  return " cannot be opened (" + std::generic_category().message(errno) + ")";
}

std::string read_text_file(const std::filesystem::path& path, std::string_view what) {
  if (auto problem = file_problem(path); !problem.empty())
    throw invalid_input(path.string(), std::string(what) + problem);
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw invalid_input(path.string(), std::string(what) + " cannot be read");
  return text;
}

}  // namespace envoi::detail
