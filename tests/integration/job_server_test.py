#!/usr/bin/env python3
# Copyright 2026 The spindle Authors.
"""Integration tests for //examples:job_server and //examples:job_client.

Starts the real binaries on ephemeral ports (--port=0; the server prints
"listening on HOST:PORT") and drives them with real clients: Python sockets,
asyncio, `nc` and job_client. Every wait is bounded; each test stops its
server with SIGINT and checks that it exits cleanly (which under --config=asan
or tsan also means no sanitizer report).

Usage: job_server_test.py JOB_SERVER JOB_CLIENT [test-name-substring]
"""

import asyncio
import os
import random
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback

SERVER = None
CLIENT = None
HERE = os.path.dirname(os.path.abspath(__file__))
BOUND = 60.0  # Seconds: the bound on any single wait (sanitizers are slow).


def env(low_fds=False):
    """The server's environment. The binaries carry spindle's TSan
    suppression for Abseil's known false positive themselves
    (bazel/tsan_suppressions.cc), but a suppression matches function names,
    and a process out of descriptors cannot start TSan's symbolizer (it needs
    a socket pair), so there the report stays unsymbolized and unsuppressed.
    low_fds: the server runs near its descriptor limit; under TSan it then
    leaves out atomic-versus-plain reports, the class that false positive
    belongs to (upstream's own workaround, google/sanitizers#953). Plain
    races are still reported, and every other test checks the same code
    paths with full reports."""
    e = dict(os.environ)
    if low_fds and sanitizer() == "tsan":
        opts = e.get("TSAN_OPTIONS", "")
        e["TSAN_OPTIONS"] = (opts + ":" if opts else "") + "report_atomic_races=0"
    return e


class Server:
    """A job_server process on a free port."""

    def __init__(self, *flags, ulimit_n=None, new_session=False):
        """new_session: start the server in a session (and process group) of
        its own, as a shell does with a job, so that the test can signal the
        whole group."""
        cmd = [SERVER, "--port=0"] + list(flags)
        if ulimit_n is not None:
            cmd = ["sh", "-c", 'ulimit -n %d && exec "$@"' % ulimit_n, "sh"] + cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE,
                                     env=env(low_fds=ulimit_n is not None),
                                     start_new_session=new_session)
        self.port = None
        self.stdout = ""
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + BOUND
        buf = b""
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
            m = re.search(rb"listening on (\S+):(\d+)\n", buf)
            if m:
                self.port = int(m.group(2))
        self.stdout = buf.decode(errors="replace")
        sel.close()

    def connect(self, timeout=BOUND):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, expect_rc=0):
        """SIGINT, then wait; returns (stdout, stderr)."""
        self.proc.send_signal(signal.SIGINT)
        try:
            out, err = self.proc.communicate(timeout=BOUND)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("server did not exit after SIGINT")
        out = self.stdout + out.decode(errors="replace")
        err = err.decode(errors="replace")
        if self.proc.returncode != expect_rc:
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
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def line(self):
        """The next line (bytes, no newline), or None at end of stream."""
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


def sanitizer():
    """'asan', 'tsan' or None: which runtime the server binary carries."""
    with open(SERVER, "rb") as f:
        exe = f.read()
    for name in ("asan", "tsan"):
        if b"__%s_init" % name.encode() in exe:
            return name
    return None


