#include <envoi/smtp/client.hpp>

#include <algorithm>
#include <deque>
#include <functional>
#include <future>
#include <optional>
#include <string_view>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "mime/encoding.hpp"
#include "smtp/protocol.hpp"
#include "smtp/sasl.hpp"

namespace envoi::smtp {
namespace {

namespace asio = boost::asio;
namespace sasl = detail::sasl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using envoi::log_level;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// The longest reply line accepted; RFC 5321 4.5.3.1.5 sets 512 octets, servers exceed it.
constexpr std::size_t max_reply_buffer = 64 * 1024;
// DATA is written in pieces of about this size, so a large message is never copied whole.
constexpr std::size_t data_write_size = 64 * 1024;
// RFC 5321 4.1.1.10: after QUIT the client may close; the reply is not waited for long.
constexpr std::chrono::milliseconds quit_timeout = std::chrono::seconds(5);
// What a transcript shows instead of AUTH data.
constexpr std::string_view redacted = "<redacted>";
// A server that keeps sending 334 is not followed forever; no mechanism here needs more
// than two rounds.
constexpr int max_auth_rounds = 4;

// A failure inside a session, carried to the top of the coroutine as an exception.
struct session_failure {
  errc code;
  envoi::step step;
  smtp::reply reply;
  std::string detail;
  // The failure left the session clean (nothing sent, or the transaction ended or reset),
  // so the connection may carry the next message.
  bool clean = false;
};

[[noreturn]] void fail(errc code, envoi::step s, smtp::reply r = {}, std::string detail = {}) {
  throw session_failure{code, s, std::move(r), std::move(detail)};
}

// Whether a reply says that the command was done (2yz): a 354 to MAIL is no such reply.
bool completed(const smtp::reply& r) {
  return r.code >= 200 && r.code < 300;
}

// RFC 5321 4.2.1: a reply either does what was asked or refuses it, for now (4yz) or for
// good (5yz). Any other reply (a 250 to DATA, a 354 to MAIL) answers some other command:
// the server and the client no longer agree on which reply is whose, so nothing the
// server says after it can be trusted. That is a protocol error, not a refusal: fail()
// closes the connection, and the error is transient, since a server that does not follow
// SMTP says nothing about the message. `what` is "answered DATA", say; `expected` the
// reply it should have had.
void require_refusal(envoi::step s, const smtp::reply& r, std::string_view what,
                     std::string_view expected) {
  if (r.transient() || r.permanent()) return;
  fail(errc::protocol_error, s, r,
       "the server " + std::string(what) + " with " + std::to_string(r.code) + " where " +
           std::string(expected) + " was expected: it does not follow SMTP");
}

// A reply to MAIL, RCPT or the end of data: done (2yz), or refused.
void require_completion_or_refusal(envoi::step s, const smtp::reply& r, std::string_view what) {
  if (!completed(r)) require_refusal(s, r, what, "250");
}

// A refusal from the server: 421 and other 4xx replies may succeed later, 5xx will not.
[[noreturn]] void refused(envoi::step s, smtp::reply r, std::string_view what,
                          std::string_view expected) {
  require_refusal(s, r, what, expected);
  fail(r.transient() ? errc::server_transient : errc::server_permanent, s, std::move(r));
}

// A failure of this message only: the transaction was never started, ended, or reset.
[[noreturn]] void fail_clean(errc code, envoi::step s, smtp::reply r = {},
                             std::string detail = {}) {
  throw session_failure{code, s, std::move(r), std::move(detail), true};
}

[[noreturn]] void refused_clean(envoi::step s, smtp::reply r, std::string_view what,
                                std::string_view expected, std::string detail = {}) {
  require_refusal(s, r, what, expected);
  fail_clean(r.transient() ? errc::server_transient : errc::server_permanent, s, std::move(r),
             std::move(detail));
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

// An envelope address goes between '<' and '>' on a command line: anything that could end
// the line or the brackets would let the address add commands of its own.
void check_envelope(const envelope& env) {
  const auto check = [](const std::string& address) {
    bool bad = false;
    for (const char c : address)
      bad |= (c == '\r') | (c == '\n') | (c == '\0') | (c == '<') | (c == '>') | (c == ' ');
    if (bad)
      fail_clean(errc::invalid_envelope, envoi::step::mail, {},
                 "the address \"" + address + "\" holds a line break, NUL, space, '<' or '>'");
  };
  check(env.mail_from);
  for (const auto& to : env.recipients) check(to);

  // RFC 3461 4.1 and 4.4: NEVER stands alone; an ENVID has at most 100 characters.
  if (env.envid.size() > 100)
    fail_clean(errc::invalid_envelope, envoi::step::mail, {},
               "the DSN envelope id is longer than 100 characters");
  if (env.dsn.size() > env.recipients.size())
    fail_clean(errc::invalid_envelope, envoi::step::rcpt, {}, "more DSN entries than recipients");
  for (const auto& d : env.dsn)
    if (has(d.notify, dsn_notify::never) && d.notify != dsn_notify::never)
      fail_clean(errc::invalid_envelope, envoi::step::rcpt, {},
                 "DSN NOTIFY=NEVER cannot be combined with SUCCESS, FAILURE or DELAY");
}

// NOTIFY's value (RFC 3461 4.1).
std::string notify_value(dsn_notify n) {
  if (n == dsn_notify::never) return "NEVER";
  std::string v;
  for (const auto& [flag, name] :
       {std::pair{dsn_notify::success, "SUCCESS"}, std::pair{dsn_notify::failure, "FAILURE"},
        std::pair{dsn_notify::delay, "DELAY"}})
    if (has(n, flag)) v += std::string(v.empty() ? "" : ",") + name;
  return v;
}

// RFC 6531 3.3: only a UTF-8 local part requires SMTPUTF8; domains go out as A-labels.
bool needs_smtputf8(const std::string& address) {
  const auto at = address.rfind('@');
  return !mime::is_ascii(std::string_view(address).substr(0, at));
}

}  // namespace

namespace detail {

// The bytes of one message, produced in pieces so that a large one is never held whole.
class data_source {
 public:
  virtual ~data_source() = default;
  // Called once the server's extensions are known, before MAIL, and again for a retry on
  // a new connection: the bytes start over. A message is signed there when the account
  // has a DKIM signer.
  virtual void prepare(bool allow_8bit, const dkim_signer* dkim) = 0;
  virtual std::uint64_t size() const = 0;
  virtual bool eight_bit() const = 0;
  virtual bool smtputf8() const = 0;
  // Appends the next piece to `out`; false once the message is complete.
  virtual bool next(std::string& out) = 0;
};

void data_source_deleter::operator()(data_source* p) const noexcept {
  delete p;
}

}  // namespace detail

namespace {

// Bytes the caller rendered, sent as they are.
class text_source final : public detail::data_source {
 public:
  explicit text_source(std::string text)
      : text_(std::move(text)), eight_bit_(!mime::is_ascii(text_)) {}
  void prepare(bool, const dkim_signer*) override { offset_ = 0; }
  std::uint64_t size() const override { return text_.size(); }
  bool eight_bit() const override { return eight_bit_; }
  bool smtputf8() const override { return false; }
  bool next(std::string& out) override {
    if (offset_ == text_.size()) return false;
    const auto n = std::min(data_write_size, text_.size() - offset_);
    out.append(text_, offset_, n);
    offset_ += n;
    return true;
  }

 private:
  std::string text_;
  bool eight_bit_;
  std::size_t offset_ = 0;
};

// A message rendered once the server is known (8-bit text only where it offers
// 8BITMIME), its attachments read from their files while they are sent.
class message_source final : public detail::data_source {
 public:
  explicit message_source(const message& m) : message_(m) {}
  void prepare(bool allow_8bit, const dkim_signer* dkim) override {
    render_options options;
    options.allow_8bit = allow_8bit;
    options.dkim = dkim;
    stream_.emplace(message_.render_stream(options));
  }
  std::uint64_t size() const override { return stream_->size(); }
  bool eight_bit() const override { return stream_->uses_8bit(); }
  bool smtputf8() const override { return stream_->needs_smtputf8(); }
  bool next(std::string& out) override { return stream_->next(out); }

