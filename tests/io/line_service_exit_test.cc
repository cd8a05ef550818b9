// Copyright 2026 The spindle Authors.
//
// LineService and the end of the process: exit() with a service still
// running (never destroyed) stops it instead of hanging on its workers; a
// forked child's exit leaves the parent's service alone.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "spindle/io/line_service.h"
#include "tests/io/tcp_test_util.h"
#include "tests/test_util.h"

namespace spindle::io {
namespace {

using tcp_test::Client;

// Set in a forked child before it calls exit(). This handler is registered
// during static initialisation, before spindle registers its own (lazily,
// at the first Start), so it runs after spindle's exit step: the child goes
// through that step, then ends without LeakSanitizer's check, which under
// clang 14 can deadlock in a child forked from a threaded parent (a parent
// thread may have held the allocator's lock at the fork) and would report
// what only the parent's threads refer to.
std::atomic<bool> in_forked_child{false};
[[maybe_unused]] const bool kChildExitInstalled = [] {
  std::atexit([] {
    if (in_forked_child.load()) _exit(0);
  });
  return true;
}();

// A leaked, running service with a client connected: exit(0) must end the
// process (its workers wait for requests; the pools' exit step alone would
// wait for them forever).
TEST(LineServiceExitDeathTest, ExitWithARunningServiceEnds) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        auto* service = new LineService(
            {.server = {.port = 0}, .workers = 2},
            [](Request& r) -> Answer { return std::string(r.line()); });
        if (!service->Start().ok()) std::_Exit(3);
        Client c(service->port());
        c.Send("hello\n");
        if (c.ReadLine() != "hello") std::_Exit(4);
        std::exit(0);  // The service is still running.
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(LineServiceExitTest, ForkedChildExitLeavesTheServiceAlone) {
  LineService service(
      {.server = {.port = 0}, .workers = 2},
      [](Request& r) -> Answer { return std::string(r.line()); });
  ASSERT_TRUE(service.Start().ok());
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    in_forked_child = true;
    std::exit(0);  // Must not try to stop the parent's copy.
  }
  const int status = test_util::WaitChild(pid);
  ASSERT_NE(status, -1) << "the child's exit() hung";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  Client c(service.port());  // The parent's service still serves.
  c.Send("still here\n");
  EXPECT_EQ(c.ReadLine(), "still here");
}

}  // namespace
}  // namespace spindle::io
