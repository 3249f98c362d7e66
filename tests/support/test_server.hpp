// The test mail server (scripts/mail-server) as the C++ tests see it: its settings, read
// from DIR/env.sh where DIR is $ENVOI_TEST_SERVER_DIR, and the Maildir it delivers to.
//
//   TEST(Smtp, SendsThroughSubmission) {
//     auto server = envoi::test::mail_server();
//     if (!server) GTEST_SKIP() << envoi::test::mail_server_skip_reason();
//     ...send one message to server->host : server->submission_port...
//     auto files = envoi::test::wait_for_maildir(*server, 1, std::chrono::seconds(10));
//     ASSERT_EQ(files.size(), 1u);
//     std::string bytes = envoi::test::read_delivered(files[0]);
//   }
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace envoi::test {

/// The file names in a Maildir's new/ folder at one moment, to tell which files arrived
/// later. Postfix writes each delivery in tmp/ and renames it into new/, so a file seen in
/// new/ is complete.
class maildir_snapshot {
 public:
  maildir_snapshot() = default;
  /// Records the files now in `maildir`/new (none when that folder does not exist).
  explicit maildir_snapshot(std::filesystem::path maildir);

  const std::filesystem::path& maildir() const noexcept { return maildir_; }
  /// The files in new/ now that were not there when the snapshot was taken, oldest first.
  std::vector<std::filesystem::path> new_files() const;

 private:
  std::filesystem::path maildir_;
  std::set<std::string> names_;
};

/// The test mail server's settings (the ENVOI_TEST_* values of DIR/env.sh).
struct settings {
  std::filesystem::path dir;          ///< the server's state directory
  std::string host;                   ///< always a loopback address (127.0.0.1)
  std::uint16_t plain_port = 0;       ///< no TLS, no AUTH
  std::uint16_t submission_port = 0;  ///< STARTTLS required, then AUTH required
  std::uint16_t smtps_port = 0;       ///< implicit TLS, then AUTH required
  std::filesystem::path ca;           ///< the CA that signed the server's certificate
  std::filesystem::path other_ca;     ///< an unrelated CA: verification against it fails
  std::string user, password;         ///< clinic@example.test
  std::string user2, password2;       ///< staff@example.test (password with ':' and UTF-8)
  std::filesystem::path maildir;      ///< the Maildir every accepted recipient lands in
  std::filesystem::path postfix_log;  ///< Postfix's log, for a failing test to show
  /// The Maildir as it was when these settings were read; wait_for_maildir(settings, ...)
  /// counts from here. Take a new one with `s.baseline = take_maildir_snapshot(s)`.
  maildir_snapshot baseline;
};

/// Reads DIR/env.sh. Throws std::runtime_error naming the file and the problem when it is
/// missing, unreadable, or lacks a value.
settings read_settings(const std::filesystem::path& dir);

/// The running test server's settings, from $ENVOI_TEST_SERVER_DIR/env.sh; nullopt when the
/// variable is unset or the file cannot be read (mail_server_skip_reason() says why).
std::optional<settings> mail_server();

/// Why mail_server() returns nullopt, in words fit for GTEST_SKIP().
std::string mail_server_skip_reason();

/// The files in the server's Maildir now, to compare with later.
maildir_snapshot take_maildir_snapshot(const settings& server);

/// Polls `before.maildir()`/new until at least `count` files arrived after `before` was
/// taken, or `limit` has passed. Returns the new files, oldest first: fewer than `count`
/// only on time-out.
std::vector<std::filesystem::path> wait_for_maildir(const maildir_snapshot& before,
                                                    std::size_t count, std::chrono::seconds limit);

/// The same, counting from `server.baseline` (taken when the settings were read).
std::vector<std::filesystem::path> wait_for_maildir(const settings& server, std::size_t count,
                                                    std::chrono::seconds limit);

/// A delivered file's bytes, exactly as stored (LF line ends, Postfix's trace headers
/// Return-Path, X-Original-To, Delivered-To and Received first). Throws std::runtime_error
/// when the file cannot be read.
std::string read_delivered(const std::filesystem::path& file);

/// The bytes the client sent after DATA (dot-stuffing undone), recovered from a delivered
/// file: the trace headers Postfix put in front dropped and LF turned back into CRLF.
std::string sent_message(std::string_view delivered);

/// The value of the first header `name` (case-insensitive) in a message, unfolded, or
/// nullopt when there is none.
std::optional<std::string> header_value(std::string_view message, std::string_view name);

/// The delivered files whose Delivered-To header is `address` (case-insensitive).
std::vector<std::filesystem::path> delivered_to(const std::vector<std::filesystem::path>& files,
                                                std::string_view address);

}  // namespace envoi::test
