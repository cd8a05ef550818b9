// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: connection.h
// -----------------------------------------------------------------------------
//
// `spindle::Pipe()` and `spindle::Connection` are Python's
// `multiprocessing.Pipe()` and `multiprocessing.connection.Connection`, for
// byte messages (the caller serialises; Python's `send(obj)` pickles).
//
//   Python                              spindle
//   ----------------------------------  --------------------------------------
//   a, b = Pipe()                       auto [a, b] = *Pipe();
//   r, w = Pipe(duplex=False)           auto [r, w] = *Pipe(false);
//   c.send_bytes(b) / c.recv_bytes()    c.SendBytes(b) / c.RecvBytes()
//   c.poll(timeout)                     c.Poll(d)             -> StatusOr<bool>
//   c.fileno(), c.close(), c.closed     c.fileno(), c.Close(), c.closed()
//   c.readable, c.writable              c.readable(), c.writable()
//   EOFError                            IsEof(status)
//
// A `Pipe` is created before `Process::Start()` forks, so both processes
// hold both ends; each then closes the end it does not use (so that EOF is
// seen when the other process closes or exits, as in Python).
//
// Wire format: each message is a 4-byte big-endian length followed by the
// bytes. A duplex pipe is an AF_UNIX stream socketpair; a one-way pipe is a
// pipe(2) (so a message of at most PIPE_BUF bytes including the 4-byte
// header is written atomically by one `write`, which lets several processes
// share a send end without interleaving such messages). Both are created
// close-on-exec (children forked without exec keep them).
//
// Blocking. `SendBytes` waits until the whole message has been written to
// the kernel (until the peer reads enough when the buffer is full); it wakes
// only for that or an error. `RecvBytes` waits for one whole message, or EOF
// or an error. `Poll(d)` waits at most `d` for a message (or EOF) to become
// available. `EINTR` is retried; partial reads and writes are completed. A
// descriptor someone switched to non-blocking mode is waited on with
// `poll()`, so the calls still block.
//
// Errors (see concurrency/status.h):
//   * `IsShutDown` (kFailedPrecondition): the connection is closed, or used
//     in the wrong direction (receiving on a send-only end or sending on a
//     receive-only end).
//   * `SendBytes`: `kInvalidArgument` if the message is longer than
//     `max_message()` (nothing is written); `ErrnoError(EPIPE)` if the peer
//     closed its end (its code is kFailedPrecondition, so `IsShutDown` holds
//     too). SIGPIPE never kills the process: sockets are written with
//     MSG_NOSIGNAL, and a write to a one-way pipe blocks SIGPIPE in the
//     calling thread and discards the SIGPIPE it caused. (That costs two
//     extra system calls per message on a one-way pipe, about 3x the CPU
//     of a raw write for small messages; a duplex pipe has no such cost.)
//   * `RecvBytes`: `IsEof` (kOutOfRange, Python's EOFError) when the peer
//     closed its end (or its process exited) at a message boundary: every
//     message sent before that is delivered first. A peer that closes with
//     messages it never read can make Linux report ECONNRESET on a duplex
//     pipe; at a message boundary that is reported as EOF too.
//     `kDataLoss` if EOF (or a reset) arrives in the middle of a message, or
//     the peer announces a message longer than `max_message()`; the stream
//     is then out of step, so every later `RecvBytes` returns `kDataLoss`
//     as well (close the connection). Memory for a message grows with the
//     bytes that arrive (at most about twice those, or 64 KiB), not with
//     the length announced: a peer cannot make the receiver allocate
//     max_message() by sending a header alone.
//   * Any other OS failure: `ErrnoError`.
//
// Thread safety: a `Connection` is a handle to one end, like a file
// descriptor. Different `Connection` objects may be used concurrently. On
// one duplex `Connection`, one thread may send while another receives; two
// threads must not both send (or both receive) at once, and `Close()`,
// moving and destruction must not overlap any other call (as Python's
// Connection, which is not thread-safe either). To share an end between
// threads or processes, guard it with a lock.
//
// Happens-before: a `SendBytes` of a message happens-before the `RecvBytes`
// that returns it (within one process; across processes only the bytes are
// shared).

