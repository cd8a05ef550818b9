// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: internal/lock_order.h
// -----------------------------------------------------------------------------
//
// Private helper of `Lock` and `RLock`: connects spindle's locks to Abseil's
// lock-order graph (the deadlock detector of `absl::Mutex`). Users switch it
// on with `spindle::SetLockOrderDetection()` in lock.h; nothing here is
// public API.
//
// How it works. Abseil records, for every `absl::Mutex` a thread acquires,
// an edge from each mutex the thread already holds, and reports a cycle in
// that graph as a potential deadlock. A spindle lock's own internal mutex is
// held only for a few instructions, so Abseil never sees the lock "held".
// Each lock therefore owns a *token*: an `absl::Mutex` that the acquiring
// thread takes in shared mode for as long as it holds the lock. Nobody ever
// takes a token exclusively, so taking one never blocks; it only feeds the
// graph. The token is taken *before* the thread blocks on the lock, so an
// inverted order is reported before the threads hang.
//
// A Python `Lock` may be released by a thread other than the one that
// acquired it. The token is a per-thread fact for Abseil, so the releasing
// thread cannot give it back; the acquirer's token is then "orphaned" and
// the acquiring thread gives it back the next time it uses the same lock. A
// token still held by some other thread when the lock is destroyed is kept
// (reachable, never freed) instead of destroying a held `absl::Mutex`.
//
// Fork. The table of kept tokens is per process: a forked child starts a
// fresh one and never takes the parent's lock (which another thread may have
// held at the fork). A token's own state is per lock, like the lock itself:
// a lock that another thread held or was using at the fork is unusable in
// the child (see process.h, "Fork and threads").

#ifndef SPINDLE_CONCURRENCY_INTERNAL_LOCK_ORDER_H_
#define SPINDLE_CONCURRENCY_INTERNAL_LOCK_ORDER_H_

#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"

namespace spindle {
namespace internal {

// For spindle's own tests: runs `fn` while holding the lock of the table of
// kept tokens (see the file comment).
void WithKeptTokensLockedForTest(absl::FunctionRef<void()> fn);

// True while spindle's locks take part in Abseil's lock-order graph.
bool LockOrderDetectionEnabled();
void SetLockOrderDetectionEnabled(bool enabled);

class LockOrderToken {
 public:
  LockOrderToken() = default;
  LockOrderToken(const LockOrderToken&) = delete;
  LockOrderToken& operator=(const LockOrderToken&) = delete;
  ~LockOrderToken();

  // Called by a thread about to acquire the lock, before it may block.
  // Returns true when the calling thread took the token; it must then call
  // `Acquired(true)` or `Abandon()`. Returns false when detection is off or
  // the calling thread already holds the token.
  bool Enter();
  // The acquire that followed a successful `Enter` failed (timeout).
  void Abandon();
  // The calling thread now holds the lock; `entered` is what `Enter`
  // returned.
  void Acquired(bool entered);
  // The calling thread releases the lock (it may not be the acquirer).
  void Released();

 private:
  absl::Mutex mu_;
  // The thread holding the token for the current holding of the lock.
  std::optional<std::thread::id> owner_ ABSL_GUARDED_BY(mu_);
  // Threads whose token outlived their holding (released by another thread).
  std::vector<std::thread::id> orphans_ ABSL_GUARDED_BY(mu_);
  // Created on first use; never destroyed while another thread holds it.
  absl::Mutex* token_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace internal
}  // namespace spindle

#endif  // SPINDLE_CONCURRENCY_INTERNAL_LOCK_ORDER_H_
