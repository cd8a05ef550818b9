#!/usr/bin/env python3
# Copyright 2026 The spindle Authors.
"""Integration tests for //examples:kv_server, the small key-value store on
spindle::io::LineService: a session, pipelined requests from several
clients at once (each sees its own writes, replies in order), errors, WAIT
answered from another connection's SET without holding a worker, and a
clean exit 0 on SIGINT/SIGTERM, also with a WAIT still parked. Every wait
is bounded (example_server.BOUND); no sleeps.

Usage: kv_server_test.py KV_SERVER [test-name-substring]
"""

import os
import signal
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_server import (BOUND, LineReader, Server, expect_eq,  # noqa: E402
                            run_tests)

BINARY = None
USAGE = b"ERR try SET, GET, DEL, KEYS, WAIT"


def start():
    return Server(BINARY)


def ask(sock, reader, *lines):
    """Sends `lines` pipelined in one write; returns their replies."""
    sock.sendall(b"".join(l + b"\n" for l in lines))
    return [reader.line() for _ in lines]


def nothing_to_read(sock):
    """True if no reply has arrived on `sock` yet (does not wait)."""
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)  # A reply, or b"" (closed).
        return False
    except BlockingIOError:
        return True
    finally:
        sock.settimeout(BOUND)


def test_session():
    srv = start()
    try:
        s = srv.connect()
        r = LineReader(s)
        expect_eq(ask(s, r, b"SET a 1", b"SET b two words", b"GET a", b"GET b",
                      b"KEYS", b"DEL a", b"DEL a", b"GET a", b"KEYS",
                      b"SET b 2", b"GET b", b"SET e ", b"GET e"),
                  [b"OK", b"OK", b"1", b"two words", b"a b", b"OK",
                   b"ERR no such key", b"ERR no such key", b"b", b"OK", b"2",
                   b"OK", b""], "session")
        # A WAIT before the SET that answers it, on the same connection:
        # the WAIT is parked (the worker moves on to the SET), and the
        # replies still come in request order.
        expect_eq(ask(s, r, b"WAIT c", b"SET c 3", b"GET c"),
                  [b"3", b"OK", b"3"], "WAIT then SET, pipelined")
        expect_eq(ask(s, r, b"WAIT c"), [b"3"], "WAIT on a set key")
        s.close()
    finally:
        srv.stop()


def test_errors():
    srv = start()
    try:
        s = srv.connect()
        r = LineReader(s)
        expect_eq(ask(s, r, b"FROB", b"", b"GET", b"GET a b", b"SET k",
                      b"KEYS x", b"get a", b"DEL", b"WAIT", b"\xff\xfe"),
                  [USAGE] * 10, "malformed requests")
        expect_eq(ask(s, r, b"GET nope", b"DEL nope"),
                  [b"ERR no such key"] * 2, "missing keys")
        # The connection is still usable after errors; CRLF is a newline.
        expect_eq(ask(s, r, b"SET ok yes\r", b"GET ok"), [b"OK", b"yes"])
    finally:
        srv.stop()


