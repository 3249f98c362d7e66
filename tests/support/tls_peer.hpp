// TLS for a scripted peer: the
// server side of a handshake on an accepted connection with a chosen highest protocol
// version, and a plain OpenSSL client to check what such a peer accepts.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "support/loopback_certificate.hpp"
#include "support/scripted_peer.hpp"

namespace envoi::test {

/// How one handshake ended, on the side that ran it.
struct tls_outcome {
  bool established = false;
  /// The protocol agreed on ("TLSv1.1"), when established.
  std::string version;
  /// OpenSSL's error queue, when not established.
  std::string error;
};

/// Runs the server side of a TLS handshake on `c` with `certificate`, offering protocol
/// versions from TLS 1.0 up to `max_version` (TLS1_1_VERSION, TLS1_2_VERSION...) at
/// OpenSSL security level 0, which old versions need. The session is dropped without a
/// close_notify; reads wait at most 5 s.
tls_outcome tls_accept(peer_connection& c, const loopback_certificate& certificate,
                       int max_version);

/// Connects to 127.0.0.1:`port` and runs the client side of a handshake offering TLS
/// 1.0 up to `max_version` at security level 0, without checking the certificate, then
/// closes the connection without a close_notify.
tls_outcome tls_connect(std::uint16_t port, int max_version);

}  // namespace envoi::test
