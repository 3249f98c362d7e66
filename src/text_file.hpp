// Reading a whole (small) text file that a person wrote: a config, a CSV.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace envoi::detail {

/// The file's bytes. Throws invalid_input whose field is the path and whose text says
/// that `what` ("the configuration file") cannot be opened or read.
std::string read_text_file(const std::filesystem::path& path, std::string_view what);

}  // namespace envoi::detail
