// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: latency_histogram.h
// -----------------------------------------------------------------------------
//
// LatencyHistogram: request latencies recorded from any number of threads
// without contention, read as percentiles - what a service shows in its
// STATS line.
//
// Buckets are log-linear over microseconds (8 per power of two, from 1 us to
// ~2^40 us), so a percentile is exact to within 12.5% (it reports the upper
// bound of its bucket). Each recording thread adds to one of kShards copies
// of the buckets (picked once per thread), so workers recording at once do
// not fight over cache lines; readers sum the shards.
//
//   spindle::io::LatencyHistogram echo;
//   echo.Record(absl::Now() - request.received());
//   echo.Summary();  // "n=1234 p50=52us p99=1.21ms p999=3.40ms"
//
// Thread safety: all methods may be called concurrently; readers see a
// snapshot that may be mid-update (counts are relaxed atomics).

#ifndef SPINDLE_IO_LATENCY_HISTOGRAM_H_
#define SPINDLE_IO_LATENCY_HISTOGRAM_H_

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstdint>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace spindle::io {

class LatencyHistogram {
 public:
  // Records `n` samples of latency `d` (below 1 us counts as 1 us).
  void Record(absl::Duration d, int64_t n = 1) {
    RecordNanos(absl::ToInt64Nanoseconds(d), n);
  }
  // The same, for a latency in nanoseconds (e.g. the difference of two
  // absl::GetCurrentTimeNanos() readings).
  void RecordNanos(int64_t ns, int64_t n = 1) {
    // One atomic add per sample (the count is the buckets' sum, read
    // rarely).
    shards_[ShardIndex()].buckets[Bucket(ns)].fetch_add(
        n, std::memory_order_relaxed);
  }

  // Samples recorded (sums every bucket: for reports, not per request).
  int64_t count() const {
    int64_t total = 0;
    for (const Shard& s : shards_) {
      for (const std::atomic<int64_t>& b : s.buckets) {
        total += b.load(std::memory_order_relaxed);
      }
    }
    return total;
  }

  // The q-quantile (0 < q <= 1): the upper bound of its bucket; zero when
  // nothing was recorded.
  absl::Duration Percentile(double q) const {
    std::array<int64_t, kBuckets> sum{};
    int64_t total = 0;
    for (const Shard& s : shards_) {
      for (int b = 0; b < kBuckets; ++b) {
        const int64_t v = s.buckets[b].load(std::memory_order_relaxed);
        sum[b] += v;
        total += v;
      }
    }
    if (total == 0) return absl::ZeroDuration();
    const int64_t want = std::max<int64_t>(
        1, static_cast<int64_t>(q * static_cast<double>(total) + 0.5));
    int64_t seen = 0;
    int b = 0;
    for (; b < kBuckets - 1; ++b) {
      seen += sum[b];
      if (seen >= want) break;
    }
    return UpperBound(b);
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
  static constexpr int kSub = 8;  // Buckets per power of two.
  static constexpr int kOctaves = 40;
  static constexpr int kBuckets = kOctaves * kSub;
  static constexpr int kShards = 8;

  // Bucket of `d`: octave o = floor(log2(us)), then which eighth of
  // [2^o, 2^(o+1)) holds it.
  static int Bucket(int64_t ns) {
    const uint64_t us = static_cast<uint64_t>(std::max<int64_t>(1, ns / 1000));
    const int o = std::bit_width(us) - 1;
    const uint64_t eighth = o >= 3 ? (us >> (o - 3)) & 7 : (us << (3 - o)) & 7;
    return std::min(kBuckets - 1, o * kSub + static_cast<int>(eighth));
  }
  static absl::Duration UpperBound(int b) {
    const int o = b / kSub, eighth = b % kSub;
    return absl::Nanoseconds((int64_t{1000} << o) * (kSub + eighth + 1) / kSub);
  }
  // This thread's shard, assigned round-robin on first use.
  static int ShardIndex() {
    static std::atomic<int> next{0};
    thread_local const int index =
        next.fetch_add(1, std::memory_order_relaxed) % kShards;
    return index;
  }

  struct alignas(64) Shard {
    std::array<std::atomic<int64_t>, kBuckets> buckets{};
  };
  std::array<Shard, kShards> shards_;
};

}  // namespace spindle::io

#endif  // SPINDLE_IO_LATENCY_HISTOGRAM_H_
