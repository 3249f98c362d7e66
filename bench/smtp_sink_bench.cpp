// Sending French appointment reminders over one SMTP connection to a server that discards
// them (Postfix's smtp-sink on loopback), as a practice's reminder run does: each message
// is built and rendered in the loop, each with its own recipient. run-smtp-sink-bench
// starts the sink, runs this beside `smtp-source -d`, and checks the server's count.
//
//   envoi_smtp_sink_bench --port P [--host H] [--count N] [MODE] [--stream | --prerender]
//   envoi_smtp_sink_bench --sample FILE     writes one rendered reminder and exits
//
// MODE is `--sequential` (the default: each send is awaited before the next starts) or
// `--window N` (N sends outstanding on the one client, which queues them and, where the
// server offers PIPELINING, writes each end of data with the next message's commands).
//
// By default the application renders each message itself (message::render(), quoted-
// printable text, about 2,840 bytes) and hands the bytes to the client, so the
// wire carries the same bytes smtp-source sends from the sample file. With `--stream` it
// hands the message to the client, which renders it once it knows the server: smtp-sink
// offers 8BITMIME, so the body then goes out as 8-bit text, which is shorter. With
// `--prerender` every message is built and rendered before the clock starts, so that the
// figures are the transport's alone.
//
// Prints one line of `key=value` pairs: messages sent and refused, the send loop's wall
// time and CPU time (getrusage), the same from the end of the first message on ("steady":
// without connecting, which loads the system's trust store even without TLS), and the
// first error. Exits 0 when every message was accepted, 1 when one was not, 2 on bad
// arguments.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <envoi/account.hpp>
#include <envoi/mailbox.hpp>
#include <envoi/message.hpp>
#include <envoi/smtp/client.hpp>

#include "french_text.hpp"

namespace {

namespace asio = boost::asio;

struct options {
  std::string host = "127.0.0.1";
  unsigned port = 0;
  int count = 2000;
  int window = 0;  // 0: sequential
  bool stream = false;
  bool prerender = false;
  std::string sample;
};

// The reminder of render_bench, addressed to client number `i`, with the date and
// Message-ID left to rendering as in a real run.
envoi::message make_reminder(int i) {
  char address[64];
  std::snprintf(address, sizeof address, "client.%05d@exemple.fr", i);
  envoi::message m;
  m.from(envoi::mailbox("Clinique vétérinaire des Érables", "rappels@erables-veto.fr"));
  m.add_to(envoi::mailbox("Hélène Lefèvre-Doré", address));
  m.subject("Rappel : rendez-vous de Câline le mardi 8 décembre 2026 à 14 h 30");
  m.text(envoi::bench::reminder_body());
  return m;
}

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  const auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(u.ru_utime) + seconds(u.ru_stime);
}

// What came back from the server, message by message.
struct tally {
  int accepted = 0;
  int refused = 0;
  std::string first_error;
  // When the first message ended: the connection is open from then on.
  std::chrono::steady_clock::time_point first_done;
  double first_cpu = 0;

  void record(const std::error_code& ec, const envoi::smtp::send_report& report) {
    if (accepted + refused == 0) {
      first_done = std::chrono::steady_clock::now();
      first_cpu = cpu_seconds();
    }
    if (!ec) {
      ++accepted;
      return;
    }
    ++refused;
    if (first_error.empty()) {
      first_error = std::string(envoi::to_string(report.failed_step)) + ": " + ec.message();
      if (!report.error_reply.empty()) first_error += " / " + report.error_reply.to_string();
      if (!report.detail.empty()) first_error += " (" + report.detail + ")";
    }
  }
};

// A message built and rendered before the clock starts (--prerender).
struct prerendered {
  envoi::envelope env;
  std::string data;
};

// Builds message `i` and starts sending it: the application renders it (default), or the
// client does (--stream). `done` runs with the outcome; the message lives until then.
template <typename Done>
void start_one(envoi::smtp::client& client, const options& opt, std::vector<prerendered>& ready,
               int i, Done done) {
  if (opt.prerender) {
    auto& p = ready[static_cast<std::size_t>(i)];
    client.async_send(std::move(p.env), std::move(p.data),
                      [done = std::move(done)](
                          std::error_code ec, envoi::smtp::send_report r) mutable { done(ec, r); });
    return;
  }
  auto m = std::make_unique<envoi::message>(make_reminder(i));
  envoi::envelope env = m->make_envelope();
  if (opt.stream) {
    const envoi::message& ref = *m;
    client.async_send(std::move(env), ref,
                      [m = std::move(m), done = std::move(done)](
                          std::error_code ec, envoi::smtp::send_report r) mutable { done(ec, r); });
  } else {
    std::string data = m->render();
    client.async_send(std::move(env), std::move(data),
                      [done = std::move(done)](
                          std::error_code ec, envoi::smtp::send_report r) mutable { done(ec, r); });
  }
}

