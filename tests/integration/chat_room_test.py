#!/usr/bin/env python3
# Copyright 2026 The spindle Authors.
"""Integration tests for //examples:chat_room: the real binary on a free
port, real sockets as its guests.

What they pin down is that one guest cannot spoil the room for the others:
a guest that never reads, flooded with chat, does not stop two others from
talking nor a newcomer from being welcomed (and once it is too far behind it
is dropped, and the room told); a burst of connections is welcomed
promptly; SIGINT and SIGTERM say goodbye to every guest and exit 0. Every
wait is bounded (example_server.BOUND, and the bounds named below).

Usage: chat_room_test.py CHAT_ROOM [test-name-substring]
"""

import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_server import BOUND, LineReader, Server, expect_eq, run_tests  # pylint: disable=g-import-not-at-top

CHAT_ROOM = None

# A burst of connections must all be welcomed within this many seconds.
# Generous for a sanitizer build (it takes well under a second there); the
# seed's backlog of 5 with one accept per select() took over 10 s for 300.
BURST = 500
BURST_BOUND = 10.0

LINE = b"x" * 999 + b"\n"  # one flood line, 1000 bytes
BATCH = 64                 # lines per flood round


class Guest:
    """A chat client that has read its welcome."""

    def __init__(self, server, rcvbuf=None):
        self.sock = server.connect(rcvbuf=rcvbuf)
        self.reader = LineReader(self.sock)
        welcome = self.reader.line()
        if welcome is None or not welcome.startswith(b"welcome, "):
            raise AssertionError("no welcome: %r" % welcome)
        self.name = welcome[len(b"welcome, "):]

    def say(self, text):
        self.sock.sendall(text + b"\n")

    def hear(self, want, skip=()):
        """Reads lines until `want`; lines starting with a prefix in `skip`
        may come first, anything else fails."""
        while True:
            line = self.reader.line()
            if line == want:
                return
            if line is None or not line.startswith(tuple(skip)):
                raise AssertionError("%s: got %r while waiting for %r" %
                                     (self.name, line, want))


def flood(talker, listener, rounds, stop_at=None):
    """`talker` sends `rounds` batches of BATCH lines; after each batch
    `listener` must hear all of them (its socket timeout bounds each read),
    so the listener keeps up while anybody who does not read falls behind.
    Returns the room notes the listener heard; stops early after a batch in
    which it heard `stop_at`."""
    want = talker.name + b": " + LINE[:-1]
    notes = []
    for _ in range(rounds):
        talker.sock.sendall(LINE * BATCH)
        got = 0
        while got < BATCH:
            line = listener.reader.line()
            if line is None:
                raise AssertionError("listener lost its connection")
            if line == want:
                got += 1
            else:
                notes.append(line)
        if stop_at is not None and stop_at in notes:
            break
    return notes


def chat_still_works(server, b, c):
    """B and C talk both ways and a newcomer is welcomed."""
    c.say(b"hello from C")
    b.hear(c.name + b": hello from C")
    b.say(b"hello from B")
    c.hear(b.name + b": hello from B", skip=(b.name + b": xxx",))
    newcomer = Guest(server)
    newcomer.say(b"hi all")
    b.hear(newcomer.name + b": hi all")
    c.hear(newcomer.name + b": hi all")
    return newcomer


def test_guests_chat_and_hear_no_echo():
    srv = Server(CHAT_ROOM)
    try:
        a, b = Guest(srv), Guest(srv)
        a.say(b"hello")
        b.hear(a.name + b": hello")
        b.sock.sendall(b"two\nlines")  # the second line is finished later
        b.sock.sendall(b", now whole\r\n")
        a.hear(b.name + b": two")
        a.hear(b.name + b": lines, now whole")
        # A's own line was not echoed to it: the next thing it hears is B's.
        b.say(b"last")
        a.hear(b.name + b": last")
    finally:
        srv.stop()


def test_guest_that_never_reads_does_not_stall_the_room():
    """A never reads (and keeps its receive window tiny); B floods the room
    with 8 MB while C keeps up. With blocking sends the server would hang in
    send() to A once A's buffers were full, and C would stop hearing B."""
    srv = Server(CHAT_ROOM, "--max_backlog=%d" % (64 << 20))  # never dropped
    try:
        a = Guest(srv, rcvbuf=4096)
        b, c = Guest(srv), Guest(srv)
        notes = flood(b, c, rounds=128)  # 8 MB, far beyond A's buffers
        expect_eq(notes, [], "notes while flooding")
        chat_still_works(srv, b, c)
        a.sock.close()
    finally:
        srv.stop()


def test_guest_too_far_behind_is_dropped_and_the_room_told():
    srv = Server(CHAT_ROOM, "--max_backlog=%d" % (64 << 10))
    try:
        a = Guest(srv, rcvbuf=4096)
        b, c = Guest(srv), Guest(srv)
        note = a.name + b" was dropped: not reading"
        notes = flood(b, c, rounds=256, stop_at=note)  # at most 16 MB
        expect_eq(notes, [note], "notes heard by C")
        b.hear(note)
        chat_still_works(srv, b, c)
        # A's connection was closed: reading it through ends (bounded by its
        # socket timeout) without ever hearing the newcomer.
        while True:
            try:
                chunk = a.sock.recv(1 << 20)
            except ConnectionResetError:
                break
            if not chunk:
                break
            assert b"hi all" not in chunk
    finally:
        srv.stop()


def test_burst_of_connections_is_welcomed_promptly():
    srv = Server(CHAT_ROOM)
    try:
        t0 = time.monotonic()
        socks = [srv.connect() for _ in range(BURST)]
        names = set()
        for s in socks:
            line = LineReader(s).line()
            if line is None or not line.startswith(b"welcome, "):
                raise AssertionError("no welcome: %r" % line)
            names.add(line)
        elapsed = time.monotonic() - t0
        expect_eq(len(names), BURST, "distinct welcomes")
        if elapsed > BURST_BOUND:
            raise AssertionError("%d connections welcomed in %.1fs (bound %.0fs)"
                                 % (BURST, elapsed, BURST_BOUND))
        for s in socks:
            s.close()
    finally:
        srv.stop()


def signal_says_goodbye(sig):
    srv = Server(CHAT_ROOM)
    try:
        a, b = Guest(srv), Guest(srv)
        a.say(b"bye soon")
        b.hear(a.name + b": bye soon")  # the room is live before the signal
        out, _ = srv.stop(sig)
        for g in (a, b):
            g.hear(b"Shutdown Server")
            expect_eq(g.reader.line(), None, "end of stream after goodbye")
        assert "Shutdown Server......" in out, out
    finally:
        srv.kill()


def test_sigint_says_goodbye_and_exits_0():
    signal_says_goodbye(signal.SIGINT)


def test_sigterm_says_goodbye_and_exits_0():
    signal_says_goodbye(signal.SIGTERM)


def main():
    global CHAT_ROOM
    CHAT_ROOM = os.path.abspath(sys.argv[1])
    return run_tests(globals(), sys.argv[2] if len(sys.argv) > 2 else "")


if __name__ == "__main__":
    sys.exit(main())
