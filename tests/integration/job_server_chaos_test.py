#!/usr/bin/env python3
# Copyright 2026 The spindle Authors.
"""A chaos run of //examples:job_server (issue #13): about a minute of
dozens of clients sending random commands (FAIL and CRASH included, with
--process_workers), pipelining, splitting lines across writes, reading
slowly, half-closing, QUITting, oversize lines, and disconnecting at random
points (mid-line, mid-reply, with FIN or with a reset), while a killer
SIGKILLs the worker processes at random. Then the clients are gone, and:

  * every request on a connection the client kept open to the end (QUIT or
    half-close, read to EOF) got exactly one reply, in order, with the right
    content (a model of the protocol below; PRIMES checked against a sieve);
    a connection the client cut got a correct prefix of those replies. A
    PRIMES may instead get "ERR process pool worker crashed: pid P killed by
    signal 9 (SIGKILL) ..." (its worker was killed), a CRASH that or signal
    11 (SIGSEGV); nothing else;
  * the server comes back to its baseline: STATS connections (only the
    probe's) and unanswered back to 0, its front-end memory accounting back
    to the baseline; its TCP sockets back to exactly the baseline, its other
    descriptors (pipes, epoll, eventfd...) at most the baseline, its unix
    sockets at most 1 + process workers (the fork server's and one per
    worker); RSS within a margin of its baseline (RSS_MARGIN_MB below); no
    zombie below it;
  * SIGINT: it exits 0 within a bound, prints its summary, and its counts
    match what the clients saw (the exact relations are in check_summary).

Why: the other integration tests each check one edge; this one checks that
they compose under load, and that nothing (a reply, a descriptor, memory, a
process) is lost along the way. Every wait is bounded; nothing synchronises
with sleep (the random pauses are the chaos itself).

Reproducible: the seed is printed; CHAOS_SEED=N reruns the same client
scripts and kill choices (thread timing still differs run to run).
CHAOS_SECONDS and CHAOS_CLIENTS change the length and the crowd. E.g.
  ./bazelw test //tests/integration:job_server_chaos_test \\
      --test_env=CHAOS_SEED=123 --test_output=streamed

Usage: job_server_chaos_test.py JOB_SERVER JOB_CLIENT
"""

import collections
import os
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import job_server_test as base  # noqa: E402
from job_server_test import (BOUND, LineReader, Server,  # noqa: E402
                             descendants, same_exe, stats_of)

SEED = int(os.environ.get("CHAOS_SEED") or
           random.SystemRandom().randrange(1 << 32))
SECONDS = float(os.environ.get("CHAOS_SECONDS", "60"))
CLIENTS = int(os.environ.get("CHAOS_CLIENTS", "32"))

WORKERS = 4
PROCESS_WORKERS = 3
LOOPS = 2
MAX_LINE = 1024
MAX_PRIMES = 200000  # Keep PRIMES cheap: the point is the traffic.
MAX_SLEEP_MS = 200
COMMANDS = ("ECHO", "UPPER", "PRIMES", "SLEEP", "STATS", "FAIL", "CRASH",
            "QUIT")
UNKNOWN_TAIL = " (try %s)" % ", ".join(COMMANDS)

# RSS may exceed its warm baseline by this much once the clients are gone.
# Why a margin at all: the allocator keeps freed memory cached (per-thread
# arenas, free lists), and the chaos's peak (dozens of connections' buffers,
# replies in flight) leaves some fragmentation behind. The default build
# grows by about 1 MB over a run of ~35,000 requests (its peak is under
# 10 MB), so 8 MB catches a leak of a few hundred bytes per request or
# one buffer per connection. A sanitizer build's allocator keeps freed
# memory on purpose (ASan's quarantine, 256 MB by default) and adds shadow
# and history memory, so there RSS says little and the bound is loose:
# LeakSanitizer at exit and the exact descriptor and accounting checks are
# the real ones there.
RSS_MARGIN_MB = {None: 8, "asan": 512, "tsan": 512}


# --- the protocol's model -------------------------------------------------

