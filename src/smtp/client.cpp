#include <envoi/smtp/client.hpp>

#include <algorithm>
#include <future>
#include <optional>
#include <string_view>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "mime/encoding.hpp"
#include "smtp/protocol.hpp"

namespace envoi::smtp {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// The longest reply line accepted; RFC 5321 4.5.3.1.5 sets 512 octets, servers exceed it.
constexpr std::size_t max_reply_buffer = 64 * 1024;

// A failure inside a session, carried to the top of the coroutine as an exception.
struct session_failure {
  errc code;
  envoi::step step;
  smtp::reply reply;
  std::string detail;
};

[[noreturn]] void fail(errc code, envoi::step s, smtp::reply r = {}, std::string detail = {}) {
  throw session_failure{code, s, std::move(r), std::move(detail)};
}

// A refusal from the server: 421 and other 4xx replies may succeed later, 5xx will not.
[[noreturn]] void refused(envoi::step s, smtp::reply r) {
  fail(r.transient() ? errc::server_transient : errc::server_permanent, s, std::move(r));
}

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

bool is_loopback(const tcp::endpoint& ep) {
  const auto a = ep.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).is_loopback();
  return a.is_loopback();
}

std::string machine_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return {};
  return name;
}

}  // namespace

struct client::impl : std::enable_shared_from_this<impl> {
  impl(asio::any_io_executor ex, envoi::account a)
      : executor(std::move(ex)),
        acct(std::move(a)),
        tls(asio::ssl::context::tls_client),
        timer(executor) {}

  asio::any_io_executor executor;
  // Set when the client was made for the blocking calls only.
  std::unique_ptr<asio::io_context> own_context;
  envoi::account acct;
  asio::ssl::context tls;
  bool tls_configured = false;
  std::optional<asio::ssl::stream<tcp::socket>> stream;
  bool tls_active = false;
  bool ready = false;  // connected, greeted, secured and authenticated
  std::string input;
  detail::reply_parser parser;
  detail::capabilities caps;
  asio::steady_timer timer;
  std::uint64_t watch_generation = 0;
  bool timed_out = false;
  bool busy = false;

  // --- watchdog: each step has its own time limit; when it runs out the socket is
  // closed, which ends whatever operation is pending.
  void arm() {
    timed_out = false;
    timer.expires_after(acct.step_timeout);
    timer.async_wait([weak = weak_from_this(), gen = ++watch_generation](error_code ec) {
      auto self = weak.lock();
      if (ec || !self || gen != self->watch_generation) return;
      self->timed_out = true;
      self->close();
    });
  }
  void disarm() {
    ++watch_generation;
    timer.cancel();
  }

  void close() {
    ready = false;
    tls_active = false;
    input.clear();
    parser.take();
    if (stream) {
      error_code ignored;
      stream->lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
      stream->lowest_layer().close(ignored);
    }
  }

  // An I/O error becomes a time-out when the watchdog caused it.
  [[noreturn]] void io_failed(envoi::step s, const error_code& ec) {
    if (timed_out) fail(errc::timed_out, s);
    if (ec == asio::error::eof || ec == asio::error::connection_reset ||
        ec == asio::ssl::error::stream_truncated)
      fail(errc::connection_closed, s, {}, ec.message());
    fail(errc::connection_closed, s, {}, ec.message());
  }

  asio::awaitable<void> write(std::string_view bytes, envoi::step s) {
    arm();
    error_code ec;
    if (tls_active) {
      std::tie(ec, std::ignore) =
          co_await asio::async_write(*stream, asio::buffer(bytes), use_tuple);
    } else {
      std::tie(ec, std::ignore) =
          co_await asio::async_write(stream->next_layer(), asio::buffer(bytes), use_tuple);
    }
    disarm();
    if (ec) io_failed(s, ec);
  }