def test_pipelined_clients_each_see_their_own_writes():
    """16 clients at once, each pipelining 400 requests in one write on its
    own keys: every client gets every reply, in order, and sees its own
    writes (one client's requests run in the order sent)."""
    srv = start()
    clients, rounds = 16, 50
    errors = []

    def client(i):
        try:
            s = srv.connect()
            r = LineReader(s)
            reqs, want = [], []
            for j in range(rounds):
                k = b"c%d.k%d" % (i, j % 5)
                v = b"v%d-%d" % (i, j)
                reqs += [b"SET " + k + b" " + v, b"GET " + k, b"SET " + k +
                         b" x" + v, b"GET " + k, b"DEL " + k, b"GET " + k,
                         b"SET " + k + b" " + v, b"GET " + k]
                want += [b"OK", v, b"OK", b"x" + v, b"OK", b"ERR no such key",
                         b"OK", v]
            expect_eq(ask(s, r, *reqs), want, "client %d" % i)
            s.close()
        except Exception as e:  # pylint: disable=broad-except
            errors.append("client %d: %r" % (i, e))

    try:
        threads = [threading.Thread(target=client, args=(i,))
                   for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(BOUND)
            assert not t.is_alive(), "a client hung"
        assert not errors, errors
        s = srv.connect()
        keys = ask(s, LineReader(s), b"KEYS")[0].split()
        want = sorted(b"c%d.k%d" % (i, k) for i in range(clients)
                      for k in range(5))
        expect_eq(keys, want, "KEYS after all clients")
    finally:
        out, err = srv.stop()
    assert "Sanitizer" not in err, err


def test_wait_is_answered_by_another_connection_and_holds_no_worker():
    """More WAITs than workers (4), on other connections: other clients are
    still served, and one SET answers every WAIT on its key."""
    srv = start()
    try:
        waiters = []
        for i in range(12):
            s = srv.connect()
            s.sendall(b"WAIT k%d\n" % (i % 3))
            waiters.append((i % 3, s, LineReader(s)))
        # Another client is served meanwhile. (Had a parked WAIT held its
        # worker, the 4 workers would be gone once 4 WAITs had arrived, and
        # these round trips would hang. Whether a WAIT arrives before or
        # after its SET, its reply is the same.)
        c = srv.connect()
        rc = LineReader(c)
        for j in range(200):
            expect_eq(ask(c, rc, b"SET other%d %d" % (j, j), b"GET other%d" % j),
                      [b"OK", b"%d" % j], "served while WAITs are parked")
        for _, s, _ in waiters:
            assert nothing_to_read(s), "a WAIT was answered before its SET"
        expect_eq(ask(c, rc, b"SET k1 one"), [b"OK"])
        for k, s, r in waiters:
            if k == 1:
                expect_eq(r.line(), b"one", "WAIT k1")
        expect_eq(ask(c, rc, b"SET k0 zero", b"SET k2 two"), [b"OK", b"OK"])
        for k, s, r in waiters:
            if k != 1:
                expect_eq(r.line(), [b"zero", b"one", b"two"][k], "WAIT k%d" % k)
            # Each waiter's connection is usable afterwards.
            expect_eq(ask(s, r, b"GET k%d" % k), [[b"zero", b"one", b"two"][k]])
            s.close()
    finally:
        srv.stop()


def test_sigint_with_a_parked_wait_exits_0():
    """A WAIT never answered holds the shutdown for the grace period (1 s)
    at most: the server then closes that connection and exits 0."""
    srv = start()
    try:
        s = srv.connect()
        r = LineReader(s)
        expect_eq(ask(s, r, b"SET a 1"), [b"OK"])
        s.sendall(b"WAIT never\n")
        # A round trip on another connection: on loopback the WAIT's bytes
        # were queued at the server before these, so the loop has read the
        # WAIT by the time it answers them (were it not handed over before
        # the signal, it would be answered "ERR server shutting down").
        c = srv.connect()
        expect_eq(ask(c, LineReader(c), b"GET a"), [b"1"])
        _, err = srv.stop(signal.SIGINT)
        expect_eq(r.line(), None, "the parked WAIT's connection is closed")
        assert "shutting down" in err, err
    finally:
        srv.kill()


def test_sigterm_exits_0():
    srv = start()
    try:
        s = srv.connect()
        r = LineReader(s)
        expect_eq(ask(s, r, b"SET a 1", b"GET a"), [b"OK", b"1"])
        s.close()
        srv.stop(signal.SIGTERM)
    finally:
        srv.kill()


def main():
    global BINARY
    BINARY = os.path.abspath(sys.argv[1])
    return run_tests(globals(), sys.argv[2] if len(sys.argv) > 2 else "")


if __name__ == "__main__":
    sys.exit(main())
