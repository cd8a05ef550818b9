#!/usr/bin/env python3
# Copyright 2026 The spindle Authors.
"""Fairness benchmark for line-protocol job servers: does one client's flood
of slow jobs starve another client's cheap requests?

Protocol (examples/job_server.cc, bench/py_job_server.py): one request per
line, one reply line per request, in request order per connection:
`ECHO <text>` -> `<text>`, `SLEEP <ms>` -> `SLEPT <ms>`, `PRIMES <n>` -> the
number of primes <= n.

For each server, in the order given, all in one run:
  1. start CMD (it must print a line matching `listening on HOST:PORT`; give
     it `--port=0`, or whatever makes it pick a free port);
  2. open a flood connection and pipeline FLOOD_JOBS (512) requests without
     reading a reply: `SLEEP 60000` (--flood=SLEEP: I/O-bound jobs that hold
     workers) or `PRIMES 20000000` (--flood=PRIMES: CPU-bound jobs); wait
     until the kernel has delivered them (the socket's send queue is empty),
     then --settle seconds more for the server to read and queue them;
  3. on a second connection, send `ECHO x` --probes times, one at a time
     (the next one after the previous reply), each with a timeout
     (--timeout, 5 s). A timeout is a miss and ends that server's probe run:
     the probes after it are not sent;
  4. kill the server (SIGKILL to its process group) and close both sockets.
Then print one table: per server, probes answered, misses, wrong replies,
and the answered probes' latency p50 / p99 / max (request sent -> reply line
read, in milliseconds). A fair server answers every probe in about its idle
latency; a server that queues the probes behind the flood misses.

Usage:
  fairness_bench.py --flood=SLEEP|PRIMES [--probes=200] [--timeout=5]
                    [--flood_jobs=512] [--settle=0.2] NAME=CMD...

Example (from the repository root, after
`./bazelw build --config=opt //examples:job_server`):
  python3 bench/fairness_bench.py --flood=SLEEP \\
      'spindle=bazel-bin/examples/job_server --port=0 --workers=4' \\
      'python=python3 bench/py_job_server.py 4'
(bench/py_job_server.py takes its worker count as its only argument and
always picks a free port.) CMD is split like a shell command line (shlex),
without a shell.

Pinning and load. The bench shares the machine with the servers it probes;
on a small machine pin them apart so that the client's timing is not what is
measured, e.g. the servers on CPUs 1-3 and the bench on CPU 0:
  taskset -c 0 python3 bench/fairness_bench.py --flood=PRIMES \\
      'spindle=taskset -c 1-3 bazel-bin/examples/job_server --port=0 ...'
To see fairness under CPU contention, add load from outside on the servers'
CPUs while the bench runs, e.g. `taskset -c 1-3 stress-ng --cpu 3 &` (or a
few `taskset -c 1 sh -c 'while :; do :; done' &`), and kill it afterwards.
Latencies drift from run to run on a loaded or 2-core machine; compare
servers within one run (one table), not across runs.
"""

import argparse
import fcntl
import math
import os
import re
import shlex
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time

FLOODS = {
    "SLEEP": "SLEEP 60000",
    "PRIMES": "PRIMES 20000000",
}


def start(cmd, startup_timeout):
    """Starts `cmd`; returns (process, port) once it says where it listens."""
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=err,
                            start_new_session=True)
    found = {}

    def read_stdout():
        # Finds the port, then keeps draining stdout so that a chatty
        # server never blocks on a full pipe.
        for raw in proc.stdout:
            if "port" not in found:
                m = re.search(r"listening on \S+:(\d+)",
                              raw.decode(errors="replace"))
                if m:
                    found["port"] = int(m.group(1))
                    started.set()
        found["eof"] = True  # The server exited (or closed stdout).
        started.set()

    started = threading.Event()
    threading.Thread(target=read_stdout, daemon=True).start()
    started.wait(startup_timeout)
    if "port" not in found:
        try:
            status = proc.wait(timeout=1 if "eof" in found else 0)
        except subprocess.TimeoutExpired:
            status = None
        kill(proc)
        err.seek(0)
        tail = err.read().decode(errors="replace").strip().splitlines()[-5:]
        why = ("exited with status %d" % status if status is not None else
               "did not print 'listening on HOST:PORT' within %gs" %
               startup_timeout)
        raise RuntimeError("%s; stderr: %s" % (why, " | ".join(tail) or
                                               "(empty)"))
    err.close()
    return proc, found["port"]