  asio::awaitable<smtp::reply> read_reply(envoi::step s) {
    parser.expect_enhanced_codes(caps.enhanced_status_codes);
    arm();
    for (;;) {
      auto buffer = asio::dynamic_buffer(input, max_reply_buffer);
      error_code ec;
      std::size_t n = 0;
      if (tls_active)
        std::tie(ec, n) = co_await asio::async_read_until(*stream, buffer, '\n', use_tuple);
      else
        std::tie(ec, n) =
            co_await asio::async_read_until(stream->next_layer(), buffer, '\n', use_tuple);
      if (ec == asio::error::not_found) {
        disarm();
        fail(errc::protocol_error, s, {}, "reply line longer than 64 KiB");
      }
      if (ec) {
        disarm();
        io_failed(s, ec);
      }
      std::string_view line(input.data(), n - 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      const auto status = parser.feed(line);
      input.erase(0, n);
      if (status == detail::reply_parser::status::bad) {
        disarm();
        fail(errc::protocol_error, s, {}, "not an SMTP reply line");
      }
      if (status == detail::reply_parser::status::done) break;
    }
    disarm();
    auto r = parser.take();
    // RFC 5321 3.8: 421 means the server is closing the channel; nothing more may be sent.
    if (r.code == 421) {
      close();
      fail(errc::server_transient, s, std::move(r));
    }
    co_return r;
  }

  asio::awaitable<smtp::reply> command(std::string line, envoi::step s) {
    line += "\r\n";
    co_await write(line, s);
    co_return co_await read_reply(s);
  }

  void configure_tls() {
    if (tls_configured) return;
    // TLS 1.2 at least; the peer's certificate must chain to a trusted root.
    SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
    tls.set_verify_mode(asio::ssl::verify_peer);
    error_code ec;
    if (!acct.ca_file.empty()) {
      tls.load_verify_file(acct.ca_file.string(), ec);
      if (ec)
        fail(errc::certificate_untrusted, envoi::step::tls, {},
             "cannot read the CA file " + acct.ca_file.string() + ": " + ec.message());
    } else {
      tls.set_default_verify_paths(ec);
      if (ec) fail(errc::certificate_untrusted, envoi::step::tls, {}, ec.message());
    }
    tls_configured = true;
  }

  asio::awaitable<void> handshake() {
    SSL* ssl = stream->native_handle();
    SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
    // RFC 7817 3 and RFC 6125 6: the certificate must name the host we were told to use.
    if (is_ip_literal(acct.host)) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), acct.host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl, acct.host.c_str());  // SNI
      SSL_set1_host(ssl, acct.host.c_str());
    }
    arm();
    auto [ec] = co_await stream->async_handshake(asio::ssl::stream_base::client, use_tuple);
    disarm();
    if (ec) {
      if (timed_out) fail(errc::timed_out, envoi::step::tls);
      const long verify = SSL_get_verify_result(ssl);
      if (verify != X509_V_OK)
        fail(errc::certificate_untrusted, envoi::step::tls, {},
             X509_verify_cert_error_string(verify));
      std::string detail = ec.message();
      // A plaintext greeting where a TLS record was expected: the port wants STARTTLS.
      if (!tls_active && acct.security == envoi::security::tls &&
          ERR_GET_REASON(ec.value()) == SSL_R_WRONG_VERSION_NUMBER)
        detail +=
            ": the server did not answer in TLS; if this port starts in plain text "
            "(usually 587), set security to starttls";
      fail(errc::tls_handshake_failed, envoi::step::tls, {}, std::move(detail));
    }
    tls_active = true;
  }

  asio::awaitable<void> ehlo(const std::string& name) {
    // (Every string handed to a co_await'ed call is a named local: GCC 12 mishandles
    // temporaries that live across a suspension.)
    const std::string ehlo_line = "EHLO " + name;
    auto r = co_await command(ehlo_line, envoi::step::ehlo);
    if (r.permanent()) {
      // Only servers that do not know EHLO get HELO (RFC 5321 4.1.4): no extensions.
      const std::string helo_line = "HELO " + name;
      r = co_await command(helo_line, envoi::step::ehlo);
      if (!r.positive()) refused(envoi::step::ehlo, std::move(r));
      caps = {};
      co_return;
    }
    if (!r.positive()) refused(envoi::step::ehlo, std::move(r));
    caps = detail::parse_ehlo(r);
  }

  // Tells the server we are leaving before a failure is reported; a failure to do so
  // changes nothing.
  asio::awaitable<void> say_goodbye() {
    try {
      co_await command("QUIT", envoi::step::quit);
    } catch (const session_failure&) {
    }
    close();
  }

  asio::awaitable<void> connect() {
    close();
    // The TLS settings must be complete before the stream exists: OpenSSL copies the
    // verification mode and trust store into each new connection when it is created.
    configure_tls();
    stream.emplace(executor, tls);

    // Resolve and connect, trying each address in turn.
    tcp::resolver resolver(executor);
    arm();
    auto [rec, endpoints] =
        co_await resolver.async_resolve(acct.host, std::to_string(acct.port), use_tuple);
    disarm();
    if (rec) fail(errc::resolve_failed, envoi::step::resolve, {}, rec.message());
    arm();
    auto [cec, endpoint] = co_await asio::async_connect(stream->next_layer(), endpoints, use_tuple);
    disarm();
    if (cec)
      fail(timed_out ? errc::timed_out : errc::connect_failed, envoi::step::connect, {},
           cec.message());
    // Commands are written whole; waiting for a delayed ACK would only add latency.
    stream->next_layer().set_option(tcp::no_delay(true));

    if (acct.security == envoi::security::tls) co_await handshake();

    smtp::reply greeting;
    try {
      greeting = co_await read_reply(envoi::step::greeting);
    } catch (session_failure& f) {
      // RFC 8314 3: a port for implicit TLS waits for our handshake and says nothing.
      if (f.code == errc::timed_out && acct.security != envoi::security::tls)
        f.detail =
            "no greeting: if this port expects TLS from the first byte (usually 465), "
            "set security to tls";
      throw;
    }
    if (greeting.code != 220) refused(envoi::step::greeting, std::move(greeting));

    const std::string name =
        !acct.ehlo_name.empty() ? acct.ehlo_name
                                : detail::ehlo_argument(machine_name(), endpoint_address(endpoint));
    co_await ehlo(name);

    if (acct.security == envoi::security::starttls) co_await starttls(name);

    if (!acct.login.empty()) co_await authenticate(endpoint);
    ready = true;
  }

  std::string endpoint_address(const tcp::endpoint&) const {
    error_code ec;
    const auto local = stream->next_layer().local_endpoint(ec);
    return ec ? std::string("127.0.0.1") : local.address().to_string();
  }

  asio::awaitable<void> starttls(const std::string& name) {
    // RFC 3207 6: a STARTTLS line removed by an attacker must stop us, not downgrade us.
    if (!caps.starttls) {
      co_await say_goodbye();
      fail(errc::starttls_not_offered, envoi::step::starttls);
    }
    auto r = co_await command("STARTTLS", envoi::step::starttls);
    if (r.code != 220) {
      co_await say_goodbye();
      fail(errc::starttls_refused, envoi::step::starttls, std::move(r));
    }
    // Bytes after the 220 came before encryption and could be an injected command reply.
    if (!input.empty()) {
      close();
      fail(errc::starttls_refused, envoi::step::starttls, r,
           "the server sent data after its STARTTLS reply, before the TLS handshake");
    }
    co_await handshake();
    // RFC 3207 4.2: forget what was advertised in the clear and ask again.
    caps = {};
    co_await ehlo(name);
  }

  asio::awaitable<void> authenticate(const tcp::endpoint& peer) {
    if (acct.security == envoi::security::none && !is_loopback(peer))
      fail(errc::plaintext_auth_refused, envoi::step::auth);

    // Read the secret before any AUTH byte, so that a missing one is sent as nothing.
    std::string password;
    try {
      password = acct.password.read();
    } catch (const std::system_error& e) {
      fail(errc::secret_unavailable, envoi::step::auth, {}, e.what());
    }

    std::string mechanism;
    switch (acct.auth) {
      case envoi::auth_method::plain:
        mechanism = "PLAIN";
        break;
      case envoi::auth_method::login:
        mechanism = "LOGIN";
        break;
      case envoi::auth_method::automatic:
        if (caps.auth.count("PLAIN"))
          mechanism = "PLAIN";
        else if (caps.auth.count("LOGIN"))
          mechanism = "LOGIN";
        break;
    }
    if (mechanism.empty() || !caps.auth.count(mechanism)) {
      std::string offered;
      for (const auto& m : caps.auth) offered += (offered.empty() ? "" : " ") + m;
      co_await say_goodbye();
      fail(errc::auth_not_offered, envoi::step::auth, {},
           "server offers: " + (offered.empty() ? "no AUTH" : offered));
    }

    smtp::reply r;
    if (mechanism == "PLAIN") {
      // RFC 4616 2: authorization id (empty), user, password, separated by NUL; sent as
      // the initial response (RFC 4954 4), or after a 334 when the server asks for it.
      std::string token;
      token.reserve(acct.login.size() + password.size() + 2);
      token += '\0';
      token += acct.login;
      token += '\0';
      token += password;
      const std::string encoded = mime::base64(token);
      const std::string auth_line = "AUTH PLAIN " + encoded;
      r = co_await command(auth_line, envoi::step::auth);
      if (r.code == 334) r = co_await command(encoded, envoi::step::auth);
    } else {
      // LOGIN: the challenges' text varies between servers and is ignored.
      const std::string user = mime::base64(acct.login);
      const std::string pass = mime::base64(password);
      r = co_await command("AUTH LOGIN", envoi::step::auth);
      if (r.code == 334) r = co_await command(user, envoi::step::auth);
      if (r.code == 334) r = co_await command(pass, envoi::step::auth);
    }
    if (r.code == 235) co_return;
    co_await say_goodbye();
    fail(r.transient() ? errc::server_transient : errc::auth_failed, envoi::step::auth,
         std::move(r));
  }

  asio::awaitable<void> transaction(const envelope& env, const std::string& data,
                                    send_report& report) {
    // MAIL FROM with the parameters the server understands (RFC 1870, 6152, 6531).
    std::string mail = "MAIL FROM:<" + env.mail_from + ">";
    if (caps.size) mail += " SIZE=" + std::to_string(data.size());
    // Messages rendered by envoi are 7-bit; raw 8-bit data given to a server without
    // 8BITMIME is still sent as it is, not converted.
    if (!mime::is_ascii(data) && caps.eight_bit_mime) mail += " BODY=8BITMIME";
    const bool utf8_envelope = !mime::is_ascii(env.mail_from) ||
                               std::any_of(env.recipients.begin(), env.recipients.end(),
                                           [](const std::string& a) { return !mime::is_ascii(a); });
    if (utf8_envelope && caps.smtputf8) mail += " SMTPUTF8";
    mail += "\r\n";

    std::string rcpts;
    for (const auto& to : env.recipients) rcpts += "RCPT TO:<" + to + ">\r\n";

    smtp::reply mail_reply;
    smtp::reply data_reply;
    if (caps.pipelining) {
      // RFC 2920: MAIL, every RCPT and DATA in one write, then the replies in order.
      const std::string group = mail + rcpts + "DATA\r\n";
      co_await write(group, envoi::step::mail);
      mail_reply = co_await read_reply(envoi::step::mail);
      for (const auto& to : env.recipients) {
        auto r = co_await read_reply(envoi::step::rcpt);
        report.recipients.push_back({to, std::move(r)});
      }
      data_reply = co_await read_reply(envoi::step::data);
    } else {
      co_await write(mail, envoi::step::mail);
      mail_reply = co_await read_reply(envoi::step::mail);
      if (mail_reply.positive()) {
        for (const auto& to : env.recipients) {
          const std::string rcpt = "RCPT TO:<" + to + ">";
          auto r = co_await command(rcpt, envoi::step::rcpt);
          report.recipients.push_back({to, std::move(r)});
        }
      }
    }

    const bool any_accepted = std::any_of(report.recipients.begin(), report.recipients.end(),
                                          [](const recipient_result& r) { return r.accepted(); });
    if (!mail_reply.positive() || !any_accepted) {
      // RFC 2920 3.1: a DATA that got 354 without a valid recipient is ended at once so
      // that nothing is delivered; then RSET clears the transaction for the next message.
      if (data_reply.code == 354) co_await command(".", envoi::step::data);
      co_await command("RSET", envoi::step::mail);
      if (!mail_reply.positive()) refused(envoi::step::mail, std::move(mail_reply));
      const auto transient =
          std::any_of(report.recipients.begin(), report.recipients.end(),
                      [](const recipient_result& r) { return r.reply.transient(); });
      auto last = report.recipients.empty() ? smtp::reply{} : report.recipients.back().reply;
      fail(transient ? errc::server_transient : errc::all_recipients_refused, envoi::step::rcpt,
           std::move(last));
    }

    if (!caps.pipelining) data_reply = co_await command("DATA", envoi::step::data);
    if (data_reply.code != 354) {
      co_await command("RSET", envoi::step::data);
      refused(envoi::step::data, std::move(data_reply));
    }

    // The message, dot-stuffed, then the end of data.
    std::string wire;
    detail::dot_stuff_state state;
    detail::dot_stuff(data, state, wire);
    detail::dot_stuff_finish(state, wire);
    co_await write(wire, envoi::step::data);
    report.final_reply = co_await read_reply(envoi::step::data);
    if (!report.final_reply.positive()) refused(envoi::step::data, report.final_reply);
  }

  asio::awaitable<void> send(envelope env, std::string data, send_report& report) {
    const bool reused = ready;
    if (!ready) co_await connect();
    try {
      co_await transaction(env, data, report);
    } catch (const session_failure& f) {
      // A connection kept from an earlier message may have been closed by the server
      // while idle; that is not this message's fault, so try once on a new connection.
      const bool lost_while_idle = reused && f.step == envoi::step::mail &&
                                   f.code == errc::connection_closed && report.recipients.empty();
      if (!lost_while_idle) throw;
    }
    if (report.final_reply.empty()) {
      report = {};
      co_await connect();
      co_await transaction(env, data, report);
    }
  }
};

