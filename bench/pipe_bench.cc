// Copyright 2026 The spindle Authors.
//
// pipe_bench: spindle::Connection (Pipe) against a raw loop doing the same
// framing by hand: plain write() of a 4-byte length prefix plus payload, and
// read() of the prefix then the payload, on the same kind of descriptor.
//
//   ./bazelw run --config=opt //bench:pipe_bench
//
// Ping-pong latency is bimodal on small machines (parent and child on one
// core or two, idle-state wakeups), for spindle and the raw loop alike; pin
// the run to one core for comparable figures:
//   taskset -c 1 bazel-bin/bench/pipe_bench --benchmark_repetitions=5
//
// Benchmarks (a forked child is the peer in each):
//   PingPong/64        one 64-byte message parent -> child -> parent
//                      (round-trip latency; time per iteration = one round
//                      trip)
//   Stream/64, /65536  one-way throughput: the parent sends, the child
//                      receives and discards (bytes_per_second)
// Each comes as Connection_* (duplex Pipe, a socketpair), Raw_* (the same
// socketpair, hand-written framing), and for the stream also
// ConnectionOneWay_* / RawOneWay_* (a pipe(2), Pipe(duplex=false)).
// Compare a Connection_ line with the Raw_ line of the same argument.

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "spindle/process/connection.h"
#include "spindle/process/process.h"

namespace {

// ---- Raw framing: what a hand-written loop would do
// --------------------------

bool RawWriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool RawReadAll(int fd, char* p, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// `frame` holds a 4-byte big-endian length and the payload: one write().
std::string RawFrame(size_t len) {
  std::string f(4 + len, 'x');
  f[0] = static_cast<char>(len >> 24);
  f[1] = static_cast<char>(len >> 16);
  f[2] = static_cast<char>(len >> 8);
  f[3] = static_cast<char>(len);
  return f;
}

// Receives one framed message into `buf`; false at EOF.
bool RawRecv(int fd, std::string& buf) {
  unsigned char h[4];
  if (!RawReadAll(fd, reinterpret_cast<char*>(h), 4)) return false;
  const size_t len = (size_t{h[0]} << 24) | (size_t{h[1]} << 16) |
                     (size_t{h[2]} << 8) | size_t{h[3]};
  buf.resize(len);
  return RawReadAll(fd, buf.data(), len);
}

// A socketpair or pipe as two raw descriptors: [0] is the parent's end for
// reading (pipe) or both (socketpair); see MakeRaw.
struct RawPair {
  int parent = -1;  // parent sends (and receives, duplex)
  int child = -1;   // child receives (and sends, duplex)
};

RawPair MakeRaw(bool duplex) {
  int fds[2];
  if (duplex) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) abort();
    return {fds[0], fds[1]};
  }
  if (pipe2(fds, O_CLOEXEC) != 0) abort();
  return {fds[1], fds[0]};  // parent writes, child reads
}

// ---- Round trip
// ----------------------------------------------------------------

void BM_Connection_PingPong(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  auto pipe = spindle::Pipe();
  if (!pipe.ok()) return state.SkipWithError("Pipe failed");
  spindle::Connection& parent = pipe->first;
  spindle::Connection& child_end = pipe->second;
  spindle::Process echo([&parent, &child_end] {
    parent.Close();
    for (;;) {
      auto msg = child_end.RecvBytes();
      if (!msg.ok()) return 0;
      if (!child_end.SendBytes(*msg).ok()) return 1;
    }
  });
  if (!echo.Start().ok()) return state.SkipWithError("fork failed");
  child_end.Close();
  const std::string msg(size, 'x');
  for (auto _ : state) {
    if (!parent.SendBytes(msg).ok()) return state.SkipWithError("send");
    auto back = parent.RecvBytes();
    if (!back.ok()) return state.SkipWithError("recv");
    benchmark::DoNotOptimize(back->data());
  }
  parent.Close();
  echo.Join();
  state.SetItemsProcessed(state.iterations());
}

