// Copyright 2026 The spindle Authors.

#include "spindle/io/tcp_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/internal/raw_logging.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "spindle/concurrency/status.h"

namespace spindle::io {
namespace internal {

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
  std::atomic<int64_t> refs{1};  // The server's.
  absl::Mutex mu;
  TcpServer* server ABSL_GUARDED_BY(mu) = nullptr;
  EventLoop* loop ABSL_GUARDED_BY(mu) = nullptr;
  std::string inbox_text ABSL_GUARDED_BY(mu);
  std::vector<ReplyRef> inbox ABSL_GUARDED_BY(mu);
  // Loop thread only: the batch being applied, swapped with the inbox so
  // that both keep their capacity (no allocation per batch).
  std::string drain_text;
  std::vector<ReplyRef> drain_refs;

  // Any thread: queues replies for the loop; the call that makes the inbox
  // non-empty schedules the drain (one wake-up per batch of replies).
  void Acquire(int64_t n) { refs.fetch_add(n, std::memory_order_relaxed); }
  void Release(int64_t n) {
    if (refs.fetch_sub(n, std::memory_order_acq_rel) == n) delete this;
  }

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

  // Any thread: queues replies for the loop; the call that makes the inbox
  // non-empty schedules the drain (one wake-up per batch of replies). Then
  // releases the references of the `refs.size()` responders answered.
  static void Deliver(ServerShared* self, absl::string_view text,
                      absl::Span<const ReplyRef> refs) {
    if (refs.empty()) return;
    {
      absl::MutexLock l(&self->mu);
      if (self->server != nullptr) {
        const bool post = self->inbox.empty();
        self->inbox_text.append(text.data(), text.size());
        self->inbox.insert(self->inbox.end(), refs.begin(), refs.end());
        if (post) {  // Otherwise a drain is already scheduled.
          EventLoop* loop = self->loop;
          auto drain = [ref = DrainRef(self)] { Drain(ref.get()); };
          if (loop->InLoopThread()) {
            loop->CallSoon(std::move(drain));
          } else {
            loop->CallSoonThreadsafe(std::move(drain)).IgnoreError();
          }
        }
      }
    }
    self->Release(static_cast<int64_t>(refs.size()));
  }

  // Loop thread: hands the inbox to the server.
  static void Drain(ServerShared* self) {
    TcpServer* server;
    {
      absl::MutexLock l(&self->mu);
      self->drain_text.swap(self->inbox_text);
      self->drain_refs.swap(self->inbox);
      server = self->server;
    }
    if (server != nullptr) {
      server->ApplyCompletions(self->drain_text, self->drain_refs);
    }
    self->drain_text.clear();
    self->drain_refs.clear();
  }
};

struct Slot {
  bool done = false;
  bool close_after = false;
  std::string reply;
};

// The reply slots of a connection: a FIFO ring that reuses its entries
// (and their strings' capacity), so a request costs no allocation.
class SlotRing {
 public:
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  Slot& operator[](size_t i) { return buf_[(head_ + i) & mask_]; }
  Slot& front() { return buf_[head_]; }
  // Appends an empty slot.
  void emplace_back() {
    if (size_ == buf_.size()) Grow();
    ++size_;
  }
  void push_back(Slot slot) {
    emplace_back();
    (*this)[size_ - 1] = std::move(slot);
  }
  void pop_front() {
    Reset(front());
    head_ = (head_ + 1) & mask_;
    --size_;
  }
  // Removes the last `n` slots.
  void pop_back(size_t n = 1) {
    for (; n > 0; --n) Reset((*this)[--size_]);
  }
  void clear() { pop_back(size_); }