def expect_eq(got, want, what=""):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def count_primes(n):
    if n < 2:
        return 0
    sieve = bytearray([1]) * (n + 1)
    sieve[0] = sieve[1] = 0
    for i in range(2, int(n ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytearray(len(sieve[i * i::i]))
    return sum(sieve)


# --- tests --------------------------------------------------------------------


def test_nc_session():
    """The README's session, with nc."""
    nc = shutil.which("nc")
    if nc is None:
        raise AssertionError("nc is required (Debian: netcat-openbsd)")
    srv = Server()
    try:
        script = (b"ECHO hello world\nUPPER make me loud\nPRIMES 1000\n"
                  b"SLEEP 20\nFROB 1\nPRIMES -5\nFAIL on purpose\nQUIT\n")
        out = subprocess.run([nc, "-N", "127.0.0.1", str(srv.port)],
                             input=script, capture_output=True,
                             timeout=BOUND).stdout.decode()
        expect_eq(out.splitlines(), [
            "hello world", "MAKE ME LOUD", "168", "SLEPT 20",
            "ERR unknown command 'FROB' (try ECHO, UPPER, PRIMES, SLEEP, "
            "STATS, FAIL, CRASH, QUIT)",
            "ERR bad argument: n must be an integer in [0, 20000000]",
            "ERR internal error", "BYE"], "nc session")
    finally:
        out, _ = srv.stop()
    assert "jobs done" in out, out


def test_200_concurrent_pipelined_clients():
    """200 clients x 50 pipelined mixed requests, all correct and in order."""
    srv = Server("--workers=4")
    clients, per_client = 200, 50
    primes = {n: str(count_primes(n)) for n in (10, 100, 1000, 5000)}

    async def one(i):
        rnd = random.Random(i)
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        reqs, want = [], []
        for j in range(per_client):
            kind = rnd.randrange(4)
            if kind == 0:
                t = "c%d-r%d-%s" % (i, j, "x" * rnd.randrange(50))
                reqs.append("ECHO " + t)
                want.append(t)
            elif kind == 1:
                t = "up%d.%d" % (i, j)
                reqs.append("UPPER " + t)
                want.append(t.upper())
            elif kind == 2:
                n = rnd.choice(list(primes))
                reqs.append("PRIMES %d" % n)
                want.append(primes[n])
            else:
                reqs.append("SLEEP 1")
                want.append("SLEPT 1")
        writer.write(("\n".join(reqs) + "\n").encode())
        await writer.drain()
        got = []
        for _ in range(per_client):
            line = await reader.readline()
            got.append(line.decode().rstrip("\n"))
        writer.close()
        await writer.wait_closed()
        expect_eq(got, want, "client %d" % i)

    async def all_clients():
        await asyncio.wait_for(
            asyncio.gather(*(one(i) for i in range(clients))), BOUND * 2)

    try:
        asyncio.run(all_clients())
    finally:
        out, _ = srv.stop()
    m = re.search(r"(\d+) requests", out)
    assert m and int(m.group(1)) >= clients * per_client, out


def test_oversize_line():
    srv = Server("--max_line=64")
    try:
        s = srv.connect()
        r = LineReader(s)
        s.sendall(b"ECHO ok\n" + b"A" * 1000 + b"\nECHO never\n")
        expect_eq(r.line(), b"ok")
        expect_eq(r.line(), b"ERR line too long (max 64 bytes)")
        expect_eq(r.line(), None, "closed after oversize")
        # Without a newline at all: the server must not buffer without bound.
        s = srv.connect()
        r = LineReader(s)
        try:
            s.sendall(b"B" * (1 << 20))
        except (BrokenPipeError, ConnectionResetError):
            pass  # The server may close before we finish sending.
        expect_eq(r.line(), b"ERR line too long (max 64 bytes)")
        # The server still serves others.
        t = srv.connect()
        t.sendall(b"ECHO still here\n")
        expect_eq(LineReader(t).line(), b"still here")
    finally:
        srv.stop()


def test_binary_garbage():
    srv = Server("--max_line=256")
    try:
        rnd = random.Random(7)
        s = srv.connect()
        r = LineReader(s)
        lines = []
        for _ in range(200):
            raw = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 80)))
            lines.append(raw.replace(b"\n", b"\x00"))
        s.sendall(b"\n".join(lines) + b"\n")
        for i in range(len(lines)):
            got = r.line()
            assert got is not None and got.startswith(b"ERR "), (i, got)
        s.sendall(b"ECHO sane again\n")
        expect_eq(r.line(), b"sane again", "connection usable after garbage")
    finally:
        srv.stop()


