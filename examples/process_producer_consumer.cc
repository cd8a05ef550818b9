// Copyright 2026 The spindle Authors.
//
// The multiprocessing producer-consumer program from the seed tutorial (a
// Chinese introduction to Python's threading, queue and multiprocessing
// modules), ported to spindle: the process version of
// examples/producer_consumer.cc.
//
// The Python original:
//
//   q = multiprocessing.JoinableQueue()
//   lock = multiprocessing.Lock()
//   two daemon Consumer processes (甲, 乙): forever { item = q.get();
//       with lock: print(...); sleep 1..2 s;  q.task_done() }
//   one Producer process (大厨 "head chef"): 20 times { print(...);
//       sleep 0..1 s; q.put("data-N") }; then q.join()
//   main: start everything, p.join() the producer, exit (which terminates
//       the daemon consumers).
//
// The spindle version has the same shape: a JoinableProcessQueue created
// before the processes are forked (so all three share it), spindle::Process
// for the producer and the consumers, TaskDone/Join across processes. Two
// differences, both said again where they happen:
//
//   * spindle has no multiprocessing.Lock; a ProcessQueue holding a single
//     token plays it (Get takes the token = acquire, Put gives it back =
//     release), a classic trick that works with any process-safe queue.
//   * Rather than relying on daemon processes being killed at exit, main
//     shuts the queue down once the producer is done (Python 3.13's
//     shutdown): each consumer's Get then fails with IsShutDown and the
//     consumer returns, so the program ends cleanly and checks its
//     children's exit codes.
//
// Times are scaled down (flags) so the run takes about a second;
// --work_ms=1000 --make_ms=1000 restore the original pace.

#include <unistd.h>

#include <cstdio>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spindle/concurrency/status.h"
#include "spindle/process/process.h"
#include "spindle/process/process_queue.h"

ABSL_FLAG(int, items, 20, "items the producer makes");
ABSL_FLAG(int, work_ms, 20,
          "a consumer spends work_ms..2*work_ms on each item "
          "(the original: 1000)");
ABSL_FLAG(int, make_ms, 10,
          "the producer spends 0..make_ms making each item "
          "(the original: 1000)");

namespace {

// A random duration in [lo, hi) milliseconds. Each process seeds its own
// generator (a forked child would otherwise repeat its parent's numbers).
absl::Duration RandomMs(double lo, double hi) {
  static std::mt19937 gen{std::random_device{}() ^
                          static_cast<unsigned>(getpid())};
  return absl::Milliseconds(
      std::uniform_real_distribution<double>(lo, hi)(gen));
}

// Prints one line and flushes it at once, so that the lines of the three
// processes come out whole and in the order they were written.
void Say(const std::string& line) {
  std::fputs((line + "\n").c_str(), stdout);
  std::fflush(stdout);
}

// multiprocessing.Lock() stand-in: a queue with room for one token.
// Acquire takes the token (blocking while another process holds it),
// Release puts it back.
class TokenLock {
 public:
  static absl::StatusOr<TokenLock> Create() {
    absl::StatusOr<spindle::ProcessQueue> q =
        spindle::ProcessQueue::Create({.capacity_bytes = 64, .maxsize = 1});
    if (!q.ok()) return q.status();
    if (absl::Status s = q->Put("token"); !s.ok()) return s;
    return TokenLock(*std::move(q));
  }
  void Acquire() { (void)q_.Get(); }
  void Release() { (void)q_.Put("token"); }

