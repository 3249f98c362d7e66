// Checking how a send fails, for the SMTP client's tests.
#pragma once

#include <string>

#include <envoi/error.hpp>
#include <envoi/message.hpp>
#include <envoi/smtp/client.hpp>

namespace envoi::test {

/// Sends `data` and returns the send_error it must throw, after checking that its code is
/// `code` and its step `where`. Records a test failure, and returns an error with an empty
/// report, when the message was sent.
smtp::send_error expect_send_error(smtp::client& c, const envelope& env, std::string data,
                                   errc code, step where);
/// The same for a message sent with the streaming overload.
smtp::send_error expect_send_error(smtp::client& c, const envelope& env, const message& m,
                                   errc code, step where);

}  // namespace envoi::test
