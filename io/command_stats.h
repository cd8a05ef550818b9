// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: command_stats.h
// -----------------------------------------------------------------------------
//
// CommandStats: what a line-protocol service reports about its commands -
// for each command of a fixed list, how many requests succeeded and failed
// and their latency (LatencyHistogram, from when the request was read to
// when it was answered).
//
//   spindle::io::CommandStats stats({"ECHO", "SLEEP"});
//   stats.Record(0, absl::Now() - request.received(), /*ok=*/true);
//   stats.Fields();  // " ECHO:n=1,p50=2us,p99=2us"
//
// Thread safety: Record and the readers may be called from any thread at
// once (see LatencyHistogram); done()/failed() are relaxed snapshots.

#ifndef SPINDLE_IO_COMMAND_STATS_H_
#define SPINDLE_IO_COMMAND_STATS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spindle/io/latency_histogram.h"

namespace spindle::io {

class CommandStats {
 public:
  explicit CommandStats(std::vector<std::string> names)
      : names_(std::move(names)),
        latency_(std::make_unique<LatencyHistogram[]>(names_.size())) {}

  // A request of command `i` (an index into the names) was answered after
  // `latency`; `ok`: successfully (not with an error).
  void Record(size_t i, absl::Duration latency, bool ok) {
    RecordNanos(i, absl::ToInt64Nanoseconds(latency), ok);
  }
  // The same, with the latency in nanoseconds, for `n` requests at once
  // (each counted as one sample of that latency).
  void RecordNanos(size_t i, int64_t latency_ns, bool ok, int64_t n = 1) {
    latency_[i].RecordNanos(latency_ns, n);  // Counts them, done or failed.
    if (!ok) failed_known_.Add(n);
  }
  // A request of command `i` read at `received` is answered now.
  void RecordSince(size_t i, absl::Time received, bool ok) {
    RecordNanos(i, absl::GetCurrentTimeNanos() - absl::ToUnixNanos(received),
                ok);
  }
  // A request that named no command (counted as failed, no latency).
  void RecordUnknown() { failed_unknown_.Add(1); }

  // Command `i`'s latencies (every request recorded, done or failed).
  const LatencyHistogram& latency(size_t i) const { return latency_[i]; }

  // Requests that succeeded / failed (sums of per-thread counts: recording
  // touches no counter that all threads share).
  int64_t done() const {
    int64_t total = 0;
    for (size_t i = 0; i < names_.size(); ++i) total += latency_[i].count();
    return total - failed_known_.Sum();
  }
  int64_t failed() const { return failed_known_.Sum() + failed_unknown_.Sum(); }

  // For a STATS line: " NAME:n=N,p50=D,p99=D" for each command that has
  // samples.
  std::string Fields() const {
    std::string out;
    for (size_t i = 0; i < names_.size(); ++i) {
      const LatencyHistogram& h = latency_[i];
      if (h.count() == 0) continue;
      absl::StrAppend(&out, " ", names_[i], ":n=", h.count(),
                      ",p50=", LatencyHistogram::Format(h.Percentile(0.5)),
                      ",p99=", LatencyHistogram::Format(h.Percentile(0.99)));
    }
    return out;
  }
  // For a report: "  NAME n=N p50=D p99=D p999=D\n" for each command that
  // has samples.
  std::string Lines() const {
    std::string out;
    for (size_t i = 0; i < names_.size(); ++i) {
      if (latency_[i].count() == 0) continue;
      absl::StrAppend(&out, "  ", names_[i], " ", latency_[i].Summary(), "\n");
    }
    return out;
  }

 private:
  // A counter with one cache line per thread shard.
  class ShardedCounter {
   public:
    void Add(int64_t n) {
      static std::atomic<int> next{0};
      thread_local const int shard =
          next.fetch_add(1, std::memory_order_relaxed) % kShards;
      shards_[shard].v.fetch_add(n, std::memory_order_relaxed);
    }
    int64_t Sum() const {
      int64_t total = 0;
      for (const Shard& s : shards_) {
        total += s.v.load(std::memory_order_relaxed);
      }
      return total;
    }

   private:
    static constexpr int kShards = 8;
    struct alignas(64) Shard {
      std::atomic<int64_t> v{0};
    };
    Shard shards_[kShards];
  };

  const std::vector<std::string> names_;
  const std::unique_ptr<LatencyHistogram[]> latency_;
  ShardedCounter failed_known_;    // Failures with a command.
  ShardedCounter failed_unknown_;  // Lines that named none.
};

}  // namespace spindle::io

#endif  // SPINDLE_IO_COMMAND_STATS_H_
