#include "spindle/process/connection.h"

#include "gtest/gtest.h"
#include "spindle/concurrency/status.h"
#include "spindle/process/process.h"
#include "tests/test_util.h"

namespace spindle {
namespace {

TEST(ConnectionTest, DuplexSendsBothWays) {
  auto pipe = Pipe();
  ASSERT_TRUE(pipe.ok()) << pipe.status();
  auto& [a, b] = *pipe;
  ASSERT_OK(a.SendBytes("ping"));
  auto got = b.RecvBytes();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "ping");
  ASSERT_OK(b.SendBytes("pong"));
  got = a.RecvBytes();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "pong");
}

}  // namespace
}  // namespace spindle
