// Copyright 2026 The spindle Authors.
//
// chat_room: the seeds' select() chat room, in C++ on SelectSelector.
//
//   ./bazelw run //examples:chat_room                 # prints its port
//   ./bazelw run //examples:chat_room -- --port=8008  # the seed's port
//   nc 127.0.0.1 <port>    (in two or more terminals; lines are relayed)
//   ./bazelw run //examples:chat_room -- --selftest   # in-process check
//
// The seed calls select.select(inputs, outputs, []) on lists it maintains by
// hand: the listening socket and every client in `inputs`, the clients in
// `outputs`, a client map for their addresses. Here the selector's
// registrations are those lists: the listening socket is registered with
// data nullptr, each client with its Client record as data, so a ready key
// says at once who it is about. A client is watched for writing (is in
// `outputs`) only while something waits to be sent to it: an idle socket is
// always writable, and watching it would make every select() return at once.
//
// What the port keeps from the seed: select(2) as the mechanism (hence
// SelectSelector, limited to fds below FD_SETSIZE, plenty for a chat room; a
// client beyond that is told the room is full), a message relayed to every
// client but its sender, and the goodbye: on Ctrl-C (SIGINT) or SIGTERM every
// client is sent "Shutdown Server" and the server closes (the seed's
// sighandler; main() routes both signals to Stop(), see server_harness.h).
//
// What it changes, so that one client cannot spoil the room for the others:
//  * Non-blocking sockets and an output buffer per client. The seed's
//    blocking send() to a client that has stopped reading blocks the whole
//    server once that client's kernel buffers are full: nobody else hears a
//    word, and newcomers are not even accepted. Here a relayed line is
//    appended to each listener's buffer and written as far as the socket
//    takes it, the rest when select() reports the socket writable. A client
//    whose unsent backlog passes --max_backlog bytes is dropped, and the room
//    is told ("guest3 was dropped: not reading").
//  * Bursts of newcomers: a listen backlog of SOMAXCONN (with the seed's 5,
//    the kernel ignores connection attempts beyond it and each client
//    retries only a second or more later), and every readiness of the
//    listening socket accepts until accept() says EAGAIN, instead of one
//    connection per select().
//  * Lines, not recv() chunks: what a client sends is cut at '\n' and each
//    line relayed with the sender's name ("guest1: hello"), so a line split
//    across reads, or two lines in one read, reach the others as sent.
//  * A welcome line on connect ("welcome, guest1"), so clients know they are
//    in the room.

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "spindle/examples/server_harness.h"
#include "spindle/io/select_selector.h"
#include "spindle/io/socket.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "address to listen on");
ABSL_FLAG(int, port, 0, "port to listen on; 0 picks a free one");
ABSL_FLAG(int64_t, max_backlog, 256 << 10,
          "bytes that may wait to be sent to a client that does not read "
          "before the client is dropped");
ABSL_FLAG(bool, selftest, false,
          "start on a free port, chat between two in-process clients, exit 0 "
          "on success");

namespace {

using spindle::io::kEventRead;
using spindle::io::kEventWrite;
using spindle::io::Socket;

// A line that grows longer than this without a '\n' is relayed as it is.
constexpr size_t kMaxLine = 4096;

struct Client {
  Socket sock;
  std::string name;         // the seed's clientmap[client] (its address)
  std::string in;           // received, not yet a whole line
  std::string out;          // relayed to it, not yet sent
  int events = kEventRead;  // what the selector watches it for
  bool gone = false;        // left this round; freed when the round ends
};

class ChatServer {
 public:
  explicit ChatServer(size_t max_backlog = 256 << 10)
      : max_backlog_(max_backlog) {}

  absl::Status Start(const std::string& host, int port) {
    auto sel = spindle::io::SelectSelector<Client*>::Create();
    if (!sel.ok()) return sel.status();
    sel_ = *std::move(sel);
    auto listener = spindle::io::ListenTcp(host, port, SOMAXCONN);
    if (!listener.ok()) return listener.status();
    listener_ = *std::move(listener);
    // Non-blocking, so that AcceptAll() learns from EAGAIN that it has
    // taken every pending connection.
    if (absl::Status s = listener_.SetNonBlocking(); !s.ok()) return s;
    // inputs = [self.server]
    return sel_->Register(listener_, kEventRead, nullptr).status();
  }

  int port() const { return listener_.LocalPort().value_or(-1); }

  // The seed's run(): select, then accept, read or write.
  absl::Status Run() {
    while (!stop_.load()) {
      auto ready = sel_->Select(std::nullopt);
      if (!ready.ok()) return ready.status();
      for (const auto& [key, mask] : *ready) {
        Client* c = key->data;
        if (c == nullptr) {
          AcceptAll();  // "if self.server in readable"
          continue;
        }
        // A client dropped earlier in this round is skipped; its record
        // lives until the round ends, as its key does.
        if (!c->gone && (mask & kEventRead)) Receive(*c);
        if (!c->gone && (mask & kEventWrite)) Flush(*c);
      }
      gone_.clear();
    }
    SayGoodbye();
    return absl::OkStatus();
  }

