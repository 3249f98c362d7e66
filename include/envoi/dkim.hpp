// DKIM signing (RFC 6376): a signature over a message's main header fields and its body,
// which receiving servers check against the public key the domain publishes in DNS.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace envoi {

/// Signs messages for one domain and selector with one private key: RSA (rsa-sha256,
/// keys of at least 1024 bits, 2048 recommended) or Ed25519 (ed25519-sha256, RFC 8463).
/// Header and body are canonicalized "relaxed" (RFC 6376 3.4.2 and 3.4.4), which survives
/// the re-folding and white space changes relays make. Immutable once made; one signer
/// can serve any number of messages and threads.
///
/// The public key goes in DNS as a TXT record at `SELECTOR._domainkey.DOMAIN`;
/// dns_record() gives its text.
class dkim_signer {
 public:
  /// Reads a PEM private key (PKCS#8 or traditional RSA). Throws invalid_input naming
  /// `field` ("dkim.key_file" by default) when the file cannot be read, holds no key, or
  /// holds a key of another type or too short; and naming "dkim.domain" or
  /// "dkim.selector" when those are not valid DNS names.
  static dkim_signer from_pem_file(std::string domain, std::string selector,
                                   const std::filesystem::path& key_file);
  /// The same from PEM text already in memory.
  static dkim_signer from_pem(std::string domain, std::string selector, std::string_view pem);

  const std::string& domain() const noexcept;
  const std::string& selector() const noexcept;
  /// "rsa-sha256" or "ed25519-sha256".
  std::string_view algorithm() const noexcept;
  /// The TXT record to publish: "v=DKIM1; k=rsa; p=...".
  std::string dns_record() const;

  /// The DKIM-Signature field, CRLF included, to put before `header_block` (the message's
  /// header fields, each ending in CRLF, without the empty line after them). `body_hash`
  /// is the SHA-256 of the relaxed-canonical body (32 octets). Signs From, Sender,
  /// Reply-To, To, Cc, Subject, Date, Message-ID, In-Reply-To, References and the MIME
  /// fields that are present (never a Bcc field), and lists From once more than it occurs,
  /// so that a From added on the way breaks the signature.
  std::string signature_field(std::string_view header_block, std::string_view body_hash) const;

  /// Signature time in seconds since 1970 for the t= tag; the current time when 0. For
  /// reproducible output in tests.
  dkim_signer& fixed_time(long long seconds) noexcept;

 private:
  struct impl;
  explicit dkim_signer(std::shared_ptr<const impl> p) noexcept;
  std::shared_ptr<const impl> impl_;
  long long fixed_time_ = 0;
};

}  // namespace envoi