def kill(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def wait_sent(sock, bound):
    """Waits (bounded) until the kernel has delivered everything `sock` sent
    (its send queue, SIOCOUTQ, is empty)."""
    deadline = time.monotonic() + bound
    buf = struct.pack("i", 0)
    while time.monotonic() < deadline:
        unsent = struct.unpack(
            "i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, buf))[0]
        if unsent == 0:
            return True
        time.sleep(0.01)
    return False


class LineReader:
    """Reads reply lines from a socket, each with its own deadline."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def readline(self, deadline):
        """The next line (without its newline), or None at the deadline or
        on EOF."""
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode(errors="replace")


def probe(port, probes, timeout):
    """Sends `probes` sequential ECHOs; returns (latencies in s, misses,
    wrong replies)."""
    latencies, misses, wrong = [], 0, 0
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = LineReader(s)
        for _ in range(probes):
            t0 = time.monotonic()
            s.settimeout(timeout)
            s.sendall(b"ECHO x\n")
            reply = reader.readline(t0 + timeout)
            if reply is None:
                misses += 1  # Timed out (or the server hung up): stop.
                break
            latencies.append(time.monotonic() - t0)
            if reply != "x":
                wrong += 1
    return latencies, misses, wrong


def measure(cmd, args):
    proc, port = start(cmd, args.startup_timeout)
    flood = None
    try:
        flood = socket.create_connection(("127.0.0.1", port), timeout=10)
        request = (FLOODS[args.flood] + "\n").encode()
        flood.sendall(request * args.flood_jobs)  # Replies are never read.
        wait_sent(flood, 10)
        time.sleep(args.settle)  # Lets the server read and queue the flood.
        return probe(port, args.probes, args.timeout)
    finally:
        kill(proc)
        if flood is not None:
            flood.close()


def percentile(sorted_values, q):
    """Nearest-rank percentile of a non-empty sorted list."""
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def main():
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--flood", required=True, choices=sorted(FLOODS))
    p.add_argument("--probes", type=int, default=200)
    p.add_argument("--timeout", type=float, default=5.0,
                   help="seconds each probe may take (default 5)")
    p.add_argument("--flood_jobs", type=int, default=512)
    p.add_argument("--settle", type=float, default=0.2,
                   help="seconds between the flood and the first probe")
    p.add_argument("--startup_timeout", type=float, default=30.0)
    p.add_argument("servers", nargs="+", metavar="NAME=CMD")
    args = p.parse_args()
    servers = []
    for spec in args.servers:
        name, sep, cmd = spec.partition("=")
        if not sep or not name or not cmd.strip():
            p.error("expected NAME=CMD, got %r" % spec)
        servers.append((name, shlex.split(cmd)))

    print("fairness_bench: %d x '%s' pipelined on one connection, then up to "
          "%d sequential 'ECHO x' on another (%gs timeout each)" %
          (args.flood_jobs, FLOODS[args.flood], args.probes, args.timeout),
          flush=True)
    rows, failed = [], False
    for name, cmd in servers:
        try:
            latencies, misses, wrong = measure(cmd, args)
        except (OSError, RuntimeError) as e:
            failed = True
            rows.append([name, "error: %s" % e])
            print("%s: error: %s" % (name, e), flush=True)
            continue
        ms = sorted(x * 1e3 for x in latencies)
        stats = (["%.2f" % percentile(ms, q) for q in (0.5, 0.99)] +
                 ["%.2f" % ms[-1]]) if ms else ["-", "-", "-"]
        rows.append([name, "%d/%d" % (len(ms), args.probes), str(misses),
                     str(wrong)] + stats)
        print("%s: done" % name, flush=True)

    head = ["server", "answered", "misses", "wrong", "p50 ms", "p99 ms",
            "max ms"]
    print()
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