 private:
  const message& message_;
  std::optional<rendered_message> stream_;
};

}  // namespace

namespace detail {

// One call of async_send or async_quit waiting its turn on the connection.
struct queued_job {
  bool quit = false;
  envelope env{};
  detail::data_source_ptr source{};
  asio::any_completion_handler<void(std::error_code, send_report)> on_sent{};
  asio::any_completion_handler<void(std::error_code)> on_quit{};
  send_report report{};
  // Its MAIL, RCPT and DATA went out ahead with the end of the previous message's data
  // (RFC 2920), on the connection of that generation.
  bool sent_ahead = false;
  std::uint64_t sent_ahead_on = 0;
  bool cancelled = false;
  bool done = false;
};

}  // namespace detail

using detail::queued_job;

struct client::impl : std::enable_shared_from_this<impl> {
  impl(asio::any_io_executor ex, envoi::account a)
      // Every operation, timer and cancellation runs on this strand, so that calls made
      // from several threads take their turn in the queue.
      : executor_(strand_of(ex)), acct_(std::move(a)), resolver_(executor_), timer_(executor_) {}

  // A strand over an io_context's own executor fits in any_io_executor's inline storage;
  // one over another any_io_executor is allocated each time Asio derives an executor from
  // it (about 17 times per message).
  static asio::any_io_executor strand_of(const asio::any_io_executor& ex) {
    if (const auto* io = ex.target<asio::io_context::executor_type>())
      return asio::make_strand(*io);
    return asio::make_strand(ex);
  }

  // Set when the client was made for the blocking calls only. Declared first so that it
  // is destroyed last: the strand and the sockets below belong to it.
  std::unique_ptr<asio::io_context> own_context_;
  asio::any_io_executor executor_;
  envoi::account acct_;
  // Made when the account first needs TLS: a plaintext session never starts OpenSSL,
  // whose first context costs milliseconds.
  std::optional<asio::ssl::context> tls_;
  // Set by the verify callback when the server's certificate fails verification.
  sha256_fingerprint refused_leaf_;
  std::optional<tcp::socket> socket_;
  // Over socket_ once the handshake starts; declared after it so that it goes first.
  std::optional<asio::ssl::stream<tcp::socket&>> tls_stream_;
  tcp::resolver resolver_;
  bool tls_active_ = false;
  bool ready_ = false;  // connected, greeted, secured and authenticated
  std::string input_;
  detail::reply_parser parser_;
  // Lines of a reply have come but not its last; kept when a time-out closes the
  // connection, so that the error can tell a slow reply from silence.
  bool partial_reply_ = false;
  detail::capabilities caps_;
  asio::steady_timer timer_;
  std::uint64_t watch_generation_ = 0;
  // The deadline of the step under way; max() when nothing is watched.
  std::chrono::steady_clock::time_point watch_until_ = std::chrono::steady_clock::time_point::max();
  bool timer_pending_ = false;
  std::chrono::steady_clock::time_point timer_expiry_;
  bool timed_out_ = false;
  bool quitting_ = false;
  // The step of the last reply read.
  envoi::step replied_ = envoi::step::none;
  transcript_sink transcript_;
  envoi::log_sink log_;
  // Set while the message itself is written: the transcript shows only its size.
  bool sending_content_ = false;

  // The sends and quits waiting, in the order they were made; the front one runs.
  std::deque<std::shared_ptr<queued_job>> queue_;
  bool worker_running_ = false;
  // Counts connections, so that commands sent ahead on a closed one are sent again.
  std::uint64_t connection_generation_ = 0;
  // The client was destroyed: what is still queued completes with errc::cancelled.
  bool shutting_down_ = false;

  // The end of the current send when the account sets an overall limit.
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  bool deadline_hit_ = false;

  // The time limit of a step: the account's override, else the per-step value; the QUIT
  // limit is never longer than its own value, however long the override.
  std::chrono::milliseconds limit_for(envoi::step s) const {
    const auto& t = acct_.timeouts;
    if (s == envoi::step::quit || quitting_)
      return acct_.step_timeout ? std::min(*acct_.step_timeout, t.quit) : t.quit;
    if (acct_.step_timeout) return *acct_.step_timeout;
    switch (s) {
      case envoi::step::none:
      case envoi::step::resolve:
      case envoi::step::connect:
        return t.connect;
      case envoi::step::tls:
        return t.tls_handshake;
      case envoi::step::greeting:
        return t.greeting;
      case envoi::step::ehlo:
      case envoi::step::starttls:
      case envoi::step::auth:
        return t.ehlo;
      case envoi::step::mail:
        return t.mail;
      case envoi::step::rcpt:
        return t.rcpt;
      case envoi::step::data:
        return t.data_start;
      case envoi::step::quit:
        break;
    }
    return t.quit;
  }

  // --- watchdog: each step has its own time limit; when it runs out the connection is
  // closed (and a pending look-up cancelled), which ends whatever operation is pending.
  // RFC 5321 4.5.3.2: after a time-out the replies still owed would be read as answers to
  // later commands, so the connection is never used again.
  // The watchdog. Steps follow each other fast, so rather than moving the timer for each
  // one (a system call each time), the timer keeps its expiry while the deadline only
  // moves later, and when it fires it checks the deadline then in force.
  void arm(std::chrono::milliseconds limit) {
    timed_out_ = false;
    deadline_hit_ = false;
    auto expiry = std::chrono::steady_clock::now() + limit;
    if (deadline_ && *deadline_ < expiry) {
      expiry = *deadline_;
      deadline_hit_ = true;
    }
    watch_until_ = expiry;
    if (!timer_pending_ || timer_expiry_ > expiry) schedule_watchdog(expiry);
  }
  void arm(envoi::step s) { arm(limit_for(s)); }
  void disarm() { watch_until_ = std::chrono::steady_clock::time_point::max(); }

  void park_watchdog() {
    disarm();
    if (!timer_pending_) return;
    ++watch_generation_;
    timer_pending_ = false;
    timer_.cancel();
  }

  void schedule_watchdog(std::chrono::steady_clock::time_point expiry) {
    timer_pending_ = true;
    timer_expiry_ = expiry;
    timer_.expires_at(expiry);
    timer_.async_wait([weak = weak_from_this(), gen = ++watch_generation_](error_code ec) {
      auto self = weak.lock();
      // A newer schedule replaced this wait.
      if (!self || gen != self->watch_generation_) return;
      self->timer_pending_ = false;
      if (ec || self->watch_until_ == std::chrono::steady_clock::time_point::max()) return;
      if (std::chrono::steady_clock::now() < self->watch_until_) {
        self->schedule_watchdog(self->watch_until_);
        return;
      }
      self->timed_out_ = true;
      self->close();
    });
  }

  // What a time-out says: the step's own limit, or the overall limit of the send.
  std::string timeout_detail() const {
    return deadline_hit_ ? "the overall time limit of the send ran out" : std::string{};
  }

  void close() {
    ++connection_generation_;
    ready_ = false;
    quitting_ = false;
    tls_active_ = false;
    sending_content_ = false;
    input_.clear();
    parser_.take();
    resolver_.cancel();
    if (socket_) {
      if (socket_->is_open()) log(log_level::debug, "smtp.closed", {{"host", acct_.host}});
      error_code ignored;
      socket_->shutdown(tcp::socket::shutdown_both, ignored);
      socket_->close(ignored);
    }
  }

  // An I/O error becomes a time-out when the watchdog caused it.
  [[noreturn]] void io_failed(envoi::step s, const error_code& ec) {
    if (shutting_down_ || (!queue_.empty() && queue_.front()->cancelled)) fail(errc::cancelled, s);
    if (timed_out_) fail(errc::timed_out, s, {}, timeout_detail());
    fail(errc::connection_closed, s, {}, ec.message());
  }

  // Sends an event to the log sink when it takes the level. A sink that throws loses
  // its event, never the send.
  void log(log_level level, std::string_view name,
           std::initializer_list<envoi::log_field> fields) const {
    if (!log_.enabled(level)) return;
    try {
      log_.write(envoi::log_event{level, name, {fields.begin(), fields.size()}});
    } catch (...) {
    }
  }

  // Whether the transcript or the debug log wants each line of the dialogue.
  bool tracing() const noexcept { return transcript_ || log_.enabled(log_level::debug); }

  // One line of the dialogue, already redacted, for the transcript and the debug log.
  void trace(transcript_direction d, std::string_view line) const {
    if (transcript_) transcript_(d, line);
    if (d != transcript_direction::event)
      log(log_level::debug, "smtp.line",
          {{"direction", d == transcript_direction::sent ? "sent" : "received"}, {"text", line}});
  }

