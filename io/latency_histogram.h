// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: latency_histogram.h
// -----------------------------------------------------------------------------
//
// LatencyHistogram: request latencies recorded lock-free from any thread,
// read as percentiles - what a service shows in its STATS line.
//
// Buckets are log-linear over microseconds (8 per power of two, from 1 us to
// ~12 days), so a percentile is exact to within ~9% (the upper bound of its
// bucket). Record() is one relaxed atomic add on two counters.
//
//   spindle::io::LatencyHistogram echo;
//   echo.Record(absl::Now() - request.received());
//   echo.Summary();  // "n=1234 p50=52us p99=1.21ms p999=3.40ms"
//
// Thread safety: all methods may be called concurrently; readers see a
// snapshot that may be mid-update (counts are relaxed).

#ifndef SPINDLE_IO_LATENCY_HISTOGRAM_H_
#define SPINDLE_IO_LATENCY_HISTOGRAM_H_

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace spindle::io {

class LatencyHistogram {
 public:
  // Records `n` samples of latency `d` (negative counts as zero).
  void Record(absl::Duration d, int64_t n = 1) {
    const double us = std::max(1.0, absl::ToDoubleMicroseconds(d));
    const int b = std::clamp(static_cast<int>(std::log2(us) * kPerOctave), 0,
                             kBuckets - 1);
    buckets_[b].fetch_add(n, std::memory_order_relaxed);
    count_.fetch_add(n, std::memory_order_relaxed);
  }

  int64_t count() const { return count_.load(std::memory_order_relaxed); }

  // The q-quantile (0 < q <= 1): the upper bound of its bucket; zero when
  // nothing was recorded.
  absl::Duration Percentile(double q) const {
    const int64_t total = count();
    if (total == 0) return absl::ZeroDuration();
    const int64_t want = std::max<int64_t>(1, std::llround(q * total));
    int64_t seen = 0;
    int b = 0;
    for (; b < kBuckets - 1; ++b) {
      seen += buckets_[b].load(std::memory_order_relaxed);
      if (seen >= want) break;
    }
    return absl::Microseconds(
        std::exp2(static_cast<double>(b + 1) / kPerOctave));
  }

  // "n=<count> p50=<d> p99=<d> p999=<d>", durations as Format() writes them.
  std::string Summary() const {
    return absl::StrFormat("n=%d p50=%s p99=%s p999=%s", count(),
                           Format(Percentile(0.5)), Format(Percentile(0.99)),
                           Format(Percentile(0.999)));
  }

  // A short human form: "850us", "1.21ms", "2.50s".
  static std::string Format(absl::Duration d) {
    const double us = absl::ToDoubleMicroseconds(d);
    if (us >= 1e6) return absl::StrFormat("%.2fs", us / 1e6);
    if (us >= 1e3) return absl::StrFormat("%.2fms", us / 1e3);
    return absl::StrFormat("%.0fus", us);
  }

 private:
  static constexpr int kPerOctave = 8;
  static constexpr int kBuckets = 40 * kPerOctave;
  std::array<std::atomic<int64_t>, kBuckets> buckets_{};
  std::atomic<int64_t> count_{0};
};

}  // namespace spindle::io

#endif  // SPINDLE_IO_LATENCY_HISTOGRAM_H_
