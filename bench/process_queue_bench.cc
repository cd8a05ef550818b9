// Copyright 2026 The spindle Authors.
//
// Cross-process message throughput: one producer process streams 64-byte
// messages to one consumer process (the benchmark's own), each message
// arriving as a std::string, through
//
//   * spindle::ProcessQueue (shared-memory ring, robust mutex, futexes),
//     with a 1 MiB ring and with a 4 KiB ring (both sides block often);
//   * a raw AF_UNIX socketpair with a 4-byte length prefix: one write() per
//     message (a message-at-a-time API, like Python's Connection.send_bytes),
//     and a reader that reads up to 64 KiB at a time and splits messages out
//     of its buffer (the best case for the socket);
//   * spindle::Connection (spindle/process/connection.h, Python's Pipe):
//     SendBytes / RecvBytes over its socketpair.
//
// BM_ProcessQueueSameThread (Put then Get in one thread) is a reference for
// the cost of the queue itself, without another process.
//
// The producer is forked before timing starts and waits for a start flag
// that the consumer raises just before its timed loop, so every peer starts
// empty. Items/s is the consumer's rate, which is the pipeline's.
//
// Run: ./bazelw run --config=opt //bench:process_queue_bench
// Compare ratios within one run; absolute numbers drift on shared machines.

#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/statusor.h"
#include "benchmark/benchmark.h"
#include "spindle/process/connection.h"
#include "spindle/process/process.h"
#include "spindle/process/process_queue.h"

namespace {

constexpr size_t kMessageSize = 64;

// A start flag in MAP_SHARED memory, seen by the forked producer.
class StartFlag {
 public:
  StartFlag() {
    void* p = mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    flag_ = new (p) std::atomic<int>(0);
  }
  ~StartFlag() { munmap(flag_, sizeof(std::atomic<int>)); }
  void Raise() { flag_->store(1, std::memory_order_release); }
  void Await() const {
    while (flag_->load(std::memory_order_acquire) == 0) {
      std::this_thread::yield();
    }
  }

 private:
  std::atomic<int>* flag_;
};

// The producer's message `i`: 64 bytes, numbered.
void Fill(std::string& msg, int64_t i) {
  std::memcpy(msg.data(), &i, sizeof(i));
}

void Report(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>(kMessageSize));
}

// --- spindle::ProcessQueue
// ------------------------------------------------------

void BM_ProcessQueue(benchmark::State& state) {
  absl::StatusOr<spindle::ProcessQueue> q = spindle::ProcessQueue::Create(
      {.capacity_bytes = static_cast<size_t>(state.range(0))});
  if (!q.ok()) {
    state.SkipWithError("ProcessQueue::Create failed");
    return;
  }
  StartFlag start;
  const int64_t n = static_cast<int64_t>(state.max_iterations);
  spindle::Process producer([&q, &start, n]() -> int {
    start.Await();
    std::string msg(kMessageSize, 'p');
    for (int64_t i = 0; i < n; ++i) {
      Fill(msg, i);
      if (!q->Put(msg).ok()) return 1;
    }
    return 0;
  });
  if (!producer.Start().ok()) {
    state.SkipWithError("fork failed");
    return;
  }
  start.Raise();
  for (auto _ : state) {
    absl::StatusOr<std::string> m = q->Get();
    if (!m.ok()) {
      state.SkipWithError("Get failed");
      break;
    }
    benchmark::DoNotOptimize(m->data());
  }
  q->Shutdown(/*immediate=*/true);  // Lets the producer go if we stopped early.
  producer.Join();
  Report(state);
}
BENCHMARK(BM_ProcessQueue)
    ->Arg(1 << 20)
    ->Arg(4 << 10)
    ->ArgName("ring_bytes")
    ->UseRealTime();

