// Copyright 2026 The spindle Authors.
//
// job_client: a load generator for job_server, itself a spindle EventLoop
// program. It opens --connections connections, keeps --depth requests in
// flight on each (pipelining: a closed loop - every reply read is replaced
// by a new request at once), picks commands from --mix, checks every reply
// against the expected answer and its order, prints a progress line each
// second, and at the end the throughput and latency percentiles.
//
// The progress line (stderr: seconds, replies, req/s over the last second,
// p99 so far, errors) is on by default only when stderr is a terminal,
// where it redraws in place; --progress forces it on (then, into a file or
// pipe, it is one plain line per second), --progress=false off. The final
// summary (stdout) is the same either way.
//
//   ./bazelw run //examples:job_server &
//   ./bazelw run //examples:job_client -- --connections=64 --depth=8
//       --duration=10s --mix=ECHO:90,PRIMES:10   (one command line)
//
// Built to cost as little as possible per request, so that it - not the
// server - is rarely the bottleneck on a small machine: the requests are
// drawn from a pool of kPool pre-built distinct lines (in --mix
// proportions, each ECHO/UPPER text unique within the pool), which each
// connection cycles through from its own offset; a refill is one memcpy
// per request into one buffer and one send() per connection; replies are
// checked with one memcmp each against the expected line, over reads of up
// to 256 KiB; no allocation per request. Lines in flight on a connection
// are always distinct (the pool is larger than any window), so a reply out
// of order is a mismatch. Latency: every request is timed (one clock read
// per send and per read, shared by the requests of that send/read) into a
// log-linear histogram (percentiles within ~1.6%).
//
// Exit status: 0 when every request was answered correctly, 1 otherwise.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spindle/examples/primes.h"
#include "spindle/io/event_loop.h"
#include "spindle/io/latency_histogram.h"
#include "spindle/io/socket.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "server address (IPv4)");
ABSL_FLAG(int, port, 7070, "server port");
ABSL_FLAG(int, connections, 16, "concurrent connections");
ABSL_FLAG(int, depth, 8, "requests in flight per connection");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(5), "how long to send");
ABSL_FLAG(std::string, mix, "ECHO:80,UPPER:10,PRIMES:10",
          "command weights: ECHO, UPPER, PRIMES, SLEEP");
ABSL_FLAG(int, primes_n, 10000, "argument of PRIMES");
ABSL_FLAG(int, sleep_ms, 5, "argument of SLEEP");
ABSL_FLAG(int, echo_size, 16, "bytes of ECHO/UPPER text");
// The default is evaluated when the flags are first read: whether stderr,
// where the progress line goes, is a terminal.
ABSL_FLAG(bool, progress, isatty(STDERR_FILENO) == 1,
          "print a progress line each second (default: on when stderr is a "
          "terminal, redrawn in place there)");

namespace {

using spindle::io::EventLoop;
using spindle::io::Socket;

// Distinct request lines in the pool; more than any sensible --depth.
constexpr size_t kPool = 8192;
constexpr int kMaxDepth = 4096;

using spindle_examples::CountPrimes;

// Latency histogram over nanoseconds: exact below 64 units of 1 us, then 32
// linear sub-buckets per power of two. Finer than spindle's
// io/latency_histogram.h (8 per power of two, sharded for many writers):
// one thread records here, and the client's percentiles are its output.
class LatencyHistogram {
 public:
  void Record(int64_t ns, int64_t n) {
    const uint64_t us = ns <= 0 ? 0 : static_cast<uint64_t>(ns) / 1000;
    counts_[Bucket(us)] += n;
    total_ += n;
    max_us_ = std::max(max_us_, us);
  }
  int64_t total() const { return total_; }
  // The q-quantile in microseconds (the bucket's upper bound).
  double Percentile(double q) const {
    if (total_ == 0) return 0;
    const int64_t want = std::max<int64_t>(1, static_cast<int64_t>(q * total_));
    int64_t seen = 0;
    for (size_t b = 0; b < counts_.size(); ++b) {
      seen += counts_[b];
      if (seen >= want) return static_cast<double>(Upper(b));
    }
    return static_cast<double>(max_us_);
  }
  double max_us() const { return static_cast<double>(max_us_); }

