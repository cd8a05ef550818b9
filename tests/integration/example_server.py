# Copyright 2026 The spindle Authors.
"""What the examples' integration tests share: a server example started on a
free port, line reading with bounded waits, and a tiny test runner.

A server prints "listening on HOST:PORT" as its first line (see
examples/server_harness.h); Server() waits for it, so a test never sleeps to
let a server start. Every wait here is bounded by BOUND seconds (generous:
sanitizer builds are slow); a bug fails a test instead of hanging it.
"""

import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
import traceback

BOUND = 60.0


class Server:
    """An example server process on a free port."""

    def __init__(self, binary, *flags):
        self.proc = subprocess.Popen([binary, "--port=0"] + list(flags),
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.port = None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + BOUND
        buf = b""
        try:
            while self.port is None:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    self.kill()
                    raise AssertionError("server did not print its port")
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    err = self.proc.stderr.read().decode(errors="replace")
                    raise AssertionError("server exited early: " + err)
                buf += chunk
                if b"\n" in buf:
                    first = buf.split(b"\n", 1)[0]
                    m = re.fullmatch(rb"listening on (\S+):(\d+)", first)
                    if not m:
                        self.kill()
                        raise AssertionError("first line: %r" % first)
                    self.port = int(m.group(2))
        finally:
            sel.close()
        self.stdout = buf.decode(errors="replace")

    def connect(self, rcvbuf=None):
        """A blocking client socket whose reads time out after BOUND."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect, so the window stays small
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(BOUND)
        s.connect(("127.0.0.1", self.port))
        return s

    def stop(self, sig=signal.SIGINT):
        """Sends `sig`, waits (bounded) for the exit; checks it is 0 with no
        sanitizer report. Returns (stdout, stderr)."""
        self.proc.send_signal(sig)
        try:
            out, err = self.proc.communicate(timeout=BOUND)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("server did not exit after signal %d" % sig)
        out = self.stdout + out.decode(errors="replace")
        err = err.decode(errors="replace")
        if self.proc.returncode != 0:
            raise AssertionError("server exit %s, stderr:\n%s" %
                                 (self.proc.returncode, err[-4000:]))
        if "Sanitizer" in err:
            raise AssertionError("sanitizer report:\n" + err[-8000:])
        return out, err

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class LineReader:
    """Reads '\\n'-terminated lines from a socket (with its timeout)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def line(self):
        """The next line (bytes, no newline); None at end of stream."""
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line


def expect_eq(got, want, what=""):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def run_tests(namespace, only=""):
    """Runs every test_* function of `namespace` whose name contains
    `only`; returns the process exit code."""
    tests = [(n, f) for n, f in sorted(namespace.items())
             if n.startswith("test_") and callable(f) and only in n]
    failed = []
    for name, fn in tests:
        t0 = time.monotonic()
        try:
            fn()
            print("PASS %s (%.1fs)" % (name, time.monotonic() - t0))
        except Exception:  # pylint: disable=broad-except
            print("FAIL %s (%.1fs)" % (name, time.monotonic() - t0))
            traceback.print_exc()
            failed.append(name)
        sys.stdout.flush()
    print("%d passed, %d failed %s" % (len(tests) - len(failed), len(failed),
                                       failed or ""))
    return 1 if failed else 0
