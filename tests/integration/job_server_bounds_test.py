#!/usr/bin/env python3
# Copyright 2026 The spindle Authors.
"""Integration tests for //examples:job_server's bounds, end to end:

  * memory: hundreds of clients that pipeline requests and never read their
    replies cannot grow the server past --memory_budget (plus a stated
    per-connection and allocator allowance), and a client that reads its
    replies is still served meanwhile;
  * idle timeout vs backpressure: a client whose line the server itself
    holds back (its queue is full) is not "idle", while a client that sends
    nothing is.

Shares its helpers with job_server_test.py; every wait is bounded, no
sleeps. Run against an older job_server binary (one without
--memory_budget) the memory test runs the same flood without the flag and
fails on the RSS bound.

Usage: job_server_bounds_test.py JOB_SERVER JOB_CLIENT [test-name-substring]
"""

import os
import re
import resource
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import job_server_test as base  # noqa: E402
from job_server_test import (BOUND, LineReader, Server, expect_eq,  # noqa: E402
                             stats_of)


def has_flag(name):
    p = subprocess.run([base.SERVER, "--helpfull"], capture_output=True,
                       timeout=BOUND)
    return ("--" + name + " ") in (p.stdout + p.stderr).decode(errors="replace")


# --- memory -------------------------------------------------------------------

BUDGET = 4 << 20  # --memory_budget, bytes.
MAX_LINE = 1024   # --max_line: each connection's floor is MAX_LINE + 2.
# What the server may count beyond the budget, by its own rule (tcp_server.h,
# "Backpressure"): every open connection may read one complete line past
# the budget (its floor); replies longer than their requests add the rest
# (none here: an echo is shorter than its request).
FLOOR = MAX_LINE + 2
MAX_PIPELINED = 512  # TcpServer::Options::max_pipelined (job_server's).

