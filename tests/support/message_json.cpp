#include "support/message_json.hpp"

#include <openssl/evp.h>

namespace envoi::test {

namespace {
constexpr char hex_digits[] = "0123456789abcdef";
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out += hex_digits[digest[i] >> 4];
    out += hex_digits[digest[i] & 0x0F];
  }
  return out;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20 || c == 0x7F) {
      out += "\\u00";
      out += hex_digits[c >> 4];
      out += hex_digits[c & 0x0F];
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string json_mailbox(const mailbox& m) {
  return "{\"name\": " + json_string(m.display_name()) +
         ", \"address\": " + json_string(m.address()) + "}";
}

std::string json_mailboxes(const std::vector<mailbox>& list) {
  std::string out = "[";
  for (std::size_t i = 0; i < list.size(); ++i) out += (i ? ", " : "") + json_mailbox(list[i]);
  return out + "]";
}

}  // namespace envoi::test
