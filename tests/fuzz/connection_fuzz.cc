// Copyright 2026 The spindle Authors.
//
// Fuzz target: what Connection::RecvBytes (process/connection.h) makes of
// arbitrary bytes on the wire - truncated headers and payloads, lengths
// that lie, lengths over max_message - against a reference decoder of the
// documented format (4-byte big-endian length, then the bytes): the same
// messages, then the same ending (IsEof at a message boundary; kDataLoss
// inside a message or for an oversize length, and kDataLoss for every
// call after that). Never a crash, and never an allocation larger than
// the documented bound: about twice the bytes that arrived, or 64 KiB
// (checked through the sanitizers' allocation hook).
//
// Input: a flags byte (bit 0: duplex socketpair, else pipe; bits 1-2:
// max_message = the next byte, 1000, the default 64 MiB, or the 4 GiB - 1
// maximum), that byte, then the bytes the peer writes before it closes.

#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SPINDLE_SANITIZER_HOOKS 1
#include <sanitizer/allocator_interface.h>
#endif
#endif
#ifndef SPINDLE_SANITIZER_HOOKS
#define SPINDLE_SANITIZER_HOOKS 0
#endif

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "spindle/concurrency/status.h"
#include "spindle/process/connection.h"

namespace {

// The largest single allocation while `tracking` (this thread only), seen
// through the sanitizers' allocation hook: under --config=fuzz, asan and
// tsan. A plain build cannot see allocations and checks everything else.
thread_local bool tracking = false;
thread_local size_t largest = 0;

#if SPINDLE_SANITIZER_HOOKS
void OnMalloc(const volatile void*, size_t n) {
  if (tracking && n > largest) largest = n;
}
void OnFree(const volatile void*) {}
[[maybe_unused]] const int kHooked =
    __sanitizer_install_malloc_and_free_hooks(&OnMalloc, &OnFree);
#endif

void Check(bool ok, size_t index, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "connection_fuzz: message %zu: %s\n", index, what);
    std::abort();
  }
}

enum class End { kEof, kDataLoss };

// The reference decoder: the messages of `wire`, and how the stream ends.
std::vector<std::string> Decode(absl::string_view wire, size_t max_message,
                                End* end) {
  std::vector<std::string> out;
  for (;;) {
    if (wire.empty()) return *end = End::kEof, out;
    if (wire.size() < 4) return *end = End::kDataLoss, out;
    const auto b = [&](int i) { return size_t{uint8_t(wire[i])}; };
    const size_t len = b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
    if (len > max_message || wire.size() - 4 < len) {
      return *end = End::kDataLoss, out;
    }
    out.emplace_back(wire.substr(4, len));
    wire.remove_prefix(4 + len);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const bool duplex = data[0] & 1;
  const size_t limits[] = {data[1], 1000,
                           spindle::Connection::kDefaultMaxMessage,
                           spindle::Connection::kMaxMaxMessage};
  const size_t max_message = limits[(data[0] >> 1) & 3];
  // Small enough to write whole before reading (a pipe holds 64 KiB).
  const absl::string_view wire(reinterpret_cast<const char*>(data) + 2,
                               std::min<size_t>(size - 2, 60000));

  auto pipe = spindle::Pipe(duplex, max_message);
  Check(pipe.ok(), 0, "Pipe() failed");
  spindle::Connection& reader = pipe->first;
  const int fd = pipe->second.fileno();
  for (size_t done = 0; done < wire.size();) {
    const ssize_t n = write(fd, wire.data() + done, wire.size() - done);
    Check(n > 0, 0, "writing the wire bytes failed");
    done += static_cast<size_t>(n);
  }
  pipe->second.Close();

  End end;
  const std::vector<std::string> want = Decode(wire, max_message, &end);
  size_t received = 0;  // Wire bytes of messages before this one.
  for (size_t i = 0; i <= want.size() + 1; ++i) {
    absl::StatusOr<bool> ready = reader.Poll();
    Check(ready.ok() && *ready, i, "Poll() is false with data or EOF there");
    largest = 0;
    tracking = true;
    absl::StatusOr<std::string> got = reader.RecvBytes();
    tracking = false;
    const size_t arrived = wire.size() - received;  // At most this much.
    Check(largest <= std::max<size_t>(4 * arrived, 128 << 10) + 64, i,
          "an allocation beyond the documented bound");
    if (i < want.size()) {
      Check(got.ok(), i, "a message was lost");
      Check(*got == want[i], i, "a message differs");
      received += 4 + want[i].size();
    } else if (end == End::kEof) {
      Check(spindle::IsEof(got.status()), i, "not EOF at a boundary");
    } else {
      Check(absl::IsDataLoss(got.status()), i, "not kDataLoss");
    }
  }
  return 0;
}
