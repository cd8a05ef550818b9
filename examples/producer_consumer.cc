// Copyright 2026 The spindle Authors.
//
// The producer-consumer program from the seed tutorial (a Chinese
// introduction to Python's threading and queue modules), ported to spindle.
//
// The Python original starts three daemon consumer threads (甲, 乙, 丙) that
// loop forever on q.get(), "process" each item under a shared lock for 1–2
// seconds, and call q.task_done(). Two producers (大厨 "head chef" and 小厨
// "junior chef") each make 20 items, sleeping 0–1 s before each q.put(),
// and then call q.join() to wait until everything has been processed. The
// program ends when the main thread ends, killing the daemon consumers.
//
// C++ has no daemon threads that die silently with main, so this port ends
// the consumers the Python 3.13 way: once the producers are done (and so
// every item has been processed, thanks to Join), main calls
// q.Shutdown(), every consumer blocked in Get() wakes with a ShutDown error
// and leaves its loop, and main joins them. The program terminates by
// itself.
//
// The tutorial's two smaller demos follow: a bounded Queue(5) filled by main
// and drained by one worker (put blocks while the queue is full), and a
// PriorityQueue that returns [1,"a"], [2,"b"], [3,"c"].
//
// Times are scaled down (flags) so that the whole program runs in about a
// second; --work_ms and --make_ms restore the original pace (1000 / 1000).
//
// The tutorial's threading.Thread subclasses become spindle::Thread objects
// running plain functions (with the thread's name, as Python's
// Thread(name=...)), and its threading.Lock a spindle::Lock.

#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spindle/concurrency/lock.h"
#include "spindle/concurrency/queue.h"
#include "spindle/concurrency/status.h"
#include "spindle/concurrency/thread.h"

ABSL_FLAG(int, items, 20, "items each producer makes");
ABSL_FLAG(int, work_ms, 20,
          "a consumer spends work_ms..2*work_ms on each item "
          "(the original: 1000)");
ABSL_FLAG(int, make_ms, 10,
          "a producer spends 0..make_ms making each item (the original: 1000)");

