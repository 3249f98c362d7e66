// Fuzz target for envoi::mailbox::parse.
//
// Any input either throws envoi::invalid_input or yields a mailbox that can be written in a
// header: to_header() holds no CR, LF or NUL (a header injection otherwise), is ASCII when
// the address is, and the address parses again to itself. Anything else aborts: another
// exception type escapes (libFuzzer reports it), a check fails, or a sanitizer fires.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <envoi/error.hpp>
#include <envoi/mailbox.hpp>

namespace {

bool is_ascii(std::string_view s) {
  for (const char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

[[noreturn]] void finding(const char* what, std::string_view input, std::string_view detail) {
  std::fprintf(stderr, "FINDING: %s\n  input:  [%.*s]\n  detail: [%.*s]\n", what,
               static_cast<int>(input.size()), input.data(), static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  envoi::mailbox m;
  try {
    m = envoi::mailbox::parse(input);
  } catch (const envoi::invalid_input&) {
    return 0;
  }

  const std::string header = m.to_header();
  if (header.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
    finding("to_header() holds CR, LF or NUL", input, header);
  // Non-ASCII addresses are written as UTF-8 for now (mailbox.cpp says so); an ASCII
  // address leaves no excuse for 8-bit bytes in the header.
  if (is_ascii(m.address()) && !is_ascii(header))
    finding("to_header() is not ASCII although the address is", input, header);

  // The address alone is what the envelope carries; it must read back unchanged.
  try {
    const envoi::mailbox again = envoi::mailbox::parse(m.address());
    if (again.address() != m.address())
      finding("the address parses to another address", input, again.address());
  } catch (const envoi::invalid_input& e) {
    finding("the parsed address is refused when parsed again", input, e.what());
  }
  return 0;
}
