// Copyright 2026 The spindle Authors.
//
// Tests for the lock-order tokens of spindle's locks
// (concurrency/internal/lock_order.h) across fork().

#include "spindle/concurrency/internal/lock_order.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace spindle {
namespace {

using test_util::kBound;

// A forked child that destroys a token another thread of the parent held
// (so the token goes to the table of kept tokens) does not hang, although a
// third thread held that table's lock when the child was forked: the child
// has a table of its own.
TEST(LockOrderTokenTest, ChildKeepsTokensWhileAnotherThreadHeldTheTable) {
  internal::SetLockOrderDetectionEnabled(true);
  auto* token = new internal::LockOrderToken;
  absl::Notification entered, done_with_token;
  std::thread owner([&] {
    const bool took = token->Enter();
    token->Acquired(took);
    entered.Notify();
    (void)done_with_token.WaitForNotificationWithTimeout(kBound);
    token->Released();
  });
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(kBound));
  absl::Notification held, release;
  std::thread holder([&] {
    internal::WithKeptTokensLockedForTest([&] {
      held.Notify();
      (void)release.WaitForNotificationWithTimeout(kBound);
    });
  });
  ASSERT_TRUE(held.WaitForNotificationWithTimeout(kBound));

  int report[2];
  ASSERT_EQ(pipe(report), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(report[0]);
    delete token;  // Held by `owner`, a thread the child does not have.
    const char c = 'k';
    _exit(write(report[1], &c, 1) == 1 ? 0 : 1);
  }
  close(report[1]);
  struct pollfd p = {report[0], POLLIN, 0};
  char c = 0;
  const bool reported =
      poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(kBound))) == 1 &&
      read(report[0], &c, 1) == 1 && c == 'k';
  close(report[0]);
  if (!reported) kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(reported) << "the child hung destroying the token";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;

  release.Notify();
  holder.join();
  done_with_token.Notify();
  owner.join();
  delete token;
  internal::SetLockOrderDetectionEnabled(false);
}

}  // namespace
}  // namespace spindle
