// The inputs of the round-trip suite: messages whose every field is a known trap for a
// mail encoder (RFC 2047 words, RFC 2231 names, folding, line ends, base64 edges).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace envoi::roundtrip {

struct person {
  std::string name;
  std::string address;
};

/// An attachment made by the test: `size` bytes, none of them NUL, drawn from `seed`.
struct file {
  std::string name;
  std::size_t size = 0;
  unsigned seed = 1;
  std::string media_type;
};

struct round_trip_case {
  /// A GoogleTest-safe name: letters, digits and underscores.
  std::string id;
  std::string subject;
  person from;
  std::vector<person> to;
  std::vector<person> cc;
  std::string text;
  std::vector<file> files;
};

/// Every case, in a fixed order; at least fifty of them.
const std::vector<round_trip_case>& all_cases();

/// The bytes of `f`, the same on every run.
std::string file_bytes(const file& f);

}  // namespace envoi::roundtrip
