#include "envoi/dkim.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <vector>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "dkim_canon.hpp"
#include "envoi/error.hpp"
#include "mime/encoding.hpp"
#include "text_file.hpp"

namespace envoi {
namespace detail {

std::string relaxed_header(std::string_view field) {
  while (field.ends_with("\r\n")) field.remove_suffix(2);
  const std::size_t colon = field.find(':');
  std::string out;
  out.reserve(field.size());
  std::string_view name = field.substr(0, colon);
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
  for (const char c : name) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  out += ':';
  if (colon == std::string_view::npos) return out;

  // RFC 6376 3.4.2: unfold, turn each run of white space into one space, and drop the
  // white space at either end of the value.
  bool space = false;
  const std::size_t value_start = out.size();
  for (const char c : field.substr(colon + 1)) {
    if (c == '\r' || c == '\n') continue;
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space && out.size() > value_start) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

struct relaxed_body_hash::digest {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(), &EVP_MD_CTX_free};
};

relaxed_body_hash::relaxed_body_hash() : digest_(std::make_unique<digest>()) {
  if (!digest_->ctx || EVP_DigestInit_ex(digest_->ctx.get(), EVP_sha256(), nullptr) != 1)
    throw std::bad_alloc();
}

relaxed_body_hash::~relaxed_body_hash() = default;

void relaxed_body_hash::emit(std::string_view bytes) {
  EVP_DigestUpdate(digest_->ctx.get(), bytes.data(), bytes.size());
}

void relaxed_body_hash::content(char c) {
  for (; held_line_ends_ > 0; --held_line_ends_) emit("\r\n");
  // RFC 6376 3.4.4: a run of white space inside a line is one space.
  if (pending_space_) emit(" ");
  pending_space_ = false;
  emit(std::string_view(&c, 1));
  line_has_content_ = true;
}

void relaxed_body_hash::update(std::string_view bytes) {
  for (const char c : bytes) {
    if (pending_cr_) {
      pending_cr_ = false;
      if (c == '\n') {
        // White space at the end of a line is dropped; an empty line waits until text
        // follows it.
        pending_space_ = false;
        if (line_has_content_) {
          emit("\r\n");
        } else {
          ++held_line_ends_;
        }
        line_has_content_ = false;
        continue;
      }
      content('\r');
    }
    if (c == '\r') {
      pending_cr_ = true;
    } else if (c == ' ' || c == '\t') {
      pending_space_ = true;
    } else {
      content(c);
    }
  }
}

std::string relaxed_body_hash::finish() {
  if (pending_cr_) content('\r');
  // A last line without its CRLF gets one; empty lines at the end are ignored.
  if (line_has_content_) emit("\r\n");
  std::string out(32, '\0');
  unsigned int n = 0;
  EVP_DigestFinal_ex(digest_->ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &n);
  out.resize(n);
  return out;
}

}  // namespace detail

namespace {

using pkey_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

// Header fields signed when present, in this order. Bcc is never written, so never signed.
constexpr std::array<std::string_view, 13> signed_fields = {"from",
                                                            "sender",
                                                            "reply-to",
                                                            "to",
                                                            "cc",
                                                            "subject",
                                                            "date",
                                                            "message-id",
                                                            "in-reply-to",
                                                            "references",
                                                            "mime-version",
                                                            "content-type",
                                                            "content-transfer-encoding"};

// RFC 6376 3.1: a selector and a domain are dot-separated DNS labels.
bool is_dns_name(std::string_view s) {
  if (s.empty() || s.size() > 253 || s.front() == '.' || s.back() == '.') return false;
  std::size_t label = 0;
  for (const char c : s) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
    if (++label > 63) return false;
  }
  return true;
}

// The header block split into fields, each with its CRLF and continuation lines.
std::vector<std::string_view> split_fields(std::string_view block) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  while (start < block.size()) {
    std::size_t end = start;
    do {
      const std::size_t crlf = block.find("\r\n", end);
      end = crlf == std::string_view::npos ? block.size() : crlf + 2;
    } while (end < block.size() && (block[end] == ' ' || block[end] == '\t'));
    fields.push_back(block.substr(start, end - start));
    start = end;
  }
  return fields;
}

std::string field_name(std::string_view field) {
  std::string_view name = field.substr(0, field.find(':'));
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
  return mime::ascii_lower(name);
}

}  // namespace

struct dkim_signer::impl {
  std::string domain;
  std::string selector;
  pkey_ptr key{nullptr, &EVP_PKEY_free};
  bool ed25519 = false;
};

dkim_signer::dkim_signer(std::shared_ptr<const impl> p) noexcept : impl_(std::move(p)) {}

dkim_signer dkim_signer::from_pem_file(std::string domain, std::string selector,
                                       const std::filesystem::path& key_file) {
  const std::string pem = detail::read_text_file(key_file, "the DKIM private key file");
  try {
    return from_pem(std::move(domain), std::move(selector), pem);
  } catch (const invalid_input& e) {
    if (e.field() != "dkim.key_file") throw;
    throw invalid_input("dkim.key_file", key_file.string() + ": " + e.reason());
  }
}