def test_client_that_never_reads():
    """A client that never reads: server memory stays bounded, others fine."""
    srv = Server("--workers=2")
    try:
        rss0 = srv.rss_kb()
        hog = srv.connect()
        hog.setblocking(False)
        req = b"ECHO " + b"z" * 2000 + b"\n"
        batch = req * 64
        sent, deadline = 0, time.monotonic() + BOUND
        while time.monotonic() < deadline:
            try:
                sent += hog.send(batch)
            except BlockingIOError:
                break  # Backpressure reached the client.
        else:
            raise AssertionError("server kept reading (%d bytes)" % sent)
        # Others are unaffected.
        other = srv.connect(timeout=10)
        r = LineReader(other)
        t0 = time.monotonic()
        for i in range(200):
            other.sendall(b"UPPER q%d\n" % i)
            expect_eq(r.line(), b"Q%d" % i)
        elapsed = time.monotonic() - t0
        assert elapsed < 30, elapsed
        grown_mb = (srv.rss_kb() - rss0) / 1024
        # Bounded by the high-water marks (a few MB), not by what was sent.
        assert grown_mb < 64, "RSS grew by %.1f MB (sent %d MB)" % (
            grown_mb, sent >> 20)
        print("  hog sent %.1f MB; server RSS grew %.1f MB" %
              (sent / 2**20, grown_mb))
        hog.close()
    finally:
        srv.stop()


def test_idle_timeout():
    srv = Server("--idle_timeout=500ms")
    try:
        s = srv.connect()
        s.sendall(b"GET / HTTP/1.1 Host: slo")  # Slowloris: no newline.
        t0 = time.monotonic()
        r = LineReader(s)
        expect_eq(r.line(), b"ERR idle timeout")
        expect_eq(r.line(), None)
        waited = time.monotonic() - t0
        assert waited >= 0.4, waited  # The timeout is the point here.
        t = srv.connect()
        t.sendall(b"ECHO alive\n")
        expect_eq(LineReader(t).line(), b"alive")
    finally:
        out, _ = srv.stop()
    assert "1 idle-closed" in out, out


def test_graceful_shutdown_answers_jobs_in_flight():
    srv = Server("--workers=2", "--shutdown_grace=30s")
    socks = []
    per_client, clients = 4, 5
    try:
        for i in range(clients):
            s = srv.connect()
            s.sendall(b"SLEEP 200\n" * per_client)
            socks.append(s)
        # Wait (bounded) until the server has taken every request as a job.
        probe = srv.connect()
        pr = LineReader(probe)
        deadline = time.monotonic() + BOUND
        while True:
            st, vals = stats_of(probe, pr)
            # Accepted and unanswered, less this STATS itself: the SLEEPs.
            in_flight = int(vals["unanswered"]) - 1
            if in_flight + int(vals["done"]) >= clients * per_client:
                assert in_flight > 0, "too late: nothing in flight: " + st
                break
            assert time.monotonic() < deadline, st
        probe.close()
        srv.proc.send_signal(signal.SIGINT)
        for s in socks:
            r = LineReader(s)
            got = [r.line() for _ in range(per_client)]
            expect_eq(got, [b"SLEPT 200"] * per_client, "in-flight replies")
            expect_eq(r.line(), None, "closed after the replies")
        out, err = srv.proc.communicate(timeout=BOUND)
        expect_eq(srv.proc.returncode, 0, "exit status")
        out = out.decode()
        assert "jobs done" in out and "shutting down" in err.decode(), out
    finally:
        srv.kill()