 private:
  explicit TokenLock(spindle::ProcessQueue q) : q_(std::move(q)) {}
  spindle::ProcessQueue q_;
};

// class Consumer(multiprocessing.Process): run() takes items until the
// queue is shut down. Returns the process's exit code.
int Consumer(spindle::JoinableProcessQueue& q, TokenLock& lock,
             const std::string& name, int work_ms) {
  for (;;) {
    // item = self.q.get()  -- blocks while the queue is empty.
    absl::StatusOr<std::string> item = q.Get();
    if (!item.ok()) {
      // The Python consumer is a daemon and never gets here; ours is told
      // to stop by Shutdown(): Get fails with ShutDown once the queue is
      // empty.
      if (spindle::IsShutDown(item.status())) break;
      Say(absl::StrCat(name, ": unexpected ", item.status().ToString()));
      return 1;
    }
    lock.Acquire();  // with self.lock:
    Say(absl::StrCat(name, ": 处理 (processing) ", *item, "...."));
    absl::SleepFor(RandomMs(work_ms, 2.0 * work_ms));  // Simulated work.
    lock.Release();
    // self.q.task_done(): lets Join() (in the producer process) count this
    // item as finished.
    if (absl::Status s = q.TaskDone(); !s.ok()) {
      Say(absl::StrCat(name, ": TaskDone: ", s.ToString()));
      return 1;
    }
  }
  Say(absl::StrCat(name, ": 队列已关闭，退出 (queue shut down, leaving)"));
  return 0;
}

// class Producer(multiprocessing.Process): makes `count` items, then waits
// until the consumers (other processes) have processed every one of them.
int Producer(spindle::JoinableProcessQueue& q, const std::string& name,
             int count, int make_ms) {
  for (int num = 0; num < count; ++num) {
    const std::string data = absl::StrCat("data-", num);
    Say(absl::StrCat(name, ": 生成数据 (made) ", data));
    absl::SleepFor(RandomMs(0, make_ms));  // Simulated making.
    // self.q.put(data): copies the bytes into the shared queue.
    if (absl::Status s = q.Put(data); !s.ok()) {
      Say(absl::StrCat(name, ": could not put ", data, ": ", s.ToString()));
      return 1;
    }
  }
  // self.q.join(): returns once task_done() was called, in any process, for
  // every item put.
  q.Join();
  Say(absl::StrCat(name, ": 全部数据都处理完了 (every item was processed)"));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int items = absl::GetFlag(FLAGS_items);
  const int work_ms = absl::GetFlag(FLAGS_work_ms);
  const int make_ms = absl::GetFlag(FLAGS_make_ms);

  // q = multiprocessing.JoinableQueue(); lock = multiprocessing.Lock()
  // Both must exist before the processes are forked: the children inherit
  // them (the shared memory behind them) from this process.
  absl::StatusOr<spindle::JoinableProcessQueue> q =
      spindle::JoinableProcessQueue::Create();
  absl::StatusOr<TokenLock> lock = TokenLock::Create();
  if (!q.ok() || !lock.ok()) {
    std::fprintf(stderr, "cannot create the queue or the lock: %s %s\n",
                 q.status().ToString().c_str(),
                 lock.status().ToString().c_str());
    return 1;
  }

  // 启动两个消费者进程 (start two consumer processes). daemon: if main ended
  // early, they would be terminated rather than left running.
  std::vector<spindle::Process> consumers;
  consumers.reserve(2);
  for (const char* name : {"甲", "乙"}) {
    const std::string full_name = absl::StrCat("消费者-", name);
    consumers.emplace_back(
        spindle::Process::Options{.name = full_name, .daemon = true},
        [&q, &lock, full_name, work_ms] {
          return Consumer(*q, *lock, full_name, work_ms);
        });
  }
  for (spindle::Process& c : consumers) {
    if (absl::Status s = c.Start(); !s.ok()) {
      std::fprintf(stderr, "start %s: %s\n", c.name().c_str(),
                   s.ToString().c_str());
      return 1;
    }
  }

  // 生成者只开一个进程 (a single producer process).
  spindle::Process producer(
      spindle::Process::Options{.name = "生产者-大厨"}, [&q, items, make_ms] {
        return Producer(*q, "生产者-大厨", items, make_ms);
      });
  if (absl::Status s = producer.Start(); !s.ok()) {
    std::fprintf(stderr, "start producer: %s\n", s.ToString().c_str());
    return 1;
  }

  // p.join()  # 等结束 (wait for the end)
  producer.Join();

  // The producer returned from Join(), so every item was processed and the
  // consumers are idle in Get(): shut the queue down to release them,
  // instead of killing daemon processes.
  q->Shutdown();
  int failures = producer.exitcode() == 0 ? 0 : 1;
  for (spindle::Process& c : consumers) {
    c.Join();
    if (c.exitcode() != 0) ++failures;
  }
  Say(absl::StrCat("全部任务已完成 (all ", items,
                   " items processed; unfinished: ", q->unfinished_tasks(),
                   ")"));
  return failures == 0 ? 0 : 1;
}
