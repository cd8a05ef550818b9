// Copyright 2026 The spindle Authors.
//
// SlotRing, the lock-free ring of sequence-numbered slots under FifoQueue
// (private to spindle/concurrency/queue.h).

#ifndef SPINDLE_CONCURRENCY_INTERNAL_QUEUE_SLOTS_H_
#define SPINDLE_CONCURRENCY_INTERNAL_QUEUE_SLOTS_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <thread>
#include <utility>
#include <vector>

#include "spindle/concurrency/internal/perturb.h"
#include "spindle/concurrency/internal/spin.h"

namespace spindle {
namespace queue_internal {

// ---------------------------------------------------------------------------
// SlotRing<T>: a bounded multi-producer multi-consumer ring of slots, each
// carrying a sequence number that says whose turn the slot is (after Dmitry
// Vyukov's bounded MPMC queue; written for spindle), plus the two things a
// Python queue needs on top: a close bit that stops new puts at one instant,
// and growth.
//
//   * Positions are ever-increasing 56-bit counters: `puts_` (the next
//     position to fill) and `gets_` (the next to empty). Position p lives in
//     slot p % capacity. Slot s's sequence number is p when s is free for the
//     put of position p, p + 1 once that put has published its item, and
//     p + capacity once the get of p has taken it (free for p + capacity).
//   * A put claims position p with one CAS on `puts_` (after checking that
//     slot p is free), constructs the item and publishes it with a release
//     store of the slot's sequence number. A get claims p with one CAS on
//     `gets_` after seeing the slot published, moves the item out and frees
//     the slot. Producers and consumers share no word but the slots.
//   * A claimed position is "in flight" until its slot is stored. A thread
//     that finds a slot in flight (its own position is claimed but the other
//     side has not finished) waits for it (pause, then yield): the other
//     thread is between two adjacent stores.
//   * `Close()` sets a bit in `puts_`: every claim after it fails, so no put
//     can succeed after Close returns (puts already claimed finish).
//   * `Grow()` doubles the ring. It sets a "resizing" bit in both counters
//     (claims fail while it is set, and callers fall back to their locks),
//     waits for the claims in flight, moves the items to the new ring and
//     clears the bits. Old rings are kept until the SlotRing is destroyed, so
//     a thread that read a slot of an old ring before the swap reads
//     allocated memory; its claim then fails or is still valid (see
//     TryPush). The caller serialises Grow with every other Grow and Close.
//
// The counts (`puts()`, `gets()`) double as the queue's task accounting:
// every successful put claims exactly one position.
//
// Thread safety: TryPush, TryPop, the counts and capacity() may be called
// concurrently from any thread; Grow and Close need the caller's exclusion
// (see above). The publishing store of a slot happens-before the get that
// takes its item.
// ---------------------------------------------------------------------------
template <typename T>
class SlotRing {
 public:
  enum class Result {
    kOk,        // Done.
    kFull,      // TryPush: maxsize items are in the queue.
    kNeedGrow,  // TryPush: the ring is full but maxsize allows more.
    kEmpty,     // TryPop: nothing to take.
    kClosed,    // TryPush: Close() was called.
    kBusy,      // A Grow is in progress: retry under the caller's lock.
  };

  explicit SlotRing(size_t capacity) {
    size_t cap = 16;
    while (cap < capacity) cap <<= 1;
    rings_.push_back(Ring::Make(cap, 0, 0));
    ring_.store(rings_.back().get(), std::memory_order_relaxed);
  }
  ~SlotRing() {
    Ring* r = ring_.load(std::memory_order_relaxed);
    const uint64_t end = puts_.load(std::memory_order_relaxed) & kPosMask;
    for (uint64_t p = gets_.load(std::memory_order_relaxed) & kPosMask;
         p != end; ++p) {
      r->slot(p).item()->~T();
    }
  }

  SlotRing(const SlotRing&) = delete;
  SlotRing& operator=(const SlotRing&) = delete;

