#include "support/send_expectations.hpp"

#include <gtest/gtest.h>

namespace envoi::test {

smtp::send_error expect_send_error(smtp::client& c, const envelope& env, std::string data,
                                   errc code, step where) {
  try {
    c.send(env, std::move(data));
  } catch (const smtp::send_error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_EQ(e.step(), where) << e.what();
    return e;
  }
  ADD_FAILURE() << "the message was sent; expected " << make_error_code(code).message()
                << " at step " << to_string(where);
  return smtp::send_error(make_error_code(code), {});
}

}  // namespace envoi::test
