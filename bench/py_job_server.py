#!/usr/bin/env python3
# Copyright 2026 The spindle Authors.
"""The job server's protocol written the Python way, for bench/job_bench.py:
a selectors front end feeding a concurrent.futures.ThreadPoolExecutor, with
replies delivered back to the selector loop (a socketpair wake-up) in request
order per connection. Commands: ECHO, UPPER, PRIMES, SLEEP, QUIT.

Usage: py_job_server.py WORKERS  (prints "listening on 127.0.0.1:PORT")
"""

import collections
import selectors
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor


def count_primes(n):
    if n < 2:
        return 0
    composite = bytearray(n + 1)
    count = 0
    for i in range(2, n + 1):
        if not composite[i]:
            count += 1
            composite[i * i::i] = b"\x01" * len(range(i * i, n + 1, i))
    return count


def run_job(line):
    cmd, _, arg = line.partition(" ")
    cmd = cmd.upper()
    try:
        if cmd == "ECHO":
            return arg
        if cmd == "UPPER":
            return arg.upper()
        if cmd == "PRIMES":
            return str(count_primes(int(arg)))
        if cmd == "SLEEP":
            time.sleep(int(arg) / 1000)
            return "SLEPT " + arg
        if cmd == "QUIT":
            return "BYE"
        return "ERR unknown command"
    except Exception as e:  # pylint: disable=broad-except
        return "ERR " + str(e)


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.inbuf = b""
        self.out = bytearray()
        self.pending = collections.deque()  # futures, in request order


def main():
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    pool = ThreadPoolExecutor(max_workers=workers)
    sel = selectors.DefaultSelector()
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    flag = [False]
    ready = set()
    ready_lock = threading.Lock()

    def on_done(conn):
        def cb(_fut):
            with ready_lock:
                ready.add(conn)
                if flag[0]:
                    return
                flag[0] = True
            try:
                wake_w.send(b"x")
            except BlockingIOError:
                pass
        return cb

    def flush(conn):
        while conn.pending and conn.pending[0].done():
            conn.out += conn.pending.popleft().result().encode() + b"\n"
        if conn.out:
            try:
                n = conn.sock.send(conn.out)
                del conn.out[:n]
            except BlockingIOError:
                pass
            except OSError:
                close(conn)
                return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.out else 0)
        try:
            sel.modify(conn.sock, events, conn)
        except (KeyError, ValueError):
            pass

    def close(conn):
        try:
            sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()

    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1024)
    lsock.setblocking(False)
    sel.register(lsock, selectors.EVENT_READ, None)
    sel.register(wake_r, selectors.EVENT_READ, "wake")
    print("listening on 127.0.0.1:%d" % lsock.getsockname()[1], flush=True)
    while True:
        for key, mask in sel.select():
            if key.data is None:
                try:
                    s, _ = lsock.accept()
                except BlockingIOError:
                    continue
                s.setblocking(False)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                c = Conn(s)
                sel.register(s, selectors.EVENT_READ, c)
            elif key.data == "wake":
                try:
                    wake_r.recv(4096)
                except BlockingIOError:
                    pass
                with ready_lock:
                    conns = list(ready)
                    ready.clear()
                    flag[0] = False
                for c in conns:
                    if c.sock.fileno() >= 0:
                        flush(c)
            else:
                c = key.data
                if mask & selectors.EVENT_WRITE:
                    flush(c)
                if mask & selectors.EVENT_READ:
                    try:
                        data = c.sock.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        close(c)
                        continue
                    c.inbuf += data
                    *lines, c.inbuf = c.inbuf.split(b"\n")
                    for line in lines:
                        fut = pool.submit(run_job, line.decode(errors="replace").rstrip("\r"))
                        c.pending.append(fut)
                        fut.add_done_callback(on_done(c))


if __name__ == "__main__":
    main()