def _prime_counts(n):
    sieve = bytearray([1]) * (n + 1)
    sieve[0] = sieve[1] = 0
    for i in range(2, int(n ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytearray(len(sieve[i * i::i]))
    counts, c = [], 0
    for v in sieve:
        c += v
        counts.append(c)
    return counts


PRIME_COUNT = _prime_counts(MAX_PRIMES)
BIG_PRIME_COUNTS = {}


def prime_count(n):
    """Primes <= n: from the table, or (a cut "PRIMES 20000001" can ask for
    2000000) the sieve, once."""
    if n < len(PRIME_COUNT):
        return PRIME_COUNT[n]
    if n not in BIG_PRIME_COUNTS:
        BIG_PRIME_COUNTS[n] = base.count_primes(n)
    return BIG_PRIME_COUNTS[n]

CRASHED = (r"ERR process pool worker crashed: pid \d+ killed by signal %s "
           r"(while running the task( \(.+\))?|before it received the task)")
KILLED_RE = re.compile(CRASHED % r"9 \(SIGKILL\)")
CRASH_RE = re.compile(CRASHED % r"(9 \(SIGKILL\)|11 \(SIGSEGV\))")


def int_arg(arg, hi):
    """The job server's number grammar (examples/job_commands.h): ASCII
    digits only, in [0, hi]; None if it is not."""
    m = re.fullmatch(r"([0-9]+)", arg)
    if not m:
        return None
    v = int(m.group(1))
    return v if 0 <= v <= hi else None


def model(line):
    """(command, check) for a request line (str, no newline): command is the
    name it counts under (None: unknown), check(reply) says whether `reply`
    (str) is an acceptable answer. Mirrors examples/job_server.cc and
    io/command_table.cc."""
    s = line.lstrip(" \t")
    end = min([i for i in (s.find(" "), s.find("\t")) if i >= 0] or [len(s)])
    word, arg = s[:end], s[end + 1:]
    cmd = word.upper() if word.upper() in COMMANDS else None
    if cmd == "ECHO":
        return cmd, lambda r: r == arg
    if cmd == "UPPER":
        return cmd, lambda r: r == arg.upper()
    if cmd == "PRIMES":
        n = int_arg(arg, 20000000)
        if n is None:
            want = "ERR bad argument: n must be an integer in [0, 20000000]"
            return cmd, lambda r: r == want
        want = str(prime_count(n))
        return cmd, lambda r: r == want or KILLED_RE.fullmatch(r) is not None
    if cmd == "SLEEP":
        ms = int_arg(arg, 60000)
        want = ("ERR bad argument: ms must be an integer in [0, 60000]"
                if ms is None else "SLEPT %d" % ms)
        return cmd, lambda r: r == want
    if cmd == "STATS":
        return cmd, lambda r: r.startswith("STATS connections=")
    if cmd == "FAIL":
        return cmd, lambda r: r == "ERR internal error"
    if cmd == "CRASH":
        return cmd, lambda r: CRASH_RE.fullmatch(r) is not None
    if cmd == "QUIT":
        return cmd, lambda r: r == "BYE"
    w = s[:min(end, 32)]
    w = "".join(c if " " <= c <= "~" else "?" for c in w)
    want = ("ERR empty request" if not w else
            "ERR unknown command '%s'%s" % (w, UNKNOWN_TAIL))
    return None, lambda r: r == want


TEXT = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        " .,;:!?-_=+*/()[]{}<>'\"#$%&@^|~`")


def random_text(rnd, longest):
    return "".join(rnd.choice(TEXT) for _ in range(rnd.randrange(longest)))


def random_case(rnd, word):
    return word if rnd.random() < 0.8 else "".join(
        c.lower() if rnd.random() < 0.5 else c for c in word)


def random_request(rnd):
    """A request line (str, no newline), mostly valid."""
    k = rnd.random()
    if k < 0.30:
        return random_case(rnd, "ECHO") + " " + random_text(rnd, 200)
    if k < 0.45:
        return random_case(rnd, "UPPER") + " " + random_text(rnd, 200)
    if k < 0.70:
        n = rnd.choice((rnd.randrange(1000), rnd.randrange(20000),
                        rnd.randrange(MAX_PRIMES + 1)))
        return random_case(rnd, "PRIMES") + " %d" % n
    if k < 0.75:
        return "SLEEP %d" % rnd.randrange(MAX_SLEEP_MS + 1)
    if k < 0.77:
        return "STATS"
    if k < 0.83:
        return random_case(rnd, "FAIL") + " " + random_text(rnd, 20)
    if k < 0.835:
        return "CRASH"
    if k < 0.87:
        return rnd.choice(("FROB 1", "PRIMESX 5", "ECH0 x", "x" * 40,
                           "\t  echo  indented", ""))
    return rnd.choice(("PRIMES -5", "PRIMES 20000001", "PRIMES many",
                       "SLEEP x", "SLEEP 60001", "PRIMES"))


# --- the clients -----------------------------------------------------------

class Tally:
    """What the clients did and saw, summed over all of them."""

    def __init__(self):
        self.lock = threading.Lock()
        self.connections = 0
        self.sent = collections.Counter()     # Complete lines, by command.
        self.partial = 0      # Unfinished last lines the server may see.
        self.replies = collections.Counter()  # Replies read, by command.
        self.errors = 0       # ERR replies read.
        self.crash_errs = 0   # "worker crashed" replies read.
        self.oversize = 0     # Oversize lines (each answered, then closed).
        self.kills = 0        # Worker processes SIGKILLed.
        self.sessions = collections.Counter()

    def add(self, other):
        with self.lock:
            self.connections += other.connections
            self.sent.update(other.sent)
            self.partial += other.partial
            self.replies.update(other.replies)
            self.errors += other.errors
            self.crash_errs += other.crash_errs
            self.oversize += other.oversize
            self.sessions.update(other.sessions)


class Fail(Exception):
    pass


class Session:
    """One connection of one client: what it sent, what it must get."""

    def __init__(self, port, rnd, tally, what):
        self.rnd, self.tally, self.what = rnd, tally, what
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=BOUND)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tally.connections += 1
        self.pending = collections.deque()  # (line, command, check)
        self.buf = b""
        self.log = []  # The transcript, for a failure report.

    def send(self, lines, partial=""):
        """Sends complete lines (and maybe an unfinished last one), cut
        into random pieces with random pauses between them."""
        data = "".join(line + "\n" for line in lines) + partial
        for line in lines:
            cmd, check = model(line)
            self.pending.append((line, cmd, check))
            self.tally.sent[cmd] += 1
            self.log.append(">> " + line)
        if partial:
            self.tally.partial += 1
            self.log.append(">> (unfinished) " + partial)
        raw = data.encode()
        while raw:
            n = len(raw) if self.rnd.random() < 0.7 else self.rnd.randrange(
                1, len(raw) + 1)
            self.sock.sendall(raw[:n])
            raw = raw[n:]
            if raw and self.rnd.random() < 0.2:
                time.sleep(self.rnd.random() * 0.005)

    def recv(self, slow=False):
        n = self.rnd.randrange(1, 64) if slow else 65536
        if slow and self.rnd.random() < 0.1:
            time.sleep(self.rnd.random() * 0.01)
        try:
            chunk = self.sock.recv(n)
        except socket.timeout:
            raise Fail("no reply within %ss" % BOUND)
        except ConnectionResetError:
            raise Fail("connection reset by the server")
        return chunk

    def expect_reply(self, slow=False):
        """Reads the next reply and checks it against the oldest request."""
        while b"\n" not in self.buf:
            chunk = self.recv(slow)
            if not chunk:
                raise Fail("EOF with %d replies missing" % len(self.pending))
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\n", 1)
        reply = raw.decode(errors="replace")
        self.log.append("<< " + reply)
        if not self.pending:
            raise Fail("a reply nobody asked for: %r" % reply)
        line, cmd, check = self.pending.popleft()
        if not check(reply):
            raise Fail("request %r got %r" % (line, reply))
        self.tally.replies[cmd] += 1
        if reply.startswith("ERR "):
            self.tally.errors += 1
            if "worker crashed" in reply:
                self.tally.crash_errs += 1

    def expect_eof(self, slow=False):
        while self.pending:
            self.expect_reply(slow)
        if self.buf:
            raise Fail("bytes after the last reply: %r" % self.buf)
        chunk = self.recv(slow)
        if chunk:
            raise Fail("bytes after the last reply: %r" % chunk)

    def read_some(self):
        """Reads a random number of replies, maybe the start of the next."""
        for _ in range(self.rnd.randrange(len(self.pending) + 1)):
            self.expect_reply()
        # Maybe into the middle of a reply (if one is still to come: the
        # buffer may hold them all already).
        if (self.buf.count(b"\n") < len(self.pending) and
                self.rnd.random() < 0.5):
            self.buf += self.recv(slow=True)

    def close(self, reset=False):
        if reset:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
        self.sock.close()


