// Copyright 2026 The spindle Authors.
//
// pipe_demo: the seed's multiprocessing.Pipe example, in C++.
//
//   ./bazelw run //examples:pipe_demo
//
// The Python original:
//
//   def f(conn):
//       print(conn.recv())  # [1, '12', True]
//
//   conn1, conn2 = Pipe()   # duplex by default
//   p = Process(target=f, args=(conn2,))
//   p.start()
//   conn1.send([1, "12", True])
//   p.join()
//
// Python's send() pickles any object; spindle's Connection carries bytes, so
// the program sends the list as text. After the seed's example it shows the
// rest of what the seed lists: a reply on the duplex pipe, a one-way pipe
// (Pipe(duplex=False): first end receives only, second sends only), and
// recv() reporting EOF once the other side has closed its end.

#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "spindle/concurrency/status.h"
#include "spindle/process/connection.h"
#include "spindle/process/process.h"

namespace {

// The child's function: receive one message, print it, answer.
int F(spindle::Connection& conn) {
  auto msg = conn.RecvBytes();  // blocks until a whole message arrived
  if (!msg.ok()) return 1;
  std::printf("child got: %s\n", msg->c_str());
  std::fflush(stdout);
  return conn.SendBytes("thanks").ok() ? 0 : 2;
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "pipe_demo: %s\n", s.ToString().c_str());
  return 1;
}

}  // namespace

int main() {
  // --- The seed's example: a duplex Pipe shared with a child -------------
  auto pipe = spindle::Pipe();  // duplex: both ends send and receive
  if (!pipe.ok()) return Fail(pipe.status());
  spindle::Connection& conn1 = pipe->first;
  spindle::Connection& conn2 = pipe->second;

  // The child gets (its copy of) conn2. Process copies its arguments, and a
  // Connection cannot be copied, so pass a reference wrapper: the child
  // uses its forked copy of this very object.
  spindle::Process p(F, std::ref(conn2));
  if (absl::Status s = p.Start(); !s.ok()) return Fail(s);
  conn2.Close();  // the parent does not use the child's end

  if (absl::Status s = conn1.SendBytes(R"([1, "12", true])"); !s.ok()) {
    return Fail(s);
  }
  auto reply = conn1.RecvBytes();
  if (!reply.ok()) return Fail(reply.status());
  std::printf("parent got: %s\n", reply->c_str());
  p.Join();
  std::printf("child exit code: %d\n", *p.exitcode());

  // The child has exited and the parent closed its copy of conn2: nobody
  // holds the other end any more, so recv reports EOF (Python's EOFError).
  auto eof = conn1.RecvBytes();
  std::printf("recv after the child exited: %s\n",
              spindle::IsEof(eof.status()) ? "EOF" : "unexpected");

  // --- A one-way pipe: reader = first, writer = second -------------------
  auto oneway = spindle::Pipe(/*duplex=*/false);
  if (!oneway.ok()) return Fail(oneway.status());
  spindle::Connection& reader = oneway->first;
  spindle::Connection& writer = oneway->second;
  spindle::Process producer([&reader, &writer] {
    reader.Close();  // the child only writes
    for (int i = 1; i <= 3; ++i) {
      if (!writer.SendBytes("message " + std::to_string(i)).ok()) return 1;
    }
    return 0;  // exiting closes the child's writer: EOF for the reader
  });
  if (absl::Status s = producer.Start(); !s.ok()) return Fail(s);
  writer.Close();
  // Receiving on the writer would be refused: one-way ends have a direction.
  std::printf("writer can recv: %s\n", writer.readable() ? "yes" : "no");
  for (;;) {
    auto msg = reader.RecvBytes();
    if (spindle::IsEof(msg.status())) break;
    if (!msg.ok()) return Fail(msg.status());
    std::printf("reader got: %s\n", msg->c_str());
  }
  std::printf("reader: EOF\n");
  producer.Join();
  return *producer.exitcode();
}
