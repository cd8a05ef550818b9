#!/usr/bin/env python3
# Copyright 2026 The spindle Authors.
"""Echo benchmark runner: server CPU time per message and throughput.

Starts each echo server (bench/echo_servers.cc --impl=..., and the Python
selectors server), drives it with bench/echo_load at 1, 64 and 1000
connections (ping-pong, one 64-byte message in flight per connection), and
reads the server's CPU time (user+system, /proc/PID/stat) around the run.
Reports ratios against the raw epoll loop, all from one run.

Usage: echo_bench.py ECHO_SERVERS ECHO_LOAD [seconds] [--csv=PATH]

--csv=PATH also writes the measurements to PATH as CSV (one row per server
and connection count), for bench/charts.py.
"""

import csv
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(cmd):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    line = proc.stdout.readline().decode()
    m = re.search(r"listening on \S+:(\d+)", line)
    if not m:
        proc.kill()
        raise SystemExit("server did not start: %r" % cmd)
    return proc, int(m.group(1))


def pop_csv_option():
    """Removes --csv=PATH from sys.argv; returns PATH (None if absent)."""
    paths = [a[len("--csv="):] for a in sys.argv if a.startswith("--csv=")]
    sys.argv[:] = [a for a in sys.argv if not a.startswith("--csv=")]
    return paths[-1] if paths else None


def write_csv(path, results):
    """Writes results {(server, connections): (msg/s, CPU us/msg)}."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["server", "connections", "msg_per_s", "cpu_us_per_msg"])
        for (name, conns), (rate, cpu) in results.items():
            w.writerow([name, conns, "%.1f" % rate, "%.4f" % cpu])


def main():
    csv_path = pop_csv_option()
    servers, load = sys.argv[1], sys.argv[2]
    secs = sys.argv[3] if len(sys.argv) > 3 else "3"
    impls = [("epoll", [servers, "--impl=epoll"]),
             ("spindle", [servers, "--impl=spindle"]),
             ("asio", [servers, "--impl=asio"]),
             ("libevent", [servers, "--impl=libevent"]),
             ("python", [sys.executable, os.path.join(HERE, "py_echo_server.py")])]
    results = {}
    for conns in (1, 64, 1000):
        for name, cmd in impls:
            proc, port = start(cmd)
            try:
                c0 = cpu_seconds(proc.pid)
                out = subprocess.run(
                    [load, "--port=%d" % port, "--connections=%d" % conns,
                     "--duration=%ss" % secs],
                    capture_output=True, timeout=120).stdout.decode()
                cpu = cpu_seconds(proc.pid) - c0
            finally:
                proc.kill()
                proc.wait()
            m = re.search(r"messages=(\d+) seconds=([\d.]+)", out)
            msgs, wall = int(m.group(1)), float(m.group(2))
            results[(name, conns)] = (msgs / wall, cpu * 1e6 / max(msgs, 1))
            print("%-8s %5d conns: %9.0f msg/s  %6.2f us CPU/msg" %
                  ((name, conns) + results[(name, conns)]), flush=True)
    print()
    print("| connections | server | msg/s | CPU us/msg | CPU/msg vs epoll |"
          " msg/s vs epoll |")
    print("|---|---|---|---|---|---|")
    for conns in (1, 64, 1000):
        base_rate, base_cpu = results[("epoll", conns)]
        for name, _ in impls:
            rate, cpu = results[(name, conns)]
            print("| %d | %s | %.0f | %.2f | %.2fx | %.2fx |" %
                  (conns, name, rate, cpu, cpu / base_cpu, rate / base_rate))
    if csv_path:
        write_csv(csv_path, results)


if __name__ == "__main__":
    main()