send_error::send_error(std::error_code ec, send_report report)
    : std::system_error(ec,
                        [&] {
                          std::string what = std::string(to_string(report.failed_step)) + " failed";
                          if (!report.error_reply.empty())
                            what += ": " + report.error_reply.to_string();
                          if (!report.detail.empty()) what += " (" + report.detail + ")";
                          return what;
                        }()),
      report_(std::move(report)) {}

client::client(asio::any_io_executor executor, envoi::account acct)
    : impl_(std::make_shared<impl>(std::move(executor), std::move(acct))) {}

client::client(envoi::account acct) {
  auto context = std::make_unique<asio::io_context>();
  impl_ = std::make_shared<impl>(context->get_executor(), std::move(acct));
  impl_->own_context = std::move(context);
}

client::~client() {
  if (impl_) impl_->close();
}
client::client(client&&) noexcept = default;
client& client::operator=(client&&) noexcept = default;

const envoi::account& client::settings() const noexcept {
  return impl_->acct;
}

void client::start_send(envelope env, std::string data, send_handler handler) {
  auto self = impl_;
  asio::co_spawn(
      self->executor,
      [self, env = std::move(env), data = std::move(data)]() mutable
      -> asio::awaitable<std::pair<std::error_code, send_report>> {
        send_report report;
        std::error_code ec;
        try {
          co_await self->send(std::move(env), std::move(data), report);
        } catch (const session_failure& f) {
          self->close();
          ec = make_error_code(f.code);
          report.failed_step = f.step;
          report.error_reply = f.reply;
          report.detail = f.detail;
        }
        co_return std::pair{ec, std::move(report)};
      },
      [handler = std::move(handler)](std::exception_ptr e,
                                     std::pair<std::error_code, send_report> result) mutable {
        if (e) std::rethrow_exception(e);
        std::move(handler)(result.first, std::move(result.second));
      });
}

