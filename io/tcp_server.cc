// Copyright 2026 The spindle Authors.
//
// TcpServer, the coordinator: connection life cycle, reading, the memory
// budget's waiters, completions and writing, idleness, shutdown. The parts
// with one job each live in internal/: the one dispatch path to the
// handler (dispatch.cc), line framing (line_framing.h), reply ordering and
// the reply inbox (reply_order.h), Responder and ReplyBatch
// (responder.cc), listeners and accept limits (acceptor.h), idle tracking
// (idle_tracker.h), the memory budget's accounting and rule
// (memory_budget.h).

#include "spindle/io/tcp_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/internal/raw_logging.h"
#include "absl/strings/str_cat.h"
#include "spindle/concurrency/status.h"
#include "spindle/io/internal/acceptor.h"
#include "spindle/io/internal/connection.h"
#include "spindle/io/internal/idle_tracker.h"
#include "spindle/io/internal/line_framing.h"
#include "spindle/io/internal/memory_budget.h"

namespace spindle::io {
namespace {

using internal::Bump;

// Output buffer capacity a connection keeps once everything is sent: up to
// kKeepOutputBusy while it has requests in flight (a pipelining client's
// next replies need it at once: giving it back cost a malloc, a free and
// the regrowth of the buffer per batch of replies), kKeepOutput once it is
// quiet.
constexpr size_t kKeepOutput = 4096;
constexpr size_t kKeepOutputBusy = 64 * 1024;

}  // namespace

// ---------------------------------------------------------------------------
// TcpServer: life cycle

TcpServer::TcpServer(EventLoop* loop, Options options, Handler handler)
    : loop_(loop),
      options_(std::move(options)),
      handler_(std::move(handler)),
      shared_(new internal::ServerShared(
          loop, [this](absl::string_view text,
                       absl::Span<const internal::ReplyRef> refs) {
            ApplyCompletions(text, refs);
          })) {
  acceptor_ = std::make_unique<internal::Acceptor>(
      loop_,
      internal::Acceptor::Options{.hosts = options_.hosts,
                                  .port = options_.port,
                                  .backlog = options_.backlog,
                                  .reuse_port = options_.reuse_port,
                                  .accept_batch = options_.accept_batch,
                                  .busy_message = options_.busy_message},
      internal::Acceptor::Counters{&stats_.rejected_busy,
                                   &stats_.rejected_no_fds},
      [this] { return conns_.size() >= options_.max_connections; },
      [this](int fd) { AddConnection(fd); });
  memory_ = std::make_unique<internal::MemoryBudget>(options_.memory_budget,
                                                     options_.max_line + 2);
  idle_ = std::make_unique<internal::IdleTracker>(
      loop_, options_.idle_timeout,
      [this](internal::IdleNode* n) { OnIdle(static_cast<Conn*>(n)); });
}

TcpServer::TcpServer(EventLoop* loop, Options options, BatchHandler handler)
    : TcpServer(loop, std::move(options), Handler()) {
  batch_handler_ = std::move(handler);
}

TcpServer::~TcpServer() {
  shared_->Detach();
  shutting_down_ = true;
  parked_timer_.Cancel();
  shutdown_timer_.Cancel();
  dispatch_handle_.Cancel();
  memory_wake_handle_.Cancel();
  idle_->Stop();
  acceptor_->Close();
  std::vector<Conn*> all;
  for (auto& [id, c] : conns_) all.push_back(c.get());
  for (Conn* c : all) CloseConnection(c);
  dead_.clear();
  shared_->Release(1);
}

absl::Status TcpServer::Start() {
  if (acceptor_->listening() || shutting_down_) {
    return absl::FailedPreconditionError("server already started");
  }
  const Options& o = options_;
  const char* bad = o.hosts.empty()        ? "hosts is empty"
                    : o.max_line == 0      ? "max_line must be at least 1"
                    : o.max_pipelined == 0 ? "max_pipelined must be at least 1"
                    : o.read_chunk == 0    ? "read_chunk must be at least 1"
                    : o.accept_batch <= 0  ? "accept_batch must be at least 1"
                    : o.output_low_water > o.output_high_water
                        ? "output_low_water is above output_high_water"
                    : o.pending_low_water > o.pending_high_water
                        ? "pending_low_water is above pending_high_water"
                        : nullptr;
  if (bad != nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid TcpServer options: ", bad));
  }
  scratch_.resize(options_.read_chunk);
  return acceptor_->Listen();
}

int TcpServer::port() const { return acceptor_->port(); }

void TcpServer::AddConnection(int fd) {
  dead_.clear();
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (options_.socket_send_buffer > 0) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &options_.socket_send_buffer,
               sizeof(options_.socket_send_buffer));
  }
  auto owned = std::make_unique<Conn>();
  Conn* c = owned.get();
  c->id = next_conn_id_++;
  c->sock = Socket(Fd(fd));
  c->fd = fd;
  conns_.emplace(c->id, std::move(owned));
  memory_->Open();
  stats_.accepted.fetch_add(1, std::memory_order_relaxed);
  stats_.connections.fetch_add(1, std::memory_order_relaxed);
  Touch(c);
  UpdateInterest(c);
}

