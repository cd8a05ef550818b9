// A downstream program: includes spindle as spindle/<dir>/<header>.h and links
// spindle::spindle, as README "Building with CMake" describes. Exits non-zero
// if the library does not behave.
#include <cstdio>

#include "absl/status/statusor.h"
#include "spindle/concurrency/queue.h"
#include "spindle/concurrency/status.h"
#include "spindle/concurrency/thread_pool.h"
#include "spindle/io/selectors.h"

int main() {
  spindle::Queue<int> queue(4);
  spindle::ThreadPoolExecutor pool({.max_workers = 2});
  auto future = pool.Submit([&queue] { return queue.Put(42); });
  if (!future.Result().ok() || !future.Result()->ok()) return 1;
  absl::StatusOr<int> got = queue.Get();
  if (!got.ok() || *got != 42) return 2;
  if (!spindle::IsEmpty(queue.TryGet().status())) return 3;
  auto selector = spindle::io::DefaultSelector<int>();
  if (!selector.ok()) return 4;
  pool.Shutdown(/*wait=*/true, /*cancel_futures=*/false);
  std::puts("spindle consumer: ok");
  return 0;
}