  // The lines of `bytes` as the transcript shows them: `shown` instead when it is set.
  void trace_sent(std::string_view bytes, std::string_view shown) const {
    if (sending_content_) return;
    if (!shown.empty()) {
      trace(transcript_direction::sent, shown);
      return;
    }
    while (!bytes.empty()) {
      const auto end = bytes.find("\r\n");
      trace(transcript_direction::sent, bytes.substr(0, end));
      bytes.remove_prefix(end == std::string_view::npos ? bytes.size() : end + 2);
    }
  }

  void trace_event(std::string_view what) const {
    if (transcript_) transcript_(transcript_direction::event, what);
  }

  asio::awaitable<void> write(std::string_view bytes, envoi::step s, std::string_view shown = {}) {
    co_await write(bytes, s, limit_for(s), shown);
  }

  // A cancellation that came while no I/O was pending (before the connection existed,
  // say) takes effect at the next read or write.
  void stop_if_cancelled(envoi::step s) {
    if (shutting_down_ || (!queue_.empty() && queue_.front()->cancelled)) {
      close();
      fail(errc::cancelled, s);
    }
  }

  asio::awaitable<void> write(std::string_view bytes, envoi::step s,
                              std::chrono::milliseconds limit, std::string_view shown = {}) {
    stop_if_cancelled(s);
    if (tracing()) trace_sent(bytes, shown);
    arm(limit);
    error_code ec;
    if (tls_active_) {
      std::tie(ec, std::ignore) =
          co_await asio::async_write(*tls_stream_, asio::buffer(bytes), use_tuple);
    } else {
      std::tie(ec, std::ignore) =
          co_await asio::async_write(*socket_, asio::buffer(bytes), use_tuple);
    }
    disarm();
    if (ec) io_failed(s, ec);
  }

  asio::awaitable<smtp::reply> read_reply(envoi::step s) {
    co_return co_await read_reply(s, limit_for(s));
  }

  asio::awaitable<smtp::reply> read_reply(envoi::step s, std::chrono::milliseconds limit) {
    stop_if_cancelled(s);
    parser_.expect_enhanced_codes(caps_.enhanced_status_codes);
    // Pipelined replies arrive together: those already received need no wait.
    for (std::size_t end = input_.find('\n'); end != std::string::npos; end = input_.find('\n')) {
      if (take_reply_line(end + 1, s)) co_return finish_reply(s);
    }

    // The watchdog times the whole reply, not the gaps between its bytes: a server that
    // drips one byte at a time cannot hold the session forever.
    arm(limit);
    for (;;) {
      auto buffer = asio::dynamic_buffer(input_, max_reply_buffer);
      error_code ec;
      std::size_t n = 0;
      if (tls_active_)
        std::tie(ec, n) = co_await asio::async_read_until(*tls_stream_, buffer, '\n', use_tuple);
      else
        std::tie(ec, n) = co_await asio::async_read_until(*socket_, buffer, '\n', use_tuple);
      if (ec) disarm();
      if (ec == asio::error::not_found)
        fail(errc::protocol_error, s, {}, "reply line longer than 64 KiB" + greeting_hint(s));
      if (ec) io_failed(s, ec);
      if (take_reply_line(n, s)) break;
    }
    disarm();
    co_return finish_reply(s);
  }

  // Feeds the first `n` octets of the input, one line with its LF, to the reply parser;
  // true when they end a reply.
  bool take_reply_line(std::size_t n, envoi::step s) {
    std::string_view line(input_.data(), n - 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (tracing()) trace(transcript_direction::received, line);
    const auto status = parser_.feed(line);
    partial_reply_ = status == detail::reply_parser::status::more;
    input_.erase(0, n);
    if (status == detail::reply_parser::status::bad) {
      disarm();
      // A first line that is no reply is another kind of server (a web server, say).
      fail(errc::protocol_error, s, {},
           s == envoi::step::greeting ? "not an SMTP reply line: " + place() +
                                            " is not a mail server; check the host and port"
                                      : std::string("not an SMTP reply line"));
    }
    if (status == detail::reply_parser::status::too_long) {
      disarm();
      fail(errc::protocol_error, s, {},
           "reply longer than " + std::to_string(detail::reply_parser::max_lines) + " lines or " +
               std::to_string(detail::reply_parser::max_octets / 1024) + " KiB" + greeting_hint(s));
    }
    return status == detail::reply_parser::status::done;
  }

  // What a reply that cannot be read says at the greeting: the peer may be something
  // other than a mail server.
  std::string greeting_hint(envoi::step s) const {
    if (s != envoi::step::greeting) return {};
    return ": " + maybe_not_a_mail_server();
  }

  // "smtp.example.fr port 587", as errors name the server.
  std::string place() const { return acct_.host + " port " + std::to_string(acct_.port); }

  std::string maybe_not_a_mail_server() const {
    return place() + " may not be a mail server (check the host and port)";
  }

  smtp::reply finish_reply(envoi::step s) {
    auto r = parser_.take();
    replied_ = s;
    // RFC 5321 3.8: 421 means the server is closing the channel; nothing more may be sent.
    if (r.code == 421) {
      close();
      fail(errc::server_transient, s, std::move(r));
    }
    return r;
  }

  // Under GCC 12 a braced temporary passed to a coroutine was destroyed twice (a double
  // free seen here), so arguments of awaited calls are literals or named locals.
  // `shown` replaces the line in the transcript when it is set.
  asio::awaitable<smtp::reply> command(std::string line, envoi::step s,
                                       std::string_view shown = {}) {
    line += "\r\n";
    if (!quitting_) co_await expect_no_reply_pending(s);
    co_await write(line, s, shown);
    co_return co_await read_reply(s);
  }

  // RFC 5321 4.2: a server replies once to each command. Octets already waiting when
  // the command of step `next` is about to go out (not pipelined behind others) answer
  // none of them: an extra reply after EHLO, say, would be read as the answer to the next
  // command, and every reply after it shifted by one. That is a protocol error of the
  // exchange it followed. A 421 is the server closing the connection, which it may do at
  // any time (RFC 5321 3.8), as after an idle time-out: the connection is closed before
  // `next`, which a kept connection's first MAIL tries again on a new one.
  asio::awaitable<void> expect_no_reply_pending(envoi::step next) {
    if (!reply_pending()) co_return;
    const envoi::step after = replied_;
    smtp::reply r;
    try {
      r = co_await read_reply(next);
    } catch (session_failure& f) {
      if (f.reply.code == 421) {
        f.code = errc::connection_closed;
        f.detail = "the server closed the connection before the command was sent";
      }
      throw;
    }
    fail(errc::protocol_error, after, std::move(r),
         "the server sent one reply more than it was asked for: it does not follow SMTP");
  }

  // Whether the server sent octets that no read has taken yet. Over TLS only those
  // already decrypted count: the socket may hold a record that carries no SMTP (a TLS 1.3
  // session ticket, say).
  bool reply_pending() {
    if (!input_.empty()) return true;
    if (tls_active_) return SSL_pending(tls_stream_->native_handle()) > 0;
    error_code ec;
    return socket_ && socket_->available(ec) > 0 && !ec;
  }

  // Kept only once complete, so that a CA file that could not be read is tried again on
  // the next connection rather than leaving a context that trusts nothing.
  void configure_tls() {
    if (tls_) return;
    asio::ssl::context context(asio::ssl::context::tls_client);
    // TLS 1.2 at least; the peer's certificate must chain to a trusted root.
    SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
    context.set_verify_mode(asio::ssl::verify_peer);
    error_code ec;
    if (!acct_.ca_file.empty()) {
      context.load_verify_file(acct_.ca_file.string(), ec);
      if (ec)
        fail(errc::local_failure, envoi::step::tls, {},
             "cannot read the CA file " + acct_.ca_file.string() + ": " + ec.message());
    } else {
      context.set_default_verify_paths(ec);
      if (ec) fail(errc::local_failure, envoi::step::tls, {}, ec.message());
    }
    tls_.emplace(std::move(context));
  }

  static sha256_fingerprint fingerprint_of(X509* cert) {
    unsigned char* der = nullptr;
    const int length = cert != nullptr ? i2d_X509(cert, &der) : 0;
    if (length <= 0) return {};
    auto f = sha256_fingerprint::of_der(
        std::string_view(reinterpret_cast<const char*>(der), static_cast<std::size_t>(length)));
    OPENSSL_free(der);
    return f;
  }

  // The SHA-256 fingerprint of the certificate the server presented.
  static sha256_fingerprint peer_fingerprint(SSL* ssl) {
    X509* cert = SSL_get1_peer_certificate(ssl);
    auto f = fingerprint_of(cert);
    X509_free(cert);
    return f;
  }

  // Where a connection's verify callback leaves the fingerprint of a server certificate
  // that failed verification: OpenSSL keeps no peer certificate after a failed handshake,
  // and the error is more useful with it.
  static int refused_leaf_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
  }

