// Copyright 2026 The spindle Authors.

#include "spindle/concurrency/status.h"

#include "absl/strings/str_cat.h"

namespace spindle {

absl::Status EmptyError(absl::string_view message) {
  return absl::UnavailableError(message);
}
absl::Status FullError(absl::string_view message) {
  return absl::ResourceExhaustedError(message);
}
absl::Status TimeoutError(absl::string_view message) {
  return absl::DeadlineExceededError(message);
}
absl::Status ShutDownError(absl::string_view message) {
  return absl::FailedPreconditionError(message);
}
absl::Status BrokenError(absl::string_view message) {
  return absl::AbortedError(message);
}
absl::Status EofError(absl::string_view message) {
  return absl::OutOfRangeError(message);
}
absl::Status ErrnoError(int errno_value, absl::string_view call) {
  return absl::ErrnoToStatus(errno_value, absl::StrCat(call, " failed"));
}

bool IsEmpty(const absl::Status& status) { return absl::IsUnavailable(status); }
bool IsFull(const absl::Status& status) {
  return absl::IsResourceExhausted(status);
}
bool IsTimeout(const absl::Status& status) {
  return absl::IsDeadlineExceeded(status);
}
bool IsShutDown(const absl::Status& status) {
  return absl::IsFailedPrecondition(status);
}
bool IsBroken(const absl::Status& status) { return absl::IsAborted(status); }
bool IsEof(const absl::Status& status) { return absl::IsOutOfRange(status); }

}  // namespace spindle