 private:
  static constexpr int kSub = 32;  // Sub-buckets per octave.
  static constexpr int kOctaves = 40;
  static size_t Bucket(uint64_t us) {
    if (us < 2 * kSub) return static_cast<size_t>(us);
    const int msb = 63 - __builtin_clzll(us);  // >= 6
    const uint64_t sub = (us >> (msb - 5)) & (kSub - 1);
    const size_t b = 2 * kSub + static_cast<size_t>(msb - 6) * kSub + sub;
    return std::min(b, static_cast<size_t>(2 * kSub + kOctaves * kSub - 1));
  }
  static uint64_t Upper(size_t b) {
    if (b < 2 * kSub) return b;
    const size_t octave = (b - 2 * kSub) / kSub + 6;
    const uint64_t sub = (b - 2 * kSub) % kSub;
    return ((kSub + sub + 1) << (octave - 5)) - 1;
  }
  std::array<int64_t, 2 * kSub + kOctaves * kSub> counts_{};
  int64_t total_ = 0;
  uint64_t max_us_ = 0;
};

// One request of the pool: its line (with "\n") and the expected reply
// line (with "\n").
struct Template {
  std::string request;
  std::string expect;
};

struct Conn {
  Socket sock;
  // Input not yet parsed (a partial reply line at most, between reads).
  std::vector<char> in;
  size_t in_len = 0;
  std::string out;  // Unsent requests.
  size_t out_pos = 0;
  // Pool indices of the requests in flight (ring of kMaxDepth), with the
  // send time of each.
  std::vector<uint32_t> ring;
  std::vector<int64_t> sent_ns;
  size_t head = 0, count = 0;
  size_t next = 0;  // Next pool index to send.
  bool writing = false;
  bool dead = false;
};

class LoadGen {
 public:
  explicit LoadGen(EventLoop* loop) : loop_(loop) {}

  bool Init() {
    std::vector<std::string> commands;
    std::vector<int> weights;
    for (absl::string_view part :
         absl::StrSplit(absl::GetFlag(FLAGS_mix), ',', absl::SkipEmpty())) {
      std::pair<std::string, std::string> kv = absl::StrSplit(part, ':');
      int w = 1;
      if (!kv.second.empty() && !absl::SimpleAtoi(kv.second, &w)) return false;
      std::string cmd = absl::AsciiStrToUpper(kv.first);
      if (cmd != "ECHO" && cmd != "UPPER" && cmd != "PRIMES" &&
          cmd != "SLEEP") {
        std::fprintf(stderr, "job_client: unknown command in --mix: %s\n",
                     cmd.c_str());
        return false;
      }
      commands.push_back(cmd);
      weights.push_back(w);
    }
    if (commands.empty()) return false;
    depth_ = absl::GetFlag(FLAGS_depth);
    if (depth_ < 1 || depth_ > kMaxDepth) {
      std::fprintf(stderr, "job_client: --depth must be in [1, %d]\n",
                   kMaxDepth);
      return false;
    }
    std::mt19937 rng(12345);
    std::discrete_distribution<int> dist(weights.begin(), weights.end());
    const std::string primes_answer =
        absl::StrCat(CountPrimes(absl::GetFlag(FLAGS_primes_n)));
    const int echo_size = std::max(0, absl::GetFlag(FLAGS_echo_size));
    pool_.reserve(kPool);
    for (size_t i = 0; i < kPool; ++i) {
      const std::string& cmd = commands[dist(rng)];
      Template t;
      if (cmd == "ECHO" || cmd == "UPPER") {
        // Unique within the pool: random letters, then the index.
        std::string text(static_cast<size_t>(echo_size), 'x');
        for (char& ch : text) ch = "abcdefghij"[rng() % 10];
        absl::StrAppend(&text, i);
        t.request = absl::StrCat(cmd, " ", text, "\n");
        t.expect = absl::StrCat(
            cmd == "ECHO" ? text : absl::AsciiStrToUpper(text), "\n");
      } else if (cmd == "PRIMES") {
        t.request =
            absl::StrCat("PRIMES ", absl::GetFlag(FLAGS_primes_n), "\n");
        t.expect = absl::StrCat(primes_answer, "\n");
      } else {
        t.request = absl::StrCat("SLEEP ", absl::GetFlag(FLAGS_sleep_ms), "\n");
        t.expect = absl::StrCat("SLEPT ", absl::GetFlag(FLAGS_sleep_ms), "\n");
      }
      max_reply_ = std::max(max_reply_, t.expect.size());
      pool_.push_back(std::move(t));
    }
    return true;
  }

