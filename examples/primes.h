// Copyright 2026 The spindle Authors.
//
// The job server's CPU-bound job, shared with its load generator (which
// checks the server's answers against it).

#ifndef SPINDLE_EXAMPLES_PRIMES_H_
#define SPINDLE_EXAMPLES_PRIMES_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace spindle_examples {

// Number of primes <= n (sieve of Eratosthenes); 0 for n < 2.
inline int64_t CountPrimes(int64_t n) {
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

}  // namespace spindle_examples

#endif  // SPINDLE_EXAMPLES_PRIMES_H_
