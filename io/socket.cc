// Copyright 2026 The spindle Authors.

#include "spindle/io/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "spindle/concurrency/status.h"

namespace spindle::io {
namespace {

constexpr absl::string_view kWouldBlockUrl = "spindle.io/would_block";

// errno as a Status, EAGAIN/EWOULDBLOCK marked as WouldBlockError.
absl::Status IoError(int err, absl::string_view call) {
  if (err == EAGAIN || err == EWOULDBLOCK) return WouldBlockError(call);
  return ErrnoError(err, call);
}

absl::StatusOr<sockaddr_in> Ipv4Address(absl::string_view host, int port) {
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad port ", port));
  }
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const std::string h(host);
  if (inet_pton(AF_INET, h.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an IPv4 address: \"", host, "\""));
  }
  return addr;
}

absl::StatusOr<Socket> NewTcpSocket() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError(errno, "socket");
  return Socket(Fd(fd));
}

}  // namespace

void Fd::Reset(int fd) {
  if (fd_ >= 0 && fd_ != fd) close(fd_);
  fd_ = fd;
}

absl::Status Fd::Close() {
  if (fd_ < 0) return absl::OkStatus();
  // Linux releases the fd even when close() fails (EINTR included).
  if (close(release()) < 0 && errno != EINTR) {
    return ErrnoError(errno, "close");
  }
  return absl::OkStatus();
}

absl::Status Socket::SetNonBlocking(bool non_blocking) {
  const int flags = fcntl(fileno(), F_GETFL);
  if (flags < 0) return ErrnoError(errno, "fcntl(F_GETFL)");
  const int wanted = non_blocking ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
  if (wanted != flags && fcntl(fileno(), F_SETFL, wanted) < 0) {
    return ErrnoError(errno, "fcntl(F_SETFL)");
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> Socket::Send(absl::string_view data) {
  for (;;) {
    const ssize_t n = send(fileno(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return IoError(errno, "send");
  }
}

absl::Status Socket::SendAll(absl::string_view data) {
  while (!data.empty()) {
    absl::StatusOr<size_t> n = Send(data);
    if (!n.ok()) return n.status();
    data.remove_prefix(*n);
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> Socket::Recv(char* buf, size_t len) {
  for (;;) {
    const ssize_t n = recv(fileno(), buf, len, 0);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return IoError(errno, "recv");
  }
}

absl::StatusOr<std::string> Socket::Recv(size_t max) {
  std::string out(max, '\0');
  absl::StatusOr<size_t> n = Recv(out.data(), out.size());
  if (!n.ok()) return n.status();
  out.resize(*n);
  return out;
}

absl::StatusOr<Socket> Socket::Accept(bool non_blocking) {
  const int flags = SOCK_CLOEXEC | (non_blocking ? SOCK_NONBLOCK : 0);
  for (;;) {
    const int fd = accept4(fileno(), nullptr, nullptr, flags);
    if (fd >= 0) return Socket(Fd(fd));
    if (errno != EINTR) return IoError(errno, "accept4");
  }
}

absl::StatusOr<int> Socket::LocalPort() const {
  sockaddr_in addr = {};
  socklen_t len = sizeof(addr);
  if (getsockname(fileno(), reinterpret_cast<sockaddr*>(&addr), &len) < 0) {
    return ErrnoError(errno, "getsockname");
  }
  if (addr.sin_family != AF_INET) {
    return absl::InvalidArgumentError("LocalPort: not an IPv4 socket");
  }
  return static_cast<int>(ntohs(addr.sin_port));
}

absl::Status Socket::ShutdownWrite() {
  if (shutdown(fileno(), SHUT_WR) < 0) return ErrnoError(errno, "shutdown");
  return absl::OkStatus();
}

absl::StatusOr<std::pair<Socket, Socket>> SocketPair() {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
    return ErrnoError(errno, "socketpair");
  }
  return std::make_pair(Socket(Fd(fds[0])), Socket(Fd(fds[1])));
}

absl::StatusOr<Socket> ListenTcp(absl::string_view host, int port,
                                 int backlog) {
  absl::StatusOr<sockaddr_in> addr = Ipv4Address(host, port);
  if (!addr.ok()) return addr.status();
  absl::StatusOr<Socket> sock = NewTcpSocket();
  if (!sock.ok()) return sock.status();
  const int one = 1;
  if (setsockopt(sock->fileno(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) <
      0) {
    return ErrnoError(errno, "setsockopt(SO_REUSEADDR)");
  }
  if (bind(sock->fileno(), reinterpret_cast<const sockaddr*>(&*addr),
           sizeof(*addr)) < 0) {
    return ErrnoError(errno, absl::StrCat("bind to ", host, ":", port));
  }
  if (listen(sock->fileno(), backlog) < 0) return ErrnoError(errno, "listen");
  return sock;
}

absl::StatusOr<Socket> ConnectTcp(absl::string_view host, int port) {
  absl::StatusOr<sockaddr_in> addr = Ipv4Address(host, port);
  if (!addr.ok()) return addr.status();
  absl::StatusOr<Socket> sock = NewTcpSocket();
  if (!sock.ok()) return sock.status();
  if (connect(sock->fileno(), reinterpret_cast<const sockaddr*>(&*addr),
              sizeof(*addr)) < 0) {
    // EINTR leaves the connect in progress; wait for it like a blocking call
    // would have, by polling for writability, rather than reconnecting.
    if (errno != EINTR) {
      return ErrnoError(errno, absl::StrCat("connect to ", host, ":", port));
    }
    pollfd pfd = {sock->fileno(), POLLOUT, 0};
    while (poll(&pfd, 1, -1) < 0) {
      if (errno != EINTR) return ErrnoError(errno, "poll(connect)");
    }
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(sock->fileno(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      return ErrnoError(err, absl::StrCat("connect to ", host, ":", port));
    }
  }
  return sock;
}

absl::Status WouldBlockError(absl::string_view call) {
  absl::Status s = ErrnoError(EAGAIN, call);
  s.SetPayload(kWouldBlockUrl, absl::Cord("1"));
  return s;
}

bool IsWouldBlock(const absl::Status& status) {
  return status.GetPayload(kWouldBlockUrl).has_value();
}

}  // namespace spindle::io
