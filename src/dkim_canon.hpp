// DKIM's relaxed canonicalization (RFC 6376 3.4.2 and 3.4.4), shared by the signer and
// the renderer, which hashes the body while streaming it.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace envoi::detail {

/// One header field (name, colon, value, possibly folded, with or without its final CRLF)
/// in relaxed form: name in lower case, line breaks removed, runs of white space as one
/// space, no white space around the colon or at the end. No CRLF is appended.
std::string relaxed_header(std::string_view field);

/// SHA-256 of a body in relaxed form, fed in pieces split anywhere.
class relaxed_body_hash {
 public:
  relaxed_body_hash();
  ~relaxed_body_hash();
  relaxed_body_hash(const relaxed_body_hash&) = delete;
  relaxed_body_hash& operator=(const relaxed_body_hash&) = delete;

  void update(std::string_view bytes);
  /// The 32-octet digest. The object cannot be used afterwards.
  std::string finish();

 private:
  void emit(std::string_view bytes);
  void content(char c);

  struct digest;
  std::unique_ptr<digest> digest_;
  // Empty lines are held back: RFC 6376 3.4.4 ignores those at the end of the body.
  std::size_t held_line_ends_ = 0;
  bool pending_space_ = false;
  bool pending_cr_ = false;
  bool line_has_content_ = false;
};

}  // namespace envoi::detail
