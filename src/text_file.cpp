#include "text_file.hpp"

#include <cerrno>
#include <fstream>
#include <iterator>
#include <system_error>

#include <envoi/error.hpp>

namespace envoi::detail {

std::string read_text_file(const std::filesystem::path& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in || std::filesystem::is_directory(path)) {
    const int error = errno;
    std::error_code ec;
    const auto type = std::filesystem::status(path, ec).type();
    std::string why = " cannot be opened (" + std::generic_category().message(error) + ")";
    if (type == std::filesystem::file_type::not_found) why = " does not exist";
    if (type == std::filesystem::file_type::directory) why = " is a folder, not a file";
    throw invalid_input(path.string(), std::string(what) + why);
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw invalid_input(path.string(), std::string(what) + " cannot be read");
  return text;
}

}  // namespace envoi::detail