  bool Connect() {
    const int n = absl::GetFlag(FLAGS_connections);
    for (int i = 0; i < n; ++i) {
      auto s = spindle::io::ConnectTcp(absl::GetFlag(FLAGS_host),
                                       absl::GetFlag(FLAGS_port));
      if (!s.ok()) {
        std::fprintf(stderr, "job_client: connect: %s\n",
                     s.status().ToString().c_str());
        return false;
      }
      int one = 1;
      setsockopt(s->fileno(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      if (!s->SetNonBlocking().ok()) return false;
      auto c = std::make_unique<Conn>();
      c->sock = *std::move(s);
      c->in.resize(kReadSize + max_reply_ + 8192);
      c->ring.resize(kMaxDepth);
      c->sent_ns.resize(kMaxDepth);
      // Spread the connections over the pool.
      c->next = (static_cast<size_t>(i) * 7919) % kPool;
      conns_.push_back(std::move(c));
    }
    for (auto& c : conns_) {
      Conn* raw = c.get();
      if (!loop_->AddReader(raw->sock.fileno(), [this, raw] { OnRead(raw); })
               .ok()) {
        return false;
      }
      Fill(raw);
    }
    return true;
  }

  void StopSending() {
    sending_ = false;
    MaybeFinish();
  }

  // Draws the progress line: in place (carriage return, then the line,
  // then clear to the end of the line) when `in_place`, else as a line of
  // its own.
  void Progress(bool in_place) {
    const absl::Time now = absl::Now();
    const std::string line =
        absl::StrFormat("[%5.1fs] %d replies, %.0f req/s, p99 %s, %d errors",
                        absl::ToDoubleSeconds(now - start_), replies_,
                        (replies_ - last_replies_) /
                            std::max(1e-9, absl::ToDoubleSeconds(now - last_)),
                        spindle::io::LatencyHistogram::Format(
                            absl::Microseconds(latency_.Percentile(0.99))),
                        errors_ + mismatches_);
    if (in_place) {
      std::fprintf(stderr, "\r%s\x1b[K", line.c_str());
      drawn_in_place_ = true;
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
    std::fflush(stderr);
    last_replies_ = replies_;
    last_ = now;
  }

  int Report() {
    // End the line drawn in place, so the summary starts on its own line.
    if (drawn_in_place_) std::fprintf(stderr, "\n");
    const double secs = absl::ToDoubleSeconds(end_ - start_);
    std::printf(
        "job_client: %d connections x depth %d, %.2fs: %lld requests, %lld "
        "replies, %.0f req/s\n"
        "latency: p50 %.0fus  p90 %.0fus  p99 %.0fus  p99.9 %.0fus  max "
        "%.0fus\n"
        "errors: %lld ERR replies, %lld wrong/out-of-order, %lld unanswered, "
        "%lld connections lost\n",
        static_cast<int>(conns_.size()), depth_, secs,
        static_cast<long long>(sent_), static_cast<long long>(replies_),
        replies_ / std::max(secs, 1e-9), latency_.Percentile(0.5),
        latency_.Percentile(0.9), latency_.Percentile(0.99),
        latency_.Percentile(0.999), latency_.max_us(),
        static_cast<long long>(errors_), static_cast<long long>(mismatches_),
        static_cast<long long>(sent_ - replies_),
        static_cast<long long>(lost_));
    std::fflush(stdout);
    return (errors_ == 0 && mismatches_ == 0 && sent_ == replies_ && lost_ == 0)
               ? 0
               : 1;
  }

  void Start() { start_ = last_ = absl::Now(); }
  absl::Time end() const { return end_; }
  void set_end(absl::Time t) { end_ = t; }

 private:
  static constexpr size_t kReadSize = 256 * 1024;

  // Tops the connection up to --depth requests in flight: the new lines go
  // out with the unsent ones in one send().
  void Fill(Conn* c) {
    if (!sending_ || c->dead || c->count >= static_cast<size_t>(depth_)) {
      Write(c);
      return;
    }
    const int64_t now = absl::GetCurrentTimeNanos();
    while (c->count < static_cast<size_t>(depth_)) {
      const uint32_t id = static_cast<uint32_t>(c->next);
      c->next = c->next + 1 == kPool ? 0 : c->next + 1;
      c->out.append(pool_[id].request);
      const size_t slot = (c->head + c->count) & (kMaxDepth - 1);
      c->ring[slot] = id;
      c->sent_ns[slot] = now;
      ++c->count;
      ++sent_;
    }
    Write(c);
  }

  void Write(Conn* c) {
    if (c->dead) return;
    while (c->out_pos < c->out.size()) {
      ssize_t n = send(c->sock.fileno(), c->out.data() + c->out_pos,
                       c->out.size() - c->out_pos, MSG_NOSIGNAL);
      if (n > 0) {
        c->out_pos += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      Lose(c);
      return;
    }
    if (c->out_pos == c->out.size()) {
      c->out.clear();
      c->out_pos = 0;
    }
    const bool want = c->out_pos < c->out.size();
    if (want && !c->writing) {
      loop_->AddWriter(c->sock.fileno(), [this, c] { Write(c); }).IgnoreError();
    } else if (!want && c->writing) {
      loop_->RemoveWriter(c->sock.fileno());
    }
    c->writing = want;
  }

  void OnRead(Conn* c) {
    for (;;) {
      ssize_t n =
          recv(c->sock.fileno(), c->in.data() + c->in_len, kReadSize, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n <= 0) {
        Lose(c);
        return;
      }
      c->in_len += static_cast<size_t>(n);
      Parse(c);
      if (c->dead) return;
      if (static_cast<size_t>(n) < kReadSize) break;
    }
    Fill(c);
    MaybeFinish();
  }

  // Checks the complete reply lines in c->in against the requests in
  // flight, in order; keeps a partial line for the next read.
  void Parse(Conn* c) {
    const char* p = c->in.data();
    const char* const end = p + c->in_len;
    const int64_t now = absl::GetCurrentTimeNanos();
    int64_t run_sent = 0, run = 0;  // Latency samples sharing a send time.
    while (p < end) {
      if (c->count == 0) {
        // A reply nobody asked for.
        const void* nl = std::memchr(p, '\n', static_cast<size_t>(end - p));
        if (nl == nullptr) break;
        ++mismatches_;
        p = static_cast<const char*>(nl) + 1;
        continue;
      }
      const size_t slot = c->head;
      const std::string& expect = pool_[c->ring[slot]].expect;
      const size_t avail = static_cast<size_t>(end - p);
      if (avail >= expect.size() &&
          std::memcmp(p, expect.data(), expect.size()) == 0) {
        p += expect.size();  // The common case: the expected line.
      } else {
        const void* nl = std::memchr(p, '\n', avail);
        if (nl == nullptr) {
          if (avail > max_reply_ + 4096) {  // No sane reply is this long.
            ++mismatches_;
            p = end;
          }
          break;  // Wait for the rest of the line.
        }
        const absl::string_view line(
            p, static_cast<size_t>(static_cast<const char*>(nl) - p));
        if (absl::StartsWith(line, "ERR")) {
          ++errors_;
          if (errors_ <= 5) {
            std::fprintf(stderr, "job_client: %s\n", std::string(line).c_str());
          }
        } else {
          ++mismatches_;
        }
        p = static_cast<const char*>(nl) + 1;
      }
      if (c->sent_ns[slot] != run_sent) {
        if (run > 0) latency_.Record(now - run_sent, run);
        run_sent = c->sent_ns[slot];
        run = 0;
      }
      ++run;
      c->head = (c->head + 1) & (kMaxDepth - 1);
      --c->count;
      ++replies_;
    }
    if (run > 0) latency_.Record(now - run_sent, run);
    c->in_len = static_cast<size_t>(end - p);
    if (c->in_len > 0) std::memmove(c->in.data(), p, c->in_len);
  }

  void Lose(Conn* c) {
    if (c->dead) return;
    c->dead = true;
    ++lost_;
    loop_->RemoveReader(c->sock.fileno());
    if (c->writing) loop_->RemoveWriter(c->sock.fileno());
    c->writing = false;
    c->count = 0;
    MaybeFinish();
  }

  void MaybeFinish() {
    if (sending_ || finished_) return;
    for (auto& c : conns_) {
      if (!c->dead && c->count > 0) return;
    }
    finished_ = true;
    end_ = absl::Now();
    loop_->Stop();
  }

  EventLoop* loop_;
  int depth_ = 1;
  std::vector<Template> pool_;
  size_t max_reply_ = 0;
  std::vector<std::unique_ptr<Conn>> conns_;
  bool sending_ = true;
  bool finished_ = false;
  int64_t sent_ = 0, replies_ = 0, errors_ = 0, mismatches_ = 0, lost_ = 0;
  int64_t last_replies_ = 0;
  bool drawn_in_place_ = false;
  absl::Time start_, last_, end_;
  LatencyHistogram latency_;
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  auto loop = EventLoop::Create();
  if (!loop.ok()) {
    std::fprintf(stderr, "job_client: %s\n", loop.status().ToString().c_str());
    return 1;
  }
  LoadGen gen(loop->get());
  if (!gen.Init()) {
    std::fprintf(stderr, "job_client: bad --mix or --depth\n");
    return 2;
  }
  if (!gen.Connect()) return 1;
  gen.Start();
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  (*loop)->CallLater(duration, [&] { gen.StopSending(); });
  // Replies still outstanding 30 s after the end count as unanswered.
  (*loop)->CallLater(duration + absl::Seconds(30), [&] {
    if (gen.end() == absl::Time()) gen.set_end(absl::Now());
    (*loop)->Stop();
  });
  // Redraw in place only on a terminal: into a log, carriage returns would
  // pile up.
  const bool in_place = isatty(STDERR_FILENO) == 1;
  std::function<void()> tick;
  tick = [&] {
    gen.Progress(in_place);
    (*loop)->CallLater(absl::Seconds(1), tick);
  };
  if (absl::GetFlag(FLAGS_progress)) {
    (*loop)->CallLater(absl::Seconds(1), tick);
  }
  absl::Status s = (*loop)->RunForever();
  if (!s.ok()) {
    std::fprintf(stderr, "job_client: %s\n", s.ToString().c_str());
    return 1;
  }
  return gen.Report();
}
