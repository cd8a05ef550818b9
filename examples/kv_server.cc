// Copyright 2026 The spindle Authors.
//
// kv_server: an in-memory key-value store on spindle::io::LineService (the
// job server's front end and workers, reused). New here: state the workers
// share (a map behind a spindle::Lock); one client's requests run in order
// (max_running_per_connection = 1); a reply sent later from another thread
// (WAIT parks its Responder, holding no worker, until a SET answers it).
//   SET k v -> OK   GET k -> v   DEL k -> OK   (else ERR no such key)
//   KEYS -> the keys, sorted     WAIT k -> v, as soon as k is set
// Run: ./bazelw run //examples:kv_server -- --port=7071; nc 127.0.0.1 7071

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "spindle/concurrency/lock.h"
#include "spindle/io/line_service.h"

ABSL_FLAG(int, port, 7071, "TCP port; 0 picks a free one (printed)");

namespace {
class Store {
 public:
  spindle::io::Answer Handle(spindle::io::Request& r) {  // On many workers.
    const std::vector<std::string> w =
        absl::StrSplit(r.line(), absl::MaxSplits(' ', 2));
    spindle::LockGuard<spindle::Lock> hold(&lock_);
    if (w[0] == "SET" && w.size() == 3) {
      for (auto& waiter : waiters_[w[1]]) waiter.Reply(w[2]);  // Answers WAITs.
      waiters_.erase(w[1]);
      data_[w[1]] = w[2];
      return "OK";
    }
    if (w[0] == "KEYS" && w.size() == 1)
      return absl::StrJoin(data_, " ", [](std::string* out, const auto& kv) {
        out->append(kv.first);
      });
    if (w.size() != 2 || (w[0] != "GET" && w[0] != "DEL" && w[0] != "WAIT"))
      return absl::InvalidArgumentError("try SET, GET, DEL, KEYS, WAIT");
    const auto it = data_.find(w[1]);
    if (it == data_.end() && w[0] == "WAIT") {
      waiters_[w[1]].push_back(r.TakeResponder());
      return spindle::io::Answer::Later();  // The worker moves on.
    }
    if (it == data_.end()) return absl::NotFoundError("no such key");
    if (w[0] != "DEL") return it->second;  // GET, or WAIT on a set key.
    data_.erase(it);
    return "OK";
  }

 private:
  spindle::Lock lock_;
  std::map<std::string, std::string> data_ ABSL_GUARDED_BY(lock_);
  std::map<std::string, std::vector<spindle::io::Responder>> waiters_
      ABSL_GUARDED_BY(lock_);
};
}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  Store store;  // Outlives the service, whose handler uses it.
  spindle::io::LineService service(
      {.server = {.port = absl::GetFlag(FLAGS_port)},
       .max_running_per_connection = 1,
       .shutdown_grace = absl::Seconds(1)},  // What a parked WAIT holds up.
      [&store](spindle::io::Request& r) { return store.Handle(r); });
  const absl::Status s = service.Run([&service] {
    std::printf("listening on 127.0.0.1:%d\n", service.port());
    std::fflush(stdout);  // Scripts wait for this line.
  });
  if (!s.ok()) std::fprintf(stderr, "kv_server: %s\n", s.ToString().c_str());
  return s.ok() ? 0 : 1;
}