#ifndef SPINDLE_PROCESS_CONNECTION_H_
#define SPINDLE_PROCESS_CONNECTION_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace spindle {

// Connection
//
// One end of a `Pipe()`. Owns its file descriptor and closes it on
// destruction. Movable, not copyable.
class Connection {
 public:
  // The default limit on one message's length (64 MiB).
  static constexpr size_t kDefaultMaxMessage = 64 << 20;
  // The largest limit the 4-byte header can express.
  static constexpr size_t kMaxMaxMessage = 0xFFFFFFFFu;

  // An invalid (closed) connection.
  Connection() = default;

  // Takes ownership of `fd` (a connected stream socket or one end of a
  // pipe), used in the directions given. For peers that create their own
  // descriptors (e.g. process queues and pools); `Pipe()` is the usual way.
  // `is_socket` selects MSG_NOSIGNAL sends instead of SIGPIPE blocking.
  static Connection FromFd(int fd, bool readable, bool writable, bool is_socket,
                           size_t max_message = kDefaultMaxMessage);

  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;  // closes *this first
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();  // closes

  // Sends one message. See "Blocking" and "Errors" in the file comment.
  absl::Status SendBytes(absl::string_view message);

  // Receives one message. See "Blocking" and "Errors" in the file comment.
  absl::StatusOr<std::string> RecvBytes();

  // Returns whether `RecvBytes()` would not block: true when a message's
  // first byte, EOF, or an error is available. Waits at most `timeout`
  // (zero: just checks; `absl::InfiniteDuration()`: waits until then).
  // `IsShutDown` if closed or send-only. (A message whose header has
  // arrived but not its payload still makes `RecvBytes` wait for the rest.)
  absl::StatusOr<bool> Poll(absl::Duration timeout = absl::ZeroDuration());

  // The descriptor, for selectors and event loops (readable when `Poll()`
  // would return true); -1 when closed. Still owned by the Connection.
  int fileno() const { return fd_; }

  // Closes the descriptor now; idempotent. The peer then sees EOF once no
  // other process holds this end either.
  void Close();

  bool closed() const { return fd_ < 0; }
  bool readable() const { return readable_; }
  bool writable() const { return writable_; }
  size_t max_message() const { return max_message_; }

 private:
  Connection(int fd, bool readable, bool writable, bool is_socket,
             size_t max_message)
      : fd_(fd),
        readable_(readable),
        writable_(writable),
        is_socket_(is_socket),
        max_message_(max_message) {}

  // On failure `*error` is the errno.
  absl::Status WriteAll(const char* header, absl::string_view message,
                        int* error);
  // Reads exactly `n` bytes; `*got` is how many arrived before EOF.
  absl::Status ReadExactly(char* buf, size_t n, size_t* got);

  int fd_ = -1;
  bool readable_ = false;
  bool writable_ = false;
  bool is_socket_ = false;
  bool broken_ = false;  // A framing error was seen; receiving is over.
  size_t max_message_ = kDefaultMaxMessage;
};

// Returns a connected pair of ends. `duplex` (the default): both ends send
// and receive (an AF_UNIX socketpair). Otherwise `first` only receives and
// `second` only sends (a pipe). `max_message` (at most
// `Connection::kMaxMaxMessage`, else kInvalidArgument) limits each message
// in both directions. OS failures (e.g. EMFILE) are `ErrnoError`.
absl::StatusOr<std::pair<Connection, Connection>> Pipe(
    bool duplex = true, size_t max_message = Connection::kDefaultMaxMessage);

}  // namespace spindle

#endif  // SPINDLE_PROCESS_CONNECTION_H_