  static int remember_refused_leaf(int preverify_ok, X509_STORE_CTX* store) {
    if (preverify_ok != 0) return preverify_ok;
    auto* ssl =
        static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    auto* out = ssl != nullptr
                    ? static_cast<sha256_fingerprint*>(SSL_get_ex_data(ssl, refused_leaf_index()))
                    : nullptr;
    if (out != nullptr && out->empty()) *out = fingerprint_of(X509_STORE_CTX_get0_cert(store));
    return preverify_ok;
  }

  asio::awaitable<void> handshake() {
    tls_stream_.emplace(*socket_, *tls_);
    SSL* ssl = tls_stream_->native_handle();
    const auto& pin = acct_.tls_fingerprint_sha256;
    if (!is_ip_literal(acct_.host)) SSL_set_tlsext_host_name(ssl, acct_.host.c_str());  // SNI
    if (!pin.empty()) {
      // The pin stands for the chain and the name: a clinic's self-signed server passes
      // it, and any other certificate fails below, after the handshake but before a byte
      // of SMTP goes through the tunnel.
      SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
    } else {
      refused_leaf_ = {};
      SSL_set_ex_data(ssl, refused_leaf_index(), &refused_leaf_);
      SSL_set_verify(ssl, SSL_VERIFY_PEER, remember_refused_leaf);
      // RFC 7817 3 and RFC 6125 6: the certificate must name the host we were told to use.
      if (is_ip_literal(acct_.host))
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), acct_.host.c_str());
      else
        SSL_set1_host(ssl, acct_.host.c_str());
    }
    arm(envoi::step::tls);
    auto [ec] = co_await tls_stream_->async_handshake(asio::ssl::stream_base::client, use_tuple);
    disarm();
    if (!ec) {
      if (!pin.empty() || transcript_ || log_.enabled(log_level::info)) {
        const auto seen = peer_fingerprint(ssl);
        if (!pin.empty() && seen != pin) {
          close();
          fail(errc::certificate_untrusted, envoi::step::tls, {},
               "the server's certificate has SHA-256 fingerprint " + seen.to_string() +
                   ", not the pinned " + pin.to_string());
        }
        const std::string fingerprint = seen.to_string();
        trace_event(std::string("TLS established (") + SSL_get_version(ssl) +
                    "), server certificate SHA-256 " + fingerprint);
        log(log_level::info, "smtp.tls",
            {{"version", SSL_get_version(ssl)},
             {"cipher", SSL_get_cipher_name(ssl)},
             {"certificate_sha256", fingerprint}});
      }
      tls_active_ = true;
      co_return;
    }