 private:
  static void Reset(Slot& s) {
    s.done = false;
    s.close_after = false;
    s.reply.clear();
  }
  void Grow() {
    std::vector<Slot> bigger(std::max<size_t>(8, 2 * buf_.size()));
    for (size_t i = 0; i < size_; ++i) bigger[i] = std::move((*this)[i]);
    buf_.swap(bigger);
    head_ = 0;
    mask_ = buf_.size() - 1;
  }
  std::vector<Slot> buf_;
  size_t head_ = 0;
  size_t size_ = 0;
  size_t mask_ = 0;
};

struct Connection {
  uint64_t id = 0;
  Socket sock;
  int fd = -1;
  std::string in;
  size_t in_pos = 0;
  std::string out;
  size_t out_pos = 0;
  SlotRing slots;  // slots[i] answers request base_seq + i.
  uint64_t base_seq = 0;
  uint64_t next_seq = 0;
  bool reading = false;  // Reader callback registered.
  bool writing = false;  // Writer callback registered.
  bool eof = false;      // The peer half-closed: no more input.
  bool closing = false;  // No more requests; close after the replies.
  bool lingering = false;
  bool closed = false;
  bool output_paused = false;
  bool parked = false;        // The handler said Full for the next line.
  bool global_wait = false;   // Paused by the server-wide high-water mark.
  bool touched = false;       // In the current completion batch.
  bool input_queued = false;  // In TcpServer::input_ready_.
  MonotonicTime last_active;  // On the loop's clock.
  Connection* prev = nullptr;
  Connection* next = nullptr;
  bool in_lru = false;
  Handle linger_timer;

  size_t unsent() const { return out.size() - out_pos; }
};

}  // namespace internal

