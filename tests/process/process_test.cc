#include "spindle/process/process.h"

#include <signal.h>
#include <unistd.h>

#include "gtest/gtest.h"
#include "spindle/concurrency/status.h"
#include "spindle/process/connection.h"
#include "tests/test_util.h"

namespace spindle {
namespace {

using test_util::kBound;

TEST(ProcessTest, VoidFunctionExitsZero) {
  Process p([] {});
  ASSERT_OK(p.Start());
  ASSERT_TRUE(p.JoinFor(kBound));
  EXPECT_EQ(p.exitcode(), 0);
}

TEST(ProcessTest, ReturnedIntIsTheExitCode) {
  Process p([](int n) { return n; }, 7);
  ASSERT_OK(p.Start());
  ASSERT_TRUE(p.JoinFor(kBound));
  EXPECT_EQ(p.exitcode(), 7);
}

}  // namespace
}  // namespace spindle