def test_fd_exhaustion_under_low_ulimit():
    # 64 descriptors: a few for the process, the rest for connections.
    srv = Server("--workers=1", ulimit_n=64)
    try:
        # Warm-up while descriptors are plentiful: the sanitizers' runtimes
        # need pipes to check types and to symbolize (and so to apply
        # suppressions), which they cannot get once the process is out of
        # descriptors; exercising every path first fills their caches (and
        # see env() for the one TSan report that warming cannot cover).
        warm = [srv.connect() for _ in range(4)]
        for s in warm:
            s.sendall(b"ECHO w\nUPPER w\nPRIMES 10\nSLEEP 1\nBOGUS\n"
                      b"FAIL x\nSTATS\n")
        for s in warm:
            r = LineReader(s)
            for _ in range(7):
                assert r.line() is not None
            s.close()
        conns, refused = [], 0
        for _ in range(120):
            conns.append(srv.connect(timeout=10))
        # Each connection either works or was told we are out of fds.
        for s in conns:
            s.sendall(b"ECHO x\n")
        cpu0 = srv.cpu_seconds()
        served = 0
        for s in conns:
            line = LineReader(s).line()
            if line == b"x":
                served += 1
            else:
                assert line in (None, b"ERR server out of file descriptors"), line
                refused += 1
        assert served > 0 and refused > 0, (served, refused)
        for s in conns:
            s.close()
        # No busy loop while it was out of descriptors.
        cpu = srv.cpu_seconds() - cpu0
        assert cpu < 5, "server burned %.1fs CPU" % cpu
        # Descriptors come back: new clients are served.
        deadline = time.monotonic() + BOUND
        while True:
            t = srv.connect()
            t.sendall(b"ECHO back\n")
            line = LineReader(t).line()
            t.close()
            if line == b"back":
                break
            assert time.monotonic() < deadline, line
        print("  %d served, %d refused for lack of descriptors" %
              (served, refused))
    finally:
        srv.stop()


def test_job_client_load():
    srv = Server("--workers=2")
    try:
        res = subprocess.run(
            [CLIENT, "--port=%d" % srv.port, "--connections=8", "--depth=4",
             "--duration=1s", "--progress=false",
             "--mix=ECHO:5,UPPER:2,PRIMES:2,SLEEP:1"],
            capture_output=True, timeout=BOUND, env=env())
        out = res.stdout.decode()
        assert res.returncode == 0, out + res.stderr.decode()
        assert "0 wrong/out-of-order, 0 unanswered" in out, out
        print("  " + out.splitlines()[0])
    finally:
        srv.stop()


def test_multiple_loops_share_the_port():
    """--loops=3: three event loops accept on one port (SO_REUSEPORT)."""
    srv = Server("--loops=3", "--workers=2")
    try:
        socks = [srv.connect() for _ in range(60)]
        for i, s in enumerate(socks):
            s.sendall(b"ECHO m%d\nUPPER m%d\n" % (i, i))
        for i, s in enumerate(socks):
            r = LineReader(s)
            expect_eq(r.line(), b"m%d" % i)
            expect_eq(r.line(), b"M%d" % i)
            s.close()
    finally:
        out, _ = srv.stop()
    assert "60 connections" in out, out