  // Puts `item` (moved from only on kOk) if fewer than `maxsize` items are in
  // the queue (maxsize <= 0: unbounded).
  Result TryPush(T& item, int64_t maxsize) {
    for (int in_flight = 0;;) {
      uint64_t word = puts_.load(std::memory_order_relaxed);
      if (word & kClosedBit) return Result::kClosed;
      if (word & kResizingBit) return Result::kBusy;
      const uint64_t p = word;
      Ring* r = ring_.load(std::memory_order_acquire);
      const uint64_t cap = r->mask + 1;
      if (maxsize > 0 && static_cast<uint64_t>(maxsize) < cap &&
          !RoomFor(p, static_cast<uint64_t>(maxsize))) {
        return Result::kFull;
      }
      const uint64_t seq = r->slot(p).seq.load(std::memory_order_acquire);
      const int64_t dif = static_cast<int64_t>(seq - p);
      if (dif == 0) {
        // Slot p is free in `r`. If `r` has been replaced since, the CAS
        // still compares equal only if no put happened; the new ring is
        // larger, so position p has room there too.
        if (puts_.compare_exchange_weak(word, p + 1, std::memory_order_seq_cst,
                                        std::memory_order_relaxed)) {
          SPINDLE_PERTURB_POINT();
          Publish(p, item);
          return Result::kOk;
        }
        continue;
      }
      if (dif > 0) continue;  // Another put claimed p: read puts_ again.
      // The slot still holds position p - cap: the ring is full, or that
      // position's get is in flight.
      const uint64_t g = gets_.load(std::memory_order_seq_cst) & kPosMask;
      if (static_cast<int64_t>(p - g) < 0) continue;  // p was stale.
      if (maxsize > 0 && p - g >= static_cast<uint64_t>(maxsize)) {
        return Result::kFull;
      }
      if (p - g >= cap) return Result::kNeedGrow;
      Backoff(in_flight++);  // The get of p - cap is in flight.
    }
  }

  // Takes the oldest item and passes it (as T&&) to `sink`.
  template <typename Sink>
  Result TryPop(Sink&& sink) {
    for (int in_flight = 0;;) {
      uint64_t word = gets_.load(std::memory_order_relaxed);
      if (word & kResizingBit) return Result::kBusy;
      const uint64_t g = word;
      Ring* r = ring_.load(std::memory_order_acquire);
      const uint64_t seq = r->slot(g).seq.load(std::memory_order_acquire);
      const int64_t dif = static_cast<int64_t>(seq - (g + 1));
      if (dif == 0) {
        // Published in `r`; a newer ring holds it too (Grow moves every
        // published item).
        if (gets_.compare_exchange_weak(word, g + 1, std::memory_order_seq_cst,
                                        std::memory_order_relaxed)) {
          SPINDLE_PERTURB_POINT();
          Consume(g, std::forward<Sink>(sink));
          return Result::kOk;
        }
        continue;
      }
      if (dif > 0) continue;  // Another get took g.
      // Not published: empty, or the put of g is in flight.
      const uint64_t p = puts_.load(std::memory_order_seq_cst) & kPosMask;
      if (static_cast<int64_t>(p - g) <= 0) {
        if (p == g) return Result::kEmpty;
        continue;  // g was stale.
      }
      Backoff(in_flight++);  // The put of g is in flight.
    }
  }

  // Puts items[0..n) in order, as many as fit, claiming their positions with
  // one CAS; stores how many in `*pushed` (moved from) and returns kOk if at
  // least one went in, else what TryPush would have returned.
  Result TryPushMany(T* items, size_t n, int64_t maxsize, size_t* pushed) {
    *pushed = 0;
    for (;;) {
      uint64_t word = puts_.load(std::memory_order_relaxed);
      if (word & kClosedBit) return Result::kClosed;
      if (word & kResizingBit) return Result::kBusy;
      const uint64_t p = word;
      const uint64_t g = gets_.load(std::memory_order_seq_cst) & kPosMask;
      if (static_cast<int64_t>(p - g) < 0) continue;  // p was stale.
      const uint64_t used = p - g;
      const uint64_t cap = ring_.load(std::memory_order_acquire)->mask + 1;
      uint64_t room = used < cap ? cap - used : 0;
      if (maxsize > 0) {
        const uint64_t max = static_cast<uint64_t>(maxsize);
        if (used >= max) return Result::kFull;
        room = std::min(room, max - used);
      }
      if (room == 0) return Result::kNeedGrow;
      const uint64_t k = std::min<uint64_t>(room, n);
      if (!puts_.compare_exchange_weak(word, p + k, std::memory_order_seq_cst,
                                       std::memory_order_relaxed)) {
        continue;
      }
      SPINDLE_PERTURB_POINT();
      // Slots of positions below g + cap are free or about to be (their
      // gets are claimed), so Publish waits at most for gets in flight.
      for (uint64_t i = 0; i < k; ++i) Publish(p + i, items[i]);
      *pushed = static_cast<size_t>(k);
      return Result::kOk;
    }
  }

