// Copyright 2026 The spindle Authors.
//
// TcpServer's one dispatch path: from complete lines buffered on
// connections to the handler (either form) and back - collecting a batch
// within the backpressure limits, handing it over, and settling what was
// taken, failed or given back (parking connections whose lines were not
// taken, and retrying them).

#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "absl/base/internal/raw_logging.h"
#include "absl/strings/str_cat.h"
#include "spindle/concurrency/status.h"
#include "spindle/io/internal/connection.h"
#include "spindle/io/internal/line_framing.h"
#include "spindle/io/tcp_server.h"

namespace spindle::io {

using internal::Bump;
using internal::LineKind;

// ---------------------------------------------------------------------------
// Dispatch: the one path from buffered lines to the handler

bool TcpServer::InputAllowed(Conn* c) {
  // The same limits as WantsRead: lines already buffered wait too.
  if (c->replies.size() >= options_.max_pipelined || c->output_paused) {
    return false;
  }
  if (global_paused_ || pending_ >= options_.pending_high_water) {
    global_paused_ = true;
    if (!c->global_wait) {
      c->global_wait = true;
      global_waiters_.push_back(c->id);
    }
    return false;
  }
  return true;
}

void TcpServer::ProcessInput(Conn* c) {
  Conn* const one[] = {c};
  DispatchBatch(one);
}

void TcpServer::QueueInput(Conn* c) {
  if (!c->input_queued) {
    c->input_queued = true;
    input_ready_.push_back(c->id);
  }
  if (dispatch_armed_) return;
  dispatch_armed_ = true;
  // Runs in this iteration, after the fd callbacks.
  dispatch_handle_ = loop_->CallSoon([this] {
    dispatch_armed_ = false;
    DispatchReady();
  });
}

void TcpServer::DispatchReady() {
  dead_.clear();
  std::vector<Conn*> conns;
  conns.reserve(input_ready_.size());
  for (uint64_t id : input_ready_) {
    Conn* c = Find(id);
    if (c == nullptr) continue;
    c->input_queued = false;
    conns.push_back(c);
  }
  input_ready_.clear();
  DispatchBatch(conns);
  for (Conn* c : conns) Settled(c);
}

bool TcpServer::Collect(Conn* c) {
  if (c->closed || c->closing || c->parked || shutting_down_) return false;
  if (!InputAllowed(c)) return false;
  const size_t room = std::min(options_.max_pipelined - c->replies.size(),
                               options_.pending_high_water - pending_);
  Segment seg{c, batch_.size(), 0, LineKind::kNone, 0, false};
  const absl::string_view input = c->in.pending();
  size_t pos = 0;
  for (;;) {
    if (batch_.size() - seg.begin >= room) {
      seg.full = true;
      break;
    }
    absl::string_view line;
    size_t consume = 0;
    seg.kind = internal::NextLine(input.substr(pos), c->eof, options_.max_line,
                                  &line, &consume);
    if (seg.kind != LineKind::kLine) break;
    pos += consume;
    const uint64_t seq = c->replies.Add(consume);
    ++pending_;
    batch_.push_back(Request{line, Responder(shared_, c->id, seq)});
    batch_ends_.push_back(pos);
  }
  seg.end = batch_.size();
  if (seg.end == seg.begin && seg.kind != LineKind::kOversize) return false;
  segments_.push_back(seg);
  return true;
}

void TcpServer::DispatchBatch(absl::Span<Conn* const> conns) {
  std::vector<Conn*> again;
  for (;;) {
    batch_.clear();
    batch_ends_.clear();
    segments_.clear();
    failures_.clear();
    for (Conn* c : conns) Collect(c);
    const size_t n = batch_.size();
    Bump(stats_.pending, static_cast<int64_t>(n));
    shared_->Acquire(static_cast<int64_t>(n));  // The responders' refs.
    if (n > 0) HandOver();
    again.clear();
    size_t failure = 0;
    for (const Segment& seg : segments_) {
      if (!Settle(seg, &failure)) continue;
      // Stopped by a limit that the server's own replies (failures) may
      // have lifted: collect again, or its lines would wait for a read.
      if (seg.full && seg.took == seg.end - seg.begin &&
          seg.c->replies.size() < options_.max_pipelined &&
          pending_ < options_.pending_high_water) {
        again.push_back(seg.c);
      }
    }
    batch_.clear();  // Every responder here is empty now.
    segments_.clear();
    if (again.empty()) return;
    conns = again;
  }
}

void TcpServer::HandOver() {
  if (!batch_handler_) {
    HandOverLines();
    return;
  }
  const size_t n = batch_.size();
  size_t taken = n;
  bool threw = false;
  std::string what = "ERR internal error";
  try {
    taken = std::min(n, batch_handler_(absl::MakeSpan(batch_)));
  } catch (const std::exception& e) {
    threw = true;
    // Internal details stay on the server: logged, never sent.
    std::fprintf(stderr, "TcpServer: batch handler threw: %s\n", e.what());
  } catch (...) {
    threw = true;
  }
  if (threw) {
    taken = n;
    for (size_t i = 0; i < n; ++i) {
      if (batch_[i].responder.valid()) failures_.push_back({i, what});
    }
  }
  for (Segment& seg : segments_) {
    const size_t count = seg.end - seg.begin;
    seg.took = taken <= seg.begin ? 0 : std::min(count, taken - seg.begin);
    // Per connection, the handler may also refuse a suffix: its first
    // request still holding a valid responder is not taken, nor the rest.
    if (threw) continue;
    for (size_t i = 0; i < seg.took; ++i) {
      if (batch_[seg.begin + i].responder.valid()) {
        seg.took = i;
        break;
      }
    }
  }
}

void TcpServer::HandOverLines() {
  for (Segment& seg : segments_) {
    seg.took = seg.end - seg.begin;
    for (size_t i = seg.begin; i < seg.end; ++i) {
      Responder& r = batch_[i].responder;
      absl::Status s;
      try {
        s = handler_(batch_[i].line, r);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "TcpServer: handler threw: %s\n", e.what());
        s = absl::InternalError("internal error");
      } catch (...) {
        s = absl::InternalError("internal error");
      }
      if (IsFull(s) && r.valid()) {  // Not taken: this one and the rest.
        seg.took = i - seg.begin;
        break;
      }
      if (!s.ok() && r.valid()) {
        failures_.push_back({i, absl::StrCat("ERR ", s.message())});
      }
    }
  }
}

