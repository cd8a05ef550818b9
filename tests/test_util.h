// Copyright 2026 The spindle Authors.
//
// Helpers shared by spindle's tests (design.md section 8): one bound for
// every blocking wait, so that a bug fails a test instead of hanging it, and
// the small waiting and status-checking tools built on it.
//
// The namespace is spindle::test_util rather than spindle::testing: a nested
// `testing` would hide ::testing from unqualified `testing::...` in the
// tests, which live in namespace spindle.

#ifndef SPINDLE_TESTS_TEST_UTIL_H_
#define SPINDLE_TESTS_TEST_UTIL_H_

#include <dirent.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <cerrno>
#include <thread>

#include "absl/base/internal/raw_logging.h"
#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

// ASSERT_OK(expr) / EXPECT_OK(expr): `expr` is an absl::Status that must be
// OK; the message names the expression and the status.
#define ASSERT_OK(expr)                          \
  do {                                           \
    const absl::Status _s = (expr);              \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s; \
  } while (0)
#define EXPECT_OK(expr)                          \
  do {                                           \
    const absl::Status _s = (expr);              \
    EXPECT_TRUE(_s.ok()) << #expr << ": " << _s; \
  } while (0)

namespace spindle::test_util {

// Every blocking wait in the tests is bounded by this, so that a bug fails
// the test instead of hanging it.
inline constexpr absl::Duration kBound = absl::Seconds(30);

// The number of file descriptors this process has open now (for leak
// checks: compare before and after).
inline int CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  ABSL_RAW_CHECK(dir != nullptr, "opendir(/proc/self/fd)");
  int n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // The DIR's own descriptor.
}
// How long we watch a thread to confirm it is (still) blocked. Waiting is
// the point of such checks; a bug shows up as the thread getting through.
inline constexpr absl::Duration kBlockedFor = absl::Milliseconds(100);

// A gate tasks block on until the test opens it (bounded: a test that
// forgets to open it fails instead of hanging).
struct Gate {
  absl::Notification open;
  void Pass() const { open.WaitForNotificationWithTimeout(kBound); }
};

// Submits to `pool` (a ThreadPoolExecutor or anything with its Submit) a
// task that blocks on `gate`, and waits until it runs; returns its future.
template <typename Pool>
auto StartBlocker(Pool& pool, const Gate& gate) {
  absl::Notification started;
  auto f = pool.Submit([&started, &gate] {
    started.Notify();
    gate.Pass();
  });
  EXPECT_TRUE(started.WaitForNotificationWithTimeout(kBound));
  return f;
}

// Counts threads past some point; waits, bounded, for a count.
class Counter {
 public:
  void Increment() {
    absl::MutexLock l(&mu_);
    ++n_;
  }
  int value() {
    absl::MutexLock l(&mu_);
    return n_;
  }
  bool WaitFor(int n, absl::Duration bound = kBound) {
    absl::MutexLock l(&mu_);
    auto reached = [this, n]() {
      mu_.AssertReaderHeld();
      return n_ >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), bound);
  }

 private:
  absl::Mutex mu_;
  int n_ ABSL_GUARDED_BY(mu_) = 0;
};

// Spins (yielding) until `pred()` holds; false if it still does not after
// `bound`.
template <typename P>
bool Eventually(P pred, absl::Duration bound = kBound) {
  const absl::Time deadline = absl::Now() + bound;
  while (!pred()) {
    if (absl::Now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// Spins (yielding, bounded) until `n` threads wait on `w` (an Event,
// Condition, Barrier: anything with n_waiting()).
template <typename Waitable>
bool WaitForWaiters(const Waitable& w, int n, absl::Duration bound = kBound) {
  return Eventually([&w, n] { return w.n_waiting() >= n; }, bound);
}

// Waits (yielding, bounded) for child process `pid` to end: its wait
// status; -1 after killing it (SIGKILL) if it did not end within `bound` (a
// hang); -2 if waitpid failed.
inline int WaitChild(pid_t pid, absl::Duration bound = kBound) {
  const absl::Time deadline = absl::Now() + bound;
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return -2;
    if (absl::Now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::yield();
  }
}

}  // namespace spindle::test_util

#endif  // SPINDLE_TESTS_TEST_UTIL_H_
