// Reading a whole (small) text file that a person wrote: a config, a CSV.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace envoi::detail {

/// Why `path` cannot be opened as a file, to follow its name: " does not exist", " is a
/// folder, not a file" or " cannot be opened (REASON)"; empty when it can. A pipe or a
/// device is never opened here (a FIFO would wait for a writer): it passes, and what reads
/// it (or refuses it, as attachment::from_file does) decides.
std::string file_problem(const std::filesystem::path& path);

/// The file's bytes. Throws invalid_input whose field is the path and whose text says
/// that `what` ("the configuration file") cannot be opened or read.
std::string read_text_file(const std::filesystem::path& path, std::string_view what);

}  // namespace envoi::detail
