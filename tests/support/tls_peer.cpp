#include "support/tls_peer.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <memory>
#include <stdexcept>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace envoi::test {
namespace {

std::string error_queue() {
  std::string text;
  while (const unsigned long e = ERR_get_error()) {
    char line[256];
    ERR_error_string_n(e, line, sizeof line);
    if (!text.empty()) text += "; ";
    text += line;
  }
  return text.empty() ? "no OpenSSL error queued" : text;
}

using context_ptr = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;
using ssl_ptr = std::unique_ptr<SSL, decltype(&SSL_free)>;

// TLS 1.0 up to `max_version`; security level 0, without which OpenSSL 3 refuses TLS 1.1
// and the SHA-1 signatures it uses.
context_ptr old_protocol_context(const SSL_METHOD* method, int max_version) {
  context_ptr ctx(SSL_CTX_new(method), SSL_CTX_free);
  if (!ctx || SSL_CTX_set_min_proto_version(ctx.get(), TLS1_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx.get(), max_version) != 1 ||
      SSL_CTX_set_cipher_list(ctx.get(), "DEFAULT@SECLEVEL=0") != 1)
    throw std::runtime_error("cannot make the TLS context: " + error_queue());
  return ctx;
}

tls_outcome handshake(SSL* ssl, bool server) {
  ERR_clear_error();
  const int r = server ? SSL_accept(ssl) : SSL_connect(ssl);
  tls_outcome out;
  if (r == 1) {
    out.established = true;
    out.version = SSL_get_version(ssl);
  } else {
    out.error = error_queue();
  }
  return out;
}

void limit_reads(int fd) {
  timeval limit{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
}

}  // namespace

tls_outcome tls_accept(peer_connection& c, const loopback_certificate& certificate,
                       int max_version) {
  auto ctx = old_protocol_context(TLS_server_method(), max_version);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), certificate.certificate_file().c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx.get(), certificate.key_file().c_str(), SSL_FILETYPE_PEM) != 1)
    throw std::runtime_error("cannot load the peer's certificate: " + error_queue());
  ssl_ptr ssl(SSL_new(ctx.get()), SSL_free);
  limit_reads(c.native_handle());
  SSL_set_fd(ssl.get(), c.native_handle());
  return handshake(ssl.get(), true);
}

tls_outcome tls_connect(std::uint16_t port, int max_version) {
  auto ctx = old_protocol_context(TLS_client_method(), max_version);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    if (fd >= 0) ::close(fd);
    return {false, {}, "cannot connect to port " + std::to_string(port)};
  }
  limit_reads(fd);
  ssl_ptr ssl(SSL_new(ctx.get()), SSL_free);
  SSL_set_fd(ssl.get(), fd);
  auto out = handshake(ssl.get(), false);
  ssl.reset();
  ::close(fd);
  return out;
}

}  // namespace envoi::test