def requests(rnd, most):
    return [random_request(rnd) for _ in range(rnd.randrange(1, most + 1))]


def session(port, rnd, tally):
    """One random session; raises Fail (or OSError) on a broken invariant."""
    kind = rnd.choices(
        ["quit", "slow_reader", "half_close", "interactive", "cut_mid_line",
         "cut_mid_reply", "oversize", "vanish"],
        [20, 8, 14, 10, 14, 14, 3, 4])[0]
    tally.sessions[kind] += 1
    s = Session(port, rnd, tally, kind)
    try:
        if kind == "quit":  # Pipelined, then QUIT: every reply, then EOF.
            s.send(requests(rnd, 60) + [random_case(rnd, "QUIT")])
            s.expect_eof()
        elif kind == "slow_reader":  # Replies read a few bytes at a time.
            s.send(requests(rnd, 100) + ["QUIT"])
            s.expect_eof(slow=True)
        elif kind == "half_close":  # FIN after the requests (maybe after an
            # unfinished line, which the server answers as a last line).
            lines = requests(rnd, 60)
            partial = ""
            if rnd.random() < 0.5:
                last = random_request(rnd)
                partial = last[:rnd.randrange(len(last) + 1)]
            s.send(lines, partial)
            s.sock.shutdown(socket.SHUT_WR)
            if partial:
                s.pending.append((partial,) + model(partial))
                s.tally.partial -= 1
                s.tally.sent[model(partial)[0]] += 1
            s.expect_eof(slow=rnd.random() < 0.3)
        elif kind == "interactive":  # One at a time.
            for line in requests(rnd, 30):
                s.send([line])
                s.expect_reply()
            if rnd.random() < 0.5:
                s.send(["QUIT"])
            else:
                s.sock.shutdown(socket.SHUT_WR)
            s.expect_eof()
        elif kind == "cut_mid_line":  # Gone with a line half sent.
            s.send(requests(rnd, 30))
            if rnd.random() < 0.5:
                s.read_some()
            last = random_request(rnd) or "ECHO x"
            s.send([], last[:rnd.randrange(1, len(last) + 1)])
            s.close(reset=rnd.random() < 0.5)
        elif kind == "cut_mid_reply":  # Gone with replies unread.
            s.send(requests(rnd, 60))
            s.read_some()
            s.close(reset=rnd.random() < 0.5)
        elif kind == "oversize":  # A line over --max_line: answered, closed.
            s.send(requests(rnd, 5))
            big = "ECHO " + "z" * (MAX_LINE + rnd.randrange(1, 2 * MAX_LINE))
            s.sock.sendall(big.encode() + b"\n")
            tally.oversize += 1
            s.pending.append((
                big[:40] + "...", "oversize",
                lambda r: r == "ERR line too long (max %d bytes)" % MAX_LINE))
            s.expect_eof()
        elif kind == "vanish":  # Connect, maybe wait, go.
            if rnd.random() < 0.3:
                time.sleep(rnd.random() * 0.05)
            s.close(reset=rnd.random() < 0.5)
    except (Fail, OSError) as e:
        raise Fail("%s session: %s\ntranscript (last 30):\n  %s\n"
                   "unanswered (first 5):\n  %s" %
                   (kind, e, "\n  ".join(s.log[-30:]),
                    "\n  ".join(p[0] for p in list(s.pending)[:5])))
    finally:
        s.sock.close()


