// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: internal/batch.h
// -----------------------------------------------------------------------------
//
// PRIVATE to //process:process_pool; not part of the public API. The bodies
// of chunk messages, with which ProcessPoolExecutor::Map(..., chunksize > 1)
// sends several inputs as one message and gets their results back as one
// (the message kinds are listed at the top of process_pool.cc):
//
//   'B' body (caller -> worker): the arguments, each as
//       length (4 bytes, host order) + bytes
//   'W' body (worker -> caller): the results of the first items, in order,
//       each as 'V' + length (4) + bytes; then, if the chunk stopped early,
//       one failure record for the next item: 'E' (exception message) or
//       'I' (over the size limit) + length (4) + message.
//
// Both ends are the same binary (workers are forked without exec), so host
// byte order is fine.

#ifndef SPINDLE_PROCESS_INTERNAL_BATCH_H_
#define SPINDLE_PROCESS_INTERNAL_BATCH_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace spindle::process_internal {

// Bytes a 'B' body spends on each argument besides the argument itself.
inline constexpr size_t kBatchItemOverhead = 4;

// Caller: the 'B' body for `args`.
std::string EncodeBatchArgs(const std::vector<std::string>& args);

// Worker: splits a 'B' body into its arguments (views into `body`); false
// if it is malformed.
bool DecodeBatchArgs(absl::string_view body,
                     std::vector<absl::string_view>* args);

// Worker: builds a 'W' reply (kind byte included) of at most `limit` bytes.
class BatchReplyWriter {
 public:
  explicit BatchReplyWriter(size_t limit);

  // Appends one result; false (nothing appended) if it would leave no room
  // for a failure record within the limit.
  bool AddValue(absl::string_view value);
  // Appends the failure record ('E' or 'I') of the item after the values;
  // `message` is cut to fit. Nothing may be added after it.
  void AddFailure(char kind, absl::string_view message);
  // The reply.
  std::string Take() { return std::move(reply_); }

 private:
  void AddRecord(char kind, absl::string_view bytes);

  const size_t limit_;
  std::string reply_;
};

// A decoded 'W' reply.
struct BatchReply {
  std::vector<std::string> values;
  char failure_kind = 0;  // 0 (no failure), 'E' or 'I'.
  std::string failure;
};

// Caller: parses a 'W' reply (kind byte included); false if it is
// malformed or holds more than `max_items` values.
bool DecodeBatchReply(absl::string_view reply, size_t max_items,
                      BatchReply* out);

}  // namespace spindle::process_internal

#endif  // SPINDLE_PROCESS_INTERNAL_BATCH_H_
