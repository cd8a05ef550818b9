// Copyright 2026 The spindle Authors.
//
// event_signal: the seed's Event demo, ported.
//
// Thread "foo" prints the event's state and blocks in Wait(); thread "bar"
// does some work (the seed sleeps 2 s; we take 0.3 s) and then Set()s the
// event, which wakes foo. Everything bar did before Set() is visible to foo
// after Wait() returns (happens-before), so foo can read bar's result
// without any other synchronisation.
//
//   bazel run //examples:event_signal

#include <cstdio>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spindle/concurrency/event.h"
#include "spindle/concurrency/thread.h"

int main() {
  spindle::Event e;
  std::string result;  // Written by bar before Set(), read by foo after Wait().

  spindle::Thread foo({.name = "foo"}, [&] {
    std::printf("foo: event is %s\n", e.IsSet() ? "set" : "not set");
    std::printf("foo: waiting...\n");
    // Bounded, so the demo always ends: a real program could use Wait().
    if (e.WaitFor(absl::Seconds(10))) {
      std::printf("foo: event is %s\n", e.IsSet() ? "set" : "not set");
      std::printf("foo: got the signal, ok (bar says: %s)\n", result.c_str());
    } else {
      std::printf("foo: gave up waiting\n");
    }
  });
  spindle::Thread bar({.name = "bar"}, [&] {
    absl::SleepFor(absl::Milliseconds(300));  // The seed's time.sleep(2).
    result = "work done";
    std::printf("bar: setting the event\n");
    e.Set();
  });

  if (!foo.Start().ok() || !bar.Start().ok()) return 1;
  foo.Join();
  bar.Join();
  return e.IsSet() ? 0 : 1;
}
