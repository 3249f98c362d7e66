// Rendering a French appointment reminder: the message envoi sends most.
#include <chrono>
#include <string>

#include <benchmark/benchmark.h>

#include <envoi/mailbox.hpp>
#include <envoi/message.hpp>

#include "french_text.hpp"

namespace {

// Like reminders::make_reminder's message, with the longer body the workload A of
// docs' perf anchors uses: accented subject and names, ~1.9 KB body sent quoted-printable.
envoi::message make_reminder() {
  envoi::message m;
  m.from(envoi::mailbox("Clinique vétérinaire des Érables", "rappels@erables-veto.fr"));
  m.add_to(envoi::mailbox("Hélène Lefèvre-Doré", "helene.lefevre@exemple.fr"));
  m.subject("Rappel : rendez-vous de Câline le mardi 8 décembre 2026 à 14 h 30");
  m.text(envoi::bench::reminder_body());
  // Fixed, so that every iteration renders the same bytes.
  m.date(std::chrono::system_clock::time_point(std::chrono::seconds(1796740200)));
  m.message_id("20261208143000.4f2a9c@erables-veto.fr");
  return m;
}

// render() alone, on a message built once.
void render_reminder(benchmark::State& state) {
  const envoi::message m = make_reminder();
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string out = m.render();
    bytes += out.size();
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters["wire_bytes"] = static_cast<double>(make_reminder().render().size());
}
BENCHMARK(render_reminder);

// Building the message (setters check and copy every field) and rendering it, as a loop
// sending one reminder per appointment does. Date and Message-ID are left to render(),
// which then reads the clock and draws a random identifier.
void build_and_render_reminder(benchmark::State& state) {
  const std::string& body = envoi::bench::reminder_body();
  std::size_t bytes = 0;
  for (auto _ : state) {
    envoi::message m;
    m.from(envoi::mailbox("Clinique vétérinaire des Érables", "rappels@erables-veto.fr"));
    m.add_to(envoi::mailbox("Hélène Lefèvre-Doré", "helene.lefevre@exemple.fr"));
    m.subject("Rappel : rendez-vous de Câline le mardi 8 décembre 2026 à 14 h 30");
    m.text(body);
    std::string out = m.render();
    bytes += out.size();
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(build_and_render_reminder);

}  // namespace
