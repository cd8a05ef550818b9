// Copyright 2026 The spindle Authors.
//
// ThreadSanitizer defaults for the future / thread pool tests.
//
// absl::Mutex hides most of its internal synchronisation from tsan, and
// Abseil recycles a finished thread's identity (with the futex word of its
// per-thread semaphore) for the next thread it sees. tsan then reports a
// "race" between that atomic futex word and the identity's re-initialisation
// (a known false positive: google/sanitizers#953, abseil/abseil-cpp#217).
// The documented workaround is report_atomic_races=0; races between plain
// accesses, which is what a bug in spindle's own code would be, are still
// reported. TSAN_OPTIONS from the environment is applied on top of this.
// (Belongs in .bazelrc's test:tsan TSAN_OPTIONS; kept here until it is.)

extern "C" const char* __tsan_default_options() {
  return "report_atomic_races=0";
}