namespace {

using internal::Connection;

// Adds `d` to a counter only the loop thread writes (readers elsewhere see
// relaxed snapshots): a plain load and store, no locked read-modify-write.
inline void Bump(std::atomic<int64_t>& counter, int64_t d) {
  counter.store(counter.load(std::memory_order_relaxed) + d,
                std::memory_order_relaxed);
}

absl::StatusOr<Socket> Listen(const std::string& host, int port, int backlog,
                              bool reuse_port, int* bound_port) {
  sockaddr_storage addr;
  std::memset(&addr, 0, sizeof(addr));
  socklen_t len;
  int family;
  if (absl::StrContains(host, ':')) {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&addr);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("not an IPv6 address: ", host));
    }
    len = sizeof(sockaddr_in6);
    family = AF_INET6;
  } else {
    auto* a4 = reinterpret_cast<sockaddr_in*>(&addr);
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("not an IPv4 address: ", host));
    }
    len = sizeof(sockaddr_in);
    family = AF_INET;
  }
  Fd fd(socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoError(errno, "socket");
  int one = 1;
  if (setsockopt(fd.fileno(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) !=
      0) {
    return ErrnoError(errno, "setsockopt(SO_REUSEADDR)");
  }
  if (reuse_port && setsockopt(fd.fileno(), SOL_SOCKET, SO_REUSEPORT, &one,
                               sizeof(one)) != 0) {
    return ErrnoError(errno, "setsockopt(SO_REUSEPORT)");
  }
  if (bind(fd.fileno(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    return ErrnoError(errno, absl::StrCat("bind(", host, ":", port, ")"));
  }
  if (listen(fd.fileno(), backlog) != 0) return ErrnoError(errno, "listen");
  sockaddr_storage bound;
  socklen_t blen = sizeof(bound);
  if (getsockname(fd.fileno(), reinterpret_cast<sockaddr*>(&bound), &blen) !=
      0) {
    return ErrnoError(errno, "getsockname");
  }
  *bound_port = ntohs(family == AF_INET6
                          ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                          : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return Socket(std::move(fd));
}

// Best effort: the message goes out if the socket buffer takes it now.
void SendBestEffort(int fd, absl::string_view msg) {
  ssize_t n = send(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)n;
}

constexpr absl::Duration kAcceptBackoff = absl::Milliseconds(100);

}  // namespace

// ---------------------------------------------------------------------------
// Responder

Responder& Responder::operator=(Responder&& other) noexcept {
  if (this != &other) {
    if (valid()) Reply("ERR internal error: no reply");
    shared_ = other.shared_;
    other.shared_ = nullptr;
    conn_id_ = other.conn_id_;
    seq_ = other.seq_;
  }
  return *this;
}

Responder::~Responder() {
  if (valid()) Reply("ERR internal error: no reply");
}

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
  refs_.push_back(internal::ReplyRef{
      r.conn_id_, r.seq_, static_cast<uint32_t>(line.size()), close_after});
}

void ReplyBatch::Flush() {
  if (refs_.empty()) return;
  internal::ServerShared::Deliver(shared_, text_, refs_);
  shared_ = nullptr;  // Its references are released.
  text_.clear();
  refs_.clear();
}

// ---------------------------------------------------------------------------
// TcpServer

TcpServer::TcpServer(EventLoop* loop, Options options, Handler handler)
    : loop_(loop),
      options_(std::move(options)),
      handler_(std::move(handler)),
      shared_(new internal::ServerShared) {
  absl::MutexLock l(&shared_->mu);
  shared_->server = this;
  shared_->loop = loop_;
}

TcpServer::TcpServer(EventLoop* loop, Options options, BatchHandler handler)
    : TcpServer(loop, std::move(options), Handler()) {
  batch_handler_ = std::move(handler);
}

TcpServer::~TcpServer() {
  {
    absl::MutexLock l(&shared_->mu);
    shared_->server = nullptr;
    shared_->inbox.clear();
    shared_->inbox_text.clear();
  }
  shutting_down_ = true;
  accept_resume_timer_.Cancel();
  idle_timer_.Cancel();
  parked_timer_.Cancel();
  shutdown_timer_.Cancel();
  dispatch_handle_.Cancel();
  for (Socket& l : listeners_) {
    if (accepting_) loop_->RemoveReader(l.fileno());
    l.Close().IgnoreError();
  }
  std::vector<Conn*> all;
  for (auto& [id, c] : conns_) all.push_back(c.get());
  for (Conn* c : all) CloseConnection(c);
  dead_.clear();
  shared_->Release(1);
}

absl::Status TcpServer::Start() {
  if (!listeners_.empty() || shutting_down_) {
    return absl::FailedPreconditionError("server already started");
  }
  if (options_.hosts.empty() || options_.max_line == 0 ||
      options_.output_low_water > options_.output_high_water ||
      options_.pending_low_water > options_.pending_high_water ||
      options_.max_pipelined == 0 || options_.read_chunk == 0 ||
      options_.accept_batch <= 0) {
    return absl::InvalidArgumentError("invalid TcpServer options");
  }
  scratch_.resize(options_.read_chunk);
  int port = options_.port;
  std::vector<Socket> listeners;
  for (const std::string& host : options_.hosts) {
    int bound = 0;
    absl::StatusOr<Socket> s =
        Listen(host, port, options_.backlog, options_.reuse_port, &bound);
    if (!s.ok()) return s.status();
    if (port == 0) port = bound;
    listeners.push_back(*std::move(s));
  }
  port_ = port;
  listeners_ = std::move(listeners);
  reserve_fd_.Reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
  ResumeAccepting();
  return absl::OkStatus();
}

void TcpServer::ResumeAccepting() {
  if (accepting_ || shutting_down_) return;
  for (Socket& l : listeners_) {
    const int fd = l.fileno();
    absl::Status s = loop_->AddReader(fd, [this, fd] { OnAcceptable(fd); });
    if (!s.ok()) ABSL_RAW_LOG(ERROR, "TcpServer: %s", s.ToString().c_str());
  }
  accepting_ = true;
}

void TcpServer::PauseAccepting(absl::Duration d) {
  if (!accepting_) return;
  for (Socket& l : listeners_) loop_->RemoveReader(l.fileno());
  accepting_ = false;
  accept_resume_timer_ = loop_->CallLater(d, [this] { ResumeAccepting(); });
}

void TcpServer::OnAcceptable(int listen_fd) {
  dead_.clear();
  for (int i = 0; i < options_.accept_batch && accepting_; ++i) {
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return;
      if (err == EINTR || err == ECONNABORTED || err == EPROTO ||
          err == EPERM) {
        continue;
      }
      if ((err == EMFILE || err == ENFILE) && reserve_fd_.valid()) {
        // The reserve-fd technique: make room for one accept, refuse it
        // politely, take the room back.
        reserve_fd_.Reset();
        int victim = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (victim >= 0) {
          stats_.rejected_no_fds.fetch_add(1, std::memory_order_relaxed);
          SendBestEffort(victim, "ERR server out of file descriptors\n");
          close(victim);
        }
        reserve_fd_.Reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
        if (victim >= 0 && reserve_fd_.valid()) continue;
      }
      // Out of resources, or an unexpected error: try again later rather
      // than spin on a listener that stays readable.
      ABSL_RAW_LOG(WARNING, "TcpServer: accept: %s; pausing accepts",
                   std::strerror(err));
      PauseAccepting(kAcceptBackoff);
      return;
    }
    if (conns_.size() >= options_.max_connections) {
      stats_.rejected_busy.fetch_add(1, std::memory_order_relaxed);
      SendBestEffort(fd, absl::StrCat(options_.busy_message, "\n"));
      close(fd);
      continue;
    }
    AddConnection(fd);
  }
}

void TcpServer::AddConnection(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  auto owned = std::make_unique<Conn>();
  Conn* c = owned.get();
  c->id = next_conn_id_++;
  c->sock = Socket(Fd(fd));
  c->fd = fd;
  conns_.emplace(c->id, std::move(owned));
  stats_.accepted.fetch_add(1, std::memory_order_relaxed);
  stats_.connections.fetch_add(1, std::memory_order_relaxed);
  Touch(c);
  ArmIdleTimer();
  UpdateInterest(c);
}

bool TcpServer::WantsRead(const Conn* c) const {
  return !c->closed && !c->eof && !c->closing && !shutting_down_ &&
         !c->parked && !c->global_wait && !c->output_paused &&
         c->slots.size() < options_.max_pipelined;
}

void TcpServer::UpdateInterest(Conn* c) {
  if (c->closed) return;
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
    if (c->in_pos == c->in.size()) {
      c->in.clear();
      c->in_pos = 0;
    } else if (c->in_pos > 0 && c->in_pos >= c->in.size() / 2) {
      c->in.erase(0, c->in_pos);
      c->in_pos = 0;
    }
    ssize_t n = recv(c->fd, scratch_.data(), scratch_.size(), 0);
    if (n > 0) {
      c->in.append(scratch_.data(), static_cast<size_t>(n));
      budget -= std::min(budget, static_cast<size_t>(n));
      if (batch_handler_) {
        // One chunk per iteration; its lines go to the handler together
        // with those of the other connections read in this iteration.
        QueueInput(c);
        break;
      }
      ProcessInput(c);
      if (c->closed) return;
      if (static_cast<size_t>(n) < scratch_.size()) break;  // Drained.
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
  UpdateInterest(c);
  MaybeFinish(c);
}

TcpServer::LineKind TcpServer::NextLine(const Conn* c, size_t pos,
                                        absl::string_view* line,
                                        size_t* consume) const {
  const char* begin = c->in.data() + pos;
  const size_t avail = c->in.size() - pos;
  if (avail == 0) return LineKind::kNone;
  const void* nl = std::memchr(begin, '\n', avail);
  size_t len;
  if (nl == nullptr) {
    // Room for a "\r" before a newline still to come.
    if (avail > options_.max_line + 1) return LineKind::kOversize;
    if (!c->eof) return LineKind::kNone;  // Wait for the rest.
    len = *consume = avail;               // A last line without newline.
  } else {
    len = static_cast<size_t>(static_cast<const char*>(nl) - begin);
    *consume = len + 1;
  }
  absl::string_view l(begin, len);
  if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
  if (l.size() > options_.max_line) return LineKind::kOversize;
  *line = l;
  return LineKind::kLine;
}

void TcpServer::RejectOversize(Conn* c) {
  stats_.oversize.fetch_add(1, std::memory_order_relaxed);
  c->in.clear();
  c->in_pos = 0;
  ReplyNow(
      c, absl::StrCat("ERR line too long (max ", options_.max_line, " bytes)"),
      /*close_after=*/true);
}

bool TcpServer::InputAllowed(Conn* c) {
  // The same limits as WantsRead: lines already buffered wait too.
  if (c->slots.size() >= options_.max_pipelined || c->output_paused) {
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
  if (batch_handler_) {
    Conn* const one[] = {c};
    DispatchBatch(one);
    return;
  }
  while (!c->closed && !c->closing && !c->parked && !shutting_down_) {
    if (!InputAllowed(c)) return;
    absl::string_view line;
    size_t consume = 0;
    switch (NextLine(c, c->in_pos, &line, &consume)) {
      case LineKind::kNone:
        return;
      case LineKind::kOversize:
        RejectOversize(c);
        return;
      case LineKind::kLine:
        break;
    }
    Dispatch(c, line);
    if (c->closed || c->parked) return;
    c->in_pos += consume;
  }
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
    auto it = conns_.find(id);
    if (it == conns_.end()) continue;
    Conn* c = it->second.get();
    c->input_queued = false;
    if (!c->closed) conns.push_back(c);
  }
  input_ready_.clear();
  DispatchBatch(conns);
  for (Conn* c : conns) {
    if (c->closed) continue;
    UpdateInterest(c);
    MaybeFinish(c);
  }
}

void TcpServer::DispatchBatch(absl::Span<Conn* const> conns) {
  batch_.clear();
  batch_ends_.clear();
  segments_.clear();
  for (Conn* c : conns) {
    if (c->closed || c->closing || c->parked || shutting_down_) continue;
    if (!InputAllowed(c)) continue;
    const size_t room = std::min(options_.max_pipelined - c->slots.size(),
                                 options_.pending_high_water - pending_);
    Segment seg{c, batch_.size(), 0, LineKind::kNone};
    size_t pos = c->in_pos;
    while (batch_.size() - seg.begin < room) {
      absl::string_view line;
      size_t consume = 0;
      seg.kind = NextLine(c, pos, &line, &consume);
      if (seg.kind != LineKind::kLine) break;
      pos += consume;
      batch_.push_back(Request{line, MakeResponder(c, AddSlot(c))});
      batch_ends_.push_back(pos);
    }
    seg.end = batch_.size();
    if (seg.end > seg.begin || seg.kind == LineKind::kOversize) {
      segments_.push_back(seg);
    }
  }
  const size_t n = batch_.size();
  shared_->Acquire(static_cast<int64_t>(n));  // The responders' references.
  size_t taken = n;
  bool threw = false;
  std::string what = "ERR internal error";
  if (n > 0) {
    try {
      taken = std::min(n, batch_handler_(absl::MakeSpan(batch_)));
    } catch (const std::exception& e) {
      threw = true;
      // Internal details stay on the server: log them, answer generically.
      std::fprintf(stderr, "TcpServer: batch handler threw: %s\n", e.what());
    } catch (...) {
      threw = true;
    }
  }
  if (threw) taken = n;
  for (const Segment& seg : segments_) {
    Conn* c = seg.c;
    const size_t count = seg.end - seg.begin;
    // Taken: up to `taken`, and up to the connection's first request whose
    // responder is still valid (per connection, a suffix may be refused).
    size_t took = taken <= seg.begin ? 0 : std::min(count, taken - seg.begin);
    if (!threw) {
      for (size_t i = 0; i < took; ++i) {
        if (batch_[seg.begin + i].responder.valid()) {
          took = i;
          break;
        }
      }
    }
    if (threw) {
      for (size_t i = seg.begin; i < seg.end; ++i) {
        Responder& r = batch_[i].responder;
        if (!r.valid()) continue;
        r.Disarm();
        stats_.errors.fetch_add(1, std::memory_order_relaxed);
        --pending_;
        Bump(stats_.pending, -1);
        internal::Slot& slot = c->slots[r.seq_ - c->base_seq];
        slot.done = true;
        slot.reply = what;
      }
    }
    if (took < count) {
      // Not taken: give the slots back, keep the lines, retry later.
      for (size_t i = seg.begin + took; i < seg.end; ++i) {
        ABSL_RAW_CHECK(batch_[i].responder.valid(),
                       "TcpServer::BatchHandler: a request it did not take "
                       "must keep its responder");
        batch_[i].responder.Disarm();
      }
      const size_t back = count - took;
      c->slots.pop_back(back);
      c->next_seq -= back;
      pending_ -= back;
      Bump(stats_.pending, -static_cast<int64_t>(back));
    }
    if (took > 0) {
      c->in_pos = batch_ends_[seg.begin + took - 1];
      Bump(stats_.requests, static_cast<int64_t>(took));
      Touch(c);
    }
    if (threw) {
      FlushSlots(c);
      if (!TryWrite(c)) continue;
    }
    if (took < count) {
      Park(c);
    } else if (seg.kind == LineKind::kOversize) {
      RejectOversize(c);
    }
  }
  batch_.clear();  // Every responder here is empty now.
  segments_.clear();
}

uint64_t TcpServer::AddSlot(Conn* c) {
  c->slots.emplace_back();
  ++pending_;
  Bump(stats_.pending, 1);
  return c->next_seq++;
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

Responder TcpServer::MakeResponder(Conn* c, uint64_t seq) {
  return Responder(shared_, c->id, seq);  // Counted by the caller.
}

void TcpServer::Dispatch(Conn* c, absl::string_view line) {
  const uint64_t seq = AddSlot(c);
  shared_->Acquire(1);
  Responder r = MakeResponder(c, seq);
  absl::Status s;
  try {
    s = handler_(line, r);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "TcpServer: handler threw: %s\n", e.what());
    s = absl::InternalError("internal error");
  } catch (...) {
    s = absl::InternalError("internal error");
  }
  if (IsFull(s) && r.valid()) {
    // Not taken: undo, keep the line, retry later.
    r.Disarm();
    c->slots.pop_back();
    --c->next_seq;
    --pending_;
    Bump(stats_.pending, -1);
    Park(c);
    return;
  }
  Bump(stats_.requests, 1);
  Touch(c);
  if (!s.ok() && r.valid()) {
    r.Disarm();
    stats_.errors.fetch_add(1, std::memory_order_relaxed);
    --pending_;
    Bump(stats_.pending, -1);
    Complete(c, seq, absl::StrCat("ERR ", s.message()), false);
  }
}

void TcpServer::ReplyNow(Conn* c, std::string reply, bool close_after) {
  stats_.errors.fetch_add(1, std::memory_order_relaxed);
  if (close_after) c->closing = true;  // Read nothing more.
  c->slots.push_back(internal::Slot{true, close_after, std::move(reply)});
  ++c->next_seq;
  FlushSlots(c);
  if (!TryWrite(c)) return;
  UpdateInterest(c);
}

void TcpServer::Complete(Conn* c, uint64_t seq, absl::string_view reply,
                         bool close_after) {
  if (seq < c->base_seq) return;  // Dropped after a closing reply.
  const uint64_t i = seq - c->base_seq;
  if (i >= c->slots.size()) return;
  if (i == 0 && c->touched && !close_after) {
    // The next reply due (the common case): straight to the output buffer;
    // FinishTouched flushes the slots after it and writes.
    c->out.append(reply.data(), reply.size());
    c->out.push_back('\n');
    Bump(stats_.output_buffered, static_cast<int64_t>(reply.size() + 1));
    Bump(stats_.replies, 1);
    c->slots.pop_front();
    ++c->base_seq;
    return;
  }
  internal::Slot& slot = c->slots[i];
  slot.done = true;
  slot.close_after = close_after;
  slot.reply.assign(reply.data(), reply.size());
  if (!c->touched) {
    // Outside a batch: write now.
    FlushSlots(c);
    if (!TryWrite(c)) return;
    UpdateInterest(c);
  }
}

void TcpServer::FlushSlots(Conn* c) {
  while (!c->slots.empty() && c->slots.front().done) {
    internal::Slot& s = c->slots.front();
    c->out.append(s.reply);
    c->out.push_back('\n');
    Bump(stats_.output_buffered, static_cast<int64_t>(s.reply.size() + 1));
    Bump(stats_.replies, 1);
    const bool close_after = s.close_after;
    c->slots.pop_front();
    ++c->base_seq;
    if (close_after) {
      // Later requests go unanswered; their replies are ignored.
      c->closing = true;
      c->base_seq += c->slots.size();
      c->slots.clear();
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
      Bump(stats_.output_buffered, -n);
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
    c->out.clear();
    c->out_pos = 0;
  } else if (c->out_pos >= c->out.size() / 2) {
    c->out.erase(0, c->out_pos);
    c->out_pos = 0;
  }
  if (progressed) Touch(c);
  if (c->output_paused && c->unsent() <= options_.output_low_water) {
    c->output_paused = false;
  }
  return true;
}

void TcpServer::OnWritable(Conn* c) {
  dead_.clear();
  if (!TryWrite(c)) return;
  ProcessInput(c);
  if (c->closed) return;
  UpdateInterest(c);
  MaybeFinish(c);
}

void TcpServer::ApplyCompletions(absl::string_view text,
                                 absl::Span<const internal::ReplyRef> refs) {
  dead_.clear();
  pending_ -= refs.size();
  Bump(stats_.pending, -static_cast<int64_t>(refs.size()));
  size_t off = 0;
  Conn* c = nullptr;
  uint64_t cid = 0;  // Connection ids start at 1.
  for (const internal::ReplyRef& ref : refs) {
    const absl::string_view reply = text.substr(off, ref.len);
    off += ref.len;
    if (ref.conn_id != cid) {
      // Replies of one connection tend to come in runs: one lookup per run.
      cid = ref.conn_id;
      auto it = conns_.find(cid);
      c = it == conns_.end() ? nullptr : it->second.get();
    }
    if (c == nullptr || c->closed) continue;
    if (!c->touched) {
      c->touched = true;
      touched_.push_back(c);
    }
    Complete(c, ref.seq, reply, ref.close_after);
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
  if (batch_handler_) {
    DispatchBatch(touched);
  } else {
    for (Conn* c : touched) {
      if (!c->closed) ProcessInput(c);
    }
  }
  for (Conn* c : touched) {
    if (c->closed) continue;
    UpdateInterest(c);
    MaybeFinish(c);
  }
  touched.clear();
  if (touched_.empty()) touched_.swap(touched);  // Keep the capacity.
}

void TcpServer::ResumeGlobal() {
  if (!global_paused_ || pending_ > options_.pending_low_water) return;
  global_paused_ = false;
  std::vector<uint64_t> waiters;
  waiters.swap(global_waiters_);
  for (uint64_t id : waiters) {
    auto it = conns_.find(id);
    if (it == conns_.end()) continue;
    Conn* c = it->second.get();
    if (c->closed) continue;
    c->global_wait = false;
    ProcessInput(c);
    if (c->closed) continue;
    UpdateInterest(c);
    MaybeFinish(c);
  }
}

void TcpServer::RetryParked() {
  if (parked_.empty()) return;
  std::vector<uint64_t> parked;
  parked.swap(parked_);
  for (uint64_t id : parked) {
    auto it = conns_.find(id);
    if (it == conns_.end()) continue;
    Conn* c = it->second.get();
    if (c->closed || !c->parked) continue;
    c->parked = false;
    ProcessInput(c);
    if (c->closed) continue;
    UpdateInterest(c);
    MaybeFinish(c);
  }
}

void TcpServer::MaybeFinish(Conn* c) {
  if (c->closed || c->lingering) return;
  const bool input_done =
      c->closing || shutting_down_ || (c->eof && c->in_pos == c->in.size());
  if (!input_done || !c->slots.empty() || c->unsent() > 0) return;
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
  LruRemove(c);
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
  LruRemove(c);
  // Counted down before the close, so a peer that sees the close sees the
  // count.
  stats_.connections.fetch_sub(1, std::memory_order_relaxed);
  stats_.output_buffered.fetch_sub(static_cast<int64_t>(c->unsent()),
                                   std::memory_order_relaxed);
  c->sock.Close().IgnoreError();
  auto it = conns_.find(c->id);
  if (it != conns_.end()) {
    dead_.push_back(std::move(it->second));
    conns_.erase(it);
  }
  CheckShutdownDone();
}

void TcpServer::LruRemove(Conn* c) {
  if (!c->in_lru) return;
  if (c->prev)
    c->prev->next = c->next;
  else
    lru_head_ = c->next;
  if (c->next)
    c->next->prev = c->prev;
  else
    lru_tail_ = c->prev;
  c->prev = c->next = nullptr;
  c->in_lru = false;
}

void TcpServer::Touch(Conn* c) {
  if (c->lingering || c->closed) return;
  c->last_active = loop_->Time();
  if (c->in_lru) {
    if (lru_tail_ == c) return;
    LruRemove(c);
  }
  c->prev = lru_tail_;
  c->next = nullptr;
  if (lru_tail_)
    lru_tail_->next = c;
  else
    lru_head_ = c;
  lru_tail_ = c;
  c->in_lru = true;
}

void TcpServer::ArmIdleTimer() {
  const absl::Duration t = options_.idle_timeout;
  if (t <= absl::ZeroDuration() || t == absl::InfiniteDuration()) return;
  if (idle_armed_ || lru_head_ == nullptr) return;
  idle_armed_ = true;
  idle_timer_ = loop_->CallAt(lru_head_->last_active + t, [this] {
    idle_armed_ = false;
    OnIdleTimer();
  });
}

void TcpServer::OnIdleTimer() {
  dead_.clear();
  const absl::Duration t = options_.idle_timeout;
  const MonotonicTime now = loop_->Time();
  while (lru_head_ != nullptr && lru_head_->last_active + t <= now) {
    Conn* c = lru_head_;
    if (!c->slots.empty()) {
      Touch(c);  // Waiting for our own jobs is not idleness.
      continue;
    }
    stats_.idle_closed.fetch_add(1, std::memory_order_relaxed);
    c->closing = true;
    c->out.append("ERR idle timeout\n");
    stats_.output_buffered.fetch_add(17, std::memory_order_relaxed);
    if (!TryWrite(c)) continue;
    if (c->unsent() == 0 && !c->eof) {
      BeginLinger(c);  // Also takes it off the idle list.
    } else {
      CloseConnection(c);
    }
  }
  ArmIdleTimer();
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
  accept_resume_timer_.Cancel();
  parked_timer_.Cancel();
  for (Socket& l : listeners_) {
    if (accepting_) loop_->RemoveReader(l.fileno());
    l.Close().IgnoreError();
  }
  accepting_ = false;
  std::vector<uint64_t> ids;
  ids.reserve(conns_.size());
  for (auto& [id, c] : conns_) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = conns_.find(id);
    if (it == conns_.end()) continue;
    Conn* c = it->second.get();
    if (c->closed || c->lingering) continue;
    if (!c->closing) {
      // Lines received in full but not handed over: answer, do not run.
      const std::string& in = c->in;
      size_t pos = c->in_pos;
      for (;;) {
        size_t nl = in.find('\n', pos);
        if (nl == std::string::npos) break;
        c->slots.push_back(
            internal::Slot{true, false, "ERR server shutting down"});
        ++c->next_seq;
        stats_.errors.fetch_add(1, std::memory_order_relaxed);
        pos = nl + 1;
      }
      c->in.clear();
      c->in_pos = 0;
    }
    c->parked = false;
    FlushSlots(c);
    if (!TryWrite(c)) continue;
    UpdateInterest(c);
    MaybeFinish(c);
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