TcpServer::Conn* TcpServer::Find(uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end() || it->second->closed) return nullptr;
  return it->second.get();
}

// ---------------------------------------------------------------------------
// Reading

bool TcpServer::WantsRead(Conn* c) {
  if (c->closed || c->eof || c->closing || shutting_down_ || c->parked ||
      c->global_wait || c->output_paused ||
      c->replies.size() >= options_.max_pipelined) {
    return false;
  }
  if (memory_->ReadAllowance(c->mem) == 0) {
    WaitForMemory(c);
    return false;
  }
  if (c->memory_wait) {  // Its own bytes fell: no longer waiting.
    c->memory_wait = false;
    Bump(stats_.memory_paused, -1);
  }
  return true;
}

// ---------------------------------------------------------------------------
// Memory budget (see internal/memory_budget.h for the rule)

void TcpServer::Reaccount(Conn* c) {
  memory_->Update(&c->mem, c->in.size(), c->unsent(), c->replies.reserved());
  PublishMemory();
}

void TcpServer::PublishMemory() {
  auto set = [](std::atomic<int64_t>& stat, size_t v) {
    stat.store(static_cast<int64_t>(v), std::memory_order_relaxed);
  };
  set(stats_.input_buffered, memory_->input());
  set(stats_.output_buffered, memory_->output());
  set(stats_.memory_used, memory_->used());
  // Paused connections are retried once the level fell by a step since
  // the last of them paused (not on every byte released).
  if (!memory_waiters_.empty() && !memory_wake_armed_ &&
      memory_->level() <= memory_wake_below_) {
    memory_wake_armed_ = true;
    memory_wake_handle_ = loop_->CallSoon([this] {
      memory_wake_armed_ = false;
      WakeMemoryWaiters();
    });
  }
}

void TcpServer::WaitForMemory(Conn* c) {
  const int64_t below =
      memory_->level() - static_cast<int64_t>(memory_->wake_step());
  if (memory_waiters_.empty() || below > memory_wake_below_) {
    memory_wake_below_ = below;
  }
  if (c->memory_wait) return;
  c->memory_wait = true;
  memory_waiters_.push_back(c->id);
  Bump(stats_.memory_paused, 1);
}

void TcpServer::WakeMemoryWaiters() {
  dead_.clear();
  std::vector<uint64_t> waiters;
  waiters.swap(memory_waiters_);
  for (uint64_t id : waiters) {
    Conn* c = Find(id);
    if (c == nullptr || !c->memory_wait) continue;
    c->memory_wait = false;
    Bump(stats_.memory_paused, -1);
    Settled(c);  // Reads again, or waits again.
  }
}

void TcpServer::UpdateInterest(Conn* c) {
  if (c->closed) return;
  Reaccount(c);
  const bool want_read = c->lingering || WantsRead(c);
  if (want_read != c->reading) {
    if (want_read) {
      absl::Status s = loop_->AddReader(c->fd, [this, c] { OnReadable(c); });
      if (!s.ok()) {
        CloseConnection(c);
        return;
      }
    } else {
      loop_->RemoveReader(c->fd);
    }
    c->reading = want_read;
  }
  const bool want_write = !c->lingering && c->unsent() > 0;
  if (want_write != c->writing) {
    if (want_write) {
      absl::Status s = loop_->AddWriter(c->fd, [this, c] { OnWritable(c); });
      if (!s.ok()) {
        CloseConnection(c);
        return;
      }
    } else {
      loop_->RemoveWriter(c->fd);
    }
    c->writing = want_write;
  }
}

