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
// hand: the listening socket and every client in `inputs`, a client map for
// their addresses. Here the selector's registrations are those lists: the
// listening socket is registered with data nullptr, each client with its
// Client record as data, so a ready key says at once who spoke.
//
// What the port keeps from the seed: select(2) as the mechanism (hence
// SelectSelector, limited to fds below FD_SETSIZE, plenty for a chat room),
// blocking client sockets with plain sends (a client that stops reading can
// stall the room; acceptable for a demo), and a message relayed to every
// client but its sender. What it adds: a welcome line on connect (so clients
// know they are in the room), "name: " prefixes, and a clean shutdown.

#include <atomic>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "spindle/examples/server_harness.h"
#include "spindle/io/select_selector.h"
#include "spindle/io/socket.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "address to listen on");
ABSL_FLAG(int, port, 0, "port to listen on; 0 picks a free one");
ABSL_FLAG(bool, selftest, false,
          "start on a free port, chat between two in-process clients, exit 0 "
          "on success");

namespace {

using spindle::io::kEventRead;
using spindle::io::Socket;

struct Client {
  Socket sock;
  std::string name;  // the seed's clientmap[client] (its address)
};

class ChatServer {
 public:
  absl::Status Start(const std::string& host, int port) {
    auto sel = spindle::io::SelectSelector<Client*>::Create();
    if (!sel.ok()) return sel.status();
    sel_ = *std::move(sel);
    auto listener = spindle::io::ListenTcp(host, port, /*backlog=*/5);
    if (!listener.ok()) return listener.status();
    listener_ = *std::move(listener);
    // inputs = [self.server]
    return sel_->Register(listener_, kEventRead, nullptr).status();
  }

  int port() const { return listener_.LocalPort().value_or(-1); }

  // The seed's run(): select, then either accept or relay.
  absl::Status Run() {
    while (!stop_.load()) {
      auto ready = sel_->Select(std::nullopt);
      if (!ready.ok()) return ready.status();
      for (const auto& [key, mask] : *ready) {
        if (key->data == nullptr) {
          Accept();  // "if self.server in readable"
        } else {
          Relay(*key->data);
        }
      }
    }
    // Say goodbye as the seed's signal handler does.
    for (auto& [fd, client] : clients_) {
      (void)client->sock.SendAll("Shutdown Server\n");
      (void)sel_->Unregister(client->sock);
    }
    clients_.clear();
    return absl::OkStatus();
  }

  void Stop() {  // thread-safe
    stop_.store(true);
    (void)sel_->Wakeup();
  }

 private:
  void Accept() {
    auto sock = listener_.Accept();
    if (!sock.ok()) return;
    auto client = std::make_unique<Client>();
    client->sock = *std::move(sock);
    client->name = absl::StrCat("guest", ++guests_);
    std::printf("New connection: %s (fd %d)\n", client->name.c_str(),
                client->sock.fileno());
    Client* c = client.get();
    // SelectSelector refuses fds >= FD_SETSIZE; such a client is dropped
    // (its socket closes when `client` goes out of scope).
    if (!sel_->Register(c->sock, kEventRead, c).ok()) return;
    (void)c->sock.SendAll(absl::StrCat("welcome, ", c->name, "\n"));
    clients_[c->sock.fileno()] = std::move(client);
  }

  // A client spoke (or left): relay to every other client.
  void Relay(Client& from) {
    char buf[1024];
    absl::StatusOr<size_t> n = from.sock.Recv(buf, sizeof(buf));
    if (!n.ok() || *n == 0) {  // the seed's `except socket.error`
      std::printf("%s left\n", from.name.c_str());
      const int fd = from.sock.fileno();
      (void)sel_->Unregister(from.sock);
      clients_.erase(fd);
      return;
    }
    absl::string_view text(buf, *n);
    text = absl::StripSuffix(absl::StripSuffix(text, "\n"), "\r");
    const std::string line = absl::StrCat(from.name, ": ", text, "\n");
    for (auto& [fd, other] : clients_) {
      if (other.get() != &from) (void)other->sock.SendAll(line);
    }
  }

  std::unique_ptr<spindle::io::SelectSelector<Client*>> sel_;
  Socket listener_;
  absl::flat_hash_map<int, std::unique_ptr<Client>> clients_;
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
  ChatServer server;
  return spindle::examples::Serve(
      server, host, absl::GetFlag(FLAGS_port), [&host](int port) {
        std::printf("chat room on %s:%d (try: nc %s %d, in two terminals)\n",
                    host.c_str(), port, host.c_str(), port);
      });
}
