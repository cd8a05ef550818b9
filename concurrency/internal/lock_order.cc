// Copyright 2026 The spindle Authors.

#include "spindle/concurrency/internal/lock_order.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "spindle/concurrency/internal/lifecycle.h"

namespace spindle {
namespace internal {

// Tokens are taken in one call and given back in another (or by another
// thread's call), which the thread-safety analysis cannot follow; the calls
// that touch them opt out of it.

namespace {

std::atomic<bool> g_enabled{false};

// Tokens that were still held by some thread when their lock was destroyed,
// kept reachable for the life of the process (see the file comment). One
// table per process: a forked child never touches its parent's (another
// thread may have held its mutex at the fork, and the tokens in it are held
// by threads that do not exist in the child) but starts a fresh one (a
// pthread_atfork child handler renews it; the parent's stays reachable). No
// lock of it is held across fork().
struct KeptTokens {
  absl::Mutex mu;
  std::vector<absl::Mutex*> tokens ABSL_GUARDED_BY(mu);
};

LeakedGlobal<KeptTokens> g_kept;

KeptTokens& Kept() { return g_kept.Get(); }

[[maybe_unused]] const bool kKeptRenewedInChild = [] {
  pthread_atfork(nullptr, nullptr, [] { g_kept.Renew(); });
  return true;
}();

}  // namespace

void WithKeptTokensLockedForTest(absl::FunctionRef<void()> fn) {
  KeptTokens& kept = Kept();
  absl::MutexLock l(&kept.mu);
  fn();
}

bool LockOrderDetectionEnabled() {
  return g_enabled.load(std::memory_order_acquire);
}

void SetLockOrderDetectionEnabled(bool enabled) {
  g_enabled.store(enabled, std::memory_order_release);
}

LockOrderToken::~LockOrderToken() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  const std::thread::id self = std::this_thread::get_id();
  absl::Mutex* token;
  bool held_by_me = false;
  bool held_by_others = false;
  {
    absl::MutexLock l(&mu_);
    token = token_;
    if (token == nullptr) return;
    auto it = std::find(orphans_.begin(), orphans_.end(), self);
    if (it != orphans_.end()) {
      orphans_.erase(it);
      held_by_me = true;
    }
    if (owner_.has_value()) {
      if (*owner_ == self) {
        held_by_me = true;
      } else {
        held_by_others = true;
      }
    }
    held_by_others = held_by_others || !orphans_.empty();
  }
  if (held_by_me) token->ReaderUnlock();
  if (held_by_others) {
    KeptTokens& kept = Kept();
    absl::MutexLock l(&kept.mu);
    kept.tokens.push_back(token);
  } else {
    delete token;
  }
}

bool LockOrderToken::Enter() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  const std::thread::id self = std::this_thread::get_id();
  absl::Mutex* token;
  absl::Mutex* orphan = nullptr;
  {
    absl::MutexLock l(&mu_);
    auto it = std::find(orphans_.begin(), orphans_.end(), self);
    if (it != orphans_.end()) {
      orphans_.erase(it);
      orphan = token_;
    }
    if (!LockOrderDetectionEnabled() ||
        (owner_.has_value() && *owner_ == self)) {
      token = nullptr;
    } else {
      if (token_ == nullptr) token_ = new absl::Mutex();
      token = token_;
    }
  }
  // Outside mu_: the token must never be ordered after an internal mutex.
  if (orphan != nullptr) orphan->ReaderUnlock();
  if (token == nullptr) return false;
  token->ReaderLock();  // Never blocks: nobody takes a token exclusively.
  return true;
}

void LockOrderToken::Abandon() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  absl::Mutex* token;
  {
    absl::MutexLock l(&mu_);
    token = token_;
  }
  token->ReaderUnlock();
}

void LockOrderToken::Acquired(bool entered) {
  absl::MutexLock l(&mu_);
  if (entered) {
    owner_ = std::this_thread::get_id();
  } else {
    owner_.reset();
  }
}

void LockOrderToken::Released() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  const std::thread::id self = std::this_thread::get_id();
  absl::Mutex* token = nullptr;
  {
    absl::MutexLock l(&mu_);
    if (!owner_.has_value()) return;
    if (*owner_ == self) {
      token = token_;
    } else {
      orphans_.push_back(*owner_);
    }
    owner_.reset();
  }
  if (token != nullptr) token->ReaderUnlock();
}

}  // namespace internal
}  // namespace spindle
