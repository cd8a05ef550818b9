// Links one component, spindle::queue, and nothing else of spindle.
#include <cstdio>

#include "spindle/concurrency/queue.h"
#include "spindle/concurrency/status.h"

int main() {
  spindle::LifoQueue<int> stack(2);
  if (!stack.Put(1).ok() || !stack.Put(2).ok()) return 1;
  if (!spindle::IsFull(stack.TryPut(3))) return 2;
  absl::StatusOr<int> top = stack.Get();
  if (!top.ok() || *top != 2) return 3;
  std::puts("spindle queue_only: ok");
  return 0;
}
