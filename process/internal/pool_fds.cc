// Copyright 2026 The spindle Authors.
//
// The set of pool descriptors and its change windows (see pool_fds.h).
// Private to //process:process_pool.

#include "spindle/process/internal/pool_fds.h"

#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "absl/base/attributes.h"
#include "absl/base/const_init.h"
#include "absl/base/internal/raw_logging.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spindle/concurrency/internal/spin.h"
#include "spindle/process/connection.h"

namespace spindle::process_internal {
namespace {

constexpr int kFdsPerChunkLog2 = 16;
constexpr int kFdsPerChunk = 1 << kFdsPerChunkLog2;
constexpr int kWordsPerChunk = kFdsPerChunk / 64;
constexpr int kChunks = 1 << 15;  // Descriptors below 2^31.

ABSL_CONST_INIT std::atomic<std::atomic<uint64_t>*> g_fd_chunks[kChunks] = {};

// g_windows: pid (bits 63-32), generation (31-12), windows open (11-0).
constexpr uint64_t kPidMask = ~uint64_t{0xffffffff};
constexpr int kGenShift = 12;
constexpr uint64_t kGenMask = 0xfffff;
constexpr uint64_t kOpenMask = 0xfff;
ABSL_CONST_INIT std::atomic<uint64_t> g_windows{0};

std::atomic<uint64_t>* Chunk(int fd, bool create) {
  std::atomic<std::atomic<uint64_t>*>& slot =
      g_fd_chunks[fd >> kFdsPerChunkLog2];
  std::atomic<uint64_t>* chunk = slot.load(std::memory_order_acquire);
  if (chunk != nullptr || !create) return chunk;
  auto* fresh = new std::atomic<uint64_t>[kWordsPerChunk]();
  if (slot.compare_exchange_strong(chunk, fresh, std::memory_order_acq_rel,
                                   std::memory_order_acquire)) {
    return fresh;
  }
  delete[] fresh;
  return chunk;  // Installed by another thread meanwhile.
}

bool InRange(int fd) { return fd >= 0 && (fd >> kFdsPerChunkLog2) < kChunks; }

void Unmark(int fd) {
  if (!InRange(fd)) return;
  std::atomic<uint64_t>* chunk = Chunk(fd, /*create=*/false);
  if (chunk == nullptr) return;
  chunk[(fd & (kFdsPerChunk - 1)) >> 6].fetch_and(~(uint64_t{1} << (fd & 63)),
                                                  std::memory_order_relaxed);
}

}  // namespace

FdWindow::FdWindow() {
  const uint64_t me = static_cast<uint64_t>(getpid()) << 32;
  uint64_t v = g_windows.load(std::memory_order_relaxed);
  uint64_t next;
  do {
    const bool mine = (v & kPidMask) == me;
    const uint64_t gen = mine ? (v >> kGenShift) & kGenMask : 0;
    const uint64_t open = mine ? v & kOpenMask : 0;
    ABSL_RAW_CHECK(open < kOpenMask, "too many pool descriptor windows");
    next = me | (((gen + 1) & kGenMask) << kGenShift) | (open + 1);
  } while (!g_windows.compare_exchange_weak(v, next, std::memory_order_seq_cst,
                                            std::memory_order_relaxed));
}

FdWindow::~FdWindow() { g_windows.fetch_sub(1, std::memory_order_seq_cst); }

void AwaitNoWindows() {
  const uint64_t me = static_cast<uint64_t>(getpid()) << 32;
  auto none_open = [me](uint64_t v) {
    return (v & kPidMask) != me || (v & kOpenMask) == 0;
  };
  const absl::Time deadline = absl::Now() + absl::Milliseconds(100);
  uint64_t v = g_windows.load(std::memory_order_seq_cst);
  while (!none_open(v) && absl::Now() < deadline) {
    internal::SpinUntil(
        [&] {
          v = g_windows.load(std::memory_order_seq_cst);
          return none_open(v);
        },
        internal::SpinBudget(1000));
    if (!none_open(v)) sched_yield();
    v = g_windows.load(std::memory_order_seq_cst);
  }
}

uint64_t LoadWindows() { return g_windows.load(std::memory_order_seq_cst); }

bool ForkWasClean(uint64_t before, uint64_t after) {
  const uint64_t me = static_cast<uint64_t>(getpid()) << 32;
  if ((before & kPidMask) != me) return (after & kPidMask) != me;
  return (before & kOpenMask) == 0 && after == before;
}

void Mark(int fd) {
  if (!InRange(fd)) return;
  Chunk(fd, /*create=*/true)[(fd & (kFdsPerChunk - 1)) >> 6].fetch_or(
      uint64_t{1} << (fd & 63), std::memory_order_relaxed);
}

void UnregisterAndClose(int fd) {
  FdWindow window;
  Unmark(fd);
  close(fd);
}

void UnregisterAndClose(Connection& conn) {
  if (conn.closed()) return;
  FdWindow window;
  Unmark(conn.fileno());
  conn.Close();
}

void CloseMarkedInChild(int keep) {
  for (int i = 0; i < kChunks; ++i) {
    std::atomic<uint64_t>* chunk =
        g_fd_chunks[i].load(std::memory_order_relaxed);
    if (chunk == nullptr) continue;
    for (int w = 0; w < kWordsPerChunk; ++w) {
      uint64_t bits = chunk[w].exchange(0, std::memory_order_relaxed);
      while (bits != 0) {
        const int fd =
            (i << kFdsPerChunkLog2) | (w << 6) | __builtin_ctzll(bits);
        bits &= bits - 1;
        if (fd != keep) close(fd);
      }
    }
  }
}

}  // namespace spindle::process_internal