# The server's RSS growth over the flood may exceed the budget by (KB):
#  * per connection, its structures: the Connection, its lane, its entries
#    in the connection table and the idle tracker (~2 KB), and its ring of
#    reply slots, which keeps its high-water size while the connection is
#    open: up to MAX_PIPELINED slots of 48 bytes (24 KB). 32 KB each.
PER_CONN_KB = 32
#  * a fixed 16 MB of allocator slack: freed chunks not returned to the
#    kernel, the shared 64 KB read buffer, the workers' reply batches, the
#    lanes' 1024 request copies;
#  * and, per thread that allocates for requests (the loop and each
#    worker), up to one budget of freed memory its glibc malloc arena keeps
#    for reuse rather than returning it (measured: the same flood grows RSS
#    by ~38 MB with MALLOC_ARENA_MAX=1, ~45 MB with 2, ~60 MB with the
#    default per-thread arenas and 4 workers). The test runs 2 workers.
WORKERS = 2
SLACK_KB = (16 << 10) + (WORKERS + 1) * (BUDGET // 1024)
#  * buffers the budget does not count, kept small by the server:
#    - a reply slot keeps its string's capacity after the reply is sent
#      only up to 128 bytes (io/internal/reply_order.h, ReplyOrder::Reset);
#      the 201-byte echoes here give theirs back;
KNOWN_SLOT_TEXT_KB_PER_CONN = 0
#    - the loop's two reply inbox buffers (ServerShared::inbox_text and
#      drain_text) keep at most 64 KB of capacity between batches.
KNOWN_INBOX_KB = 2 * 64
LINE = b"ECHO " + b"h" * 200 + b"\n"  # 206 bytes; the reply is 201.
CHUNK = LINE * 300                     # ~60 KB per send().
# What each hog tries to pipeline, and how many hogs (environment overrides
# for experiments: PER_HOG, HOGS; BOUNDS_DEBUG=1 prints every pass).
PER_HOG = int(os.environ.get("PER_HOG", 320 << 10))


def hogs_wanted():
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return int(os.environ.get("HOGS", max(50, min(600, soft - 200))))


def open_hog(port):
    """A client that never reads: small buffers (so the kernel holds little
    of what it is sent), non-blocking sends."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
    s.settimeout(BOUND)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    return s


def push(hog, sent):
    """Sends as much of the hog's stream as the kernel takes now; returns
    the new count of bytes sent."""
    while sent < PER_HOG:
        pos = sent % len(CHUNK)  # CHUNK is whole lines: the stream stays framed.
        try:
            n = hog.send(CHUNK[pos:pos + PER_HOG - sent])
        except BlockingIOError:
            break
        if n == 0:
            break
        sent += n
    return sent


def memory_of(vals):
    """(used, budget) from STATS' memory=<used>/<budget>, or None."""
    if "memory" not in vals:
        return None
    used, budget = vals["memory"].split("/")
    return int(used), int(budget)


def test_never_reading_clients_stay_within_the_memory_budget():
    """600 clients (fewer under a low `ulimit -n`) each pipeline 320 KB of
    ECHOs and never read, against --memory_budget=4MiB: STATS memory stays
    within the server's own bound at every sample, the server's RSS growth
    within the budget plus the allowance above, a reading client is served
    throughout, and the memory comes back when the hogs leave. (The kernel
    takes much of the replies into the server's socket send buffers, which
    RSS does not show; job_server has no flag for socket_send_buffer.)"""
    with_budget = has_flag("memory_budget")
    flags = ["--max_line=%d" % MAX_LINE, "--workers=%d" % WORKERS]
    if with_budget:
        flags.append("--memory_budget=%d" % BUDGET)
    else:
        print("  NOTE: %s has no --memory_budget; the flood runs without it"
              % base.SERVER)
    san = base.sanitizer()
    srv = Server(*flags)
    hogs = []
    try:
        good = srv.connect(timeout=BOUND)
        gr = LineReader(good)
        worst = [0.0]

        def echo(i):
            t0 = time.monotonic()
            good.sendall(b"ECHO good%d\n" % i)
            expect_eq(gr.line(), b"good%d" % i, "the reading client's reply")
            worst[0] = max(worst[0], time.monotonic() - t0)

        # Warm up the paths the flood takes (and the allocator) first.
        for i in range(200):
            echo(i)
        warm = [open_hog(srv.port) for _ in range(20)]
        for w in warm:
            w.setblocking(True)
            w.sendall(LINE * 50)
        for w in warm:
            r = LineReader(w)
            for _ in range(50):
                assert r.line() is not None
            w.close()
        stats_of(good, gr)
        rss0 = srv.rss_kb()

        n = hogs_wanted()
        hogs = [[open_hog(srv.port), 0] for _ in range(n)]
        deadline = time.monotonic() + BOUND
        while True:  # Bounded: until the server has accepted every hog.
            st, vals = stats_of(good, gr)
            if int(vals["connections"]) == n + 1:
                break
            assert time.monotonic() < deadline, st
        rss_conns = srv.rss_kb()

        max_rss, max_used, samples = rss_conns, 0, 0
        stuck_passes, deadline = 0, time.monotonic() + 2 * BOUND
        while stuck_passes < 3:
            assert time.monotonic() < deadline, "the flood did not settle"
            before = sum(h[1] for h in hogs)
            for h in hogs:
                h[1] = push(h[0], h[1])
            progressed = sum(h[1] for h in hogs) > before
            stuck_passes = 0 if progressed else stuck_passes + 1
            # The reading client is served during the flood.
            for i in range(5):
                echo(2000 + samples * 5 + i)
            st, vals = stats_of(good, gr)
            mem = memory_of(vals)
            samples += 1
            max_rss = max(max_rss, srv.rss_kb())
            if os.environ.get("BOUNDS_DEBUG"):
                print("    pass %d: sent %d KB, RSS %d KB, %s" %
                      (samples, sum(h[1] for h in hogs) >> 10, srv.rss_kb(),
                       st[:160]))
            if mem is not None:
                used, budget = mem
                expect_eq(budget, BUDGET, "STATS memory budget: " + st)
                max_used = max(max_used, used)
                # The server's own bound, at every sample (open
                # connections: the hogs and the reading client).
                limit = BUDGET + (n + 1) * FLOOR
                assert used <= limit, "memory_used %d > %d: %s" % (
                    used, limit, st)
        sent = sum(h[1] for h in hogs)
        grown_kb = max_rss - rss0
        conn_kb = rss_conns - rss0
        strict_kb = (BUDGET // 1024 + n * (PER_CONN_KB + FLOOR // 1024 + 1)
                     + SLACK_KB)
        allowed_kb = (strict_kb + n * KNOWN_SLOT_TEXT_KB_PER_CONN
                      + KNOWN_INBOX_KB)
        print("  %d hogs sent %.1f MB (%.0f KB each) in %d passes; server "
              "RSS %d KB before them, +%d KB once connected (%.1f KB each), "
              "+%d KB at most during the flood (allowed +%d KB; +%d KB without "
              "the buffers kept); STATS "
              "memory_used at most %d of %d; slowest ECHO of the reading "
              "client %.2fs%s" %
              (n, sent / 2**20, sent / n / 1024, samples, rss0, conn_kb,
               conn_kb / n, grown_kb, allowed_kb, strict_kb, max_used, BUDGET,
               worst[0], " (%s build)" % san if san else ""))
        # The flood was real: far more than the budget was pipelined.
        assert sent > 8 * BUDGET, "the hogs sent only %d bytes" % sent
        if with_budget:
            # ...and the budget was reached, not just respected.
            assert max_used > BUDGET // 2, max_used
        # Generous: sanitizer builds are slow (the default build: under 1 s).
        assert worst[0] < 10.0, "an ECHO took %.1fs" % worst[0]
        if san is None:
            assert grown_kb <= allowed_kb, (
                "server RSS grew by %d KB, more than the %d KB budget plus "
                "%d KB allowed" % (grown_kb, BUDGET // 1024,
                                   allowed_kb - BUDGET // 1024))
        else:
            # A sanitizer's allocator keeps freed memory (ASan's quarantine)
            # and adds shadow memory: RSS says little; the server's own
            # accounting (checked above at every sample) is the bound here.
            print("  (%s build: RSS bound not checked)" % san)
        assert with_budget, "no --memory_budget: the RSS bound above held?"

        for h in hogs:
            h[0].close()
        hogs = []
        # The hogs' memory comes back: their buffers are released as the
        # server sees them close.
        deadline = time.monotonic() + BOUND
        while True:
            st, vals = stats_of(good, gr)
            used = memory_of(vals)[0]
            if int(vals["connections"]) == 1 and used < 64 * 1024:
                break
            assert time.monotonic() < deadline, st
        echo(9999)
        good.close()
    finally:
        for h in hogs:
            h[0].close()
        srv.stop()


# --- idle timeout vs the server's own backpressure ---------------------------

def primes_job():
    """A PRIMES request taking about 3 s here at most (PRIMES 20000000, or
    less on a slow build or a loaded machine), and how long it takes: timed
    on a calibration server of its own. (The sieve is about linear in n.)"""
    srv = Server("--workers=1")
    try:
        s = srv.connect()
        r = LineReader(s)
        n, took = 20000000, None
        while True:
            t0 = time.monotonic()
            s.sendall(b"PRIMES %d\n" % n)
            line = r.line()
            assert line is not None and line.isdigit(), line
            took = time.monotonic() - t0
            if took <= 3.0 or n <= 1000000:
                break
            n = max(1000000, int(n * 2.5 / took))
        s.close()
        return n, took
    finally:
        srv.stop()


def test_a_client_held_back_by_a_full_queue_is_not_idle():
    """--workers=1 --queue_size=1 --idle_timeout=T: A pipelines three
    PRIMES (the one running fills the queue - queue_size counts requests
    until a worker has finished them - the others wait); B's ECHO then
    waits for a place in the queue for at least the rest of the running
    PRIMES, held back by the server itself - it must be answered, not timed
    out. C sends nothing: it is timed out. T is 1 s, or half a PRIMES where
    that is shorter (an optimised build), at least 100 ms."""
    n, job = primes_job()
    idle = min(1.0, max(0.1, job / 2))
    srv = Server("--workers=1", "--queue_size=1",
                 "--idle_timeout=%dms" % (idle * 1000), "--shutdown_grace=60s")
    try:
        a = srv.connect()
        a.sendall(b"PRIMES %d\n" % n * 3)
        probe = srv.connect()
        pr = LineReader(probe)
        deadline = time.monotonic() + BOUND
        while True:  # Bounded: until one runs (it fills the queue).
            st, vals = stats_of(probe, pr)
            if int(vals["busy_workers"]) == 1:
                break
            assert time.monotonic() < deadline, st
        probe.close()  # Silent from now on, it would be timed out too.
        b = srv.connect()
        c = srv.connect()
        t0 = time.monotonic()
        b.sendall(b"ECHO b\n")
        rb, rc = LineReader(b), LineReader(c)
        expect_eq(rc.line(), b"ERR idle timeout", "the silent client C")
        c_waited = time.monotonic() - t0
        expect_eq(rc.line(), None, "C closed")
        expect_eq(rb.line(), b"b", "B, held back by the full queue")
        b_waited = time.monotonic() - t0
        print("  PRIMES %d takes %.2fs; idle timeout %.2fs: C timed "
              "out after %.2fs, B answered after %.2fs" %
              (n, job, idle, c_waited, b_waited))
        assert c_waited >= 0.9 * idle, c_waited
        # The point of the test: B was held back longer than the timeout.
        assert b_waited > 1.2 * idle, (
            "B was answered after %.2fs: not held past the %.2fs idle "
            "timeout" % (b_waited, idle))
        b.sendall(b"ECHO again\n")
        expect_eq(rb.line(), b"again", "B still connected")
        ra = LineReader(a)
        for i in range(3):
            line = ra.line()
            assert line is not None and line.isdigit(), (i, line)
        for s in (a, b):
            s.close()
    finally:
        out, _ = srv.stop()
    m = re.search(r"(\d+) idle-closed", out)
    assert m and int(m.group(1)) >= 1, out


def main():
    return base.run_main(globals())


if __name__ == "__main__":
    sys.exit(main())