def client(i, port, deadline, stop, tally, failures):
    rnd = random.Random("%d/client/%d" % (SEED, i))
    mine = Tally()
    n = 0
    try:
        while time.monotonic() < deadline and not stop.is_set():
            session(port, rnd, mine)
            n += 1
    except Exception as e:  # pylint: disable=broad-except
        failures.append("client %d, session %d: %s\n%s" %
                        (i, n, e, traceback.format_exc(limit=3)))
        stop.set()
    finally:
        tally.add(mine)


# --- the server's processes ------------------------------------------------

def proc_stat(pid):
    """(state, ppid) of `pid`, or None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[0], int(fields[1])
    except (OSError, IndexError, ValueError):
        return None


def worker_pids(srv, exe):
    """The pool's worker processes: forked by the fork server (a child of
    the server with the same executable), not the fork server itself."""
    out = []
    for p in descendants(srv.proc.pid):
        st = proc_stat(p)
        if (st and st[0] != "Z" and st[1] != srv.proc.pid and
                same_exe(p, exe)):
            out.append(p)
    return out


def kill_one(srv, exe, rnd, tally):
    """SIGKILLs one of the pool's worker processes (if there is one)."""
    pids = worker_pids(srv, exe)
    if not pids:
        return
    pid = rnd.choice(sorted(pids))
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return  # Gone already.
    try:
        st = proc_stat(pid)  # Still that worker (the pidfd pins the pid)?
        if st and st[0] != "Z" and st[1] != srv.proc.pid:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
            with tally.lock:
                tally.kills += 1
    except OSError:
        pass
    finally:
        os.close(fd)


