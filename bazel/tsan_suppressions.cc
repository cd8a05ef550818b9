// Copyright 2026 The spindle Authors.
//
// ThreadSanitizer suppression for one known false positive inside Abseil LTS
// 20220623's absl::Mutex, linked into every spindle target (see
// bazel/spindle.bzl) and compiled only under ThreadSanitizer.
//
// absl::Mutex tells TSan to ignore the synchronisation inside its own slow
// paths (the lock as a whole is annotated instead). A thread's first blocking
// wait creates its per-thread semaphore (synchronization_internal::Waiter) in
// such a path, Abseil recycles that identity for later threads, and the thread
// that wakes a sleeper posts to its semaphore (Waiter::Post). TSan cannot see
// the ordering the Mutex's own queue provides and reports an atomic-vs-plain
// "race" on the semaphore word. Upstream: google/sanitizers#953,
// abseil/abseil-cpp#217 and #1239 (confirmed false positive there).
//
// Only frames inside Abseil's Waiter are suppressed: races in spindle's code
// and in users' code are still reported. A suppression matches symbolized
// frames, and TSan starts its symbolizer (a subprocess on a socket pair) at
// the first report: a process that has run out of file descriptors by then
// reports this false positive unsymbolized and unsuppressed. Run such a
// process with TSAN_OPTIONS=report_atomic_races=0 (the class this false
// positive belongs to), as tests/integration/job_server_test.py does for its
// low `ulimit -n` server. A binary that needs suppressions of
// its own should use a suppressions file (TSAN_OPTIONS=suppressions=...):
// defining __tsan_default_suppressions a second time fails to link.

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SPINDLE_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define SPINDLE_TSAN 1
#endif

#ifdef SPINDLE_TSAN
extern "C" const char* __tsan_default_suppressions() {
  return "race:absl::*synchronization_internal::Waiter::\n";
}
#endif
