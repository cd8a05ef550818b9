#!/usr/bin/env python3
# Copyright 2026 The spindle Authors.
"""LineService's cost, side by side, from one run: the job server built on
it against an earlier job_server binary (the hand-tuned one it replaced),
the Python job server, and - for the per-request CPU floor - the raw epoll
echo loop of bench/echo_servers.cc.

Two measurements, each interleaved over --runs rounds (every round runs
each server back to back, so load from elsewhere hits all alike):

  * ECHO throughput at 16 connections x depth 64 (pipelined, closed loop):
    req/s of each server, and the ratios new/old and new/python; and the
    server CPU time per request (less sensitive to a noisy machine than
    throughput, which also depends on how the client is scheduled).
  * 64 connections x depth 1 (ping-pong): server CPU time (user + system,
    /proc) per request of each server, and the ratio new/epoll. The epoll
    loop echoes the line back whole ("ECHO <text>"), so job_client counts
    its replies as mismatches; only its CPU per request is used.

All servers run with 4 workers where they have workers. Pin or load the
machine around this script as needed (e.g. `taskset -c 1 python3 ...`
pins the servers and clients alike; a 2-core machine is noisy, so compare
ratios from the same run, never absolute numbers across runs).

Usage: service_bench.py NEW_JOB_SERVER OLD_JOB_SERVER ECHO_SERVERS JOB_CLIENT
                        [--secs=3] [--runs=3]
"""

import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import job_bench  # noqa: E402


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    opts = dict(a[2:].split("=", 1) for a in sys.argv[1:]
                if a.startswith("--"))
    new, old, echo_servers, client = args[:4]
    secs = opts.get("secs", "3")
    runs = int(opts.get("runs", "3"))
    servers = {
        "new": [new, "--port=0", "--workers=4"],
        "old": [old, "--port=0", "--workers=4"],
        "python": [sys.executable, os.path.join(HERE, "py_job_server.py"),
                   "4"],
        "epoll": [echo_servers, "--impl=epoll"],
    }
    tput = {n: [] for n in ("new", "old", "python")}
    tcpu = {n: [] for n in ("new", "old", "python")}
    cpu = {n: [] for n in ("new", "old", "epoll")}
    for run in range(runs):
        for name in tput:
            r = job_bench.measure(servers[name], client, "ECHO:1", secs, 16,
                                  64)
            tput[name].append(r["rate"])
            tcpu[name].append(r["cpu_us"])
            print("run %d %-7s 16x64 ECHO: %9.0f req/s, %5.2f us CPU/req %s"
                  % (run + 1, name, r["rate"], r["cpu_us"],
                     "ok" if r["ok"] else "ERRORS"), flush=True)
        for name in cpu:
            r = job_bench.measure(servers[name], client, "ECHO:1", secs, 64,
                                  1)
            cpu[name].append(r["cpu_us"])
            print("run %d %-7s 64x1 ECHO: %6.2f us CPU/request (%9.0f req/s)"
                  % (run + 1, name, r["cpu_us"], r["rate"]), flush=True)
    med = statistics.median

    def ratios(a, b, d):
        return [x / y for x, y in zip(d[a], d[b])]

    print()
    print("| measure | new | old | python | epoll | ratio | per run |")
    print("|---|---|---|---|---|---|---|")
    for other in ("old", "python"):
        rs = ratios("new", other, tput)
        print("| 16x64 ECHO req/s | %.0f | %.0f | %.0f | - | new/%s %.2f |"
              " %s |" % (med(tput["new"]), med(tput["old"]),
                         med(tput["python"]), other, med(rs),
                         ", ".join("%.2f" % x for x in rs)))
    rs = ratios("new", "old", tcpu)
    print("| 16x64 CPU us/req | %.2f | %.2f | %.2f | - | new/old %.2f | %s |"
          % (med(tcpu["new"]), med(tcpu["old"]), med(tcpu["python"]),
             med(rs), ", ".join("%.2f" % x for x in rs)))
    for other in ("epoll", "old"):
        rs = ratios("new", other, cpu)
        print("| 64x1 CPU us/req | %.2f | %.2f | - | %.2f | new/%s %.2f |"
              " %s |" % (med(cpu["new"]), med(cpu["old"]), med(cpu["epoll"]),
                         other, med(rs), ", ".join("%.2f" % x for x in rs)))


if __name__ == "__main__":
    main()
