// Copyright 2026 The spindle Authors.
//
// Reply ordering and batching for TcpServer:
//  * ServerShared: what Responders and ReplyBatches share with their
//    server - the inbox through which replies made on any thread reach the
//    loop thread, one wake-up per batch.
//  * ReplyOrder: one connection's reply slots, so that replies go out in
//    request order whatever order they are made in.
//
// Private to //io.

#ifndef SPINDLE_IO_INTERNAL_REPLY_ORDER_H_
#define SPINDLE_IO_INTERNAL_REPLY_ORDER_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "spindle/io/event_loop.h"

namespace spindle::io::internal {

// One reply in flight to the loop: its text is `len` bytes of a shared
// buffer, followed there by its "\n" (so that the replies of one connection
// that come in order go to its output buffer in one copy).
struct ReplyRef {
  uint64_t conn_id;
  uint64_t seq;
  uint32_t len;
  bool close_after;
};

// What Responders share with their server: the inbox of replies made on
// other threads (their texts back to back in inbox_text), and whether the
// server still exists.
//
// Lifetime: reference-counted by hand, so that handing a Responder from the
// loop to a worker costs no atomic operation per request. The server holds
// one reference; every armed Responder one (taken in bulk by the loop
// thread, Acquire); every scheduled drain one. Replies release theirs in
// bulk after delivery (one atomic per batch). The last release deletes.
struct ServerShared {
  using ApplyFn = absl::AnyInvocable<void(absl::string_view text,
                                          absl::Span<const ReplyRef> refs)>;

  // `apply` runs on the loop thread with each batch of replies while the
  // server is attached.
  ServerShared(EventLoop* loop, ApplyFn apply)
      : loop(loop), apply(std::move(apply)) {}

  void Acquire(int64_t n) { refs.fetch_add(n, std::memory_order_relaxed); }
  void Release(int64_t n) {
    if (refs.fetch_sub(n, std::memory_order_acq_rel) == n) delete this;
  }

  // Loop thread, from the server's destructor: later replies are discarded.
  void Detach();

  // Any thread: queues replies for the loop (`text`: each reply followed by
  // "\n", back to back); the call that makes the inbox non-empty schedules
  // the drain (one wake-up per batch of replies). Then releases the
  // references of the `refs.size()` responders answered.
  static void Deliver(ServerShared* self, absl::string_view text,
                      absl::Span<const ReplyRef> refs);
  // The same for a batch the caller owns: into an empty inbox it is swapped
  // whole (no copy of the replies); `text` and `refs` come back empty.
  static void DeliverBatch(ServerShared* self, std::string* text,
                           std::vector<ReplyRef>* refs);

  std::atomic<int64_t> refs{1};  // The server's.
  EventLoop* const loop;

 private:
  // Loop thread: hands the inbox to the server.
  static void Drain(ServerShared* self);
  // Under `mu`, while attached: schedules the drain of the inbox that was
  // empty until now.
  void PostDrainLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  absl::Mutex mu;
  bool attached ABSL_GUARDED_BY(mu) = true;
  std::string inbox_text ABSL_GUARDED_BY(mu);
  std::vector<ReplyRef> inbox ABSL_GUARDED_BY(mu);
  // Loop thread only: the server's entry point (not called once detached),
  // and the batch being applied, swapped with the inbox so that both keep
  // their capacity (no allocation per batch).
  ApplyFn apply;
  std::string drain_text;
  std::vector<ReplyRef> drain_refs;
};

// The reply slot of one request: 16 bytes, as every request writes one and
// the replies that come in their turn never need more (a reply stored to
// wait for its turn is kept beside it, see ReplyOrder).
struct Slot {
  // Its reply is stored: its entry of ReplyOrder's text ring holds it.
  bool done = false;
  bool close_after = false;
  // Bytes counted for it (the memory budget): its request line's until the
  // reply comes, then the reply's (with its newline).
  size_t reserved = 0;
};

// The reply slots of one connection, in request order: slot i answers
// request base_seq() + i. A FIFO ring that reuses its entries, so a request
// costs no allocation; beside it a ring of the same size holds the replies
// stored ahead of their turn (their strings' capacity reused too), touched
// only for those.
class ReplyOrder {
 public:
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  uint64_t base_seq() const { return base_seq_; }
  uint64_t next_seq() const { return base_seq_ + size_; }

