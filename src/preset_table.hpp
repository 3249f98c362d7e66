// The built-in preset table, generated at build time by cmake/generate_presets.py.
#pragma once

#include <span>
#include <string_view>

#include <envoi/preset.hpp>

namespace envoi::detail {

/// Another name for a relay: `name` finds the row `relay:target`.
struct relay_alias {
  std::string_view name;
  std::string_view target;
};

/// The rows of data/smtp-presets.csv, in file order.
std::span<const preset> preset_table() noexcept;

/// The relay aliases of data/smtp-providers.toml.
std::span<const relay_alias> relay_aliases() noexcept;

}  // namespace envoi::detail
