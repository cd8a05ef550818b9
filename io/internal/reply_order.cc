// Copyright 2026 The spindle Authors.

#include "spindle/io/internal/reply_order.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace spindle::io::internal {
namespace {

// A scheduled drain's reference, released when the callback is destroyed
// (after running, or dropped by a closed loop).
class DrainRef {
 public:
  explicit DrainRef(ServerShared* s) : s_(s) { s_->Acquire(1); }
  DrainRef(DrainRef&& other) noexcept : s_(other.s_) { other.s_ = nullptr; }
  DrainRef& operator=(DrainRef&&) = delete;
  ~DrainRef() {
    if (s_ != nullptr) s_->Release(1);
  }
  ServerShared* get() const { return s_; }

 private:
  ServerShared* s_;
};

}  // namespace

void ServerShared::Detach() {
  absl::MutexLock l(&mu);
  attached = false;
  inbox.clear();
  inbox_text.clear();
}

void ServerShared::PostDrainLocked() {
  auto drain = [ref = DrainRef(this)] { Drain(ref.get()); };
  if (loop->InLoopThread()) {
    loop->CallSoon(std::move(drain));
  } else {
    loop->CallSoonThreadsafe(std::move(drain)).IgnoreError();
  }
}

void ServerShared::Deliver(ServerShared* self, absl::string_view text,
                           absl::Span<const ReplyRef> refs) {
  if (refs.empty()) return;
  {
    absl::MutexLock l(&self->mu);
    if (self->attached) {
      const bool post = self->inbox.empty();
      self->inbox_text.append(text.data(), text.size());
      self->inbox.insert(self->inbox.end(), refs.begin(), refs.end());
      // Otherwise a drain is already scheduled.
      if (post) self->PostDrainLocked();
    }
  }
  self->Release(static_cast<int64_t>(refs.size()));
}

void ServerShared::DeliverBatch(ServerShared* self, std::string* text,
                                std::vector<ReplyRef>* refs) {
  const size_t n = refs->size();
  if (n == 0) return;
  {
    absl::MutexLock l(&self->mu);
    if (self->attached) {
      if (self->inbox.empty()) {
        // The inbox's buffers (empty, with their capacity) go back to the
        // caller for its next batch.
        self->inbox_text.swap(*text);
        self->inbox.swap(*refs);
        self->PostDrainLocked();
      } else {
        self->inbox_text.append(*text);
        self->inbox.insert(self->inbox.end(), refs->begin(), refs->end());
      }
    }
  }
  text->clear();
  refs->clear();
  self->Release(static_cast<int64_t>(n));
}

void ServerShared::Drain(ServerShared* self) {
  bool attached;
  {
    absl::MutexLock l(&self->mu);
    self->drain_text.swap(self->inbox_text);
    self->drain_refs.swap(self->inbox);
    attached = self->attached;
  }
  // Detach runs on this thread too: `apply` is not called after it.
  if (attached) self->apply(self->drain_text, self->drain_refs);
  // Keep the buffers' capacity for the next batch, unless a burst made them
  // big: that memory is outside the budget's count.
  constexpr size_t kKeepText = 64 * 1024;
  constexpr size_t kKeepRefs = 4096;
  if (self->drain_text.capacity() > kKeepText) {
    std::string().swap(self->drain_text);
  } else {
    self->drain_text.clear();
  }
  if (self->drain_refs.capacity() > kKeepRefs) {
    std::vector<ReplyRef>().swap(self->drain_refs);
  } else {
    self->drain_refs.clear();
  }
}

void ReplyOrder::Grow() {
  const size_t n = std::max<size_t>(8, 2 * buf_.size());
  std::vector<Slot> bigger(n);
  std::vector<std::string> texts(n);
  for (size_t i = 0; i < size_; ++i) {
    Slot& s = (*this)[i];
    if (s.done) texts[i] = std::move(TextOf(s));
    bigger[i] = s;
  }
  buf_.swap(bigger);
  texts_.swap(texts);
  head_ = 0;
  mask_ = buf_.size() - 1;
}

}  // namespace spindle::io::internal