    if (timed_out_) fail(errc::timed_out, envoi::step::tls, {}, timeout_detail());
    const long verify = SSL_get_verify_result(ssl);
    if (pin.empty() && verify != X509_V_OK) {
      // What to change, said in the config's words.
      std::string detail = X509_verify_cert_error_string(verify);
      if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
        detail += ": the certificate is not issued for \"" + acct_.host +
                  "\"; set host to the name the provider gives for its SMTP server";
      } else {
        detail += ": set ca_file to the certificate authority that signed it";
        if (!refused_leaf_.empty())
          detail +=
              ", or, for a server of your own with a self-signed certificate, pin it "
              "with tls_fingerprint_sha256 = \"" +
              refused_leaf_.to_string() + "\" once its administrator has confirmed that value";
      }
      fail(errc::certificate_untrusted, envoi::step::tls, {}, std::move(detail));
    }
    std::string detail = ec.message();
    // Something other than TLS answered the handshake: another kind of server (a web
    // server's error page, say), or a mail server that starts in plain text. Only on the
    // ports of plain SMTP and STARTTLS (25, and 587 of RFC 6409) is the second likely
    // enough to advise starttls: elsewhere that advice would send the user in a circle.
    if (acct_.security == envoi::security::tls &&
        ERR_GET_REASON(ec.value()) == SSL_R_WRONG_VERSION_NUMBER) {
      detail += ": the server did not answer in TLS; " + maybe_not_a_mail_server();
      if (acct_.port == 25 || acct_.port == 587)
        detail += ", or it starts in plain text, as port " + std::to_string(acct_.port) +
                  " does: set security to starttls";
      else if (acct_.port != 465)
        detail += ", or it is one that starts in plain text: then set security to starttls";
    }
    fail(errc::tls_handshake_failed, envoi::step::tls, {}, std::move(detail));
  }

  asio::awaitable<void> ehlo(const std::string& name) {
    const std::string ehlo_line = "EHLO " + name;
    auto r = co_await command(ehlo_line, envoi::step::ehlo);
    if (r.permanent()) {
      // Only servers that do not know EHLO get HELO (RFC 5321 4.1.4): no extensions.
      const std::string helo_line = "HELO " + name;
      r = co_await command(helo_line, envoi::step::ehlo);
      if (!completed(r)) refused(envoi::step::ehlo, std::move(r), "answered HELO", "250");
      caps_ = {};
      co_return;
    }
    if (!completed(r)) refused(envoi::step::ehlo, std::move(r), "answered EHLO", "250");
    caps_ = detail::parse_ehlo(r);
  }

  // Tells the server we are leaving; a failure to do so changes nothing.
  asio::awaitable<void> say_goodbye() {
    quitting_ = true;
    try {
      co_await command("QUIT", envoi::step::quit);
    } catch (const session_failure&) {
    }
    close();
  }

  asio::awaitable<void> connect() {
    close();
    // The TLS settings must be complete before the handshake makes its connection object:
    // OpenSSL copies the verification mode and trust store into it. A CA file that cannot
    // be read fails here, before anything is sent. A plaintext account never starts
    // OpenSSL, whose first context and trust store cost milliseconds.
    if (acct_.security != envoi::security::none) configure_tls();
    tls_stream_.reset();
    socket_.emplace(executor_);

    // Resolve and connect, trying each address in turn.
    arm(envoi::step::resolve);
    auto [rec, endpoints] =
        co_await resolver_.async_resolve(acct_.host, std::to_string(acct_.port), use_tuple);
    disarm();
    if (rec) {
      // The name's own DNS servers said it does not exist: a typing mistake far more often
      // than an outage.
      std::string detail = rec.message();
      if (rec == asio::error::host_not_found)
        detail += "; check the host name \"" + acct_.host + "\" in the account's settings";
      fail(timed_out_ ? errc::timed_out : errc::resolve_failed, envoi::step::resolve, {},
           std::move(detail));
    }
    // A login without encryption goes to this machine only: when no address is one of
    // its own, there is nothing to connect for. (When some are, the one reached is checked
    // before AUTH.)
    if (acct_.security == envoi::security::none && !acct_.login.empty() &&
        std::none_of(endpoints.begin(), endpoints.end(),
                     [](const auto& e) { return is_loopback(e.endpoint()); }))
      plaintext_login_refused(endpoints.begin()->endpoint());
    arm(envoi::step::connect);
    auto [cec, peer] = co_await asio::async_connect(*socket_, endpoints, use_tuple);
    disarm();
    if (cec) {
      std::string detail = cec.message();
      if (cec == asio::error::connection_refused)
        detail += "; nothing takes connections on " + place() +
                  ": check the port (587 for starttls, 465 for tls) and that the server runs";
      fail(timed_out_ ? errc::timed_out : errc::connect_failed, envoi::step::connect, {},
           std::move(detail));
    }
    // Commands are written whole; waiting for a delayed ACK would only add latency.
    error_code ignored;
    socket_->set_option(tcp::no_delay(true), ignored);
    if (transcript_ || log_.enabled(log_level::info)) {
      const std::string address = peer.address().to_string();
      const std::string port = std::to_string(peer.port());
      trace_event("connected to " + address + " port " + port);
      log(log_level::info, "smtp.connected",
          {{"host", acct_.host}, {"address", address}, {"port", port}});
    }

    if (acct_.security == envoi::security::tls) co_await handshake();
    co_await greeting();

    const std::string name = ehlo_name();
    co_await ehlo(name);
    if (acct_.security == envoi::security::starttls) co_await starttls(name);
    if (!acct_.login.empty()) co_await authenticate(peer);
    ready_ = true;
  }

  asio::awaitable<void> greeting() {
    partial_reply_ = false;
    smtp::reply r;
    try {
      r = co_await read_reply(envoi::step::greeting);
    } catch (session_failure& f) {
      // A server of another kind (a web server, say) waits in silence for the client to
      // speak, and so does a port for implicit TLS (RFC 8314 3), waiting for our
      // handshake. Only on 465, that port's number, is TLS likely enough to advise it:
      // anywhere else the advice would lead to a TLS error, and from there to starttls.
      if (f.code == errc::timed_out && partial_reply_) {
        // Lines came, but never the last: a server too slow, or one that never ends.
        f.detail = "the greeting began but did not end in time; " + maybe_not_a_mail_server();
      } else if (f.code == errc::timed_out) {
        std::string detail = "no greeting: the server took the connection but said nothing; " +
                             maybe_not_a_mail_server();
        if (acct_.port == 465 && acct_.security != envoi::security::tls)
          detail +=
              ", or it expects TLS from the first byte, as port 465 usually does: set security "
              "to tls";
        else if (acct_.port != 25 && acct_.port != 587 && acct_.security != envoi::security::tls)
          detail += ", or it expects TLS from the first byte: then set security to tls";
        if (!f.detail.empty()) detail += "; " + f.detail;
        f.detail = std::move(detail);
      }
      throw;
    }
    if (r.code != 220) refused(envoi::step::greeting, std::move(r), "greeted", "220");
  }

  std::string ehlo_name() const {
    if (!acct_.ehlo_name.empty()) return acct_.ehlo_name;
    error_code ec;
    const auto local = socket_->local_endpoint(ec);
    if (ec)
      fail(errc::connection_closed, envoi::step::ehlo, {},
           "cannot read this side's address for EHLO: " + ec.message());
    return detail::ehlo_argument(machine_name(), local.address().to_string());
  }

  asio::awaitable<void> starttls(const std::string& name) {
    // RFC 3207 6: a STARTTLS line removed by an attacker must stop us, not downgrade us.
    if (!caps_.starttls) {
      co_await say_goodbye();
      // Nearly always a port meant for something else; rarely, a network that removes the
      // offer on its way.
      std::string detail = "port " + std::to_string(acct_.port) + " of " + acct_.host +
                           " offers no encryption to start: check the port (587 for starttls, "
                           "465 with security tls)";
      if (acct_.port == 25)
        detail += "; port 25 is for mail between servers, and many networks block it";
      fail(errc::starttls_not_offered, envoi::step::starttls, {}, std::move(detail));
    }
    auto r = co_await command("STARTTLS", envoi::step::starttls);
    if (r.code != 220) {
      require_refusal(envoi::step::starttls, r, "answered STARTTLS", "220");
      co_await say_goodbye();
      fail(errc::starttls_refused, envoi::step::starttls, std::move(r));
    }
    // Bytes after the 220 came before encryption and could be an injected command reply:
    // the server agreed, then broke the protocol.
    if (!input_.empty()) {
      close();
      fail(errc::protocol_error, envoi::step::starttls, r,
           "the server sent data after its STARTTLS reply, before the TLS handshake");
    }
    co_await handshake();
    // RFC 3207 4.2: forget what was advertised in the clear and ask again.
    caps_ = {};
    co_await ehlo(name);
  }

  // Says what was asked for and what the server lists, for auth_not_offered (F28).
  std::string mechanism_mismatch() const {
    std::string offered;
    for (const auto& m : caps_.auth) offered += (offered.empty() ? "" : " ") + m;
    offered = offered.empty() ? "the server offers no AUTH" : "the server offers " + offered;
    // Servers list their logins only once the connection is encrypted (RFC 4954 4).
    if (!tls_active_ && caps_.starttls)
      offered += " before STARTTLS, which it offers: set the account's security to starttls";
    else if (caps_.auth.empty())
      offered +=
          " on this port: if the server takes mail from this machine without one (a "
          "relay), leave the login out of the account; otherwise use its port for "
          "logins (587 with starttls, 465 with tls)";
    if (const auto m = sasl::forced(acct_.auth))
      return "the account asks for " + std::string(sasl::name(*m)) + " but " + offered;
    if (acct_.token_provider) return "no mechanism for an OAuth token or a password: " + offered;
    return "no mechanism for a password (PLAIN, LOGIN, CRAM-MD5): " + offered;
  }

  // An access token from the account's provider; it may block (see token_provider).
  std::string access_token(bool refresh) {
    if (!acct_.token_provider)
      fail(errc::secret_unavailable, envoi::step::auth, {}, "the account has no token provider");
    std::string token;
    try {
      token = acct_.token_provider->access_token(refresh);
    } catch (const std::exception& e) {
      fail(errc::secret_unavailable, envoi::step::auth, {},
           std::string("the token provider failed: ") + e.what());
    }
    if (token.empty())
      fail(errc::secret_unavailable, envoi::step::auth, {}, "the token provider gave no token");
    // Inside the base64 these would be harmless, but they would change the message's
    // fields (^A separates them in XOAUTH2 and OAUTHBEARER).
    if (token.find_first_of(std::string_view("\r\n\x01\0", 4)) != std::string::npos)
      fail(errc::secret_unavailable, envoi::step::auth, {},
           "the token provider gave a token holding a control character");
    return token;
  }

  // What `m` needs: the password or an access token (a new one when `refresh`). Read
  // before any AUTH byte, so that a missing secret is sent as nothing.
  sasl::credentials credentials_for(sasl::mechanism m, bool refresh) {
    sasl::credentials c{acct_.login, {}, {}, acct_.host, acct_.port};
    if (sasl::uses_token(m)) {
      c.token = access_token(refresh);
      return c;
    }
    try {
      c.password = acct_.password.read();
    } catch (const secret_error& e) {
      // The reason alone: send_error adds the code's message itself.
      fail(errc::secret_unavailable, envoi::step::auth, {}, e.reason());
    }
    return c;
  }

  // RFC 3463 X.7.X is a security or policy refusal. From a server that offers AUTH to a
  // client that did not log in, it is nearly always "relay access denied" or
  // "authentication required" (Postfix, Exchange, the French ISPs).
  std::string login_hint(const smtp::reply& r) const {
    if (!acct_.login.empty() || caps_.auth.empty() || !r.enhanced.starts_with("5.7.")) return {};
    return "the server offers AUTH and this account has no login: it probably wants one "
           "(set login and password_env or password_file)";
  }

  // One AUTH command and its challenges (RFC 4954 4); returns the final reply.
  asio::awaitable<smtp::reply> sasl_exchange(sasl::exchange& ex) {
    const std::string first = ex.command();
    const std::string shown = ex.shown_command(redacted);
    auto r = co_await command(first, envoi::step::auth, shown);
    for (int round = 0; r.code == 334 && round < max_auth_rounds; ++round) {
      const std::string next = ex.respond(r.text());
      r = co_await command(next, envoi::step::auth, redacted);
    }
    co_return r;
  }

  // Runs `m` with a token or the password; for a token the server refuses, asks for a
  // new one and runs it once more. Returns the final reply; `ex` keeps the last exchange.
  asio::awaitable<smtp::reply> try_mechanism(sasl::mechanism m, std::optional<sasl::exchange>& ex) {
    ex.emplace(m, credentials_for(m, false));
    auto r = co_await sasl_exchange(*ex);
    // F30: tokens expire; the provider's cached one may be stale. One new token, one more
    // try; a second refusal is final. A 504 is about the mechanism, not the token.
    if (r.permanent() && r.code != 504 && sasl::uses_token(m)) {
      trace_event("the server refused the access token; asking the provider for a new one");
      log(log_level::warning, "smtp.token_refused", {{"mechanism", sasl::name(m)}});
      ex.emplace(m, credentials_for(m, true));
      r = co_await sasl_exchange(*ex);
    }
    co_return r;
  }

  [[noreturn]] void plaintext_login_refused(const tcp::endpoint& peer) {
    fail(errc::plaintext_auth_refused, envoi::step::auth, {},
         "the login was not tried: " + peer.address().to_string() +
             " is not this machine, and security \"none\" would send the password "
             "unencrypted; set the account's security to starttls or tls");
  }

  asio::awaitable<void> authenticate(const tcp::endpoint& peer) {
    if (acct_.security == envoi::security::none && !is_loopback(peer)) {
      co_await say_goodbye();
      plaintext_login_refused(peer);
    }

    // RFC 4954 3: only a mechanism the server lists after TLS may be used. An account with
    // neither source counts as one with a password, so that it fails on the password.
    const bool token = acct_.token_provider != nullptr;
    const auto mechanisms =
        sasl::candidates(acct_.auth, caps_.auth, {!acct_.password.empty() || !token, token});
    if (mechanisms.empty()) {
      co_await say_goodbye();
      fail(errc::auth_not_offered, envoi::step::auth, {}, mechanism_mismatch());
    }

    // RFC 4954 6: 504 rejects the mechanism itself; Exchange Online lists PLAIN and then
    // answers it so (F28), while the next mechanism on the list works.
    std::optional<sasl::exchange> ex;
    smtp::reply r;
    for (const auto m : mechanisms) {
      r = co_await try_mechanism(m, ex);
      if (r.code != 504) break;
    }
    if (r.code == 235) {
      log(log_level::info, "smtp.authenticated",
          {{"mechanism", sasl::name(ex->kind())}, {"login", acct_.login}});
      co_return;
    }

    // A 250 or a 334 past the last round answers no AUTH: the exchange is out of step.
    require_refusal(envoi::step::auth, r, "answered AUTH", "235");

    // The OAuth mechanisms' JSON error says why (expired, wrong scope); it holds no token.
    std::string detail;
    if (!ex->server_error().empty()) detail = "the server said: " + ex->server_error() + "; ";
    // Which login and which secret were tried, so that a person knows what to check; the
    // secret's source, never its value.
    detail += "login \"" + acct_.login + "\" with " +
              (sasl::uses_token(ex->kind()) ? std::string("an OAuth token")
                                            : "the password from " + acct_.password.describe());
    co_await say_goodbye();
    fail(r.transient() ? errc::server_transient : errc::auth_failed, envoi::step::auth,
         std::move(r), std::move(detail));
  }

  // MAIL FROM with the parameters the server understands (RFC 1870, 6152, 6531).
  std::string mail_command(const envelope& env, const detail::data_source& data) const {
    const bool utf8 = data.smtputf8() || needs_smtputf8(env.mail_from) ||
                      std::any_of(env.recipients.begin(), env.recipients.end(), needs_smtputf8);
    if (utf8 && !caps_.smtputf8)
      fail_clean(errc::smtputf8_not_offered, envoi::step::mail, {},
                 "an address has accented letters before the @ and the server cannot take them");
    if (caps_.size_limit != 0 && data.size() > caps_.size_limit)
      fail_clean(errc::message_too_large, envoi::step::mail, {},
                 std::to_string(data.size()) + " bytes; the server takes at most " +
                     std::to_string(caps_.size_limit) +
                     ": send smaller attachments, or spread them over several messages");
    // The provider's own limit, which its server may not announce.
    const std::uint64_t quota_limit = acct_.quota.max_message_bytes;
    if (quota_limit != 0 && data.size() > quota_limit)
      fail_clean(errc::message_too_large, envoi::step::mail, {},
                 std::to_string(data.size()) + " bytes; the account's quota allows at most " +
                     std::to_string(quota_limit) +
                     ": send smaller attachments, or spread them over several messages");

    std::string mail = "MAIL FROM:<" + env.mail_from + ">";
    if (caps_.size) mail += " SIZE=" + std::to_string(data.size());
    // Messages rendered by envoi are 7-bit unless 8-bit was allowed; raw 8-bit data given
    // to a server without 8BITMIME is still sent as it is, not converted.
    if (data.eight_bit() && caps_.eight_bit_mime) mail += " BODY=8BITMIME";
    if (utf8) mail += " SMTPUTF8";
    // RFC 3461 4.3, 4.4: only to a server offering DSN; the report says when dropped.
    if (caps_.dsn && env.ret != dsn_return::unset)
      mail += env.ret == dsn_return::full ? " RET=FULL" : " RET=HDRS";
    if (caps_.dsn && !env.envid.empty()) mail += " ENVID=" + detail::xtext(env.envid);
    mail += "\r\n";
    return mail;
  }

  // The message, dot-stuffed, in pieces, then the end of data. Each write is one block
  // of RFC 5321 4.5.3.2.5 with its own limit.
  asio::awaitable<void> write_data(detail::data_source& data, const std::string& ahead) {
    if (tracing()) {
      trace_sent({}, "<message: " + std::to_string(data.size()) + " octets>");
      sending_content_ = true;
    }
    std::string piece;
    std::string wire;
    detail::dot_stuff_state state;
    for (bool more = true; more;) {
      piece.clear();
      try {
        more = data.next(piece);
      } catch (const std::exception& e) {
        // Without the final ".", the server discards what it received.
        close();
        fail(errc::local_failure, envoi::step::data, {}, e.what());
      }
      detail::dot_stuff(piece, state, wire);
      if (!more) {
        detail::dot_stuff_finish(state, wire);
        wire += ahead;
      }
      if (wire.size() >= data_write_size || !more) {
        co_await write(wire, envoi::step::data, block_limit());
        wire.clear();
      }
    }
    sending_content_ = false;
    // The next message's commands went out with the end of data.
    if (tracing() && !ahead.empty()) trace_sent(ahead, {});
  }

  std::chrono::milliseconds block_limit() const {
    return acct_.step_timeout ? *acct_.step_timeout : acct_.timeouts.data_block;
  }
  std::chrono::milliseconds data_end_limit() const {
    return acct_.step_timeout ? *acct_.step_timeout : acct_.timeouts.data_end;
  }

  // RFC 5321 4.5.3.1.10: `452 4.5.3` (or 552 with 5.5.3, which the RFC says to treat the
  // same way) means "no more recipients in this transaction", not "this one is refused".
  static bool too_many_recipients(const smtp::reply& r) {
    if (r.code == 452) return r.enhanced.empty() || r.enhanced == "4.5.3";
    return r.code == 552 && r.enhanced == "5.5.3";
  }

  // Ends a transaction that will not deliver (RFC 5321 4.1.1.5), so that the next MAIL
  // on this connection starts clean. A server that does not take the RSET may still hold
  // the transaction: the connection is then not used again, so that the next message
  // does not join it.
  asio::awaitable<void> reset(envoi::step s) {
    const auto r = co_await command("RSET", s);
    if (!completed(r)) close();
  }

  // One MAIL transaction for the recipients `batch` (indices into the envelope). Those
  // the server had no room for (452 4.5.3) go to `deferred` for a later transaction.
  asio::awaitable<void> one_transaction(const envelope& env, const std::string& mail,
                                        const std::vector<std::size_t>& batch,
                                        detail::data_source& data, send_report& report,
                                        std::vector<std::size_t>& deferred, bool sent_ahead) {
    smtp::reply mail_reply;
    smtp::reply data_reply;
    // "Too many recipients" only once the server has taken one: it must take 100 (RFC
    // 5321 4.5.3.1.8), so a 452 for the first is about that mailbox (full, say, from a
    // server without enhanced codes), refused for now while the others go ahead.
    bool taken = false;
    const auto record = [&](std::size_t i, smtp::reply r) {
      if (taken && too_many_recipients(r)) deferred.push_back(i);
      taken = taken || r.positive();
      report.recipients[i].reply = std::move(r);
    };
    if (caps_.pipelining) {
      // RFC 2920: MAIL, every RCPT and DATA in one write, then the replies in order.
      std::string group = mail;
      for (const auto i : batch) group += rcpt_command(env, i);
      group += "DATA\r\n";
      // Each reply is judged as it comes: one out of step ends the session before a byte
      // of the message goes out.
      if (!sent_ahead) {
        co_await expect_no_reply_pending(envoi::step::mail);
        co_await write(group, envoi::step::mail);
      }
      mail_reply = co_await read_reply(envoi::step::mail);
      require_completion_or_refusal(envoi::step::mail, mail_reply, "answered MAIL");
      for (const auto i : batch) {
        auto r = co_await read_reply(envoi::step::rcpt);
        require_completion_or_refusal(envoi::step::rcpt, r, "answered RCPT");
        record(i, std::move(r));
      }
      data_reply = co_await read_reply(envoi::step::data);
      if (data_reply.code != 354)
        require_refusal(envoi::step::data, data_reply, "answered DATA", "354");
    } else {
      // RFC 5321 4.3.1: without PIPELINING each command waits for the reply to the last.
      co_await expect_no_reply_pending(envoi::step::mail);
      co_await write(mail, envoi::step::mail);
      mail_reply = co_await read_reply(envoi::step::mail);
      require_completion_or_refusal(envoi::step::mail, mail_reply, "answered MAIL");
      for (std::size_t k = 0; completed(mail_reply) && k < batch.size(); ++k) {
        const std::string rcpt = rcpt_command(env, batch[k]);
        co_await expect_no_reply_pending(envoi::step::rcpt);
        co_await write(rcpt, envoi::step::rcpt);
        auto r = co_await read_reply(envoi::step::rcpt);
        require_completion_or_refusal(envoi::step::rcpt, r, "answered RCPT");
        record(batch[k], std::move(r));
        // No more RCPT once the server said it has no room: the rest wait their turn.
        if (!deferred.empty()) {
          deferred.insert(deferred.end(), batch.begin() + static_cast<std::ptrdiff_t>(k) + 1,
                          batch.end());
          break;
        }
      }
    }

    const bool any_accepted = std::any_of(
        batch.begin(), batch.end(), [&](std::size_t i) { return report.recipients[i].accepted(); });
    if (!completed(mail_reply) || !any_accepted) {
      // RFC 2920 3.1: a DATA that got 354 without a valid recipient is ended at once, with
      // nothing in it; no server delivers a transaction without recipients. Then RSET
      // clears the transaction for the next message (F42).
      if (data_reply.code == 354) co_await command(".", envoi::step::data);
      co_await reset(envoi::step::mail);
      if (!completed(mail_reply)) {
        std::string hint = login_hint(mail_reply);
        refused_clean(envoi::step::mail, std::move(mail_reply), "answered MAIL", "250",
                      std::move(hint));
      }
      // An earlier transaction of this message delivered it: the send succeeded, and
      // these recipients' refusals are in the report with the others'.
      if (std::any_of(report.recipients.begin(), report.recipients.end(),
                      [](const recipient_result& r) { return r.delivered; }))
        co_return;
      // Trying again later helps only when every refusal was for now; a reply of the
      // kind that decided is the one reported (each is in report.recipients).
      const auto permanent = std::find_if(batch.begin(), batch.end(), [&](std::size_t i) {
        return !report.recipients[i].reply.transient();
      });
      if (permanent != batch.end())
        fail_clean(errc::all_recipients_refused, envoi::step::rcpt,
                   report.recipients[*permanent].reply,
                   login_hint(report.recipients[*permanent].reply));
      fail_clean(errc::server_transient, envoi::step::rcpt, report.recipients[batch.back()].reply);
    }

    if (!caps_.pipelining) data_reply = co_await command("DATA", envoi::step::data);
    if (data_reply.code != 354) {
      require_refusal(envoi::step::data, data_reply, "answered DATA", "354");
      co_await reset(envoi::step::data);
      refused_clean(envoi::step::data, std::move(data_reply), "answered DATA", "354");
    }
    co_await finish_data(data, report, deferred.empty());
    for (const auto i : batch)
      if (report.recipients[i].accepted()) report.recipients[i].delivered = true;
  }

  // After the 354: the message, its end, and the server's verdict. When `last` (no
  // recipient of this message left for another transaction), the end of data carries the
  // next queued message's commands (RFC 2920 3.1), so each message costs one round trip.
  asio::awaitable<void> finish_data(detail::data_source& data, send_report& report, bool last) {
    const std::string ahead = last ? commands_ahead() : std::string{};
    co_await write_data(data, ahead);
    try {
      report.final_reply = co_await read_reply(envoi::step::data, data_end_limit());
      require_completion_or_refusal(envoi::step::data, report.final_reply,
                                    "answered the end of data");
    } catch (session_failure& f) {
      // RFC 5321 4.2.5: the server may commit the message as soon as it has its end, so
      // a reply lost then (time-out, dropped connection, cancellation), garbled or out of
      // step (a 354, say) leaves the outcome unknown, unless the server said plainly that
      // it closes (421) and took nothing.
      if (f.code == errc::timed_out || f.code == errc::connection_closed ||
          f.code == errc::cancelled || f.code == errc::protocol_error) {
        report.outcome_unknown = true;
        f.detail += std::string(f.detail.empty() ? "" : "; ") +
                    "the whole message was sent but no final reply could be read: the server "
                    "may have delivered it";
      }
      throw;
    }
    ++report.transactions;
    if (!completed(report.final_reply))
      refused_clean(envoi::step::data, report.final_reply, "answered the end of data", "250");
  }

  // The MAIL, RCPT and DATA commands of the next queued message, marked as sent; empty
  // when there is none, the server does not pipeline, or the message would fail here
  // anyway (it then fails on its own turn, with its own error).
  std::string commands_ahead() {
    if (!caps_.pipelining || queue_.size() < 2) return {};
    auto& next = *queue_[1];
    if (next.quit || next.cancelled || next.env.recipients.empty()) return {};
    std::string group;
    try {
      check_envelope(next.env);
      next.source->prepare(caps_.eight_bit_mime, acct_.dkim.get());
      group = mail_command(next.env, *next.source);
    } catch (...) {
      return {};
    }
    for (std::size_t i = 0; i < next.env.recipients.size(); ++i) group += rcpt_command(next.env, i);
    group += "DATA\r\n";
    next.sent_ahead = true;
    next.sent_ahead_on = connection_generation_;
    return group;
  }

  std::string rcpt_command(const envelope& env, std::size_t i) const {
    std::string rcpt = "RCPT TO:<" + env.recipients[i] + ">";
    if (caps_.dsn && i < env.dsn.size()) {
      const auto& d = env.dsn[i];
      if (d.notify != dsn_notify::unset) rcpt += " NOTIFY=" + notify_value(d.notify);
      // RFC 3461 4.2: the address type, then the address in xtext. A UTF-8 address goes
      // out as xtext of its bytes; RFC 6533's utf-8 address type is not used yet.
      if (!d.original_recipient.empty())
        rcpt += " ORCPT=rfc822;" + detail::xtext(d.original_recipient);
    }
    rcpt += "\r\n";
    return rcpt;
  }

  // The message to every recipient, in as many transactions as the server's recipient
  // limit requires (RFC 5321 4.5.3.1.10, F44); each transaction after the first starts
  // the message's bytes over.
  asio::awaitable<void> transaction(const envelope& env, detail::data_source& data,
                                    send_report& report, bool sent_ahead) {
    report.recipients.clear();
    for (const auto& to : env.recipients) report.recipients.push_back({to, {}, false});
    report.dsn_not_offered = env.wants_dsn() && !caps_.dsn;
    std::vector<std::size_t> batch(env.recipients.size());
    for (std::size_t i = 0; i < batch.size(); ++i) batch[i] = i;

    // A message whose commands went out ahead was rendered then, for this same server.
    bool prepared = sent_ahead;
    while (!batch.empty()) {
      try {
        if (!prepared) data.prepare(caps_.eight_bit_mime, acct_.dkim.get());
      } catch (const std::exception& e) {
        fail_clean(errc::local_failure, envoi::step::mail, {}, e.what());
      }
      prepared = false;
      const std::string mail = mail_command(env, data);
      std::vector<std::size_t> deferred;
      co_await one_transaction(env, mail, batch, data, report, deferred, sent_ahead);
      batch = std::move(deferred);
      sent_ahead = false;
    }
  }

  asio::awaitable<void> send(queued_job& job) {
    const envelope& env = job.env;
    detail::data_source& data = *job.source;
    send_report& report = job.report;
    check_envelope(env);
    if (env.recipients.empty())
      fail_clean(errc::invalid_envelope, envoi::step::rcpt, {}, "the envelope has no recipient");
    deadline_.reset();
    if (acct_.timeouts.total.count() > 0)
      deadline_ = std::chrono::steady_clock::now() + acct_.timeouts.total;
    bool sent_ahead = job.sent_ahead && job.sent_ahead_on == connection_generation_ && ready_;
    const bool reused = ready_;
    if (!ready_) co_await connect();
    bool retry = false;
    try {
      co_await transaction(env, data, report, sent_ahead);
    } catch (const session_failure& f) {
      // A connection kept from an earlier message may have been closed by the server
      // while idle; that is not this message's fault, so try once on a new connection.
      const bool unanswered =
          std::all_of(report.recipients.begin(), report.recipients.end(),
                      [](const recipient_result& r) { return r.reply.empty(); });
      retry = reused && f.step == envoi::step::mail && f.code == errc::connection_closed &&
              unanswered && report.transactions == 0;
      if (!retry) throw;
    }
    if (retry) {
      report = {};
      co_await connect();
      co_await transaction(env, data, report, false);
    }
  }

  // --- the queue: one worker at a time takes the jobs in order.

  void enqueue(std::shared_ptr<queued_job> job) {
    queue_.push_back(std::move(job));
    if (worker_running_) return;
    worker_running_ = true;
    asio::co_spawn(executor_, run_queue(shared_from_this()), asio::detached);
  }

  static asio::awaitable<void> run_queue(std::shared_ptr<impl> self) {
    while (!self->queue_.empty()) {
      auto job = self->queue_.front();
      std::error_code ec;
      if (job->quit) {
        try {
          if (self->ready_) co_await self->say_goodbye();
        } catch (const std::exception&) {
          // Leaving failed (memory, say): the connection is dropped all the same.
          self->close();
        }
      } else if (job->cancelled || self->shutting_down_) {
        // A cancelled message whose commands went out ahead: closing without ending its
        // data is the one way to be sure the server delivers nothing of it.
        ec = make_error_code(errc::cancelled);
        if (job->sent_ahead && job->sent_ahead_on == self->connection_generation_) self->close();
      } else {
        ec = co_await self->run_send(*job);
      }
      self->deadline_.reset();
      self->queue_.pop_front();
      self->complete(*job, ec);
    }
    // An idle client holds no timer, so that a blocking call's event loop can return.
    self->park_watchdog();
    self->worker_running_ = false;
  }

  asio::awaitable<std::error_code> run_send(queued_job& job) {
    send_report& report = job.report;
    std::error_code ec;
    try {
      co_await send(job);
    } catch (const session_failure& f) {
      if (!f.clean) close();
      ec = make_error_code(job.cancelled || shutting_down_ ? errc::cancelled : f.code);
      report.failed_step = f.step;
      report.error_reply = f.reply;
      report.detail = f.detail;
    } catch (const std::exception& e) {
      // Whatever else went wrong (memory, say) still reaches the handler.
      close();
      ec = make_error_code(errc::local_failure);
      report.detail = e.what();
    }
    log_outcome(job, ec);
    co_return ec;
  }

  // The events of a finished send: refused recipients, then sent or failed.
  void log_outcome(const queued_job& job, std::error_code ec) const {
    if (!log_.enabled(log_level::info) && !(ec && log_.enabled(log_level::error))) return;
    const send_report& report = job.report;
    const std::string& from = job.env.mail_from;
    for (const auto& r : report.recipients) {
      if (r.reply.code == 0 || r.accepted()) continue;
      const std::string reply = r.reply.to_string();
      log(log_level::warning, "smtp.recipient_refused",
          {{"from", from}, {"recipient", r.address}, {"reply", reply}});
    }
    const std::string recipients = std::to_string(report.recipients.size());
    if (!ec) {
      const auto accepted = std::count_if(report.recipients.begin(), report.recipients.end(),
                                          [](const recipient_result& r) { return r.delivered; });
      const std::string accepted_text = std::to_string(accepted);
      const std::string octets = job.source ? std::to_string(job.source->size()) : "0";
      const std::string transactions = std::to_string(report.transactions);
      const std::string reply = report.final_reply.to_string();
      log(log_level::info, "smtp.sent",
          {{"from", from},
           {"recipients", recipients},
           {"accepted", accepted_text},
           {"octets", octets},
           {"transactions", transactions},
           {"reply", reply}});
      return;
    }
    const bool transient = is_transient(ec);
    const std::string error = ec.message();
    const std::string reply = report.error_reply.to_string();
    log(transient ? log_level::warning : log_level::error, "smtp.failed",
        {{"from", from},
         {"recipients", recipients},
         {"step", to_string(report.failed_step)},
         {"error", error},
         {"reply", reply},
         {"detail", report.detail},
         {"transient", transient ? "yes" : "no"},
         {"outcome_unknown", report.outcome_unknown ? "yes" : "no"}});
  }

  // Runs the job's handler on its associated executor (never inside async_send).
  void complete(queued_job& job, std::error_code ec) {
    if (job.done) return;
    job.done = true;
    if (job.quit) {
      auto ex = asio::get_associated_executor(job.on_quit, executor_);
      asio::post(executor_, asio::bind_executor(ex, [h = std::move(job.on_quit)]() mutable {
                   std::move(h)(std::error_code{});
                 }));
      return;
    }
    auto slot = asio::get_associated_cancellation_slot(job.on_sent);
    if (slot.is_connected()) slot.clear();
    auto ex = asio::get_associated_executor(job.on_sent, executor_);
    asio::post(executor_, asio::bind_executor(ex, [h = std::move(job.on_sent), ec,
                                                   r = std::move(job.report)]() mutable {
                 std::move(h)(ec, std::move(r));
               }));
  }

  // Asio per-operation cancellation: the message running is stopped by closing the
  // connection; one still waiting leaves the queue at once; one whose commands went out
  // ahead ends when its turn comes, by closing the connection without ending its data.
  void cancel(const std::shared_ptr<queued_job>& job) {
    if (job->done || job->cancelled) return;
    job->cancelled = true;
    if (!queue_.empty() && queue_.front() == job) {
      close();
      return;
    }
    if (job->sent_ahead) return;
    queue_.erase(std::find(queue_.begin(), queue_.end(), job));
    complete(*job, make_error_code(errc::cancelled));
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
  impl_->own_context_ = std::move(context);
}

