// Copyright 2026 The spindle Authors.
//
// job_client: a load generator for job_server, itself a spindle EventLoop
// program. It opens --connections connections, keeps --depth requests in
// flight on each (pipelining), picks commands from --mix, checks every reply
// against the expected answer and its order, prints a progress line each
// second, and at the end the throughput and latency percentiles.
//
//   ./bazelw run //examples:job_server &
//   ./bazelw run //examples:job_client -- --connections=64 --depth=8
//       --duration=10s --mix=ECHO:90,PRIMES:10   (one command line)
//
// Exit status: 0 when every request was answered correctly, 1 otherwise.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <deque>
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
#include "spindle/io/event_loop.h"
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
ABSL_FLAG(bool, progress, true, "print a progress line each second");

namespace {

using spindle::io::EventLoop;
using spindle::io::Socket;

struct Pending {
  std::string expect;
  absl::Time sent;
};

struct Conn {
  Socket sock;
  std::string in;
  std::string out;
  size_t out_pos = 0;
  std::deque<Pending> pending;
  bool writing = false;
  bool dead = false;
};

int64_t CountPrimes(int64_t n) {
  if (n < 2) return 0;
  std::vector<bool> composite(static_cast<size_t>(n) + 1, false);
  int64_t count = 0;
  for (int64_t i = 2; i <= n; ++i) {
    if (composite[i]) continue;
    ++count;
    for (int64_t j = i * i; j <= n; j += i) composite[j] = true;
  }
  return count;
}

class LoadGen {
 public:
  LoadGen(EventLoop* loop) : loop_(loop), rng_(12345) {}

  bool Init() {
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
      commands_.push_back(cmd);
      weights_.push_back(w);
    }
    if (commands_.empty()) return false;
    dist_ = std::discrete_distribution<int>(weights_.begin(), weights_.end());
    primes_answer_ = absl::StrCat(CountPrimes(absl::GetFlag(FLAGS_primes_n)));
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

  void Progress() {
    const absl::Duration elapsed = absl::Now() - start_;
    std::fprintf(stderr, "\r[%5.1fs] %lld replies, %.0f req/s, %lld errors  ",
                 absl::ToDoubleSeconds(elapsed),
                 static_cast<long long>(replies_),
                 (replies_ - last_replies_) /
                     std::max(1e-9, absl::ToDoubleSeconds(absl::Now() - last_)),
                 static_cast<long long>(errors_ + mismatches_));
    last_replies_ = replies_;
    last_ = absl::Now();
  }

  int Report() {
    if (absl::GetFlag(FLAGS_progress)) std::fprintf(stderr, "\n");
    const double secs = absl::ToDoubleSeconds(end_ - start_);
    std::sort(latencies_us_.begin(), latencies_us_.end());
    auto pct = [&](double q) -> double {
      if (latencies_us_.empty()) return 0;
      size_t i = std::min(latencies_us_.size() - 1,
                          static_cast<size_t>(q * latencies_us_.size()));
      return latencies_us_[i];
    };
    std::printf(
        "job_client: %d connections x depth %d, %.2fs: %lld requests, %lld "
        "replies, %.0f req/s\n"
        "latency: p50 %.0fus  p90 %.0fus  p99 %.0fus  p99.9 %.0fus  max "
        "%.0fus\n"
        "errors: %lld ERR replies, %lld wrong/out-of-order, %lld unanswered, "
        "%lld connections lost\n",
        static_cast<int>(conns_.size()), absl::GetFlag(FLAGS_depth), secs,
        static_cast<long long>(sent_), static_cast<long long>(replies_),
        replies_ / std::max(secs, 1e-9), pct(0.5), pct(0.9), pct(0.99),
        pct(0.999), latencies_us_.empty() ? 0.0 : latencies_us_.back(),
        static_cast<long long>(errors_), static_cast<long long>(mismatches_),
        static_cast<long long>(sent_ - replies_),
        static_cast<long long>(lost_));
    std::fflush(stdout);
    return (errors_ == 0 && mismatches_ == 0 && sent_ == replies_ && lost_ == 0)
               ? 0
               : 1;
  }

  void Start() { start_ = last_ = absl::Now(); }

