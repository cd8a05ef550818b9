// Copyright 2026 The spindle Authors.
//
// The state TcpServer keeps per connection. Loop thread only.
//
// Private to //io.

#ifndef SPINDLE_IO_INTERNAL_CONNECTION_H_
#define SPINDLE_IO_INTERNAL_CONNECTION_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "spindle/io/event_loop.h"
#include "spindle/io/internal/idle_tracker.h"
#include "spindle/io/internal/line_framing.h"
#include "spindle/io/internal/memory_budget.h"
#include "spindle/io/internal/reply_order.h"
#include "spindle/io/socket.h"

namespace spindle::io::internal {

// Adds `d` to a Stats counter only the loop thread writes (readers
// elsewhere see relaxed snapshots): a plain load and store, no locked
// read-modify-write.
inline void Bump(std::atomic<int64_t>& counter, int64_t d) {
  counter.store(counter.load(std::memory_order_relaxed) + d,
                std::memory_order_relaxed);
}

struct Connection : IdleNode {
  uint64_t id = 0;
  Socket sock;
  int fd = -1;
  InputBuffer in;      // Read, not yet handed over.
  ReplyOrder replies;  // One slot per request not yet written to `out`.
  std::string out;     // Replies not yet sent: out[out_pos, end).
  size_t out_pos = 0;
  bool reading = false;  // Reader callback registered.
  bool writing = false;  // Writer callback registered.
  bool eof = false;      // The peer half-closed: no more input.
  bool closing = false;  // No more requests; close after the replies.
  bool lingering = false;
  bool closed = false;
  bool output_paused = false;
  bool parked = false;        // The handler did not take the next line.
  bool global_wait = false;   // Paused by the server-wide high-water mark.
  bool touched = false;       // In the current completion batch.
  bool input_queued = false;  // Waiting for the batch dispatch.
  bool memory_wait = false;   // Reading paused by the memory budget.
  MemoryBudget::Account mem;  // Its bytes, as last counted.
  Handle linger_timer;

  size_t unsent() const { return out.size() - out_pos; }
};

}  // namespace spindle::io::internal

#endif  // SPINDLE_IO_INTERNAL_CONNECTION_H_