client::~client() {
  if (!impl_) return;
  if (impl_->own_context_) {
    impl_->close();  // nothing else runs that context
  } else {
    // An operation may be running on another thread of the executor: close there; what
    // is still queued completes with errc::cancelled.
    asio::post(impl_->executor_, [self = impl_] {
      self->shutting_down_ = true;
      self->close();
    });
  }
}
client::client(client&&) noexcept = default;
client& client::operator=(client&&) noexcept = default;

const envoi::account& client::settings() const noexcept {
  return impl_->acct_;
}

void client::set_transcript(transcript_sink sink) {
  impl_->transcript_ = std::move(sink);
}

void client::set_log(log_sink sink) {
  impl_->log_ = std::move(sink);
}

detail::data_source_ptr client::text_data(std::string data) {
  return detail::data_source_ptr(new text_source(std::move(data)));
}

detail::data_source_ptr client::message_data(const message& m) {
  return detail::data_source_ptr(new message_source(m));
}

void client::start_send(std::shared_ptr<impl> self, envelope env, detail::data_source_ptr source,
                        send_handler handler) {
  // Terminal, partial and total cancellation all stop this message and nothing else.
  auto slot = asio::get_associated_cancellation_slot(handler);
  // Built in one go: moving into an existing any_completion_handler recurses in Boost 1.81.
  auto job = std::make_shared<queued_job>(queued_job{
      .env = std::move(env), .source = std::move(source), .on_sent = std::move(handler)});
  if (slot.is_connected()) {
    slot.assign([weak = std::weak_ptr<impl>(self),
                 weak_job = std::weak_ptr<queued_job>(job)](asio::cancellation_type type) {
      if (type == asio::cancellation_type::none) return;
      auto s = weak.lock();
      if (!s) return;
      asio::post(s->executor_, [s, weak_job] {
        if (auto j = weak_job.lock()) s->cancel(j);
      });
    });
  }
  // Inline when called on the client's strand (from a completion handler, say): enqueue
  // only queues, so no handler can run inside this initiating call.
  asio::dispatch(self->executor_, [self, job] { self->enqueue(job); });
}

