// Copyright 2026 The spindle Authors.
//
// pool_futures: the seed tutorial's ThreadPoolExecutor "spider", in C++.
//
// The Python original (seeds/004, "线程池"):
//
//   def spider(page):
//       time.sleep(page)
//       print(f"crawl task{page} finished")
//       return page
//
//   with ThreadPoolExecutor(max_workers=5) as pool:
//       all_task = [pool.submit(spider, page) for page in range(1, 5)]
//       wait(all_task, return_when=FIRST_COMPLETED)
//       print('finished')
//       print(wait(all_task, timeout=2.5))
//
// plus the tutorial's as_completed, map and add_done_callback snippets.
// Instead of crawling the network, each "page" sleeps page * --page_ms
// milliseconds (fake work), so the program ends by itself in about a
// second with the default flags.
//
//   ./bazelw run //examples:pool_futures -- --page_ms=100

#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spindle/concurrency/future.h"
#include "spindle/concurrency/lock.h"
#include "spindle/concurrency/thread_pool.h"

ABSL_FLAG(int, page_ms, 100, "fake crawl time per page number, milliseconds");

namespace {

// stdout is shared by the workers; one line at a time.
spindle::Lock print_lock;
void Say(const std::string& line) {
  spindle::LockGuard lock(&print_lock);
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

// The spider: "crawling" page n takes n units of time.
int Spider(int page) {
  absl::SleepFor(absl::Milliseconds(page * absl::GetFlag(FLAGS_page_ms)));
  Say(absl::StrCat("crawl task", page, " finished"));
  return page;
}

// For the callback snippet: raises for a bad argument, like `work(num)`.
int Work(int num) {
  if (num < 0) throw std::invalid_argument("num must not be negative");
  return num;
}

std::string Names(const std::vector<spindle::Future<int>>& fs) {
  std::string out = "{";
  for (const auto& f : fs) {
    absl::StatusOr<int> r = f.ResultFor(absl::ZeroDuration());
    absl::StrAppend(&out, out.size() > 1 ? ", " : "",
                    r.ok() ? absl::StrCat("task", *r) : "pending");
  }
  return out + "}";
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const absl::Duration unit = absl::Milliseconds(absl::GetFlag(FLAGS_page_ms));

  {
    // `with ThreadPoolExecutor(max_workers=5) as pool:` — the pool's
    // destructor is the end of the `with` block: it waits for the tasks.
    spindle::ThreadPoolExecutor pool({.max_workers = 5});

    // all_task = [pool.submit(spider, page) for page in range(1, 5)]
    std::vector<spindle::Future<int>> all_task;
    for (int page = 1; page < 5; ++page) {
      all_task.push_back(pool.Submit(Spider, page));
    }

    // wait(all_task, return_when=FIRST_COMPLETED): returns as soon as page 1
    // is crawled.
    auto first = spindle::Wait(all_task, absl::InfiniteDuration(),
                               spindle::ReturnWhen::kFirstCompleted);
    Say(absl::StrCat("finished (", first.done.size(), " done, ",
                     first.not_done.size(), " not done)"));

    // print(wait(all_task, timeout=2.5)): ALL_COMPLETED, but give up after
    // 2.5 units; pages 3 and 4 take 3 and 4 units, so they may still be
    // running. A timeout is not an error: they are just in not_done.
    auto later = spindle::Wait(all_task, unit * 2.5);
    Say(absl::StrCat("DoneAndNotDoneFutures(done=", Names(later.done),
                     ", not_done=", Names(later.not_done), ")"));
  }  // Waits for pages 3 and 4, like leaving the `with` block.

  {
    // as_completed: results in the order they finish, not submit order.
    spindle::ThreadPoolExecutor pool({.max_workers = 5});
    std::vector<spindle::Future<int>> tasks;
    for (int page : {3, 1, 2}) tasks.push_back(pool.Submit(Spider, page));
    for (absl::StatusOr<spindle::Future<int>>& f :
         spindle::AsCompleted(tasks, unit * 10)) {
      if (!f.ok()) {  // Timed out (does not happen with these numbers).
        Say(absl::StrCat("as_completed: ", f.status().ToString()));
        break;
      }
      Say(absl::StrCat("as_completed got page ", *f->Result()));
    }

    // map: results in input order, whatever order they finish in.
    for (absl::StatusOr<int>& page : pool.Map(Spider, std::vector<int>{2, 1})) {
      Say(absl::StrCat("map got page ", *page));
    }

    // pool.submit(work, i, name=...) in a loop: fire a few, and an
    // add_done_callback that prints result() and exception().
    for (int num : {123, -1}) {
      spindle::Future<int> res = pool.Submit(Work, num);
      res.AddDoneCallback([](const spindle::Future<int>& future) {
        absl::StatusOr<std::exception_ptr> e = future.Exception();
        if (!e.ok()) {
          Say(absl::StrCat("error ", e.status().ToString()));
        } else if (*e == nullptr) {
          Say(absl::StrCat("result ", *future.Result(), ", exception None"));
        } else {
          try {
            std::rethrow_exception(*e);
          } catch (const std::exception& ex) {
            Say(absl::StrCat("exception ", ex.what()));
          }
        }
      });
    }

    // Beyond Python: a continuation.
    spindle::Future<std::string> title = pool.Submit(Spider, 1).Then(
        [](int page) { return absl::StrCat("page ", page, " has a title"); });
    Say(*title.Result());

    pool.Shutdown();  // wait=True, as leaving `with`.
  }
  Say("all done");
  return 0;
}
