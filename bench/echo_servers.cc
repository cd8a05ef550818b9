// Copyright 2026 The spindle Authors.
//
// Echo servers for bench/echo_bench.py, one per implementation, all
// single-threaded, level-triggered where there is a choice, echoing whatever
// arrives with TCP_NODELAY:
//
//   --impl=spindle   spindle::io::EventLoop (AddReader/AddWriter callbacks)
//   --impl=epoll     a raw epoll loop (the floor: no abstraction at all)
//   --impl=asio      standalone asio, async_read_some/async_write sessions
//   --impl=libevent  libevent bufferevents (the idiomatic libevent echo)
//
// Prints "listening on 127.0.0.1:PORT" and serves until killed.

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <asio.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "spindle/io/event_loop.h"
#include "spindle/io/socket.h"

ABSL_FLAG(std::string, impl, "spindle", "spindle, epoll, asio or libevent");
ABSL_FLAG(int, port, 0, "port (0: any free port)");

namespace {

constexpr size_t kBuf = 16384;

void NoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void Announce(int port) {
  std::printf("listening on 127.0.0.1:%d\n", port);
  std::fflush(stdout);
}

// --- spindle -----------------------------------------------------------------

struct SpindleConn {
  spindle::io::Socket sock;
  std::string pending;  // Unsent echo (rare: only when the socket is full).
};

int RunSpindle() {
  using spindle::io::EventLoop;
  auto loop_or = EventLoop::Create();
  if (!loop_or.ok()) return 1;
  EventLoop* loop = loop_or->get();
  auto listener =
      spindle::io::ListenTcp("127.0.0.1", absl::GetFlag(FLAGS_port), 1024);
  if (!listener.ok() || !listener->SetNonBlocking().ok()) return 1;
  Announce(*listener->LocalPort());
  static char buf[kBuf];
  auto close_conn = [loop](SpindleConn* c) {
    loop->RemoveReader(c->sock.fileno());
    loop->RemoveWriter(c->sock.fileno());
    delete c;
  };
  auto flush = [loop, close_conn](SpindleConn* c) {
    while (!c->pending.empty()) {
      ssize_t n = send(c->sock.fileno(), c->pending.data(), c->pending.size(),
                       MSG_NOSIGNAL);
      if (n > 0) {
        c->pending.erase(0, n);
        continue;
      }
      if (n < 0 && errno == EAGAIN) return;
      close_conn(c);
      return;
    }
    loop->RemoveWriter(c->sock.fileno());
  };
  absl::Status s = loop->AddReader(listener->fileno(), [&] {
    for (;;) {
      auto conn = listener->Accept(/*non_blocking=*/true);
      if (!conn.ok()) return;
      NoDelay(conn->fileno());
      auto* c = new SpindleConn{*std::move(conn), {}};
      loop->AddReader(
              c->sock.fileno(),
              [c, loop, close_conn, flush] {
                ssize_t n = recv(c->sock.fileno(), buf, sizeof(buf), 0);
                if (n == 0 || (n < 0 && errno != EAGAIN)) {
                  close_conn(c);
                  return;
                }
                if (n < 0) return;
                if (!c->pending.empty()) {
                  c->pending.append(buf, n);
                  return;
                }
                ssize_t w = send(c->sock.fileno(), buf, n, MSG_NOSIGNAL);
                if (w == n) return;
                if (w < 0 && errno != EAGAIN) {
                  close_conn(c);
                  return;
                }
                c->pending.assign(buf + std::max<ssize_t>(w, 0),
                                  n - std::max<ssize_t>(w, 0));
                loop->AddWriter(c->sock.fileno(), [c, flush] { flush(c); })
                    .IgnoreError();
              })
          .IgnoreError();
    }
  });
  if (!s.ok()) return 1;
  return loop->RunForever().ok() ? 0 : 1;
}

// --- raw epoll ---------------------------------------------------------------

int RunEpoll() {
  auto listener =
      spindle::io::ListenTcp("127.0.0.1", absl::GetFlag(FLAGS_port), 1024);
  if (!listener.ok() || !listener->SetNonBlocking().ok()) return 1;
  Announce(*listener->LocalPort());
  const int lfd = listener->fileno();
  int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  std::vector<std::string> pending(65536);
  std::array<epoll_event, 1024> events;
  static char buf[kBuf];
  for (;;) {
    int n = epoll_wait(ep, events.data(), events.size(), -1);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == lfd) {
        for (;;) {
          int c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          NoDelay(c);
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      std::string& out = pending[fd];
      if (events[i].events & EPOLLOUT) {
        ssize_t w = send(fd, out.data(), out.size(), MSG_NOSIGNAL);
        if (w > 0) out.erase(0, w);
        if (out.empty()) {
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = fd;
          epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
        }
      }
      if (!(events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      ssize_t r = recv(fd, buf, sizeof(buf), 0);
      if (r == 0 || (r < 0 && errno != EAGAIN)) {
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
        out.clear();
        close(fd);
        continue;
      }
      if (r < 0) continue;
      if (!out.empty()) {
        out.append(buf, r);
        continue;
      }
      ssize_t w = send(fd, buf, r, MSG_NOSIGNAL);
      if (w == r) continue;
      out.assign(buf + std::max<ssize_t>(w, 0), r - std::max<ssize_t>(w, 0));
      epoll_event cev{};
      cev.events = EPOLLIN | EPOLLOUT;
      cev.data.fd = fd;
      epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
    }
  }
}

// --- asio --------------------------------------------------------------------

class AsioSession : public std::enable_shared_from_this<AsioSession> {
 public:
  explicit AsioSession(asio::ip::tcp::socket s) : socket_(std::move(s)) {}
  void Start() { Read(); }

 private:
  void Read() {
    auto self = shared_from_this();
    socket_.async_read_some(asio::buffer(data_),
                            [this, self](std::error_code ec, size_t n) {
                              if (!ec) Write(n);
                            });
  }
  void Write(size_t n) {
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(data_, n),
                      [this, self](std::error_code ec, size_t) {
                        if (!ec) Read();
                      });
  }
  asio::ip::tcp::socket socket_;
  std::array<char, kBuf> data_;
};

void AsioAccept(asio::ip::tcp::acceptor& acceptor) {
  acceptor.async_accept(
      [&acceptor](std::error_code ec, asio::ip::tcp::socket socket) {
        if (!ec) {
          socket.set_option(asio::ip::tcp::no_delay(true));
          std::make_shared<AsioSession>(std::move(socket))->Start();
        }
        AsioAccept(acceptor);
      });
}

int RunAsio() {
  asio::io_context io(1);
  asio::ip::tcp::acceptor acceptor(
      io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                                  absl::GetFlag(FLAGS_port)));
  Announce(acceptor.local_endpoint().port());
  AsioAccept(acceptor);
  io.run();
  return 0;
}

// --- libevent ----------------------------------------------------------------

void LeRead(bufferevent* bev, void*) {
  evbuffer_add_buffer(bufferevent_get_output(bev), bufferevent_get_input(bev));
}
void LeEvent(bufferevent* bev, short events, void*) {
  if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) bufferevent_free(bev);
}
void LeAccept(evconnlistener* listener, evutil_socket_t fd, sockaddr*, int,
              void*) {
  NoDelay(fd);
  event_base* base = evconnlistener_get_base(listener);
  bufferevent* bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
  bufferevent_setcb(bev, LeRead, nullptr, LeEvent, nullptr);
  bufferevent_enable(bev, EV_READ | EV_WRITE);
}

int RunLibevent() {
  event_base* base = event_base_new();
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sin.sin_port = htons(static_cast<uint16_t>(absl::GetFlag(FLAGS_port)));
  evconnlistener* listener = evconnlistener_new_bind(
      base, LeAccept, nullptr, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
      reinterpret_cast<sockaddr*>(&sin), sizeof(sin));
  if (listener == nullptr) return 1;
  sockaddr_in bound{};
  socklen_t len = sizeof(bound);
  getsockname(evconnlistener_get_fd(listener),
              reinterpret_cast<sockaddr*>(&bound), &len);
  Announce(ntohs(bound.sin_port));
  event_base_dispatch(base);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  const std::string impl = absl::GetFlag(FLAGS_impl);
  if (impl == "spindle") return RunSpindle();
  if (impl == "epoll") return RunEpoll();
  if (impl == "asio") return RunAsio();
  if (impl == "libevent") return RunLibevent();
  std::fprintf(stderr, "unknown --impl=%s\n", impl.c_str());
  return 2;
}