void client::start_quit(std::shared_ptr<impl> self, quit_handler handler) {
  auto job = std::make_shared<queued_job>(queued_job{.quit = true, .on_quit = std::move(handler)});
  asio::post(self->executor_, [self, job] { self->enqueue(job); });
}

send_report client::send(const envelope& env, std::string data) {
  return send_blocking(env, text_data(std::move(data)));
}

send_report client::send(const envelope& env, const message& m) {
  return send_blocking(env, message_data(m));
}

send_report client::send_blocking(const envelope& env, detail::data_source_ptr source) {
  std::error_code ec;
  send_report report;
  auto store = [&](std::error_code e, send_report r) {
    ec = e;
    report = std::move(r);
  };
  if (impl_->own_context_) {
    start_send(impl_, env, std::move(source), store);
    impl_->own_context_->restart();
    impl_->own_context_->run();
  } else {
    std::promise<void> done;
    start_send(impl_, env, std::move(source), [&](std::error_code e, send_report r) {
      store(e, std::move(r));
      done.set_value();
    });
    done.get_future().wait();
  }
  if (ec) throw send_error(ec, std::move(report));
  return report;
}

void client::quit() {
  if (impl_->own_context_) {
    start_quit(impl_, [](std::error_code) {});
    impl_->own_context_->restart();
    impl_->own_context_->run();
  } else {
    std::promise<void> done;
    start_quit(impl_, [&](std::error_code) { done.set_value(); });
    done.get_future().wait();
  }
}

}  // namespace envoi::smtp