  // Takes up to `max` of the oldest items, claiming them with one CAS, and
  // passes each (as T&&, in order) to `sink`; stores how many in `*popped`.
  // kOk if at least one, else kEmpty or kBusy.
  template <typename Sink>
  Result TryPopMany(size_t max, Sink&& sink, size_t* popped) {
    *popped = 0;
    for (;;) {
      uint64_t word = gets_.load(std::memory_order_relaxed);
      if (word & kResizingBit) return Result::kBusy;
      const uint64_t g = word;
      const uint64_t p = puts_.load(std::memory_order_seq_cst) & kPosMask;
      if (static_cast<int64_t>(p - g) <= 0) {
        if (p == g) return Result::kEmpty;
        continue;  // g was stale.
      }
      const uint64_t k = std::min<uint64_t>(p - g, max);
      if (!gets_.compare_exchange_weak(word, g + k, std::memory_order_seq_cst,
                                       std::memory_order_relaxed)) {
        continue;
      }
      SPINDLE_PERTURB_POINT();
      // Claimed positions are published or about to be (their puts are
      // claimed): Consume waits at most for puts in flight.
      for (uint64_t i = 0; i < k; ++i) Consume(g + i, sink);
      *popped = static_cast<size_t>(k);
      return Result::kOk;
    }
  }

  // Stops every later TryPush (kClosed). Serialised with Grow by the caller.
  void Close() { puts_.fetch_or(kClosedBit, std::memory_order_seq_cst); }
  bool closed() const {
    return (puts_.load(std::memory_order_acquire) & kClosedBit) != 0;
  }

  // Doubles the capacity, keeping every item at its position. Serialised
  // with Close and other Grows by the caller; concurrent TryPush/TryPop
  // return kBusy while it runs.
  void Grow() {
    const uint64_t p =
        puts_.fetch_or(kResizingBit, std::memory_order_seq_cst) & kPosMask;
    const uint64_t g =
        gets_.fetch_or(kResizingBit, std::memory_order_seq_cst) & kPosMask;
    Ring* old = ring_.load(std::memory_order_relaxed);
    const uint64_t old_cap = old->mask + 1;
    // Wait for the claims in flight: positions [g, p) published, every
    // other slot freed for its next position.
    for (uint64_t q = g; q != g + old_cap; ++q) {
      const uint64_t want = q < p ? q + 1 : q;
      WaitUntil([&] {
        return old->slot(q).seq.load(std::memory_order_acquire) == want;
      });
    }
    std::unique_ptr<Ring> fresh = Ring::Make(old_cap * 2, g, p);
    for (uint64_t q = g; q != p; ++q) {
      T* from = old->slot(q).item();
      ::new (static_cast<void*>(fresh->slot(q).item())) T(std::move(*from));
      from->~T();
    }
    ring_.store(fresh.get(), std::memory_order_release);
    rings_.push_back(std::move(fresh));
    gets_.fetch_and(~kResizingBit, std::memory_order_seq_cst);
    puts_.fetch_and(~kResizingBit, std::memory_order_seq_cst);
  }

  // Positions claimed so far by puts / gets (claims in flight included);
  // gets() <= puts() at every instant, so read gets() first.
  uint64_t puts() const {
    return puts_.load(std::memory_order_seq_cst) & kPosMask;
  }
  uint64_t gets() const {
    return gets_.load(std::memory_order_seq_cst) & kPosMask;
  }
  size_t size() const {
    const uint64_t g = gets();
    return static_cast<size_t>(puts() - g);
  }
  size_t capacity() const {
    return ring_.load(std::memory_order_acquire)->mask + 1;
  }

