#!/usr/bin/env python3
# Copyright 2026 The spindle Authors.
"""LineService's per-request cost against the floor, side by side, from one
run: the job server built on it (NEW), an earlier job_server binary (OLD:
e.g. the build before a change, kept with `cp`), the raw epoll echo loop of
bench/echo_servers.cc (the floor: one thread, no framing, no hand-off) and,
with --python, the Python job server (bench/py_job_server.py), and with
--handoff=BIN the floor of a hand-off (bench/handoff_echo.cc: the raw loop
handing what it reads to one worker thread and sending what comes back).

Every server is driven by job_client with ECHO requests of 32 bytes at each
shape CONNECTIONSxDEPTH of --shapes (pipelined, closed loop: every reply is
replaced by a new request at once); default 32x8, 16x64 and 64x1 (ping-pong).
Reported per server and shape: throughput, and the server's CPU time (user +
system of all its threads, from /proc) per request, and that CPU time as a
multiple of the epoll loop's from the same round. The epoll loop echoes the
line back whole ("ECHO <text>"), so job_client counts its replies as
mismatches; only its CPU per request and rate are used.

With --pin=S:C (default 0:1) every server runs on CPU S alone (`taskset -c
S`, its loop and worker threads alike) and the client on CPU C, so the
server's CPU per request is not blurred by the client's; --pin= runs both
unpinned. Rounds are interleaved over --runs (every round runs each server
back to back at each shape, so load from elsewhere hits all alike); the
tables show medians, and the per-round ratios. On a small noisy machine
compare ratios from the same run, never absolute numbers across runs.

NEW and OLD run with --workers (default 4).

Usage: service_bench.py NEW OLD ECHO_SERVERS JOB_CLIENT [--secs=3]
                        [--runs=3] [--pin=0:1] [--shapes=32x8,16x64,64x1]
                        [--workers=4] [--python] [--handoff=BIN]
       (OLD may be "-": none)
"""

import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import job_bench  # noqa: E402


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    opts = dict((a[2:].split("=", 1) + [""])[:2] for a in sys.argv[1:]
                if a.startswith("--"))
    new, old, echo_servers, client = args[:4]
    secs = opts.get("secs", "3")
    runs = int(opts.get("runs", "3"))
    workers = "--workers=%s" % opts.get("workers", "4")
    pin = opts.get("pin", "0:1")
    server_prefix, client_prefix = [], []
    if pin:
        server_cpu, client_cpu = pin.split(":")
        server_prefix = ["taskset", "-c", server_cpu]
        client_prefix = ["taskset", "-c", client_cpu]
    shapes = [tuple(int(x) for x in s.split("x"))
              for s in opts.get("shapes", "32x8,16x64,64x1").split(",")]
    servers = {"epoll": [echo_servers, "--impl=epoll"],
               "new": [new, "--port=0", workers]}
    if old != "-":
        servers["old"] = [old, "--port=0", workers]
    if opts.get("handoff"):
        servers["handoff"] = [opts["handoff"], "--reply=loop"]
    if "python" in opts:
        servers["python"] = [sys.executable,
                             os.path.join(HERE, "py_job_server.py"),
                             opts.get("workers", "4")]
    print("service_bench: %d core(s), pin %s, %ss per measurement, %d "
          "round(s), load average %s" %
          (os.cpu_count(), pin or "none", secs, runs,
           " ".join("%.2f" % x for x in os.getloadavg())), flush=True)
    # (shape, server) -> list of {"rate", "cpu_us", ...}, one per round.
    results = {}
    all_ok = True
    for run in range(runs):
        for conns, depth in shapes:
            for name, cmd in servers.items():
                r = job_bench.measure(server_prefix + cmd, client, "ECHO:1",
                                      secs, conns, depth, client_prefix)
                results.setdefault(((conns, depth), name), []).append(r)
                if name not in ("epoll", "handoff"):
                    all_ok = all_ok and r["ok"]
                print("round %d %dx%d %-7s %9.0f req/s  %6.3f us CPU/req %s" %
                      (run + 1, conns, depth, name, r["rate"], r["cpu_us"],
                       "" if name in ("epoll", "handoff") else
                       ("ok" if r["ok"] else "ERRORS")), flush=True)
    print("load average after: %s" %
          " ".join("%.2f" % x for x in os.getloadavg()))
    med = statistics.median
    print()
    print("| shape | server | req/s | server CPU ns/req | CPU/req vs epoll |"
          " per round |")
    print("|---|---|---|---|---|---|")
    for shape in shapes:
        base = results[(shape, "epoll")]
        for name in servers:
            rs = results[(shape, name)]
            ratios = [a["cpu_us"] / max(b["cpu_us"], 1e-9)
                      for a, b in zip(rs, base)]
            print("| %dx%d | %s | %.0f | %.0f | %.2fx | %s |" %
                  (shape[0], shape[1], name, med([r["rate"] for r in rs]),
                   1e3 * med([r["cpu_us"] for r in rs]), med(ratios),
                   ", ".join("%.2f" % x for x in ratios)))
    if not all_ok:
        print("\nSOME RUNS HAD ERRORS (see above)")
        sys.exit(1)


if __name__ == "__main__":
    main()
