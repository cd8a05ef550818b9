// Copyright 2026 The spindle Authors.

#include "spindle/io/internal/acceptor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
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

// "host:port", or "[host]:port" for IPv6.
std::string HostPort(absl::string_view host, int port) {
  return absl::StrContains(host, ':') ? absl::StrCat("[", host, "]:", port)
                                      : absl::StrCat(host, ":", port);
}

// A bind() failure with a message that says what happened.
absl::Status BindError(int err, absl::string_view host, int port) {
  const std::string where = HostPort(host, port);
  switch (err) {
    case EADDRINUSE:
      return absl::AlreadyExistsError(
          absl::StrCat("address already in use: ", where));
    case EADDRNOTAVAIL:  // absl::ErrnoToStatus says kAlreadyExists.
      return absl::InvalidArgumentError(
          absl::StrCat("cannot assign requested address ", where,
                       " (not an address of this host)"));
    default:
      return ErrnoError(err, absl::StrCat("bind(", where, ")"));
  }
}

struct Address {
  sockaddr_storage addr;
  socklen_t len;
};

// Resolves `host` as Python's socket.bind((host, port)) does: an IPv4 or
// IPv6 literal as it is; otherwise a name through getaddrinfo (passive,
// so "" is the wildcard), taking its first IPv4 address, or its first IPv6
// address if it has no IPv4 one ("localhost" is the loopback address).
absl::StatusOr<Address> Resolve(const std::string& host, int port) {
  Address a;
  std::memset(&a.addr, 0, sizeof(a.addr));
  auto* a4 = reinterpret_cast<sockaddr_in*>(&a.addr);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&a.addr);
  if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(port));
    a.len = sizeof(sockaddr_in);
    return a;
  }
  if (inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port));
    a.len = sizeof(sockaddr_in6);
    return a;
  }
  addrinfo hints;
  std::memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const int rc =
      getaddrinfo(host.empty() ? nullptr : host.c_str(), "0", &hints, &res);
  if (rc != 0) {
    const std::string msg =
        absl::StrCat("cannot resolve host \"", host, "\": ", gai_strerror(rc));
    switch (rc) {
      case EAI_NONAME:
#ifdef EAI_NODATA
      case EAI_NODATA:
#endif
      case EAI_FAIL:
        return absl::NotFoundError(msg);
      case EAI_AGAIN:
        return absl::UnavailableError(msg);
      case EAI_SYSTEM:
        return ErrnoError(errno, msg);
      default:
        return absl::InvalidArgumentError(msg);
    }
  }
  const addrinfo* pick = nullptr;
  for (const addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET) {
      pick = ai;
      break;
    }
    if (ai->ai_family == AF_INET6 && pick == nullptr) pick = ai;
  }
  if (pick == nullptr) {
    freeaddrinfo(res);
    return absl::NotFoundError(
        absl::StrCat("host \"", host, "\" has no IPv4 or IPv6 address"));
  }
  std::memcpy(&a.addr, pick->ai_addr, pick->ai_addrlen);
  a.len = pick->ai_addrlen;
  freeaddrinfo(res);
  if (a.addr.ss_family == AF_INET) {
    a4->sin_port = htons(static_cast<uint16_t>(port));
  } else {
    a6->sin6_port = htons(static_cast<uint16_t>(port));
  }
  return a;
}

absl::StatusOr<Socket> ListenOn(const std::string& host, int port, int backlog,
                                bool reuse_port, int* bound_port) {
  absl::StatusOr<Address> a = Resolve(host, port);
  if (!a.ok()) return a.status();
  const int family = a->addr.ss_family;
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
  if (bind(fd.fileno(), reinterpret_cast<sockaddr*>(&a->addr), a->len) != 0) {
    return BindError(errno, host, port);
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
  if (options_.port < 0 || options_.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("port ", options_.port, " out of range [0, 65535]"));
  }
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