 private:
  void Fill(Conn* c) {
    const int depth = absl::GetFlag(FLAGS_depth);
    while (sending_ && !c->dead &&
           static_cast<int>(c->pending.size()) < depth) {
      const std::string& cmd = commands_[dist_(rng_)];
      std::string req, expect;
      if (cmd == "ECHO" || cmd == "UPPER") {
        std::string text(absl::GetFlag(FLAGS_echo_size), 'x');
        for (char& ch : text) ch = "abcdefghij"[rng_() % 10];
        text += absl::StrCat(sent_);
        req = absl::StrCat(cmd, " ", text);
        expect = cmd == "ECHO" ? text : absl::AsciiStrToUpper(text);
      } else if (cmd == "PRIMES") {
        req = absl::StrCat("PRIMES ", absl::GetFlag(FLAGS_primes_n));
        expect = primes_answer_;
      } else {
        req = absl::StrCat("SLEEP ", absl::GetFlag(FLAGS_sleep_ms));
        expect = absl::StrCat("SLEPT ", absl::GetFlag(FLAGS_sleep_ms));
      }
      c->out += req;
      c->out += '\n';
      c->pending.push_back(Pending{std::move(expect), absl::Now()});
      ++sent_;
    }
    Write(c);
  }

  void Write(Conn* c) {
    while (c->out_pos < c->out.size()) {
      auto n = c->sock.Send(absl::string_view(c->out).substr(c->out_pos));
      if (!n.ok()) {
        if (spindle::io::IsWouldBlock(n.status())) break;
        Lose(c);
        return;
      }
      c->out_pos += *n;
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
    char buf[65536];
    for (;;) {
      auto n = c->sock.Recv(buf, sizeof(buf));
      if (!n.ok()) {
        if (spindle::io::IsWouldBlock(n.status())) break;
        Lose(c);
        return;
      }
      if (*n == 0) {
        Lose(c);
        return;
      }
      c->in.append(buf, *n);
      if (*n < sizeof(buf)) break;
    }
    size_t pos = 0;
    const absl::Time now = absl::Now();
    for (;;) {
      size_t nl = c->in.find('\n', pos);
      if (nl == std::string::npos) break;
      absl::string_view line(c->in.data() + pos, nl - pos);
      pos = nl + 1;
      if (c->pending.empty()) {
        ++mismatches_;
        continue;
      }
      Pending& p = c->pending.front();
      if (absl::StartsWith(line, "ERR")) {
        ++errors_;
        if (errors_ <= 5) {
          std::fprintf(stderr, "job_client: %s\n", std::string(line).c_str());
        }
      } else if (line != p.expect) {
        ++mismatches_;
      }
      latencies_us_.push_back(absl::ToDoubleMicroseconds(now - p.sent));
      ++replies_;
      c->pending.pop_front();
    }
    c->in.erase(0, pos);
    Fill(c);
    MaybeFinish();
  }

  void Lose(Conn* c) {
    if (c->dead) return;
    c->dead = true;
    ++lost_;
    loop_->RemoveReader(c->sock.fileno());
    if (c->writing) loop_->RemoveWriter(c->sock.fileno());
    c->writing = false;
    c->pending.clear();
    MaybeFinish();
  }

  void MaybeFinish() {
    if (sending_) return;
    for (auto& c : conns_) {
      if (!c->dead && !c->pending.empty()) return;
    }
    end_ = absl::Now();
    loop_->Stop();
  }

  EventLoop* loop_;
  std::mt19937 rng_;
  std::vector<std::string> commands_;
  std::vector<int> weights_;
  std::discrete_distribution<int> dist_;
  std::string primes_answer_;
  std::vector<std::unique_ptr<Conn>> conns_;
  bool sending_ = true;
  int64_t sent_ = 0, replies_ = 0, errors_ = 0, mismatches_ = 0, lost_ = 0;
  int64_t last_replies_ = 0;
  absl::Time start_, last_, end_;
  std::vector<double> latencies_us_;

 public:
  absl::Time end() const { return end_; }
  void set_end(absl::Time t) { end_ = t; }
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
    std::fprintf(stderr, "job_client: bad --mix\n");
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
  std::function<void()> tick;
  tick = [&] {
    gen.Progress();
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
