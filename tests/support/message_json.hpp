// What tests/tools/check_message.py expects to find in a message, written as JSON.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <envoi/mailbox.hpp>

namespace envoi::test {

/// The SHA-256 of `data`, in lower-case hexadecimal.
std::string sha256_hex(std::string_view data);

/// A JSON string literal: UTF-8 passes through, quotes and backslashes are escaped and
/// control characters become \u escapes.
std::string json_string(std::string_view s);

/// `{"name": ..., "address": ...}`. For an internationalised domain the address is the
/// A-label form the mailbox holds.
std::string json_mailbox(const mailbox& m);

/// A JSON array of json_mailbox().
std::string json_mailboxes(const std::vector<mailbox>& list);

}  // namespace envoi::test
