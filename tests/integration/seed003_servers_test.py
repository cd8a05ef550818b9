#!/usr/bin/env python3
# Copyright 2026 The spindle Authors.
"""Integration tests for //examples:blocking_server and
//examples:selector_server, the two servers of seed 003.

Each server is answered by the seed's own client program (copied from the
tutorial into seed003_*_client.py, only the address passing changed), fed
its input on stdin as a user would type it; the client's output must be
exactly what it prints against the seed's Python servers. Plain sockets then
check what the clients cannot see: the `close` command with and without a
line end, several clients at once, and a clean exit (status 0) on SIGINT and
SIGTERM with clients still connected. Every wait is bounded
(example_server.BOUND).

Usage: seed003_servers_test.py BLOCKING_SERVER SELECTOR_SERVER
           BLOCKING_CLIENT_PY SELECTOR_CLIENT_PY [test-name-substring]
"""

import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_server import BOUND, Server, expect_eq, run_tests  # pylint: disable=g-import-not-at-top

BLOCKING_SERVER = SELECTOR_SERVER = None
BLOCKING_CLIENT = SELECTOR_CLIENT = None

WELCOME = "欢迎连接到服务器!"
RECEIVED = "服务器收到消息:"
PROMPT = "客户端发送数据:"  # the selector client's input() prompt


def run_client(client, port, typed):
    """Runs a seed client against 127.0.0.1:port with `typed` as its stdin;
    returns its stdout. It must exit 0 within BOUND."""
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    try:
        done = subprocess.run(
            [sys.executable, client, "127.0.0.1", str(port)],
            input=typed.encode(), capture_output=True, timeout=BOUND, env=env)
    except subprocess.TimeoutExpired:
        raise AssertionError("client did not finish within %.0fs" % BOUND)
    if done.returncode != 0:
        raise AssertionError("client exit %d: %s" %
                             (done.returncode, done.stderr.decode()[-2000:]))
    return done.stdout.decode()


def recv_exactly(sock, text):
    """Reads len(text) bytes (bounded by the socket timeout); must be it."""
    want = text.encode()
    got = b""
    while len(got) < len(want):
        chunk = sock.recv(len(want) - len(got))
        if not chunk:
            break
        got += chunk
    expect_eq(got.decode(errors="replace"), text, "reply")


def expect_end_of_stream(sock):
    try:
        expect_eq(sock.recv(1024), b"", "end of stream")
    except ConnectionResetError:
        pass


# --- the seed's clients -------------------------------------------------------


def test_blocking_client_talks_to_blocking_server():
    srv = Server(BLOCKING_SERVER)
    try:
        out = run_client(BLOCKING_CLIENT, srv.port, "hello\n你好\nclose\nend\n")
        expect_eq(out,
                  "已连接到服务器, 服务器消息:%s\n" % WELCOME +
                  "%shello\n%s你好\n%sclose\n" % (RECEIVED, RECEIVED, RECEIVED),
                  "client output")
    finally:
        log, _ = srv.stop()
    for line in ("服务器已启动,等待客户端连接...", "客户端消息:hello",
                 "客户端消息:你好", "客户端消息:close"):
        assert line in log.splitlines(), (line, log)


def test_selector_client_talks_to_selector_server():
    srv = Server(SELECTOR_SERVER)
    try:
        out = run_client(SELECTOR_CLIENT, srv.port, "hello\n你好\nend\n")
        expect_eq(out,
                  "%s%shello\n%s%s你好\n%s" %
                  (PROMPT, RECEIVED, PROMPT, RECEIVED, PROMPT),
                  "client output")
    finally:
        log, _ = srv.stop()
    for line in ("创建事件循环", "客户端消息:hello", "客户端消息:你好"):
        assert line in log.splitlines(), (line, log)


