#include "support/send_expectations.hpp"

#include <chrono>
#include <functional>

#include <gtest/gtest.h>

namespace envoi::test {

namespace {

smtp::send_error expect_failure(const std::function<void()>& send, errc code, step where) {
  try {
    send();
  } catch (const smtp::send_error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_EQ(e.step(), where) << e.what();
    return e;
  }
  ADD_FAILURE() << "the message was sent; expected " << make_error_code(code).message()
                << " at step " << to_string(where);
  return smtp::send_error(make_error_code(code), {});
}

}  // namespace

account loopback_account(std::uint16_t port) {
  account a;
  a.sender = mailbox("Clinique du Sud", "sud@example.test");
  a.host = "127.0.0.1";
  a.port = port;
  a.security = security::none;
  a.step_timeout = std::chrono::seconds(5);
  return a;
}

smtp::send_error expect_send_error(smtp::client& c, const envelope& env, std::string data,
                                   errc code, step where) {
  return expect_failure([&] { c.send(env, std::move(data)); }, code, where);
}

smtp::send_error expect_send_error(smtp::client& c, const envelope& env, const message& m,
                                   errc code, step where) {
  return expect_failure([&] { c.send(env, m); }, code, where);
}

}  // namespace envoi::test