void client::start_quit(quit_handler handler) {
  auto self = impl_;
  asio::co_spawn(
      self->executor,
      [self]() -> asio::awaitable<void> {
        if (!self->ready) co_return;
        // RFC 5321 4.1.1.10: the client may close after QUIT; a reply is not waited long.
        const auto saved = self->acct.step_timeout;
        self->acct.step_timeout =
            std::min<std::chrono::milliseconds>(saved, std::chrono::seconds(5));
        try {
          co_await self->command("QUIT", envoi::step::quit);
        } catch (const session_failure&) {
        }
        self->acct.step_timeout = saved;
        self->close();
      },
      [handler = std::move(handler)](std::exception_ptr e) mutable {
        if (e) std::rethrow_exception(e);
        std::move(handler)(std::error_code{});
      });
}

send_report client::send(const envelope& env, std::string data) {
  std::error_code ec;
  send_report report;
  auto store = [&](std::error_code e, send_report r) {
    ec = e;
    report = std::move(r);
  };
  if (impl_->own_context) {
    start_send(env, std::move(data), store);
    impl_->own_context->restart();
    impl_->own_context->run();
  } else {
    std::promise<void> done;
    start_send(env, std::move(data), [&](std::error_code e, send_report r) {
      store(e, std::move(r));
      done.set_value();
    });
    done.get_future().wait();
  }
  if (ec) throw send_error(ec, std::move(report));
  return report;
}

void client::quit() {
  if (impl_->own_context) {
    start_quit([](std::error_code) {});
    impl_->own_context->restart();
    impl_->own_context->run();
  } else {
    std::promise<void> done;
    start_quit([&](std::error_code) { done.set_value(); });
    done.get_future().wait();
  }
}

}  // namespace envoi::smtp