void TcpServer::OnReadable(Conn* c) {
  dead_.clear();
  if (c->lingering) {
    // Discard input until the peer closes.
    for (;;) {
      ssize_t n = recv(c->fd, scratch_.data(), scratch_.size(), 0);
      if (n > 0) continue;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      CloseConnection(c);  // EOF or error.
      return;
    }
  }
  if (global_paused_ && !c->global_wait) {
    c->global_wait = true;
    global_waiters_.push_back(c->id);
    UpdateInterest(c);
    return;
  }
  size_t budget = 4 * options_.read_chunk;  // Fairness between connections.
  while (budget > 0 && WantsRead(c)) {
    const size_t want =
        std::min(scratch_.size(), memory_->ReadAllowance(c->mem));
    ssize_t n = recv(c->fd, scratch_.data(), want, 0);
    if (n > 0) {
      c->in.Append(scratch_.data(), static_cast<size_t>(n));
      Reaccount(c);
      budget -= std::min(budget, static_cast<size_t>(n));
      if (batch_handler_) {
        // One chunk per iteration; its lines go to the handler together
        // with those of the other connections read in this iteration.
        QueueInput(c);
        break;
      }
      ProcessInput(c);
      if (c->closed) return;
      if (static_cast<size_t>(n) < want) break;  // Drained.
      continue;
    }
    if (n == 0) {
      c->eof = true;
      if (batch_handler_) {
        QueueInput(c);
        break;
      }
      ProcessInput(c);
      if (c->closed) return;
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    stats_.resets.fetch_add(1, std::memory_order_relaxed);
    CloseConnection(c);
    return;
  }
  Settled(c);
}

void TcpServer::RejectOversize(Conn* c) {
  stats_.oversize.fetch_add(1, std::memory_order_relaxed);
  c->in.Clear();
  ReplyNow(
      c, absl::StrCat("ERR line too long (max ", options_.max_line, " bytes)"),
      /*close_after=*/true);
}

// ---------------------------------------------------------------------------
// Completions and writing

void TcpServer::ReplyNow(Conn* c, std::string reply, bool close_after) {
  stats_.errors.fetch_add(1, std::memory_order_relaxed);
  if (close_after) c->closing = true;  // Read nothing more.
  c->replies.AddDone(std::move(reply), close_after);
  FlushSlots(c);
  if (!TryWrite(c)) return;
  UpdateInterest(c);
}

void TcpServer::Complete(Conn* c, uint64_t seq, absl::string_view reply,
                         bool close_after) {
  internal::Slot* slot = c->replies.Find(seq);
  if (slot == nullptr) return;  // Dropped after a closing reply.
  // Called within a batch of completions (`c` is touched): FinishTouched
  // flushes the slots and writes.
  c->replies.Answer(slot, reply, close_after);
}

void TcpServer::FlushSlots(Conn* c) {
  while (!c->replies.empty() && c->replies.front().done) {
    internal::Slot& s = c->replies.front();
    const absl::string_view reply = c->replies.front_reply();
    c->out.append(reply.data(), reply.size());
    c->out.push_back('\n');
    Bump(stats_.replies, 1);
    const bool close_after = s.close_after;
    c->replies.PopFront();
    if (close_after) {
      // Later requests go unanswered; their replies are ignored.
      c->closing = true;
      c->replies.DropAll();
      break;
    }
  }
  if (c->unsent() > options_.output_high_water) c->output_paused = true;
}

bool TcpServer::TryWrite(Conn* c) {
  bool progressed = false;
  while (c->out_pos < c->out.size()) {
    ssize_t n = send(c->fd, c->out.data() + c->out_pos,
                     c->out.size() - c->out_pos, MSG_NOSIGNAL);
    if (n > 0) {
      c->out_pos += static_cast<size_t>(n);
      progressed = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    stats_.resets.fetch_add(1, std::memory_order_relaxed);
    CloseConnection(c);
    return false;
  }
  if (c->out_pos == c->out.size()) {
    const size_t keep = c->replies.empty() ? kKeepOutput : kKeepOutputBusy;
    if (c->out.capacity() > keep) {
      std::string().swap(c->out);  // Give a burst's buffer back.
    } else {
      c->out.clear();
    }
    c->out_pos = 0;
  } else if (c->out_pos >= c->out.size() / 2) {
    c->out.erase(0, c->out_pos);
    c->out_pos = 0;
  }
  if (progressed) Touch(c);
  if (c->output_paused && c->unsent() <= options_.output_low_water) {
    c->output_paused = false;
  }
  Reaccount(c);
  return true;
}

void TcpServer::OnWritable(Conn* c) {
  dead_.clear();
  if (!TryWrite(c)) return;
  ProcessInput(c);
  Settled(c);
}

void TcpServer::ApplyCompletions(absl::string_view text,
                                 absl::Span<const internal::ReplyRef> refs) {
  dead_.clear();
  pending_ -= refs.size();
  Bump(stats_.pending, -static_cast<int64_t>(refs.size()));
  size_t off = 0;  // Each reply is followed by its "\n" in `text`.
  Conn* c = nullptr;
  uint64_t cid = 0;  // Connection ids start at 1.
  for (size_t i = 0; i < refs.size();) {
    const internal::ReplyRef& ref = refs[i];
    if (ref.conn_id != cid) {
      // Replies of one connection tend to come in runs: one lookup per run.
      cid = ref.conn_id;
      c = Find(cid);
    }
    if (c == nullptr || c->closed) {
      off += ref.len + 1;
      ++i;
      continue;
    }
    if (!c->touched) {
      c->touched = true;
      touched_.push_back(c);
    }
    // The common case: the replies due next, in order. Their bytes (each
    // with its newline) go straight to the output buffer in one copy;
    // FinishTouched flushes the slots after them and writes.
    size_t run = 0;
    size_t bytes = 0;
    const uint64_t due = c->replies.base_seq();
    while (i + run < refs.size() && run < c->replies.size()) {
      const internal::ReplyRef& r = refs[i + run];
      if (r.conn_id != cid || r.seq != due + run || r.close_after) break;
      bytes += r.len + 1;
      ++run;
    }
    if (run > 0) {
      c->out.append(text.data() + off, bytes);
      c->replies.PopFront(run);
      Bump(stats_.replies, static_cast<int64_t>(run));
      off += bytes;
      i += run;
      continue;
    }
    Complete(c, ref.seq, text.substr(off, ref.len), ref.close_after);
    off += ref.len + 1;
    ++i;
  }
  FinishTouched();
  ResumeGlobal();
  RetryParked();
}

void TcpServer::FinishTouched() {
  std::vector<Conn*> touched;
  touched.swap(touched_);
  size_t live = 0;
  for (Conn* c : touched) {
    c->touched = false;
    if (c->closed) continue;
    FlushSlots(c);
    if (!TryWrite(c)) continue;
    touched[live++] = c;
  }
  touched.resize(live);
  // Lines that waited for these replies (pipelining limits): one batch.
  DispatchBatch(touched);
  for (Conn* c : touched) Settled(c);
  touched.clear();
  if (touched_.empty()) touched_.swap(touched);  // Keep the capacity.
}

// ---------------------------------------------------------------------------
// Closing, idleness, shutdown

void TcpServer::Settled(Conn* c) {
  if (c->closed) return;
  UpdateInterest(c);
  MaybeFinish(c);
}

void TcpServer::MaybeFinish(Conn* c) {
  if (c->closed || c->lingering) return;
  const bool input_done =
      c->closing || shutting_down_ || (c->eof && c->in.empty());
  if (!input_done || !c->replies.empty() || c->unsent() > 0) return;
  if (c->eof) {
    CloseConnection(c);  // The peer already closed its side.
    return;
  }
  BeginLinger(c);
}

void TcpServer::BeginLinger(Conn* c) {
  if (shutdown(c->fd, SHUT_WR) != 0) {
    CloseConnection(c);
    return;
  }
  c->lingering = true;
  // Lingering connections are closing already; idle sweeps skip them.
  idle_->Remove(c);
  const uint64_t id = c->id;
  c->linger_timer = loop_->CallLater(options_.linger_timeout, [this, id] {
    dead_.clear();
    auto it = conns_.find(id);
    if (it != conns_.end()) CloseConnection(it->second.get());
  });
  UpdateInterest(c);
}

void TcpServer::CloseConnection(Conn* c) {
  if (c->closed) return;
  c->closed = true;
  if (c->reading) loop_->RemoveReader(c->fd);
  if (c->writing) loop_->RemoveWriter(c->fd);
  c->reading = c->writing = false;
  c->linger_timer.Cancel();
  idle_->Remove(c);
  // Counted down before the close, so a peer that sees the close sees the
  // count.
  stats_.connections.fetch_sub(1, std::memory_order_relaxed);
  if (c->memory_wait) {
    c->memory_wait = false;
    Bump(stats_.memory_paused, -1);
  }
  memory_->Close(&c->mem);
  PublishMemory();
  c->sock.Close().IgnoreError();
  auto it = conns_.find(c->id);
  if (it != conns_.end()) {
    dead_.push_back(std::move(it->second));
    conns_.erase(it);
  }
  CheckShutdownDone();
}

void TcpServer::Touch(Conn* c) {
  if (c->lingering || c->closed) return;
  idle_->Touch(c);
}

void TcpServer::OnIdle(Conn* c) {
  dead_.clear();
  if (!c->replies.empty() || c->parked || c->global_wait) {
    // Waiting for the server is not idleness: for its requests in flight,
    // or for the server's backpressure to let its input in (a line the
    // handler did not take, the server-wide pending limit).
    Touch(c);
    return;
  }
  stats_.idle_closed.fetch_add(1, std::memory_order_relaxed);
  c->closing = true;
  c->out.append("ERR idle timeout\n");
  if (!TryWrite(c)) return;
  if (c->unsent() == 0 && !c->eof) {
    BeginLinger(c);  // Also takes it off the idle list.
  } else {
    CloseConnection(c);
  }
}

void TcpServer::Shutdown(absl::Duration grace,
                         absl::AnyInvocable<void()> done) {
  if (done) shutdown_done_.push_back(std::move(done));
  if (shutting_down_) {
    CheckShutdownDone();
    return;
  }
  dead_.clear();
  shutting_down_ = true;
  parked_timer_.Cancel();
  acceptor_->Close();
  std::vector<uint64_t> ids;
  ids.reserve(conns_.size());
  for (auto& [id, c] : conns_) ids.push_back(id);
  for (uint64_t id : ids) {
    Conn* c = Find(id);
    if (c == nullptr || c->lingering) continue;
    if (!c->closing) {
      // Lines received in full but not handed over: answer, do not run.
      const absl::string_view in = c->in.pending();
      for (size_t pos = 0;;) {
        const size_t nl = in.find('\n', pos);
        if (nl == absl::string_view::npos) break;
        c->replies.AddDone("ERR server shutting down", false);
        stats_.errors.fetch_add(1, std::memory_order_relaxed);
        pos = nl + 1;
      }
      c->in.Clear();
    }
    c->parked = false;
    FlushSlots(c);
    if (!TryWrite(c)) continue;
    Settled(c);
  }
  parked_.clear();
  global_waiters_.clear();
  shutdown_timer_ = loop_->CallLater(grace, [this] {
    dead_.clear();
    std::vector<Conn*> all;
    for (auto& [id, c] : conns_) all.push_back(c.get());
    for (Conn* c : all) CloseConnection(c);
    CheckShutdownDone();
  });
  CheckShutdownDone();
}

void TcpServer::CheckShutdownDone() {
  if (!shutting_down_ || !conns_.empty() || shutdown_done_.empty()) return;
  shutdown_timer_.Cancel();
  auto dones = std::make_shared<std::vector<absl::AnyInvocable<void()>>>(
      std::move(shutdown_done_));
  shutdown_done_.clear();
  loop_->CallSoon([dones] {
    for (auto& d : *dones) d();
  });
}

}  // namespace spindle::io