 private:
  static constexpr uint64_t kClosedBit = uint64_t{1} << 63;
  static constexpr uint64_t kResizingBit = uint64_t{1} << 62;
  static constexpr uint64_t kPosMask = (uint64_t{1} << 56) - 1;

  struct Slot {
    std::atomic<uint64_t> seq;
    alignas(T) unsigned char storage[sizeof(T)];
    T* item() { return std::launder(reinterpret_cast<T*>(storage)); }
  };

  struct Ring {
    uint64_t mask;
    std::unique_ptr<Slot[]> slots;
    Slot& slot(uint64_t pos) { return slots[pos & mask]; }
    // A ring of `cap` slots holding positions [gets, puts): their slots are
    // marked published; every other slot is free for the first position
    // >= puts that maps to it.
    static std::unique_ptr<Ring> Make(uint64_t cap, uint64_t gets,
                                      uint64_t puts) {
      auto r = std::make_unique<Ring>();
      r->mask = cap - 1;
      r->slots = std::make_unique<Slot[]>(cap);
      for (uint64_t q = gets; q != gets + cap; ++q) {
        r->slot(q).seq.store(q < puts ? q + 1 : q, std::memory_order_relaxed);
      }
      return r;
    }
  };

  // Waits for a store another thread is about to make (it is between two
  // adjacent steps of a claim): pause a little, then yield the CPU.
  template <typename Ready>
  static void WaitUntil(Ready ready) {
    for (int i = 0; !ready(); ++i) Backoff(i);
  }
  // The i-th wait for another thread's next store: a pause, or once that
  // has gone on for a while (the other thread may have been preempted), a
  // yield of the CPU.
  static void Backoff(int i) {
    if (i < 64) {
      internal::CpuRelax();
    } else {
      std::this_thread::yield();
    }
  }

  // True if position p may be filled with at most `maxsize` items queued.
  bool RoomFor(uint64_t p, uint64_t maxsize) {
    uint64_t g = gets_cache_.load(std::memory_order_relaxed);
    if (static_cast<int64_t>(p - g) < static_cast<int64_t>(maxsize)) {
      return true;
    }
    g = gets_.load(std::memory_order_seq_cst) & kPosMask;
    gets_cache_.store(g, std::memory_order_relaxed);
    return static_cast<int64_t>(p - g) < static_cast<int64_t>(maxsize);
  }

  // Fills claimed position p (current ring: a Grow waits for this claim).
  void Publish(uint64_t p, T& item) {
    Ring* r = ring_.load(std::memory_order_acquire);
    Slot& s = r->slot(p);
    WaitUntil([&] { return s.seq.load(std::memory_order_acquire) == p; });
    ::new (static_cast<void*>(s.item())) T(std::move(item));
    s.seq.store(p + 1, std::memory_order_release);
  }

  // Empties claimed position g into `sink` and frees its slot.
  template <typename Sink>
  void Consume(uint64_t g, Sink&& sink) {
    Ring* r = ring_.load(std::memory_order_acquire);
    Slot& s = r->slot(g);
    WaitUntil([&] { return s.seq.load(std::memory_order_acquire) == g + 1; });
    T* item = s.item();
    sink(std::move(*item));
    item->~T();
    s.seq.store(g + r->mask + 1, std::memory_order_release);
  }

  // The putting side's line: written by every put.
  alignas(64) std::atomic<uint64_t> puts_{0};
  std::atomic<uint64_t> gets_cache_{0};  // <= gets_; refreshed by puts.
  // The getting side's line: written by every get.
  alignas(64) std::atomic<uint64_t> gets_{0};
  // Read by both sides; written only by Grow.
  alignas(64) std::atomic<Ring*> ring_{nullptr};
  std::vector<std::unique_ptr<Ring>> rings_;  // Every ring ever used.
};

}  // namespace queue_internal
}  // namespace spindle

#endif  // SPINDLE_CONCURRENCY_INTERNAL_QUEUE_SLOTS_H_
