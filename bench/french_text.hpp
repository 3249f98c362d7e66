// The text the benchmarks work on: what a French clinic writes to its clients.
#pragma once

#include <cstddef>
#include <string>

namespace envoi::bench {

/// The body of an appointment reminder, UTF-8 with LF line ends, about 1.9 KB.
const std::string& reminder_body();

/// French prose of `size` bytes or a little less (whole characters), LF line ends.
std::string french_text(std::size_t size);

}  // namespace envoi::bench
