#include "support/test_server.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>

namespace envoi::test {
namespace fs = std::filesystem;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// The value of a shell assignment's right-hand side, as the shell would read it: runs of
// 'single-quoted', "double-quoted" and bare text, with \ escapes outside single quotes.
// A '#' after a blank starts a comment.
std::string shell_unquote(std::string_view text, const fs::path& file) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c == '\'') {
      std::size_t end = text.find('\'', i + 1);
      if (end == std::string_view::npos)
        throw std::runtime_error(file.string() + ": unterminated ' in a value");
      out.append(text.substr(i + 1, end - i - 1));
      i = end + 1;
    } else if (c == '"') {
      ++i;
      while (i < text.size() && text[i] != '"') {
        if (text[i] == '\\' && i + 1 < text.size() &&
            std::string_view("$`\"\\").find(text[i + 1]) != std::string_view::npos)
          ++i;
        out.push_back(text[i++]);
      }
      if (i >= text.size())
        throw std::runtime_error(file.string() + ": unterminated \" in a value");
      ++i;
    } else if (c == '\\' && i + 1 < text.size()) {
      out.push_back(text[i + 1]);
      i += 2;
    } else if (c == ' ' || c == '\t') {
      break;  // the rest is a comment or another word: env.sh never has those
    } else {
      out.push_back(c);
      ++i;
    }
  }
  return out;
}

std::map<std::string, std::string> read_env_file(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read " + file.string());
  std::map<std::string, std::string> values;
  std::string line;
  while (std::getline(in, line)) {
    std::string_view l = trim(line);
    if (l.starts_with("export ")) l = trim(l.substr(7));
    if (l.empty() || l.front() == '#') continue;
    auto eq = l.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    values[std::string(l.substr(0, eq))] = shell_unquote(l.substr(eq + 1), file);
  }
  return values;
}

std::uint16_t to_port(const std::string& text, const fs::path& file, std::string_view key) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535)
    throw std::runtime_error(file.string() + ": " + std::string(key) + " is not a port: '" + text +
                             "'");
  return static_cast<std::uint16_t>(value);
}

std::string& skip_reason() {
  static std::string reason;
  return reason;
}

}  // namespace

// --- Maildir -------------------------------------------------------------------------------

maildir_snapshot::maildir_snapshot(fs::path maildir) : maildir_(std::move(maildir)) {
  std::error_code ec;
  for (fs::directory_iterator it(maildir_ / "new", ec), end; !ec && it != end; it.increment(ec))
    names_.insert(it->path().filename().string());
}

std::vector<fs::path> maildir_snapshot::new_files() const {
  std::vector<std::pair<fs::file_time_type, fs::path>> found;
  std::error_code ec;
  for (fs::directory_iterator it(maildir_ / "new", ec), end; !ec && it != end; it.increment(ec)) {
    if (names_.contains(it->path().filename().string())) continue;
    std::error_code time_ec;
    auto when = fs::last_write_time(it->path(), time_ec);
    found.emplace_back(time_ec ? fs::file_time_type::min() : when, it->path());
  }
  std::sort(found.begin(), found.end());
  std::vector<fs::path> files;
  files.reserve(found.size());
  for (auto& [when, path] : found) files.push_back(std::move(path));
  return files;
}

maildir_snapshot take_maildir_snapshot(const settings& server) {
  return maildir_snapshot(server.maildir);
}

