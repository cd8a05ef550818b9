#!/usr/bin/env python3
# Copyright 2026 The spindle Authors.
"""The Python selectors echo server (as in the selectors module's docs and
the seeds), for bench/echo_bench.py. Prints "listening on 127.0.0.1:PORT"."""

import selectors
import socket
import sys

sel = selectors.DefaultSelector()


def accept(sock):
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sel.register(conn, selectors.EVENT_READ, read)


def read(conn):
    try:
        data = conn.recv(16384)
    except BlockingIOError:
        return
    except ConnectionError:
        data = b""
    if data:
        conn.sendall(data)  # Small messages: the socket buffer takes them.
    else:
        sel.unregister(conn)
        conn.close()


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    sock.setblocking(False)
    sel.register(sock, selectors.EVENT_READ, accept)
    print("listening on 127.0.0.1:%d" % sock.getsockname()[1], flush=True)
    while True:
        for key, _ in sel.select():
            key.data(key.fileobj)


if __name__ == "__main__":
    main()