// One send at a time: the next message is built only once the previous one is accepted.
asio::awaitable<void> run_sequential(envoi::smtp::client& client, const options& opt,
                                     std::vector<prerendered>& ready, tally& t) {
  constexpr auto as_tuple = asio::as_tuple(asio::use_awaitable);
  for (int i = 0; i < opt.count; ++i) {
    if (opt.prerender) {
      auto& p = ready[static_cast<std::size_t>(i)];
      auto [ec, report] = co_await client.async_send(std::move(p.env), std::move(p.data), as_tuple);
      t.record(ec, report);
      continue;
    }
    envoi::message m = make_reminder(i);
    envoi::envelope env = m.make_envelope();
    std::error_code ec;
    envoi::smtp::send_report report;
    if (opt.stream) {
      std::tie(ec, report) = co_await client.async_send(std::move(env), m, as_tuple);
    } else {
      std::string data = m.render();
      std::tie(ec, report) = co_await client.async_send(std::move(env), std::move(data), as_tuple);
    }
    t.record(ec, report);
  }
  co_await client.async_quit(as_tuple);
}

// N sends outstanding: each completion starts the next message until all have started.
struct window_run {
  envoi::smtp::client& client;
  const options& opt;
  std::vector<prerendered>& ready;
  tally& t;
  int started = 0;
  int finished = 0;

  void start() {
    for (int k = 0; k < opt.window && started < opt.count; ++k) next();
  }
  void next() {
    const int i = started++;
    start_one(client, opt, ready, i, [this](std::error_code ec, const envoi::smtp::send_report& r) {
      t.record(ec, r);
      ++finished;
      if (started < opt.count)
        next();
      else if (finished == opt.count)
        client.async_quit([](std::error_code) {});
    });
  }
};

int usage() {
  std::fprintf(stderr,
               "usage: envoi_smtp_sink_bench --port P [--host H] [--count N] "
               "[--sequential | --window N] [--stream | --prerender]\n"
               "       envoi_smtp_sink_bench --sample FILE\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    const bool has_value = a + 1 < argc;
    if (arg == "--host" && has_value)
      opt.host = argv[++a];
    else if (arg == "--port" && has_value)
      opt.port = static_cast<unsigned>(std::atoi(argv[++a]));
    else if (arg == "--count" && has_value)
      opt.count = std::atoi(argv[++a]);
    else if (arg == "--window" && has_value)
      opt.window = std::atoi(argv[++a]);
    else if (arg == "--sequential")
      opt.window = 0;
    else if (arg == "--stream")
      opt.stream = true;
    else if (arg == "--prerender")
      opt.prerender = true;
    else if (arg == "--sample" && has_value)
      opt.sample = argv[++a];
    else
      return usage();
  }

  // The bytes smtp-source sends, and what the driver compares the server's copy with.
  if (!opt.sample.empty()) {
    std::ofstream(opt.sample, std::ios::binary) << make_reminder(0).render();
    return 0;
  }
  if (opt.port == 0 || opt.port > 65535 || opt.count <= 0 || opt.window < 0 ||
      (opt.stream && opt.prerender))
    return usage();

  asio::io_context io;
  envoi::account acct;
  acct.sender = envoi::mailbox("Clinique vétérinaire des Érables", "rappels@erables-veto.fr");
  acct.host = opt.host;
  acct.port = static_cast<std::uint16_t>(opt.port);
  acct.security = envoi::security::none;  // loopback, nothing to protect
  acct.ehlo_name = "bench.invalid";
  envoi::smtp::client client(io.get_executor(), acct);

  std::vector<prerendered> ready;
  if (opt.prerender) {
    for (int i = 0; i < opt.count; ++i) {
      const envoi::message m = make_reminder(i);
      ready.push_back({m.make_envelope(), m.render()});
    }
  }

  tally t;
  window_run window{client, opt, ready, t};
  const double cpu0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  if (opt.window == 0) {
    asio::co_spawn(io, run_sequential(client, opt, ready, t), asio::detached);
  } else {
    window.start();
  }
  io.run();
  const auto t1 = std::chrono::steady_clock::now();
  const double cpu1 = cpu_seconds();
  const double wall = std::chrono::duration<double>(t1 - t0).count();
  const double cpu = cpu1 - cpu0;
  // The messages after the first, on a connection already open.
  const int rest = std::max(opt.count - 1, 1);
  const double steady_wall = std::chrono::duration<double>(t1 - t.first_done).count();
  const double steady_cpu = cpu1 - t.first_cpu;

  std::printf(
      "mode=%s window=%d data=%s count=%d accepted=%d refused=%d loop_s=%.6f "
      "loop_msg_per_s=%.1f loop_cpu_s=%.6f loop_cpu_ms_per_msg=%.4f steady_msg_per_s=%.1f "
      "steady_cpu_ms_per_msg=%.4f",
      opt.window == 0 ? "sequential" : "window", opt.window,
      opt.stream      ? "stream"
      : opt.prerender ? "prerendered"
                      : "rendered",
      opt.count, t.accepted, t.refused, wall, opt.count / wall, cpu, cpu * 1000.0 / opt.count,
      rest / steady_wall, steady_cpu * 1000.0 / rest);
  if (!t.first_error.empty()) std::printf(" first_error=\"%s\"", t.first_error.c_str());
  std::printf("\n");
  return t.accepted == opt.count ? 0 : 1;
}