namespace {

// A random duration in [lo, hi) milliseconds; one generator per thread.
absl::Duration RandomMs(double lo, double hi) {
  thread_local std::mt19937 gen{std::random_device{}()};
  return absl::Milliseconds(
      std::uniform_real_distribution<double>(lo, hi)(gen));
}

// class Consumer(threading.Thread): takes items until the queue is shut
// down. `print_lock` plays the tutorial's threading.Lock: it serialises the
// "processing" (and so the output), exactly as `with self.lock:` does there.
void Consumer(spindle::Queue<std::string>& q, spindle::Lock& print_lock,
              int work_ms) {
  const std::string name = spindle::CurrentThread().name();  // self.name
  for (;;) {
    // item = self.q.get()  -- blocks while the queue is empty.
    absl::StatusOr<std::string> item = q.Get();
    if (!item.ok()) {
      // The Python version is a daemon and never gets here; ours is told to
      // stop by Shutdown(): Get fails with ShutDown once the queue is empty.
      if (spindle::IsShutDown(item.status())) break;
      std::fprintf(stderr, "%s: unexpected %s\n", name.c_str(),
                   item.status().ToString().c_str());
      break;
    }
    {
      spindle::LockGuard lock(&print_lock);  // with self.lock:
      std::printf("%s: 处理 (processing) %s....\n", name.c_str(),
                  item->c_str());
      std::fflush(stdout);
      absl::SleepFor(RandomMs(work_ms, 2.0 * work_ms));  // Simulated work.
    }
    // self.q.task_done(): lets Join() count this item as finished.
    if (absl::Status s = q.TaskDone(); !s.ok()) {
      std::fprintf(stderr, "TaskDone: %s\n", s.ToString().c_str());
    }
  }
  std::printf("%s: 队列已关闭，退出 (queue shut down, leaving)\n",
              name.c_str());
}

// class Producer(threading.Thread): makes `count` items, then waits until
// every item put so far has been processed.
void Producer(spindle::Queue<std::string>& q, int count, int make_ms) {
  const std::string name = spindle::CurrentThread().name();  // self.name
  for (int num = 0; num < count; ++num) {
    std::string data = absl::StrCat("data-", num);
    std::printf("%s: 生成数据 (made) %s\n", name.c_str(), data.c_str());
    absl::SleepFor(RandomMs(0, make_ms));  // Simulated making.
    // self.q.put(data): Put only moves from `data` when it succeeds, so on
    // an error the item would still be ours to report.
    if (absl::Status s = q.Put(std::move(data)); !s.ok()) {
      std::fprintf(stderr, "%s: could not put %s: %s\n", name.c_str(),
                   data.c_str(), s.ToString().c_str());
      return;
    }
  }
  // self.q.join(): returns once task_done() was called for every item put.
  q.Join();
}

// The tutorial's first demo: Queue(5) (holds at most five items), one worker,
// main puts ten items; put blocks whenever the queue is full.
void BoundedDemo(int work_ms) {
  std::printf("\n--- Queue(5) with one worker ---\n");
  spindle::Queue<int> q(5);
  spindle::Thread worker([&q, work_ms] {
    for (;;) {
      std::printf("qsize: %zu\n", q.qsize());
      absl::StatusOr<int> item = q.Get();  // Blocks while empty.
      if (!item.ok()) return;              // Shut down: we are done.
      std::printf("Working on %d\n", *item);
      absl::SleepFor(absl::Milliseconds(work_ms / 2));  // Simulated work.
      std::printf("Finished %d\n", *item);
      (void)q.TaskDone();
    }
  });
  if (!worker.Start().ok()) return;  // worker.start()
  std::printf("队列是否为空 (queue empty?): %s\n",
              q.empty() ? "True" : "False");
  for (int item = 0; item < 10; ++item) {
    if (q.full()) std::printf("已经满了,阻塞 (full, blocking)...\n");
    (void)q.Put(item);  // Blocks while full.
  }
  std::printf("全部元素已经放入队列中 (all items are in the queue)\n");
  q.Join();  // Until unfinished_tasks() is 0.
  std::printf("全部任务已完成 (all tasks done)\n");
  q.Shutdown();  // Instead of a daemon thread: tell the worker to leave.
  worker.Join();
}

// The tutorial's PriorityQueue demo: the smallest item comes out first.
void PriorityDemo() {
  std::printf("\n--- PriorityQueue ---\n");
  spindle::PriorityQueue<std::pair<int, std::string>> q;
  (void)q.Put({3, "c"});
  (void)q.Put({1, "a"});
  (void)q.Put({2, "b"});
  for (int i = 0; i < 3; ++i) {
    std::pair<int, std::string> item = *q.Get();
    std::printf("[%d, '%s']\n", item.first, item.second.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int items = absl::GetFlag(FLAGS_items);
  const int work_ms = absl::GetFlag(FLAGS_work_ms);
  const int make_ms = absl::GetFlag(FLAGS_make_ms);

  std::printf("--- producers and consumers ---\n");
  spindle::Queue<std::string> q;  // queue.Queue(): unbounded.
  spindle::Lock print_lock;       // threading.Lock()

  // Every thread is made, then started: Thread(...) and .start() in Python.
  // spindle::Thread runs `fn(args...)`; std::ref passes the queue and the
  // lock by reference, as Python passes objects.
  // list(map(lambda name: Consumer(q, lock, name).start(), ["甲","乙","丙"]))
  std::vector<spindle::Thread> consumers;
  for (const char* name : {"甲", "乙", "丙"}) {
    consumers.emplace_back(
        spindle::Thread::Options{.name = absl::StrCat("消费者-", name)},
        Consumer, std::ref(q), std::ref(print_lock), work_ms);
  }
  // Producers 大厨 and 小厨, each making `items` items.
  std::vector<spindle::Thread> producers;
  for (const char* name : {"大厨", "小厨"}) {
    producers.emplace_back(
        spindle::Thread::Options{.name = absl::StrCat("生产者-", name)},
        Producer, std::ref(q), items, make_ms);
  }
  for (auto* group : {&consumers, &producers}) {
    for (spindle::Thread& t : *group) {
      if (absl::Status s = t.Start(); !s.ok()) {
        std::fprintf(stderr, "%s: %s\n", t.name().c_str(),
                     s.ToString().c_str());
        q.Shutdown();  // lets the threads already started finish
        return 1;      // (the Thread destructors join them)
      }
    }
  }
  for (spindle::Thread& p : producers) p.Join();  // "等结束" (wait for the end)

  // Every producer returned from Join(), so every item was processed. The
  // consumers are idle in Get(): shut the queue down to release them.
  q.Shutdown();
  for (spindle::Thread& c : consumers) c.Join();
  std::printf("全部任务已完成 (all %d items processed; unfinished: %lld)\n",
              2 * items, static_cast<long long>(q.unfinished_tasks()));

  BoundedDemo(work_ms);
  PriorityDemo();
  return 0;
}
