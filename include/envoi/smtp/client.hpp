// An SMTP client for one server: a connection that sends messages one after another.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>

#include <envoi/account.hpp>
#include <envoi/error.hpp>
#include <envoi/log.hpp>
#include <envoi/message.hpp>
#include <envoi/smtp/reply.hpp>

namespace envoi::smtp {

namespace detail {
class data_source;
// Deletes a data_source where its type is complete, so that callers' code never needs it.
struct data_source_deleter {
  void operator()(data_source* p) const noexcept;
};
using data_source_ptr = std::unique_ptr<data_source, data_source_deleter>;
}  // namespace detail

/// What happened to one envelope recipient.
struct recipient_result {
  std::string address;
  /// The last reply to this recipient's RCPT command; empty (code 0) when it was never
  /// asked, because the transaction failed first.
  smtp::reply reply;
  /// The server took the message for this recipient: its RCPT was accepted and the
  /// transaction it belonged to ended with a positive reply to the end of data.
  bool delivered = false;

  bool accepted() const noexcept { return reply.positive(); }
};

/// What happened to one message.
struct send_report {
  /// One entry per envelope recipient, in envelope order.
  std::vector<recipient_result> recipients;
  /// The reply to the end of data; its text usually carries the server's queue id. When
  /// the server limited the recipients per transaction (RFC 5321 4.5.3.1.10, `452 4.5.3`)
  /// the message went out in several transactions, and this is the last one's reply.
  smtp::reply final_reply;
  /// The envelope asked for DSN (RFC 3461) but the server does not offer it: the message
  /// was sent without RET, ENVID, NOTIFY and ORCPT, so the server's default notices apply.
  bool dsn_not_offered = false;
  /// How many transactions the message took (more than one after `452 4.5.3`).
  int transactions = 0;
  /// The whole message was sent but no final reply could be read (time limit, lost
  /// connection, a line that is no SMTP reply, or a reply that neither accepts nor
  /// refuses, such as a 354): the server may have delivered it.
  /// The error is transient; sending again may deliver a second copy.
  bool outcome_unknown = false;
  /// On failure: the step that failed, the reply that ended it (if the server sent one),
  /// and a detail from below SMTP (resolver, TLS library) when there is one.
  envoi::step failed_step = envoi::step::none;
  smtp::reply error_reply;
  std::string detail;
};

/// Thrown by the blocking calls; carries the whole report.
class send_error : public std::system_error {
 public:
  send_error(std::error_code ec, send_report report);

  envoi::step step() const noexcept { return report_.failed_step; }
  const smtp::reply& reply() const noexcept { return report_.error_reply; }
  const send_report& report() const noexcept { return report_; }
  bool is_transient() const noexcept { return envoi::is_transient(code()); }
  bool is_permanent() const noexcept { return envoi::is_permanent(code()); }

 private:
  send_report report_;
};

/// Which way a transcript line went.
enum class transcript_direction {
  /// A line the client sent.
  sent,
  /// A line the server sent.
  received,
  /// Something notable that is not a line of the dialogue: the connection made, TLS
  /// established (with the server certificate's SHA-256 fingerprint), a new OAuth token
  /// asked for.
  event,
};

/// Receives the SMTP dialogue one line at a time, without its CRLF.
using transcript_sink = std::function<void(transcript_direction, std::string_view line)>;

/// One SMTP session with the account's server. The first send connects (resolve, TCP,
/// greeting, EHLO, STARTTLS or implicit TLS with certificate and host-name checks, EHLO
/// again, AUTH); later sends reuse the connection.
///
/// Several sends may be outstanding at once: they are queued and run in the order they
/// were made, each completing with its own report. When the server offers PIPELINING
/// (RFC 2920), the end of one message's data goes out in the same write as the next
/// queued message's MAIL, RCPT and DATA, so each message costs one round trip; without
/// it every command waits for the reply to the one before (RFC 5321 4.3.1). Messages
/// always go with DATA, dot-stuffed: CHUNKING (BDAT, RFC 3030) and BINARYMIME are not
/// used even when offered, so a binary body must be base64 (which `message` does).
///
/// What a failure does to the queue:
/// - a refusal that leaves the session clean (MAIL, every RCPT, or DATA refused, then
///   RSET; a refused end of data) fails that message only; the next one uses the same
///   connection, unless the server did not take the RSET;
/// - any other failure (lost connection, time-out, 421, garbage, a reply out of step or
///   one nobody asked for) closes the connection;
///   the failed message completes with its error, and the messages after it, including
///   one whose commands had gone out ahead (no data of it was sent), are tried on a new
///   connection, each once. A reply nobody asked for is seen only when it has come
///   before the next command goes out; one that comes later is read as that command's
///   reply, so the per-recipient replies of that message are shifted, and the session
///   ends at the first reply of the wrong kind (DATA's 354 at the latest), before any of
///   the message is sent;
/// - a message whose data was sent but whose final reply never came, or came garbled,
///   completes with a transient error and `send_report::outcome_unknown` set: it may have
///   been delivered.
class client {
 public:
  /// A client whose asynchronous operations run on `executor`.
  client(boost::asio::any_io_executor executor, envoi::account acct);
  /// A client for the blocking calls only; it runs its own event loop.
  explicit client(envoi::account acct);
  ~client();
  client(client&&) noexcept;
  client& operator=(client&&) noexcept;

  /// The account this client sends through.
  const envoi::account& settings() const noexcept;