def test_connect_disconnect_churn_leaks_nothing():
    """Many connects/disconnects: descriptors and memory come back."""
    srv = Server("--workers=1")
    try:
        def fd_targets():
            d = "/proc/%d/fd" % srv.proc.pid
            out = []
            for f in os.listdir(d):
                try:
                    out.append(os.readlink(os.path.join(d, f)))
                except FileNotFoundError:
                    pass  # Closed while we looked.
            return sorted(out)

        def fds():
            # Sockets only: a sanitizer runtime may open pipes of its own
            # (to its symbolizer) at any time.
            return sum(1 for t in fd_targets() if t.startswith("socket:"))

        def churn(n):
            for i in range(n):
                s = socket.create_connection(("127.0.0.1", srv.port),
                                             timeout=BOUND)
                if i % 3 == 0:
                    s.sendall(b"ECHO c\n")
                    expect_eq(LineReader(s).line(), b"c")
                elif i % 3 == 1:
                    # Abrupt reset.
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.close()

        churn(500)  # Warm up allocators and caches.
        fd0, rss0 = fds(), srv.rss_kb()
        churn(int(os.environ.get("CHURN", "5000")))
        # Closing is asynchronous: one more round trip on a fresh connection
        # orders it after every earlier close the server has seen.
        deadline = time.monotonic() + BOUND
        while fds() > fd0 + 1 and time.monotonic() < deadline:
            t = srv.connect()
            t.sendall(b"STATS\n")
            LineReader(t).line()
            t.close()
        if fds() > fd0 + 1:
            raise AssertionError("sockets %d -> %d: %s" %
                                 (fd0, fds(), fd_targets()))
        grown = (srv.rss_kb() - rss0) / 1024
        assert grown < 16, "RSS grew %.1f MB" % grown
        print("  sockets %d -> %d, RSS grew %.1f MB" % (fd0, fds(), grown))
    finally:
        srv.stop()


# --- --process_workers: PRIMES in a ProcessPoolExecutor, CRASH -----------------


# Started by a sanitizer runtime to print a report's stack (under TSan a
# worker that CRASH kills with SIGSEGV reports first). It belongs to the
# sanitizer, not to the server: orphaned when its worker dies, it ends on
# its own once it reads EOF, and may not have yet when a test looks.
SANITIZER_HELPERS = ("llvm-symbolizer",)


