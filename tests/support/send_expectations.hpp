// Checking how a send fails, and the account that talks to a scripted peer, for the SMTP
// client's tests.
#pragma once

#include <cstdint>
#include <string>

#include <envoi/account.hpp>
#include <envoi/error.hpp>
#include <envoi/message.hpp>
#include <envoi/smtp/client.hpp>

namespace envoi::test {

/// An account for a scripted peer on 127.0.0.1:`port`: plain TCP (security none), no
/// login, the sender sud@example.test, 5 s per step.
account loopback_account(std::uint16_t port);

/// Sends `data` and returns the send_error it must throw, after checking that its code is
/// `code` and its step `where`. Records a test failure, and returns an error with an empty
/// report, when the message was sent.
smtp::send_error expect_send_error(smtp::client& c, const envelope& env, std::string data,
                                   errc code, step where);
/// The same for a message sent with the streaming overload.
smtp::send_error expect_send_error(smtp::client& c, const envelope& env, const message& m,
                                   errc code, step where);

}  // namespace envoi::test