  // Bytes reserved by all slots (see Slot::reserved).
  size_t reserved() const { return reserved_; }

  // Reserves the slot of the next request, counting `line_bytes` for it;
  // returns its sequence number.
  uint64_t Add(size_t line_bytes) {
    if (size_ == buf_.size()) Grow();
    ++size_;
    Slot& s = (*this)[size_ - 1];
    s.reserved = line_bytes;
    reserved_ += line_bytes;
    return next_seq() - 1;
  }
  // Appends a slot answered already (a reply made by the server).
  void AddDone(std::string reply, bool close_after) {
    Answer(Find(Add(0)), reply, close_after);
  }
  // Stores the reply of `s` until the replies before it are out.
  void Answer(Slot* s, absl::string_view reply, bool close_after) {
    s->done = true;
    s->close_after = close_after;
    TextOf(*s).assign(reply.data(), reply.size());
    reserved_ += reply.size() + 1 - s->reserved;
    s->reserved = reply.size() + 1;
  }
  // Gives back the last `n` slots (requests not taken after all).
  void RemoveLast(size_t n) {
    for (; n > 0; --n) Reset((*this)[--size_]);
  }
  // The slot of request `seq`, or nullptr when it is gone (answered, or
  // dropped after a closing reply).
  Slot* Find(uint64_t seq) {
    if (seq < base_seq_ || seq - base_seq_ >= size_) return nullptr;
    return &(*this)[seq - base_seq_];
  }
  Slot& front() { return buf_[head_]; }
  // The reply stored for front() (valid while front().done).
  absl::string_view front_reply() const { return texts_[head_]; }
  void PopFront() { PopFront(1); }
  // Pops the first `n` slots (n <= size()): a run of replies written at
  // once, in one call rather than one per reply.
  void PopFront(size_t n) {
    for (size_t k = 0; k < n; ++k) Reset((*this)[k]);
    head_ = (head_ + n) & mask_;
    size_ -= n;
    base_seq_ += n;
  }
  // Drops every slot: their replies, when they come, are ignored.
  void DropAll() {
    base_seq_ += size_;
    RemoveAll();
  }

 private:
  Slot& operator[](size_t i) { return buf_[(head_ + i) & mask_]; }
  std::string& TextOf(const Slot& s) {
    return texts_[static_cast<size_t>(&s - buf_.data())];
  }
  void RemoveAll() {
    while (size_ > 0) Reset((*this)[--size_]);
  }
  void Reset(Slot& s) {
    reserved_ -= s.reserved;
    s.reserved = 0;
    s.close_after = false;
    if (!s.done) return;  // No text stored.
    s.done = false;
    // Keep a small string's capacity for the next request, not a big one's.
    std::string& text = TextOf(s);
    if (text.capacity() > kKeepCapacity) {
      std::string().swap(text);
    } else {
      text.clear();
    }
  }
  // Small enough that a connection's idle slots hold little memory that
  // the budget does not count (512 slots x 128 B), large enough that short
  // replies cost no allocation.
  static constexpr size_t kKeepCapacity = 128;
  void Grow();

  std::vector<Slot> buf_;
  std::vector<std::string> texts_;  // texts_[i] belongs to buf_[i].
  size_t head_ = 0;
  size_t size_ = 0;
  size_t mask_ = 0;
  uint64_t base_seq_ = 0;
  size_t reserved_ = 0;
};

}  // namespace spindle::io::internal

#endif  // SPINDLE_IO_INTERNAL_REPLY_ORDER_H_