def descendants(pid):
    """Pids of the processes below `pid` (children, grandchildren...),
    except a sanitizer's symbolizer."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if comm in SANITIZER_HELPERS:
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def same_exe(pid, exe):
    try:
        return os.readlink("/proc/%d/exe" % pid) == exe
    except OSError:
        return False


def pid_gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def stats_of(sock, reader):
    """Sends STATS on `sock`; returns the line and its plain key=value
    counters (not the `key=a:b` ones)."""
    sock.sendall(b"STATS\n")
    st = reader.line().decode()
    return st, dict(kv.split("=", 1) for kv in st.split()[1:]
                    if "=" in kv and ":" not in kv)


def test_process_workers_primes_and_crash():
    """--process_workers=2: PRIMES runs in worker processes; CRASH kills one
    worker and answers ERR, while that connection and others keep working."""
    srv = Server("--workers=2", "--process_workers=2")
    try:
        a, b = srv.connect(), srv.connect()
        ra, rb = LineReader(a), LineReader(b)
        a.sendall(b"PRIMES 1000\n")
        expect_eq(ra.line(), b"168", "PRIMES in a worker process")
        # Pipelined on one connection: replies stay in order around a crash.
        a.sendall(b"PRIMES 100\nCRASH\nPRIMES 5000\nECHO after\n")
        b.sendall(b"PRIMES 10000\n")
        expect_eq(ra.line(), b"25", "before the crash")
        crash = ra.line().decode()
        assert crash.startswith("ERR ") and "worker crashed" in crash, crash
        assert re.search(r"pid \d+ killed by signal", crash), crash
        expect_eq(ra.line(), b"669", "same connection after the crash")
        expect_eq(ra.line(), b"after", "same connection after the crash")
        expect_eq(rb.line(), b"1229", "another connection")
        # A connection opened after the crash is served too.
        c = srv.connect()
        c.sendall(b"PRIMES 20000\nSTATS\n")
        rc = LineReader(c)
        expect_eq(rc.line(), b"2262", "new connection")
        stats = rc.line().decode()
        assert "process_workers=2" in stats and "crashed=1" in stats, stats
        # Worker processes exist below the server (fork server + workers:
        # forked without exec, so the same executable; a sanitizer's
        # symbolizer child is not one of them).
        exe = os.readlink("/proc/%d/exe" % srv.proc.pid)
        below = [p for p in descendants(srv.proc.pid)
                 if same_exe(p, exe)]
        assert len(below) >= 2, below
        for s in (a, b, c):
            s.close()
    finally:
        srv.stop()
    # The fork server and every worker were reaped: nothing left behind.
    for pid in below:
        assert pid_gone(pid), "process %d outlived the server" % pid


def test_process_workers_survive_many_crashes():
    """Several CRASHes in a row (and interleaved from two clients) do not
    break the pool: each gets ERR, PRIMES still answers afterwards."""
    srv = Server("--workers=2", "--process_workers=2")
    try:
        a, b = srv.connect(), srv.connect()
        ra, rb = LineReader(a), LineReader(b)
        a.sendall(b"CRASH\n" * 5 + b"PRIMES 1000\n")
        b.sendall(b"CRASH\nPRIMES 100\n" * 3)
        for i in range(5):
            line = ra.line().decode()
            assert line.startswith("ERR ") and "worker crashed" in line, (i, line)
        expect_eq(ra.line(), b"168", "PRIMES after 5 crashes")
        for i in range(3):
            line = rb.line().decode()
            assert "worker crashed" in line, (i, line)
            expect_eq(rb.line(), b"25", "PRIMES between crashes")
        a.sendall(b"STATS\n")
        stats = ra.line().decode()
        assert "crashed=8" in stats, stats
        a.close()
        b.close()
    finally:
        srv.stop()


def test_process_workers_graceful_shutdown():
    """SIGINT with PRIMES running in worker processes: they are answered,
    then the server exits 0 and leaves no process behind."""
    srv = Server("--workers=2", "--process_workers=1", "--shutdown_grace=30s")
    jobs, want = 3, str(count_primes(10000000)).encode()
    try:
        exe = os.readlink("/proc/%d/exe" % srv.proc.pid)
        s = srv.connect()
        s.sendall(b"PRIMES 10000000\n" * jobs)
        # Wait (bounded) until the server has every PRIMES as a job, with
        # some still in the worker process.
        probe = srv.connect()
        pr = LineReader(probe)
        deadline = time.monotonic() + BOUND
        while True:
            st, vals = stats_of(probe, pr)
            in_flight = int(vals["unanswered"]) - 1  # Less this STATS.
            if int(vals["in_process"]) + int(vals["done"]) >= jobs:
                assert in_flight > 0, "too late: nothing in flight: " + st
                break
            assert time.monotonic() < deadline, st
        probe.close()
        below = [p for p in descendants(srv.proc.pid) if same_exe(p, exe)]
        assert below, "no worker processes"
        srv.proc.send_signal(signal.SIGINT)
        r = LineReader(s)
        expect_eq([r.line() for _ in range(jobs)], [want] * jobs,
                  "in-flight replies")
        expect_eq(r.line(), None, "closed after the replies")
        out, err = srv.proc.communicate(timeout=BOUND)
        expect_eq(srv.proc.returncode, 0, "exit status")
        assert "Sanitizer" not in err.decode(), err.decode()[-4000:]
        assert "process pool: 1 worker processes, 0 crashed" in out.decode(), out
    finally:
        srv.kill()
    for pid in below:
        assert pid_gone(pid), "process %d outlived the server" % pid


def group_signal_is_a_graceful_stop(sig):
    """`sig` sent to the server's whole process group (a terminal's Ctrl-C,
    a service manager's stop) while PRIMES run in worker processes: the
    workers and their fork server are not the ones to stop - the server
    stops them itself once every accepted job is answered with its result."""
    workers, conns, per_conn = 3, 4, 3
    srv = Server("--workers=2", "--process_workers=%d" % workers,
                 "--shutdown_grace=60s", new_session=True)
    jobs = conns * per_conn  # At most 4 * workers are submitted at once.
    # Long enough (about 0.1 s each in an optimised build) that some are
    # still running when the loop below looks: at 600000 an -O2 build
    # finished them all before it could see one running.
    ns = [2400000 + 10000 * i for i in range(jobs)]
    want = [str(count_primes(n)).encode() for n in ns]
    below = []
    try:
        assert os.getpgid(srv.proc.pid) == srv.proc.pid, "not a group leader"
        exe = os.readlink("/proc/%d/exe" % srv.proc.pid)
        socks = [srv.connect() for _ in range(conns)]
        for c, s in enumerate(socks):
            s.sendall(b"".join(b"PRIMES %d\n" % ns[c * per_conn + j]
                               for j in range(per_conn)))
        # Wait (bounded) until the server has submitted every PRIMES to the
        # pool and worker processes run them (the fork server and at least
        # one worker exist), some jobs still unanswered.
        probe = srv.connect()
        pr = LineReader(probe)
        deadline = time.monotonic() + BOUND
        while True:
            st, vals = stats_of(probe, pr)
            below = [p for p in descendants(srv.proc.pid) if same_exe(p, exe)]
            if (int(vals["in_process"]) + int(vals["done"]) >= jobs and
                    len(below) >= 2):
                assert int(vals["in_process"]) > 0, "too late: " + st
                break
            assert time.monotonic() < deadline, (st, below)
        probe.close()
        # Every one of them is in the group the signal goes to.
        for p in below:
            expect_eq(os.getpgid(p), srv.proc.pid, "process group of %d" % p)
        os.killpg(srv.proc.pid, sig)
        got = []
        for c, s in enumerate(socks):
            r = LineReader(s)
            for j in range(per_conn):
                line = r.line()
                assert line is not None, (
                    "job %d got no reply (connection %d closed)" %
                    (c * per_conn + j, c))
                assert not line.startswith(b"ERR"), line.decode()
                got.append(line)
            expect_eq(r.line(), None, "closed after the replies")
        expect_eq(got, want, "replies")
        try:
            out, err = srv.proc.communicate(timeout=BOUND)
        except subprocess.TimeoutExpired:
            raise AssertionError("server did not exit after the signal")
        err = err.decode(errors="replace")
        expect_eq(srv.proc.returncode, 0, "exit status (stderr: %s)" %
                  err[-2000:])
        assert "Sanitizer" not in err, err[-8000:]
        assert ("process pool: %d worker processes, 0 crashed" % workers
                in out.decode()), out.decode()
    finally:
        srv.kill()
    for pid in below:
        assert pid_gone(pid), "process %d outlived the server" % pid


def test_process_workers_survive_group_sigint():
    group_signal_is_a_graceful_stop(signal.SIGINT)


def test_process_workers_survive_group_sigterm():
    group_signal_is_a_graceful_stop(signal.SIGTERM)


def test_crash_needs_process_workers():
    """Without --process_workers, CRASH is refused (the server never kills
    itself), and the connection stays usable."""
    srv = Server("--workers=1")
    try:
        s = srv.connect()
        r = LineReader(s)
        s.sendall(b"CRASH\nPRIMES 100\n")
        expect_eq(r.line(), b"ERR CRASH needs --process_workers", "CRASH")
        expect_eq(r.line(), b"25", "PRIMES in a thread")
        s.close()
    finally:
        srv.stop()


def run_main(scope):
    """The main() of a test script: JOB_SERVER JOB_CLIENT [substring] from
    the command line; runs the test_* functions of `scope` (the script's
    globals()) whose names contain the substring."""
    global SERVER, CLIENT
    SERVER, CLIENT = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    only = sys.argv[3] if len(sys.argv) > 3 else ""
    tests = [(n, f) for n, f in sorted(scope.items())
             if n.startswith("test_") and callable(f) and only in n]
    return run_tests(tests)


def main():
    return run_main(globals())


def run_tests(tests):
    """Runs (name, fn) pairs, printing PASS/FAIL; returns the exit status."""
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


if __name__ == "__main__":
    sys.exit(main())