  void Stop() {  // thread-safe
    stop_.store(true);
    (void)sel_->Wakeup();
  }

 private:
  // Takes every pending connection, until accept() says EAGAIN.
  void AcceptAll() {
    for (;;) {
      absl::StatusOr<Socket> sock = listener_.Accept(/*non_blocking=*/true);
      if (sock.ok()) {
        Welcome(*std::move(sock));
        continue;
      }
      if (absl::IsResourceExhausted(sock.status()) && !paused_) {
        // Out of descriptors (EMFILE): the connections still pending would
        // make select() report the listener ready again and again. Stop
        // watching it until somebody leaves (see Drop).
        std::printf("accept: %s; accepting again when a client leaves\n",
                    sock.status().ToString().c_str());
        paused_ = sel_->Unregister(listener_).ok();
      }
      // EAGAIN: all taken. Anything else (a client that gave up, ...): the
      // next select() says whether more are waiting.
      return;
    }
  }

  void Welcome(Socket sock) {
    auto client = std::make_unique<Client>();
    client->sock = std::move(sock);
    client->name = absl::StrCat("guest", ++guests_);
    Client* c = client.get();
    // SelectSelector refuses fds >= FD_SETSIZE; such a client is told and
    // let go (its socket closes when `client` goes out of scope).
    if (!sel_->Register(c->sock, kEventRead, c).ok()) {
      (void)c->sock.Send("sorry, the room is full\n");
      std::printf("%s turned away: the room is full\n", c->name.c_str());
      return;
    }
    std::printf("New connection from %s: %s (fd %d)\n",
                spindle::examples::PeerAddress(c->sock).c_str(),
                c->name.c_str(), c->sock.fileno());
    clients_[c->sock.fileno()] = std::move(client);
    Send(*c, absl::StrCat("welcome, ", c->name, "\n"));
  }

  // A client spoke (or left): relay each whole line to every other client.
  void Receive(Client& from) {
    char buf[1024];
    absl::StatusOr<size_t> n = from.sock.Recv(buf, sizeof(buf));
    if (!n.ok() && spindle::io::IsWouldBlock(n.status())) return;
    if (!n.ok() || *n == 0) {  // the seed's `except socket.error`
      return Drop(from, "left", /*tell_room=*/false);
    }
    from.in.append(buf, *n);
    size_t start = 0;
    for (size_t nl; (nl = from.in.find('\n', start)) != std::string::npos;
         start = nl + 1) {
      Relay(from, absl::string_view(from.in).substr(start, nl - start));
      // Notes about others dropped meanwhile go to `from` as well; if that
      // left it too far behind, it is gone now.
      if (from.gone) return;
    }
    from.in.erase(0, start);
    if (from.in.size() > kMaxLine) {
      Relay(from, from.in);
      from.in.clear();
    }
  }

  void Relay(const Client& from, absl::string_view text) {
    text = absl::StripSuffix(text, "\r");  // telnet and Windows line ends
    Broadcast(absl::StrCat(from.name, ": ", text, "\n"), &from);
  }

  // Sends `text` to everybody in the room but `except`.
  void Broadcast(const std::string& text, const Client* except) {
    // A listener dropped on the way tells the room (Broadcast again) and
    // leaves clients_, so walk a copy of the guest list.
    std::vector<Client*> room;
    room.reserve(clients_.size());
    for (auto& [fd, c] : clients_) {
      if (c.get() != except) room.push_back(c.get());
    }
    for (Client* c : room) {
      if (!c->gone) Send(*c, text);
    }
  }

  // Queues `text` for `c` and writes what the socket takes now; a client
  // too far behind is dropped instead.
  void Send(Client& c, absl::string_view text) {
    c.out.append(text.data(), text.size());
    if (c.out.size() > max_backlog_) {
      return Drop(c, "not reading", /*tell_room=*/true);
    }
    Flush(c);
  }

  // Writes as much of c.out as the socket takes without blocking, and
  // watches c for writability (the seed's `outputs`) while anything is left.
  void Flush(Client& c) {
    while (!c.out.empty()) {
      absl::StatusOr<size_t> n = c.sock.Send(c.out);
      if (!n.ok()) {
        if (spindle::io::IsWouldBlock(n.status())) break;  // socket full
        return Drop(c, "left", /*tell_room=*/false);       // EPIPE, ECONNRESET
      }
      c.out.erase(0, *n);
    }
    const int events = c.out.empty() ? kEventRead : kEventRead | kEventWrite;
    if (events == c.events) return;
    if (!sel_->Modify(c.sock, events, &c).ok()) {
      return Drop(c, "left", /*tell_room=*/false);
    }
    c.events = events;
  }