def killer(srv, exe, deadline, stop, tally):
    """SIGKILLs a random worker process every now and then."""
    rnd = random.Random("%d/killer" % SEED)
    while time.monotonic() < deadline and not stop.is_set():
        stop.wait(rnd.uniform(0.05, 1.0))  # Chaos pacing, not a sync.
        kill_one(srv, exe, rnd, tally)


def fd_kinds(pid):
    """Counter of the server's descriptors: 'tcp', 'unix', 'other'."""
    inodes = {}
    for name in ("tcp", "tcp6", "unix"):
        try:
            with open("/proc/%d/net/%s" % (pid, name)) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        col = 6 if name == "unix" else 9
        for row in rows:
            cols = row.split()
            if len(cols) > col:
                inodes[cols[col]] = "unix" if name == "unix" else "tcp"
    kinds = collections.Counter()
    d = "/proc/%d/fd" % pid
    for f in os.listdir(d):
        try:
            target = os.readlink(os.path.join(d, f))
        except FileNotFoundError:
            continue  # Closed while we looked.
        m = re.fullmatch(r"socket:\[(\d+)\]", target)
        if m:
            kinds[inodes.get(m.group(1), "socket")] += 1
        elif target.startswith("pipe:"):
            kinds["pipe"] += 1  # A sanitizer's symbolizer pipes, if any.
        else:
            kinds["other"] += 1
    return kinds


def zombies_below(pid):
    return [p for p in descendants(pid)
            if (proc_stat(p) or ("?",))[0] == "Z"]


def server_counts(out):
    """The numbers of job_server's exit summary."""
    m = re.search(
        r"(\d+) connections \((\d+) refused, (\d+) idle-closed\), "
        r"(\d+) requests \((\d+) oversize\), (\d+) jobs done, (\d+) failed, "
        r"(\d+) dropped at shutdown\n", out)
    if not m:
        raise AssertionError("no summary in the output:\n" + out)
    keys = ("accepted", "refused", "idle_closed", "requests", "oversize",
            "done", "failed", "dropped")
    counts = dict(zip(keys, map(int, m.groups())))
    m = re.search(r"process pool: (\d+) worker processes, (\d+) crashed", out)
    if not m:
        raise AssertionError("no process pool line in the summary:\n" + out)
    counts["crashed"] = int(m.group(2))
    counts["per_command"] = {
        c: int(n) for c, n in re.findall(r"^  ([A-Z]+) n=(\d+) ", out, re.M)}
    return counts


# --- the run ----------------------------------------------------------------

