#include "text_file.hpp"

#include <fstream>
#include <iterator>

#include <envoi/error.hpp>

namespace envoi::detail {

std::string read_text_file(const std::filesystem::path& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in || std::filesystem::is_directory(path))
    throw invalid_input(path.string(), std::string(what) + " cannot be opened");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw invalid_input(path.string(), std::string(what) + " cannot be read");
  return text;
}

}  // namespace envoi::detail
