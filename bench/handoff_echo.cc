// Copyright 2026 The spindle Authors.
//
// The floor of a hand-off: a raw epoll echo loop (as echo_servers
// --impl=epoll) that hands what it reads to one worker thread instead of
// echoing it itself - the least any server can do that answers requests on
// threads other than its event loop. bench/service_bench.py runs it beside
// the job server (--handoff) so that the cost of handing requests to workers
// at all is measured apart from what LineService adds to it.
//
//   --reply=worker  the worker sends the echo itself (blocking on poll()
//                   when a socket is full); the loop only reads.
//   --reply=loop    the worker hands the echo back (an eventfd wakes the
//                   loop when it was idle) and the loop sends it, as
//                   LineService does.
//
// One worker; the loop appends each read to a shared byte buffer under a
// mutex and wakes the worker only when it waits; the worker takes the whole
// buffer at once (a swap), so a batch costs one lock and at most one wake on
// each side. No framing, no per-request work: the bytes read are the reply.
// A measurement program, not a server: a connection the client closes is
// closed by the loop while the worker may still hold bytes for it (the
// benchmark's clients close only at the end).
//
// Prints "listening on 127.0.0.1:PORT" and serves until killed.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "spindle/io/socket.h"

ABSL_FLAG(std::string, reply, "loop", "who sends the echo: loop or worker");
ABSL_FLAG(int, port, 0, "port (0: any free port)");

namespace {

// Reads from many connections, one after another in one buffer.
struct Batch {
  struct Segment {
    int fd;
    size_t begin, size;
  };
  std::string bytes;
  std::vector<Segment> segments;

  bool empty() const { return segments.empty(); }
  void Add(int fd, const char* data, size_t n) {
    segments.push_back({fd, bytes.size(), n});
    bytes.append(data, n);
  }
  void Clear() {
    bytes.clear();
    segments.clear();
  }
};

void SendAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = send(fd, data, n, MSG_NOSIGNAL);
    if (w > 0) {
      data += w;
      n -= static_cast<size_t>(w);
    } else if (w < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, -1);
    } else {
      return;  // The connection is gone.
    }
  }
}

class Handoff {
 public:
  explicit Handoff(bool worker_replies) : worker_replies_(worker_replies) {}

  int Run() {
    auto listener =
        spindle::io::ListenTcp("127.0.0.1", absl::GetFlag(FLAGS_port), 1024);
    if (!listener.ok() || !listener->SetNonBlocking().ok()) return 1;
    std::printf("listening on 127.0.0.1:%d\n", *listener->LocalPort());
    std::fflush(stdout);
    lfd_ = listener->fileno();
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    efd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    Watch(lfd_, EPOLLIN, EPOLL_CTL_ADD);
    Watch(efd_, EPOLLIN, EPOLL_CTL_ADD);
    std::thread([this] { Work(); }).detach();
    Loop();
  }

 private:
  void Watch(int fd, uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    epoll_ctl(ep_, op, fd, &ev);
  }

  // Serves until the process is killed.
  [[noreturn]] void Loop() {
    std::vector<std::string> pending(65536);  // Unsent replies (loop mode).
    std::array<epoll_event, 1024> events;
    static char buf[16384];
    Batch reads, replies;
    for (;;) {
      const int n = epoll_wait(ep_, events.data(), events.size(), -1);
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == lfd_) {
          Accept();
        } else if (fd == efd_) {
          uint64_t count;
          (void)!read(efd_, &count, sizeof(count));
          {
            std::lock_guard<std::mutex> l(mu_);
            replies.Clear();
            std::swap(replies, done_);
          }
          for (const Batch::Segment& s : replies.segments) {
            Send(s.fd, replies.bytes.data() + s.begin, s.size, pending);
          }
        } else {
          if (events[i].events & EPOLLOUT) Flush(fd, pending);
          if (!(events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
          const ssize_t r = recv(fd, buf, sizeof(buf), 0);
          if (r == 0 || (r < 0 && errno != EAGAIN)) {
            epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
            pending[fd].clear();
            close(fd);
          } else if (r > 0) {
            reads.Add(fd, buf, static_cast<size_t>(r));
          }
        }
      }
      if (reads.empty()) continue;
      bool wake;
      {
        std::lock_guard<std::mutex> l(mu_);
        if (inbox_.empty()) {
          std::swap(inbox_, reads);
        } else {
          for (const Batch::Segment& s : reads.segments) {
            inbox_.Add(s.fd, reads.bytes.data() + s.begin, s.size);
          }
        }
        wake = worker_waiting_;
      }
      reads.Clear();
      if (wake) cv_.notify_one();
    }
  }

  void Accept() {
    for (;;) {
      const int c =
          accept4(lfd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c < 0) return;
      int one = 1;
      setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      Watch(c, EPOLLIN, EPOLL_CTL_ADD);
    }
  }

  // Loop mode: send, keeping what does not fit until EPOLLOUT.
  void Send(int fd, const char* data, size_t n,
            std::vector<std::string>& pending) {
    std::string& out = pending[fd];
    if (!out.empty()) {
      out.append(data, n);
      return;
    }
    const ssize_t w = send(fd, data, n, MSG_NOSIGNAL);
    if (w == static_cast<ssize_t>(n) || (w < 0 && errno != EAGAIN)) return;
    const size_t sent = w > 0 ? static_cast<size_t>(w) : 0;
    out.assign(data + sent, n - sent);
    Watch(fd, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
  }

  void Flush(int fd, std::vector<std::string>& pending) {
    std::string& out = pending[fd];
    const ssize_t w = send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    if (w > 0) out.erase(0, static_cast<size_t>(w));
    if (out.empty()) Watch(fd, EPOLLIN, EPOLL_CTL_MOD);
  }

  void Work() {
    Batch mine;
    for (;;) {
      {
        std::unique_lock<std::mutex> l(mu_);
        mine.Clear();
        worker_waiting_ = true;
        cv_.wait(l, [this] { return !inbox_.empty(); });
        worker_waiting_ = false;
        std::swap(mine, inbox_);
      }
      if (worker_replies_) {
        for (const Batch::Segment& s : mine.segments) {
          SendAll(s.fd, mine.bytes.data() + s.begin, s.size);
        }
        continue;
      }
      bool wake;
      {
        std::lock_guard<std::mutex> l(mu_);
        wake = done_.empty();
        for (const Batch::Segment& s : mine.segments) {
          done_.Add(s.fd, mine.bytes.data() + s.begin, s.size);
        }
      }
      if (wake) {
        const uint64_t one = 1;
        (void)!write(efd_, &one, sizeof(one));
      }
    }
  }

  const bool worker_replies_;
  int lfd_ = -1, ep_ = -1, efd_ = -1;
  std::mutex mu_;
  std::condition_variable cv_;
  Batch inbox_;  // Loop -> worker.
  Batch done_;   // Worker -> loop (loop mode).
  bool worker_waiting_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  const std::string reply = absl::GetFlag(FLAGS_reply);
  if (reply != "loop" && reply != "worker") {
    std::fprintf(stderr, "--reply must be loop or worker, not '%s'\n",
                 reply.c_str());
    return 2;
  }
  return Handoff(reply == "worker").Run();
}