def test_chaos():
    san = base.sanitizer()
    srv = Server("--workers=%d" % WORKERS,
                 "--process_workers=%d" % PROCESS_WORKERS,
                 "--loops=%d" % LOOPS, "--max_line=%d" % MAX_LINE,
                 "--shutdown_grace=30s")
    pid = srv.proc.pid
    exe = os.readlink("/proc/%d/exe" % pid)
    tally = Tally()
    stop = threading.Event()
    failures = []
    probe_stats = 0
    try:
        probe = srv.connect()
        tally.connections += 1
        pr = LineReader(probe)

        # Warm-up: every worker process started, allocators and caches warm,
        # with a short run of the same chaos (no kills).
        warm = Tally()
        socks = [srv.connect() for _ in range(2 * PROCESS_WORKERS)]
        warm.connections += len(socks)
        for s in socks:
            s.sendall(b"PRIMES %d\n" % MAX_PRIMES * 4)
        for s in socks:
            r = LineReader(s)
            for _ in range(4):
                got = r.line()
                assert got == str(PRIME_COUNT[MAX_PRIMES]).encode(), got
            s.close()
        warm.sent["PRIMES"] += 4 * len(socks)
        warm.replies["PRIMES"] += 4 * len(socks)
        warm_end = time.monotonic() + min(5.0, SECONDS / 4)
        threads = [threading.Thread(
            target=client, args=(1000 + i, srv.port, warm_end, stop, warm,
                                 failures)) for i in range(CLIENTS // 4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(BOUND * 2)
            assert not t.is_alive(), "a warm-up client hung"
        assert not failures, failures[0]
        tally.add(warm)

        def settled(want_tcp):
            """STATS, descriptors and zombies once the server is quiet: only
            the probe connected (its STATS the one unanswered request),
            nothing in a worker process, `want_tcp` TCP sockets (closing is
            asynchronous), no zombie below it (reaping too). A bounded
            wait: a leak fails here."""
            nonlocal probe_stats
            deadline = time.monotonic() + BOUND
            while True:
                st, vals = stats_of(probe, pr)
                probe_stats += 1
                fds = fd_kinds(pid)
                zombies = zombies_below(pid)
                quiet = (int(vals["connections"]) == 1 and
                         int(vals["unanswered"]) == 1 and
                         int(vals["in_process"]) == 0 and not zombies)
                if quiet and (want_tcp is None or fds["tcp"] == want_tcp):
                    return st, vals, fds
                if time.monotonic() > deadline:
                    raise AssertionError(
                        "not back to the baseline after %ss: %s, descriptors "
                        "%s (want %s tcp), zombie processes below the server "
                        "%s" % (BOUND, st, dict(fds), want_tcp, zombies))

        st0, vals0, fds0 = settled(None)
        # The listening sockets (one per loop with SO_REUSEPORT, or one)
        # and the probe's connection.
        rss0 = srv.rss_kb()
        workers0 = len(worker_pids(srv, exe))
        print("baseline: %s\n  descriptors %s, RSS %.1f MB, %d worker "
              "processes" % (st0, dict(fds0), rss0 / 1024, workers0))

        # The chaos.
        t0 = time.monotonic()
        deadline = t0 + SECONDS
        threads = [threading.Thread(
            target=client, args=(i, srv.port, deadline, stop, tally,
                                 failures)) for i in range(CLIENTS)]
        threads.append(threading.Thread(
            target=killer, args=(srv, exe, deadline, stop, tally)))
        peak_rss = [0]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            peak_rss[0] = max(peak_rss[0], srv.rss_kb())
            threads[0].join(0.5)  # Sampling pace for the peak RSS only.
            if time.monotonic() > deadline + BOUND * 2:
                stop.set()
                raise AssertionError("clients still running %ss after the "
                                     "end" % (BOUND * 2))
        elapsed = time.monotonic() - t0
        if failures:
            raise AssertionError("%d client(s) failed; the first:\n%s" %
                                 (len(failures), failures[0]))
        print("chaos: %.1fs, %d connections, %d requests sent (+%d "
              "unfinished), %d replies read (%d ERR, %d crashed), %d "
              "workers killed, peak RSS %.1f MB\n  sessions %s" %
              (elapsed, tally.connections, sum(tally.sent.values()),
               tally.partial, sum(tally.replies.values()), tally.errors,
               tally.crash_errs, tally.kills, peak_rss[0] / 1024,
               dict(tally.sessions)))

        # A last kill with the pool idle: no task will reveal that death
        # to the pool, so only prompt reaping keeps the worker from being a
        # zombie below the server.
        kill_one(srv, exe, random.Random("%d/last" % SEED), tally)

        # Back to the baseline.
        st1, vals1, fds1 = settled(fds0["tcp"])
        rss1 = srv.rss_kb()
        print("after: %s\n  descriptors %s, RSS %.1f MB (%+.1f MB)" %
              (st1, dict(fds1), rss1 / 1024, (rss1 - rss0) / 1024))
        assert vals1["memory"] == vals0["memory"], (st0, st1)
        assert vals1["queue"] == "0" and vals1["busy_workers"] == "0", st1
        assert fds1["tcp"] == fds0["tcp"], (fds0, fds1)
        assert fds1["other"] + fds1["socket"] <= (
            fds0["other"] + fds0["socket"]), (fds0, fds1)
        assert fds1["unix"] <= 1 + PROCESS_WORKERS, (fds0, fds1)
        margin = RSS_MARGIN_MB[san]
        assert rss1 - rss0 <= margin * 1024, (
            "RSS %.1f MB -> %.1f MB (peak %.1f MB): more than %d MB over "
            "the baseline%s" % (rss0 / 1024, rss1 / 1024, peak_rss[0] / 1024,
                                margin, " (%s build)" % san if san else ""))
        crashed_stats = int(vals1["crashed"])
        internal_errors = int(vals1["internal_errors"])
        probe.close()
        below = descendants(pid)
        out, _ = srv.stop()
    finally:
        stop.set()
        srv.kill()
    for p in below:
        assert base.pid_gone(p), "process %d outlived the server" % p
    check_summary(server_counts(out), tally, probe_stats, crashed_stats,
                  internal_errors)


def check_summary(c, tally, probe_stats, crashed_stats, internal_errors):
    """The server's counts against the clients'. A request cut by its
    client (unfinished line, unread replies) may or may not have reached
    the server, so most relations are ranges:
      read by the clients <= counted by the server <= sent by the clients
    where "sent" includes each unfinished last line (the server answers a
    last line without newline at EOF as a request)."""
    print("server: %s" % c)
    sent = sum(tally.sent.values()) + probe_stats
    maybe = sent + tally.partial
    read = sum(tally.replies.values()) + probe_stats

    def between(what, lo, got, hi):
        assert lo <= got <= hi, "%s: %d not in [%d, %d]" % (what, got, lo, hi)

    assert c["accepted"] == tally.connections, (c, tally.connections)
    assert c["refused"] == 0 and c["idle_closed"] == 0, c
    assert c["dropped"] == 0, c  # Nothing was left when SIGINT came.
    assert c["oversize"] == tally.oversize, (c, tally.oversize)
    # Oversize lines are not requests; every request was answered (unanswered
    # was 0), so each counts as done or failed, once.
    between("requests", read - tally.replies["oversize"], c["requests"],
            maybe)
    assert c["done"] + c["failed"] == c["requests"], c
    between("failed", tally.errors - tally.replies["oversize"], c["failed"],
            maybe)
    for cmd in COMMANDS:
        n = c["per_command"].get(cmd, 0)
        extra = probe_stats if cmd == "STATS" else 0
        between(cmd, tally.replies[cmd] + extra, n,
                tally.sent[cmd] + tally.partial + extra)
    # A FAIL throws: an internal error each, and nothing else throws.
    assert internal_errors == c["per_command"].get("FAIL", 0), (
        internal_errors, c)
    # Each CRASH kills its worker; each SIGKILL kills at most one worker,
    # which fails at most the one task it runs.
    assert c["crashed"] == crashed_stats, (c, crashed_stats)
    between("crashed", tally.crash_errs, c["crashed"],
            tally.sent["CRASH"] + tally.partial + tally.kills)


def main():
    base.SERVER = os.path.abspath(sys.argv[1])
    base.CLIENT = os.path.abspath(sys.argv[2])
    print("job_server_chaos_test: seed %d, %gs, %d clients (%s build)" %
          (SEED, SECONDS, CLIENTS, base.sanitizer() or "default"))
    rc = base.run_tests([("test_chaos", test_chaos)])
    if rc != 0:
        print("To rerun this chaos: ./bazelw test "
              "//tests/integration:job_server_chaos_test "
              "--test_env=CHAOS_SEED=%d [--config=asan|tsan] "
              "--test_output=streamed" % SEED)
    return rc


if __name__ == "__main__":
    sys.exit(main())