def test_selector_client_close_ends_the_connection():
    """After `close` the selector server hangs up without a reply: the
    client's recv() returns nothing and it prints an empty line."""
    srv = Server(SELECTOR_SERVER)
    try:
        out = run_client(SELECTOR_CLIENT, srv.port, "hello\nclose\nend\n")
        expect_eq(out, "%s%shello\n%s\n%s" % (PROMPT, RECEIVED, PROMPT, PROMPT),
                  "client output")
    finally:
        srv.stop()


# --- what the clients cannot see ----------------------------------------------


def test_blocking_close_replies_then_hangs_up():
    srv = Server(BLOCKING_SERVER)
    try:
        for command in ("close", "close\n", "close\r\n"):
            s = srv.connect()
            recv_exactly(s, WELCOME)
            s.sendall(command.encode())
            recv_exactly(s, RECEIVED + command)
            expect_end_of_stream(s)
            s.close()
    finally:
        srv.stop()


def test_selector_close_hangs_up_without_reply():
    srv = Server(SELECTOR_SERVER)
    try:
        for command in ("close", "close\n", "close\r\n"):
            s = srv.connect()
            s.sendall(b"hi")
            recv_exactly(s, RECEIVED + "hi")
            s.sendall(command.encode())
            expect_end_of_stream(s)
            s.close()
    finally:
        srv.stop()


def test_blocking_server_serves_clients_at_once():
    """The seed serves one client; the port gives each its own thread, so a
    second client is answered while the first stays connected and silent."""
    srv = Server(BLOCKING_SERVER)
    try:
        first, second = srv.connect(), srv.connect()
        recv_exactly(first, WELCOME)
        recv_exactly(second, WELCOME)
        second.sendall("第二".encode())
        recv_exactly(second, RECEIVED + "第二")
        first.sendall(b"first")
        recv_exactly(first, RECEIVED + "first")
        first.close()
        second.close()
    finally:
        srv.stop()


def test_selector_server_serves_clients_at_once():
    srv = Server(SELECTOR_SERVER)
    try:
        first, second = srv.connect(), srv.connect()
        second.sendall(b"second")
        recv_exactly(second, RECEIVED + "second")
        first.sendall(b"first")
        recv_exactly(first, RECEIVED + "first")
        first.close()
        second.close()
    finally:
        srv.stop()


def signal_stops_with_clients_connected(binary, sig, greeting):
    srv = Server(binary)
    try:
        a, b = srv.connect(), srv.connect()
        for s in (a, b):
            if greeting:
                recv_exactly(s, greeting)
            s.sendall(b"ping")  # each connection is being served
            recv_exactly(s, RECEIVED + "ping")
        srv.stop(sig)  # exit status 0 within BOUND, no sanitizer report
        for s in (a, b):
            expect_end_of_stream(s)
    finally:
        srv.kill()


def test_blocking_server_sigint_exits_0():
    signal_stops_with_clients_connected(BLOCKING_SERVER, signal.SIGINT,
                                        WELCOME)


def test_blocking_server_sigterm_exits_0():
    signal_stops_with_clients_connected(BLOCKING_SERVER, signal.SIGTERM,
                                        WELCOME)


def test_selector_server_sigint_exits_0():
    signal_stops_with_clients_connected(SELECTOR_SERVER, signal.SIGINT, None)


def test_selector_server_sigterm_exits_0():
    signal_stops_with_clients_connected(SELECTOR_SERVER, signal.SIGTERM, None)


def test_signal_before_any_client_exits_0():
    for binary in (BLOCKING_SERVER, SELECTOR_SERVER):
        Server(binary).stop(signal.SIGINT)


def main():
    global BLOCKING_SERVER, SELECTOR_SERVER, BLOCKING_CLIENT, SELECTOR_CLIENT
    BLOCKING_SERVER, SELECTOR_SERVER, BLOCKING_CLIENT, SELECTOR_CLIENT = (
        os.path.abspath(p) for p in sys.argv[1:5])
    return run_tests(globals(), sys.argv[5] if len(sys.argv) > 5 else "")


if __name__ == "__main__":
    sys.exit(main())