  /// Installs `sink` to receive the dialogue of every later session, line by line, and
  /// notable events; an empty function removes it. What the sink gets is already
  /// redacted: the AUTH command's initial response and every line the client sends
  /// during AUTH are replaced by `<redacted>` (the server's challenges are kept: they
  /// hold no secret), and the message between DATA's 354 and the final reply is one line
  /// giving its size. The sink runs on the thread running the client's executor, inside
  /// the operation, so it must be quick and must not throw or call the client. With no
  /// sink installed the dialogue costs one test per line. Call it only while no
  /// operation is running.
  void set_transcript(transcript_sink sink);

  /// Installs `sink` for the events of every later session; an empty `write` removes it.
  /// No event holds a password, token or AUTH data, nor the message's text. The events:
  /// - debug `smtp.line` (direction: sent or received; text): each line of the dialogue,
  ///   redacted as the transcript is (see set_transcript);
  /// - info `smtp.connected` (host, address, port);
  /// - info `smtp.tls` (version, cipher, certificate_sha256);
  /// - info `smtp.authenticated` (mechanism, login);
  /// - warning `smtp.token_refused` (mechanism): a new access token is asked for;
  /// - info `smtp.sent` (from, recipients, accepted, octets, transactions, reply): the
  ///   server took the message, `reply` being its final reply (with its queue id);
  /// - warning `smtp.recipient_refused` (from, recipient, reply);
  /// - warning (transient) or error `smtp.failed` (from, recipients, step, error, reply,
  ///   detail, transient: yes or no, outcome_unknown: yes or no);
  /// - debug `smtp.closed` (host): the connection was closed.
  /// Like the transcript sink, it runs on the client's executor inside the operation; call
  /// this only while no operation is running.
  void set_log(log_sink sink);

  /// Sends `data` (the rendered message, before dot-stuffing) to the envelope.
  ///
  /// Completion signature: `void(std::error_code, send_report)`. The code is empty when
  /// at least one recipient was accepted and the server accepted the data; refused
  /// recipients are listed in the report. Errors are in envoi's category (see errc); the
  /// report says which step failed and carries the server's reply. The handler is never
  /// run inside this call; it runs on its associated executor if it has one. The call may
  /// be made while other sends are outstanding (see the class): the message is queued.
  ///
  /// With `asio::use_future` or `asio::use_awaitable` the error is not thrown: Asio throws
  /// only a `boost::system::error_code`, so the result is a tuple, as with
  /// `asio::as_tuple`: `auto [ec, report] = co_await c.async_send(env, data, use_awaitable);`
  /// or `future.get()`. The blocking send() throws send_error instead.
  ///
  /// Cancellation: Asio per-operation cancellation (terminal, partial or total, e.g.
  /// through `asio::bind_cancellation_slot`) ends this message with errc::cancelled and
  /// leaves the other queued messages as they were. A message still waiting in the queue
  /// completes at once; the message in progress is stopped by closing the connection
  /// (the next message opens a new one), so the server never sees the end of its data
  /// unless it was already sent (the report then says `outcome_unknown`); a message whose commands
  /// already went out ahead ends when its turn comes, by closing the connection before any of its
  /// data. Destroying the client completes every message still queued with errc::cancelled.
  template <typename CompletionToken>
  auto async_send(envelope env, std::string data, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(std::error_code, send_report)>(
        [self = impl_](auto handler, envelope e, std::string d) {
          start_send(self, std::move(e), text_data(std::move(d)), std::move(handler));
        },
        token, std::move(env), std::move(data));
  }

  /// Sends `m` to the envelope, like the overload above, but renders it only once the
  /// server's extensions are known (8-bit text where it offers 8BITMIME, SMTPUTF8 when an
  /// address needs it, SIZE checked before MAIL) and streams it: attachments are read from
  /// their files while they are sent, never held whole. `m` must stay alive and unchanged
  /// until the handler runs. An attachment that cannot be read fails with
  /// errc::local_failure; when that happens during DATA the connection is closed without
  /// ending the data, so the server delivers nothing.
  template <typename CompletionToken>
  auto async_send(envelope env, const message& m, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(std::error_code, send_report)>(
        [self = impl_, &m](auto handler, envelope e) {
          start_send(self, std::move(e), message_data(m), std::move(handler));
        },
        token, std::move(env));
  }

  /// Ends the session politely (QUIT), waiting at most a few seconds for the reply, once
  /// the sends queued before it have ended.
  /// Completion signature: `void(std::error_code)`; a server that never answers is not
  /// an error. Does nothing when not connected.
  template <typename CompletionToken>
  auto async_quit(CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(std::error_code)>(
        [self = impl_](auto handler) { start_quit(self, std::move(handler)); }, token);
  }

  /// Blocking form of async_send; throws send_error. Must not be called from a thread
  /// that runs the client's executor.
  send_report send(const envelope& env, std::string data);
  /// Blocking form of the message overload of async_send; throws send_error.
  send_report send(const envelope& env, const message& m);
  /// Blocking form of async_quit.
  void quit();

 private:
  using send_handler = boost::asio::any_completion_handler<void(std::error_code, send_report)>;
  using quit_handler = boost::asio::any_completion_handler<void(std::error_code)>;
  struct impl;
  static detail::data_source_ptr text_data(std::string data);
  static detail::data_source_ptr message_data(const message& m);
  static void start_send(std::shared_ptr<impl> self, envelope env, detail::data_source_ptr source,
                         send_handler handler);
  send_report send_blocking(const envelope& env, detail::data_source_ptr source);
  static void start_quit(std::shared_ptr<impl> self, quit_handler handler);

  // Shared with the operations in flight, so that a timer firing late finds it alive.
  std::shared_ptr<impl> impl_;
};

}  // namespace envoi::smtp
