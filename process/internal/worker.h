// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: internal/worker.h
// -----------------------------------------------------------------------------
//
// PRIVATE to //process:process_pool; not part of the public API. A pool's
// worker process: the messages it exchanges with its manager thread in the
// caller (framed by spindle::Connection; listed at the top of
// process_pool.cc) and its main loop, which the fork server runs in every
// worker it forks.

#ifndef SPINDLE_PROCESS_INTERNAL_WORKER_H_
#define SPINDLE_PROCESS_INTERNAL_WORKER_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "spindle/process/connection.h"

namespace spindle::process_internal {

// ---------------------------------------------------------------------------
// Messages (Connection frames them).

// The head of a task ('T') or chunk ('B', internal/batch.h) message: the
// kind, the invoker, the function.
inline constexpr size_t kTaskPrefix = 1 + 2 * sizeof(uint64_t);

// What the invoker of a task message ('T') is: the type of
// spindle::internal::ProcessInvoker, in process_pool.h, which this library
// cannot include (process_pool.cc checks that the two are the same).
using TaskInvoker = std::string (*)(const void* fn, absl::string_view arg);

// Wraps a worker socket. Both directions carry at most a task message.
Connection WorkerConnection(int fd, size_t max_message);

// Sends `head` and `body` as one message.
absl::Status SendMessage(Connection& conn, absl::string_view head,
                         absl::string_view body);

// ---------------------------------------------------------------------------
// Child processes.

struct WorkerConfig {
  size_t max_message;
  absl::Status (*initializer)();
};

// Ends a child process of the pool (the fork server or a worker): flushes
// stdio, then _exit(code).
[[noreturn]] void ExitChild(int code);

// A just-forked worker (single-threaded), given its end of the socket to the
// caller: runs the initializer, says it is ready, then runs the tasks it is
// sent, one message at a time (a chunk message: its items in order, up to
// the first that throws), until told to exit or the socket fails; then
// exits.
[[noreturn]] void WorkerMain(int fd, const WorkerConfig& config);

}  // namespace spindle::process_internal

#endif  // SPINDLE_PROCESS_INTERNAL_WORKER_H_
