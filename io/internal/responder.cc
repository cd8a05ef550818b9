// Copyright 2026 The spindle Authors.
//
// Responder and ReplyBatch (declared in tcp_server.h): the worker's side of
// the reply path. Replies reach the loop through internal::ServerShared
// (reply_order.h).

#include "absl/base/internal/raw_logging.h"
#include "spindle/io/internal/reply_order.h"
#include "spindle/io/tcp_server.h"

namespace spindle::io {

// ---------------------------------------------------------------------------
// Responder

void Responder::AnswerNoReply() { Reply("ERR internal error: no reply"); }

void Responder::Disarm() {
  if (shared_ == nullptr) return;
  internal::ServerShared* shared = shared_;
  shared_ = nullptr;
  shared->Release(1);
}

void Responder::Reply(std::string line, bool close_after) {
  ABSL_RAW_CHECK(shared_ != nullptr, "Responder::Reply on an empty Responder");
  internal::ServerShared* shared = shared_;
  shared_ = nullptr;
  const internal::ReplyRef ref{conn_id_, seq_,
                               static_cast<uint32_t>(line.size()), close_after};
  line.push_back('\n');
  internal::ServerShared::Deliver(shared, line, absl::MakeConstSpan(&ref, 1));
}

// ---------------------------------------------------------------------------
// ReplyBatch

void ReplyBatch::Add(Responder& r, absl::string_view line, bool close_after) {
  ABSL_RAW_CHECK(r.shared_ != nullptr, "ReplyBatch::Add on an empty Responder");
  if (r.shared_ != shared_) {
    Flush();  // Another server: one inbox per batch.
    shared_ = r.shared_;
  }
  r.shared_ = nullptr;  // Its reference is the batch's now.
  text_.append(line.data(), line.size());
  text_.push_back('\n');
  refs_.push_back(internal::ReplyRef{
      r.conn_id_, r.seq_, static_cast<uint32_t>(line.size()), close_after});
}

void ReplyBatch::Flush() {
  if (refs_.empty()) return;
  // Swapped into an idle inbox whole; `text_` and `refs_` come back empty.
  internal::ServerShared::DeliverBatch(shared_, &text_, &refs_);
  shared_ = nullptr;  // Its references are released.
}

}  // namespace spindle::io
