// Peak memory of sending a message with a 25 MB attachment: the message is rendered as a
// stream into one end of a socket pair while a thread drains the other end, and the
// process's peak resident size is compared with its size before rendering. With `csv`, the
// attachment is a UTF-8 CSV file, which rendering reads through once more to find its
// charset before the message is streamed.
//
//   envoi_stream_memory [ATTACHMENT_MB] [csv]     prints the figures; exits 1 over 4 MiB
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <envoi/message.hpp>

namespace {

// Resident size now, from /proc (in KiB).
long resident_kib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

long peak_kib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  const long megabytes = argc > 1 ? std::atol(argv[1]) : 25;
  const bool csv = argc > 2 && std::string(argv[2]) == "csv";
  const auto path = std::filesystem::temp_directory_path() /
                    ("envoi-memory-" + std::to_string(::getpid()) + (csv ? ".csv" : ".pdf"));
  {
    std::ofstream out(path, std::ios::binary);
    std::string block(1 << 20, '\0');
    if (csv) {
      // Rows of 32 octets, é and its two octets included: 32,768 to the MiB.
      const std::string row = "Dupont;Médor;2026-12-08;14h30\r\n";
      for (std::size_t i = 0; i < block.size(); ++i) block[i] = row[i % row.size()];
    } else {
      for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>(i * 31 % 251);
    }
    for (long i = 0; i < megabytes; ++i) out << block;
  }

  envoi::message m;
  m.from(envoi::mailbox("Clinique vétérinaire du Sud", "sud@example.test"))
      .add_to(envoi::mailbox("Dupont, Hélène", "helene@example.test"))
      .subject("Relevé de l'été")
      .text("Bonjour,\nVeuillez trouver ci-joint le relevé.\n")
      .attach(envoi::attachment::from_file(
          path, csv ? "rendez-vous été 2026.csv" : "relevé été 2026 – Médor.pdf"));

  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return 2;
  std::thread drain([fd = fds[1]] {
    char buffer[65536];
    while (::read(fd, buffer, sizeof buffer) > 0) {
    }
  });

  // The baseline: everything is set up, nothing rendered. /proc's peak is reset so that
  // the figure below is the peak of the rendering alone.
  std::ofstream("/proc/self/clear_refs") << "5";
  const long before = resident_kib();
  auto stream = m.render_stream();
  const auto size = stream.size();
  std::uint64_t sent = 0;
  for (std::string chunk; stream.next(chunk); chunk.clear()) {
    for (std::size_t off = 0; off < chunk.size();) {
      const auto n = ::write(fds[0], chunk.data() + off, chunk.size() - off);
      if (n <= 0) return 2;
      off += static_cast<std::size_t>(n);
    }
    sent += chunk.size();
  }
  ::close(fds[0]);
  drain.join();
  ::close(fds[1]);
  const long peak = peak_kib();
  std::filesystem::remove(path);

  const long above = peak - before;
  std::printf("attachment %ld MiB, message %llu bytes (announced %llu)\n", megabytes,
              static_cast<unsigned long long>(sent), static_cast<unsigned long long>(size));
  std::printf("resident before %ld KiB, peak while rendering %ld KiB: %ld KiB above\n", before,
              peak, above);
  return sent == size && above < 4096 ? 0 : 1;
}
