// A downstream program: includes spindle as spindle/concurrency/... and links
// @spindle targets. Exits non-zero if the library does not behave.
#include <cstdio>

#include "spindle/concurrency/status.h"

int main() {
  if (!spindle::IsTimeout(spindle::TimeoutError("t"))) return 1;
  std::puts("spindle consumer: ok");
  return 0;
}
