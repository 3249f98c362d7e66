// Throughput of the body encoders: base64 for attachments, quoted-printable for text.
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>

#include <benchmark/benchmark.h>

#include "french_text.hpp"
#include "mime/encoding.hpp"

namespace {

std::string random_bytes(std::size_t size) {
  std::mt19937_64 rng(42);
  std::string s(size, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xFF);
  return s;
}

// The output string is reused, as when several attachments go into one rendering; its
// capacity is kept, so this measures the encoder, not page faults of a fresh buffer.
void base64_lines(benchmark::State& state) {
  const std::string data = random_bytes(static_cast<std::size_t>(state.range(0)));
  std::string out;
  for (auto _ : state) {
    out.clear();
    envoi::mime::append_base64_lines(out, data);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(data.size()));
}
BENCHMARK(base64_lines)->Arg(1 << 20)->Arg(16 << 20)->Unit(benchmark::kMicrosecond);

// The same into a new string each time, as render() does for a message's first bytes.
void base64_lines_fresh_buffer(benchmark::State& state) {
  const std::string data = random_bytes(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    std::string out;
    envoi::mime::append_base64_lines(out, data);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(data.size()));
}
BENCHMARK(base64_lines_fresh_buffer)->Arg(1 << 20)->Arg(16 << 20)->Unit(benchmark::kMicrosecond);

// Quoted-printable of French text: the reminder body itself, then longer letters.
void quoted_printable_french(benchmark::State& state) {
  const std::string text = envoi::bench::french_text(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    std::string out = envoi::mime::quoted_printable(text);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(text.size()));
}
BENCHMARK(quoted_printable_french)->Arg(1900)->Arg(64 << 10)->Arg(1 << 20);

}  // namespace
