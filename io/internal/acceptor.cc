// Copyright 2026 The spindle Authors.

#include "spindle/io/internal/acceptor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/internal/raw_logging.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "spindle/concurrency/status.h"

namespace spindle::io::internal {
namespace {

constexpr absl::Duration kAcceptBackoff = absl::Milliseconds(100);

absl::StatusOr<Socket> ListenOn(const std::string& host, int port, int backlog,
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

}  // namespace

Acceptor::Acceptor(EventLoop* loop, Options options, Counters counters,
                   absl::AnyInvocable<bool()> at_capacity,
                   absl::AnyInvocable<void(int fd)> on_connection)
    : loop_(loop),
      options_(std::move(options)),
      counters_(counters),
      at_capacity_(std::move(at_capacity)),
      on_connection_(std::move(on_connection)) {}

absl::Status Acceptor::Listen() {
  int port = options_.port;
  std::vector<Socket> listeners;
  for (const std::string& host : options_.hosts) {
    int bound = 0;
    absl::StatusOr<Socket> s =
        ListenOn(host, port, options_.backlog, options_.reuse_port, &bound);
    if (!s.ok()) return s.status();
    if (port == 0) port = bound;
    listeners.push_back(*std::move(s));
  }
  port_ = port;
  listeners_ = std::move(listeners);
  reserve_fd_.Reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
  Resume();
  return absl::OkStatus();
}

void Acceptor::Close() {
  closed_ = true;
  resume_timer_.Cancel();
  for (Socket& l : listeners_) {
    if (accepting_) loop_->RemoveReader(l.fileno());
    l.Close().IgnoreError();
  }
  accepting_ = false;
}

void Acceptor::Resume() {
  if (accepting_ || closed_) return;
  for (Socket& l : listeners_) {
    const int fd = l.fileno();
    absl::Status s = loop_->AddReader(fd, [this, fd] { OnAcceptable(fd); });
    if (!s.ok()) ABSL_RAW_LOG(ERROR, "TcpServer: %s", s.ToString().c_str());
  }
  accepting_ = true;
}

void Acceptor::Pause(absl::Duration d) {
  if (!accepting_) return;
  for (Socket& l : listeners_) loop_->RemoveReader(l.fileno());
  accepting_ = false;
  resume_timer_ = loop_->CallLater(d, [this] { Resume(); });
}

void Acceptor::OnAcceptable(int listen_fd) {
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
          counters_.rejected_no_fds->fetch_add(1, std::memory_order_relaxed);
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
      Pause(kAcceptBackoff);
      return;
    }
    if (at_capacity_()) {
      counters_.rejected_busy->fetch_add(1, std::memory_order_relaxed);
      SendBestEffort(fd, absl::StrCat(options_.busy_message, "\n"));
      close(fd);
      continue;
    }
    on_connection_(fd);
  }
}

}  // namespace spindle::io::internal