dkim_signer dkim_signer::from_pem(std::string domain, std::string selector, std::string_view pem) {
  if (!is_dns_name(domain))
    throw invalid_input("dkim.domain", "\"" + domain + "\" is not a domain name");
  if (!is_dns_name(selector))
    throw invalid_input("dkim.selector", "\"" + selector + "\" is not a valid selector");

  auto p = std::make_shared<impl>();
  p->domain = mime::ascii_lower(domain);
  p->selector = std::move(selector);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  p->key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!p->key) throw invalid_input("dkim.key_file", "no PEM private key could be read");

  const int type = EVP_PKEY_get_base_id(p->key.get());
  if (type == EVP_PKEY_ED25519) {
    p->ed25519 = true;
  } else if (type == EVP_PKEY_RSA) {
    // RFC 8301 3.2: verifiers reject RSA keys shorter than 1024 bits.
    if (EVP_PKEY_get_bits(p->key.get()) < 1024)
      throw invalid_input("dkim.key_file", "the RSA key is shorter than 1024 bits");
  } else {
    throw invalid_input("dkim.key_file", "the key is neither RSA nor Ed25519");
  }
  return dkim_signer(std::move(p));
}

const std::string& dkim_signer::domain() const noexcept {
  return impl_->domain;
}

const std::string& dkim_signer::selector() const noexcept {
  return impl_->selector;
}

std::string_view dkim_signer::algorithm() const noexcept {
  return impl_->ed25519 ? "ed25519-sha256" : "rsa-sha256";
}

dkim_signer& dkim_signer::fixed_time(long long seconds) noexcept {
  fixed_time_ = seconds;
  return *this;
}

std::string dkim_signer::dns_record() const {
  std::string key;
  if (impl_->ed25519) {
    // RFC 8463 4.2: the bare 32-octet public key.
    std::size_t n = 0;
    EVP_PKEY_get_raw_public_key(impl_->key.get(), nullptr, &n);
    key.resize(n);
    EVP_PKEY_get_raw_public_key(impl_->key.get(), reinterpret_cast<unsigned char*>(key.data()), &n);
  } else {
    // RFC 6376 3.6.1: the DER SubjectPublicKeyInfo.
    unsigned char* der = nullptr;
    const int n = i2d_PUBKEY(impl_->key.get(), &der);
    if (n <= 0) throw std::bad_alloc();
    key.assign(reinterpret_cast<const char*>(der), static_cast<std::size_t>(n));
    OPENSSL_free(der);
  }
  return std::string("v=DKIM1; k=") + (impl_->ed25519 ? "ed25519" : "rsa") +
         "; p=" + mime::base64(key);
}

std::string dkim_signer::signature_field(std::string_view header_block,
                                         std::string_view body_hash) const {
  // RFC 6376 5.4.2: fields are taken from the bottom up, so a name listed once more than
  // it occurs signs its absence too.
  const std::vector<std::string_view> fields = split_fields(header_block);
  std::vector<std::string_view> chosen;
  std::string names;
  for (const std::string_view name : signed_fields) {
    for (auto it = fields.rbegin(); it != fields.rend(); ++it) {
      if (field_name(*it) != name) continue;
      chosen.push_back(*it);
      names += names.empty() ? "" : ":";
      names += name;
    }
  }
  names += ":from";

  const long long now = fixed_time_ != 0 ? fixed_time_
                                         : std::chrono::duration_cast<std::chrono::seconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count();
  mime::header_folder field("DKIM-Signature");
  for (const std::string& tag :
       {std::string("v=1;"), "a=" + std::string(algorithm()) + ";",
        std::string("c=relaxed/relaxed;"), "d=" + impl_->domain + ";", "s=" + impl_->selector + ";",
        "t=" + std::to_string(now) + ";", "bh=" + mime::base64(body_hash) + ";"})
    field.add(tag);
  // Folding white space may stand around the colons of h= (RFC 6376 3.5).
  std::size_t start = 0;
  while (start < names.size()) {
    std::size_t end = std::min(names.size(), start + 60);
    if (end < names.size()) end = names.rfind(':', end) + 1;
    field.add((start == 0 ? "h=" : "") + names.substr(start, end - start) +
              (end == names.size() ? ";" : ""));
    start = end;
  }
  field.add("b=");
  std::string unsigned_field = std::move(field).finish();
  unsigned_field.resize(unsigned_field.size() - 2);

  // RFC 6376 3.7: the signed fields in relaxed form, then this field with an empty b=
  // and no final CRLF.
  std::string data;
  for (const std::string_view f : chosen) data += detail::relaxed_header(f) + "\r\n";
  data += detail::relaxed_header(unsigned_field);

  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  std::string input = data;
  const EVP_MD* md = EVP_sha256();
  if (impl_->ed25519) {
    // RFC 8463 3: Ed25519 signs the SHA-256 of the data, not the data itself.
    input.assign(32, '\0');
    unsigned int n = 0;
    EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(input.data()), &n,
               EVP_sha256(), nullptr);
    md = nullptr;
  }
  std::size_t length = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(input.data());
  if (!ctx ||
      EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr,
                         const_cast<EVP_PKEY*>(impl_->key.get())) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length, in, input.size()) != 1)
    throw std::runtime_error("DKIM signing failed in OpenSSL");
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length, in,
                     input.size()) != 1)
    throw std::runtime_error("DKIM signing failed in OpenSSL");
  signature.resize(length);

  // The signature goes after "b=", folded: white space inside b= is ignored (3.5).
  const std::string b = mime::base64(signature);
  std::string out = unsigned_field;
  std::size_t line = out.size() - out.rfind('\n') - 1;
  for (std::size_t pos = 0; pos < b.size();) {
    if (line >= 76) {
      out += "\r\n\t";
      line = 1;
    }
    const std::size_t n = std::min(b.size() - pos, 76 - line);
    out.append(b, pos, n);
    line += n;
    pos += n;
  }
  out += "\r\n";
  return out;
}

}  // namespace envoi