void BM_Raw_PingPong(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  RawPair fds = MakeRaw(true);
  spindle::Process echo([&fds] {
    close(fds.parent);
    std::string buf;
    while (RawRecv(fds.child, buf)) {
      std::string frame = RawFrame(buf.size());
      std::memcpy(frame.data() + 4, buf.data(), buf.size());
      if (!RawWriteAll(fds.child, frame.data(), frame.size())) return 1;
    }
    return 0;
  });
  if (!echo.Start().ok()) return state.SkipWithError("fork failed");
  close(fds.child);
  const std::string frame = RawFrame(size);
  std::string back;
  for (auto _ : state) {
    if (!RawWriteAll(fds.parent, frame.data(), frame.size())) {
      return state.SkipWithError("write");
    }
    if (!RawRecv(fds.parent, back)) return state.SkipWithError("read");
    benchmark::DoNotOptimize(back.data());
  }
  close(fds.parent);
  echo.Join();
  state.SetItemsProcessed(state.iterations());
}

// ---- One-way stream
// -----------------------------------------------------------

void ConnectionStream(benchmark::State& state, bool duplex) {
  const size_t size = static_cast<size_t>(state.range(0));
  auto pipe = spindle::Pipe(duplex);
  if (!pipe.ok()) return state.SkipWithError("Pipe failed");
  // duplex: first/second are symmetric; one-way: first receives.
  spindle::Connection& recv_end = pipe->first;
  spindle::Connection& send_end = pipe->second;
  spindle::Process sink([&recv_end, &send_end] {
    send_end.Close();
    while (recv_end.RecvBytes().ok()) {
    }
    return 0;
  });
  if (!sink.Start().ok()) return state.SkipWithError("fork failed");
  recv_end.Close();
  const std::string msg(size, 'x');
  for (auto _ : state) {
    if (!send_end.SendBytes(msg).ok()) return state.SkipWithError("send");
  }
  send_end.Close();
  sink.Join();
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(size));
  state.SetItemsProcessed(state.iterations());
}

void RawStream(benchmark::State& state, bool duplex) {
  const size_t size = static_cast<size_t>(state.range(0));
  RawPair fds = MakeRaw(duplex);
  spindle::Process sink([&fds] {
    close(fds.parent);
    std::string buf;
    while (RawRecv(fds.child, buf)) {
    }
    return 0;
  });
  if (!sink.Start().ok()) return state.SkipWithError("fork failed");
  close(fds.child);
  const std::string frame = RawFrame(size);
  for (auto _ : state) {
    if (!RawWriteAll(fds.parent, frame.data(), frame.size())) {
      return state.SkipWithError("write");
    }
  }
  close(fds.parent);
  sink.Join();
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(size));
  state.SetItemsProcessed(state.iterations());
}

void BM_Connection_Stream(benchmark::State& s) { ConnectionStream(s, true); }
void BM_Raw_Stream(benchmark::State& s) { RawStream(s, true); }
void BM_ConnectionOneWay_Stream(benchmark::State& s) {
  ConnectionStream(s, false);
}
void BM_RawOneWay_Stream(benchmark::State& s) { RawStream(s, false); }

BENCHMARK(BM_Connection_PingPong)->Arg(64)->UseRealTime();
BENCHMARK(BM_Raw_PingPong)->Arg(64)->UseRealTime();
BENCHMARK(BM_Connection_Stream)->Arg(64)->Arg(64 << 10)->UseRealTime();
BENCHMARK(BM_Raw_Stream)->Arg(64)->Arg(64 << 10)->UseRealTime();
BENCHMARK(BM_ConnectionOneWay_Stream)->Arg(64)->Arg(64 << 10)->UseRealTime();
BENCHMARK(BM_RawOneWay_Stream)->Arg(64)->Arg(64 << 10)->UseRealTime();

}  // namespace