// Reference: Put then Get of one message in one thread (no other process):
// the floor of a hand-off, with no cache line moving between CPUs.
void BM_ProcessQueueSameThread(benchmark::State& state) {
  absl::StatusOr<spindle::ProcessQueue> q = spindle::ProcessQueue::Create();
  if (!q.ok()) {
    state.SkipWithError("ProcessQueue::Create failed");
    return;
  }
  std::string msg(kMessageSize, 'p');
  int64_t i = 0;
  for (auto _ : state) {
    Fill(msg, i++);
    if (!q->Put(msg).ok()) {
      state.SkipWithError("Put failed");
      break;
    }
    absl::StatusOr<std::string> m = q->Get();
    benchmark::DoNotOptimize(m->data());
  }
  Report(state);
}
BENCHMARK(BM_ProcessQueueSameThread);

// --- raw socketpair, length-prefixed
// ---------------------------------------------

bool WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Reads length-prefixed messages out of a 64 KiB buffer.
class BufferedReader {
 public:
  explicit BufferedReader(int fd) : fd_(fd) {}
  bool Next(std::string* out) {
    if (!Have(4)) return false;
    uint32_t len;
    std::memcpy(&len, buf_ + begin_, 4);
    if (!Have(4 + len)) return false;
    out->assign(buf_ + begin_ + 4, len);
    begin_ += 4 + len;
    return true;
  }

 private:
  bool Have(size_t n) {
    while (end_ - begin_ < n) {
      if (begin_ > 0) {
        std::memmove(buf_, buf_ + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
      }
      const ssize_t r = read(fd_, buf_ + end_, sizeof(buf_) - end_);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      end_ += static_cast<size_t>(r);
    }
    return true;
  }

  int fd_;
  char buf_[64 << 10];
  size_t begin_ = 0;
  size_t end_ = 0;
};

void BM_RawSocketpair(benchmark::State& state) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    state.SkipWithError("socketpair failed");
    return;
  }
  StartFlag start;
  const int64_t n = static_cast<int64_t>(state.max_iterations);
  spindle::Process producer([&sv, &start, n]() -> int {
    close(sv[0]);
    start.Await();
    char record[4 + kMessageSize];
    const uint32_t len = kMessageSize;
    std::memcpy(record, &len, 4);
    std::memset(record + 4, 'p', kMessageSize);
    for (int64_t i = 0; i < n; ++i) {
      std::memcpy(record + 4, &i, sizeof(i));
      if (!WriteAll(sv[1], record, sizeof(record))) return 1;
    }
    close(sv[1]);
    return 0;
  });
  if (!producer.Start().ok()) {
    state.SkipWithError("fork failed");
    return;
  }
  close(sv[1]);
  auto reader = std::make_unique<BufferedReader>(sv[0]);
  std::string m;
  start.Raise();
  for (auto _ : state) {
    if (!reader->Next(&m)) {
      state.SkipWithError("read failed");
      break;
    }
    benchmark::DoNotOptimize(m.data());
  }
  close(sv[0]);  // Lets the producer go if we stopped early.
  producer.Join();
  Report(state);
}
BENCHMARK(BM_RawSocketpair)->UseRealTime();

// --- spindle::Connection (Pipe)
// --------------------------------------------------

void BM_Connection(benchmark::State& state) {
  auto pipe = spindle::Pipe(/*duplex=*/true);
  if (!pipe.ok()) {
    state.SkipWithError("Pipe failed");
    return;
  }
  spindle::Connection& rx = pipe->first;
  spindle::Connection& tx = pipe->second;
  StartFlag start;
  const int64_t n = static_cast<int64_t>(state.max_iterations);
  spindle::Process producer([&rx, &tx, &start, n]() -> int {
    rx.Close();
    start.Await();
    std::string msg(kMessageSize, 'p');
    for (int64_t i = 0; i < n; ++i) {
      Fill(msg, i);
      if (!tx.SendBytes(msg).ok()) return 1;
    }
    return 0;
  });
  if (!producer.Start().ok()) {
    state.SkipWithError("fork failed");
    return;
  }
  tx.Close();
  start.Raise();
  for (auto _ : state) {
    absl::StatusOr<std::string> m = rx.RecvBytes();
    if (!m.ok()) {
      state.SkipWithError("RecvBytes failed");
      break;
    }
    benchmark::DoNotOptimize(m->data());
  }
  rx.Close();  // Lets the producer go if we stopped early.
  producer.Join();
  Report(state);
}
BENCHMARK(BM_Connection)->UseRealTime();

}  // namespace
