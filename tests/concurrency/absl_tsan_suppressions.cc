// Copyright 2026 The spindle Authors.
//
// ThreadSanitizer suppressions for a known false positive inside Abseil
// LTS 20220623's absl::Mutex, compiled into the tests that link this
// library (alwayslink), so no TSAN_OPTIONS or suppressions file is needed.
//
// absl::Mutex tells TSan to ignore the synchronisation inside its own slow
// paths (it annotates the lock as a whole instead). A thread's first blocking
// wait creates its per-thread semaphore (Waiter::Waiter) in such a path, and
// the thread that later wakes it posts to it (Waiter::Post) from another;
// TSan cannot see the ordering and reports an atomic-vs-plain "race" on the
// semaphore word. Upstream: google/sanitizers#953, abseil/abseil-cpp#217 and
// #1239 (the race is confirmed as a false positive there). Only frames inside
// Abseil's per-thread semaphore are suppressed; races in spindle's code and
// in user code are still reported.

extern "C" const char* __tsan_default_suppressions() {
  return "race:absl::*synchronization_internal::Waiter::Post\n"
         "race:absl::*synchronization_internal::Waiter::Waiter\n";
}