std::vector<fs::path> wait_for_maildir(const maildir_snapshot& before, std::size_t count,
                                       std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto files = before.new_files();
    if (files.size() >= count || std::chrono::steady_clock::now() >= deadline) return files;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::vector<fs::path> wait_for_maildir(const settings& server, std::size_t count,
                                       std::chrono::seconds limit) {
  return wait_for_maildir(server.baseline, count, limit);
}

// --- settings ------------------------------------------------------------------------------

settings read_settings(const fs::path& dir) {
  fs::path file = dir / "env.sh";
  auto values = read_env_file(file);
  auto get = [&](std::string_view key) -> const std::string& {
    auto it = values.find("ENVOI_TEST_" + std::string(key));
    if (it == values.end() || it->second.empty())
      throw std::runtime_error(file.string() + " has no ENVOI_TEST_" + std::string(key));
    return it->second;
  };
  settings s;
  s.dir = dir;
  s.host = get("HOST");
  s.plain_port = to_port(get("PLAIN_PORT"), file, "ENVOI_TEST_PLAIN_PORT");
  s.submission_port = to_port(get("SUBMISSION_PORT"), file, "ENVOI_TEST_SUBMISSION_PORT");
  s.smtps_port = to_port(get("SMTPS_PORT"), file, "ENVOI_TEST_SMTPS_PORT");
  s.ca = get("CA");
  s.other_ca = get("OTHER_CA");
  s.user = get("USER");
  s.password = get("PASSWORD");
  s.user2 = get("USER2");
  s.password2 = get("PASSWORD2");
  s.maildir = get("MAILDIR");
  if (auto it = values.find("ENVOI_TEST_POSTFIX_LOG"); it != values.end())
    s.postfix_log = it->second;
  s.baseline = maildir_snapshot(s.maildir);
  return s;
}

std::optional<settings> mail_server() {
  const char* dir = std::getenv("ENVOI_TEST_SERVER_DIR");
  if (dir == nullptr || *dir == '\0') {
    skip_reason() =
        "no test mail server: ENVOI_TEST_SERVER_DIR is not set (run the tests with ctest, "
        "as root, so that the mail_server fixture starts scripts/mail-server)";
    return std::nullopt;
  }
  try {
    return read_settings(dir);
  } catch (const std::exception& e) {
    skip_reason() = std::string("no test mail server: ") + e.what() +
                    " (start it with: scripts/mail-server start " + dir + ")";
    return std::nullopt;
  }
}

std::string mail_server_skip_reason() {
  return skip_reason().empty() ? std::string("the test mail server is available") : skip_reason();
}

// --- delivered messages --------------------------------------------------------------------

std::string read_delivered(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read delivered file " + file.string());
  std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) throw std::runtime_error("error reading delivered file " + file.string());
  return bytes;
}

std::string sent_message(std::string_view delivered) {
  // Postfix puts Return-Path, X-Original-To and Delivered-To (virtual(8)), then its own
  // Received header (smtpd, possibly folded) in front of what the client sent.
  std::size_t pos = 0;
  bool in_received = false;
  while (pos < delivered.size()) {
    std::size_t eol = delivered.find('\n', pos);
    std::size_t next = eol == std::string_view::npos ? delivered.size() : eol + 1;
    std::string_view line = delivered.substr(pos, next - pos);
    bool continuation = !line.empty() && (line.front() == ' ' || line.front() == '\t');
    if (in_received && continuation) {
      pos = next;
      continue;
    }
    if (in_received) break;  // the first line after the Received header
    auto colon = line.find(':');
    std::string_view name = colon == std::string_view::npos ? "" : line.substr(0, colon);
    if (iequals(name, "Return-Path") || iequals(name, "X-Original-To") ||
        iequals(name, "Delivered-To")) {
      pos = next;
    } else if (iequals(name, "Received")) {
      in_received = true;
      pos = next;
    } else {
      break;
    }
  }
  std::string out;
  out.reserve(delivered.size() - pos + (delivered.size() - pos) / 40);
  for (std::size_t i = pos; i < delivered.size(); ++i) {
    if (delivered[i] == '\n' && (i == 0 || delivered[i - 1] != '\r')) out.push_back('\r');
    out.push_back(delivered[i]);
  }
  return out;
}

std::optional<std::string> header_value(std::string_view message, std::string_view name) {
  std::size_t pos = 0;
  while (pos < message.size()) {
    std::size_t eol = message.find('\n', pos);
    std::size_t next = eol == std::string_view::npos ? message.size() : eol + 1;
    std::string_view line = message.substr(pos, next - pos);
    if (line == "\n" || line == "\r\n") return std::nullopt;  // the body starts
    auto colon = line.find(':');
    if (colon != std::string_view::npos && iequals(line.substr(0, colon), name)) {
      std::string value(trim(line.substr(colon + 1)));
      // unfold: continuation lines start with a blank
      while (next < message.size() && (message[next] == ' ' || message[next] == '\t')) {
        std::size_t e = message.find('\n', next);
        std::size_t n = e == std::string_view::npos ? message.size() : e + 1;
        std::string_view more = message.substr(next, n - next);
        while (!more.empty() && (more.back() == '\n' || more.back() == '\r')) more.remove_suffix(1);
        value += more;
        next = n;
      }
      while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
      return value;
    }
    pos = next;
  }
  return std::nullopt;
}

std::vector<fs::path> delivered_to(const std::vector<fs::path>& files, std::string_view address) {
  std::vector<fs::path> matching;
  for (const auto& file : files) {
    std::string bytes;
    try {
      bytes = read_delivered(file);
    } catch (const std::runtime_error&) {
      continue;
    }
    auto value = header_value(bytes, "Delivered-To");
    if (value && iequals(trim(*value), address)) matching.push_back(file);
  }
  return matching;
}

}  // namespace envoi::test