bool TcpServer::Settle(const Segment& seg, size_t* failure) {
  Conn* c = seg.c;
  const size_t count = seg.end - seg.begin;
  const size_t took_end = seg.begin + seg.took;
  // Taken but failed: the server answers them.
  bool answered = false;
  for (; *failure < failures_.size() && failures_[*failure].index < seg.end;
       ++*failure) {
    const Failure& f = failures_[*failure];
    if (f.index >= took_end) continue;
    Responder& r = batch_[f.index].responder;
    r.Disarm();
    stats_.errors.fetch_add(1, std::memory_order_relaxed);
    --pending_;
    Bump(stats_.pending, -1);
    c->replies.Answer(c->replies.Find(r.seq_), f.reply, false);
    answered = true;
  }
  if (seg.took < count) {
    // Not taken: give the slots back, keep the lines, retry later.
    for (size_t i = took_end; i < seg.end; ++i) {
      ABSL_RAW_CHECK(batch_[i].responder.valid(),
                     "TcpServer: a request the handler did not take must "
                     "keep its responder");
      batch_[i].responder.Disarm();
    }
    const size_t back = count - seg.took;
    c->replies.RemoveLast(back);
    pending_ -= back;
    Bump(stats_.pending, -static_cast<int64_t>(back));
  }
  if (seg.took > 0) {
    c->in.Consume(batch_ends_[took_end - 1]);
    Bump(stats_.requests, static_cast<int64_t>(seg.took));
    Touch(c);
  }
  if (answered) {
    FlushSlots(c);
    if (!TryWrite(c)) return false;
  }
  Reaccount(c);
  if (seg.took < count) {
    Park(c);
  } else if (seg.kind == LineKind::kOversize) {
    RejectOversize(c);
  }
  return !c->closed;
}

void TcpServer::Park(Conn* c) {
  c->parked = true;
  parked_.push_back(c->id);
  if (!parked_armed_) {
    parked_armed_ = true;
    parked_timer_ = loop_->CallLater(options_.full_retry_delay, [this] {
      parked_armed_ = false;
      RetryParked();
    });
  }
}

void TcpServer::RetryParked() {
  if (parked_.empty()) return;
  std::vector<uint64_t> parked;
  parked.swap(parked_);
  for (uint64_t id : parked) {
    Conn* c = Find(id);
    if (c == nullptr || !c->parked) continue;
    c->parked = false;
    ProcessInput(c);
    Settled(c);
  }
}

void TcpServer::ResumeGlobal() {
  if (!global_paused_ || pending_ > options_.pending_low_water) return;
  global_paused_ = false;
  std::vector<uint64_t> waiters;
  waiters.swap(global_waiters_);
  for (uint64_t id : waiters) {
    Conn* c = Find(id);
    if (c == nullptr) continue;
    c->global_wait = false;
    Touch(c);  // Its idle time starts now (see OnIdle).
    ProcessInput(c);
    Settled(c);
  }
}

}  // namespace spindle::io