  // Takes `c` out of the room (the seed's inputs.remove, outputs.remove, del
  // clientmap[...]) and closes its socket. Its record lives until the end of
  // the round (gone_), like its key in the selector. `tell_room`: the server
  // let it go, and says so to the others.
  void Drop(Client& c, absl::string_view why, bool tell_room) {
    if (c.gone) return;
    c.gone = true;
    std::printf("%s %s%.*s\n", c.name.c_str(), tell_room ? "dropped: " : "",
                static_cast<int>(why.size()), why.data());
    const int fd = c.sock.fileno();
    (void)sel_->Unregister(c.sock);  // before close
    (void)c.sock.Close();
    auto it = clients_.find(fd);
    gone_.push_back(std::move(it->second));
    clients_.erase(it);
    // A descriptor is free again: accept again if we had to pause.
    if (paused_ && sel_->Register(listener_, kEventRead, nullptr).ok()) {
      paused_ = false;
    }
    if (tell_room) {
      Broadcast(absl::StrCat(c.name, " was dropped: ", why, "\n"), nullptr);
    }
  }

  // The seed's sighandler: "Shutdown Server" to every client, then close.
  // Each gets what its socket takes now, without waiting: a client with a
  // long backlog may not hear it.
  void SayGoodbye() {
    std::printf("Shutdown Server......\n");
    for (auto& [fd, c] : clients_) {
      c->out.append("Shutdown Server\n");
      while (!c->out.empty()) {
        absl::StatusOr<size_t> n = c->sock.Send(c->out);
        if (!n.ok()) break;
        c->out.erase(0, *n);
      }
      (void)sel_->Unregister(c->sock);
      (void)c->sock.ShutdownWrite();  // the goodbye, then end of stream
    }
    clients_.clear();
    if (!paused_) (void)sel_->Unregister(listener_);
    (void)listener_.Close();
  }

  const size_t max_backlog_;
  std::unique_ptr<spindle::io::SelectSelector<Client*>> sel_;
  Socket listener_;
  bool paused_ = false;  // listener_ unregistered for lack of descriptors
  absl::flat_hash_map<int, std::unique_ptr<Client>> clients_;  // by fd
  std::vector<std::unique_ptr<Client>> gone_;  // dropped this round
  int guests_ = 0;
  std::atomic<bool> stop_{false};
};

// Server on a free port in a thread; two clients chat, one leaves, the
// server shuts down.
int SelfTest() {
  using spindle::examples::RecvLine;
  return spindle::examples::RunSelfTest<ChatServer>([](ChatServer& server) {
    int failures = 0;
    auto expect = [&](bool ok, const std::string& what) {
      if (!ok) {
        std::fprintf(stderr, "selftest: %s\n", what.c_str());
        ++failures;
      }
    };
    auto clients = spindle::examples::ConnectClients(server.port(), 2);
    if (!clients.ok()) {
      std::fprintf(stderr, "connect failed\n");
      return 1;
    }
    Socket& alice = (*clients)[0];
    Socket& bob = (*clients)[1];
    // The welcome lines prove both are in the room before anyone speaks.
    auto w1 = RecvLine(alice);
    auto w2 = RecvLine(bob);
    expect(w1.ok() && *w1 == "welcome, guest1", "alice's welcome");
    expect(w2.ok() && *w2 == "welcome, guest2", "bob's welcome");

    expect(alice.SendAll("hello bob\n").ok(), "alice sends");
    auto got = RecvLine(bob);
    expect(got.ok() && *got == "guest1: hello bob", "bob hears alice");

    expect(bob.SendAll("hi alice\n").ok(), "bob sends");
    got = RecvLine(alice);
    expect(got.ok() && *got == "guest2: hi alice", "alice hears bob");

    // Bob leaves; alice still talks to an (empty) room; then shut down and
    // alice gets the goodbye - which also proves her own line was not
    // echoed back to her.
    (void)bob.Close();
    expect(alice.SendAll("anyone?\n").ok(), "alice sends again");
    server.Stop();
    got = RecvLine(alice);
    expect(got.ok() && *got == "Shutdown Server", "alice hears shutdown");
    return failures;
  });
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // log lines show up at once
  if (absl::GetFlag(FLAGS_selftest)) return SelfTest();
  const std::string host = absl::GetFlag(FLAGS_host);
  ChatServer server(static_cast<size_t>(
      std::max<int64_t>(0, absl::GetFlag(FLAGS_max_backlog))));
  return spindle::examples::Serve(
      server, host, absl::GetFlag(FLAGS_port), [&host](int port) {
        std::printf("chat room open (try: nc %s %d, in two terminals)\n",
                    host.c_str(), port);
      });
}
