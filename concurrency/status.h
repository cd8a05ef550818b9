// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: status.h
// -----------------------------------------------------------------------------
//
// The error vocabulary shared by every spindle API. Expected outcomes of
// normal operation (a queue that is empty, a wait that timed out, an object
// used after shutdown) are returned as `absl::Status` with the codes below,
// and callers test them with the predicates here instead of comparing
// strings:
//
//   Python                         absl::StatusCode        predicate
//   -----------------------------  ----------------------  ----------------
//   queue.Empty                    kUnavailable            IsEmpty()
//   queue.Full                     kResourceExhausted      IsFull()
//   TimeoutError                   kDeadlineExceeded       IsTimeout()
//   CancelledError                 kCancelled              IsCancelled()
//   queue.ShutDown, "closed"       kFailedPrecondition     IsShutDown()
//   BrokenBarrierError,
//   BrokenThreadPool               kAborted                IsBroken()
//   KeyError (unknown key)         kNotFound               absl::IsNotFound
//   duplicate registration         kAlreadyExists absl::IsAlreadyExists
//   ValueError (bad argument)      kInvalidArgument absl::IsInvalidArgument
//   EOFError (peer closed)         kOutOfRange             IsEof()
//
// OS failures carry their errno (see `ErrnoError`).
//
// Thread safety: every function here is thread-safe.

#ifndef SPINDLE_CONCURRENCY_STATUS_H_
#define SPINDLE_CONCURRENCY_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace spindle {

// Constructors for the errors above. `message` says what happened, for people.
absl::Status EmptyError(absl::string_view message);
absl::Status FullError(absl::string_view message);
absl::Status TimeoutError(absl::string_view message);
// Cancellation is Abseil's own kCancelled: spindle::CancelledError and
// spindle::IsCancelled are absl::CancelledError and absl::IsCancelled, so an
// unqualified call found through argument-dependent lookup is not ambiguous.
using absl::CancelledError;
absl::Status ShutDownError(absl::string_view message);
absl::Status BrokenError(absl::string_view message);
// End of input: the peer of a `Connection` closed it (Python's EOFError).
absl::Status EofError(absl::string_view message);

// An error for a failed system call: the code follows `errno_value` (as
// `absl::ErrnoToStatus`), the message names the call.
absl::Status ErrnoError(int errno_value, absl::string_view call);

// Predicates: true when `status` carries the matching code.
bool IsEmpty(const absl::Status& status);
bool IsFull(const absl::Status& status);
bool IsTimeout(const absl::Status& status);
using absl::IsCancelled;
bool IsShutDown(const absl::Status& status);
bool IsBroken(const absl::Status& status);
bool IsEof(const absl::Status& status);

}  // namespace spindle

#endif  // SPINDLE_CONCURRENCY_STATUS_H_
