#!/usr/bin/env python3
# Copyright 2026 The spindle Authors.
"""Job server benchmark: spindle's job_server vs the same service in Python
(bench/py_job_server.py: selectors front end + ThreadPoolExecutor).

For each mix (ECHO only; PRIMES only) and 1, 2 and 4 workers, runs
job_client against each server and reports throughput, p99 latency and
server CPU time per request (user + system, from /proc), and spindle's
throughput as a multiple of Python's, all from the same run.

Client settings (identical for both servers): CONNECTIONS connections, each
keeping DEPTH requests in flight (pipelined; a closed loop: every reply is
replaced by a new request at once), ECHO text of 32 bytes, PRIMES 10000.
16 x 64 = 1024 requests in flight, the job server's default queue size: a
busy job server with a few pipelining clients (a front end, a batch
submitter), enough work in flight that each server can batch what it
receives. The client is itself cheap per request (see
examples/job_client.cc) but shares the machine's cores with the server.

With --runs=N the whole matrix is measured N times, interleaved (each cell
runs spindle then Python back to back, so load from elsewhere hits both
alike); the table shows per cell the median of spindle's and Python's
figures, the median of the per-run throughput ratios, and the ratio's
spread (min-max over the runs).

With --csv=PATH every measurement is also written to PATH as CSV (one row
per run, mix, workers and server), for bench/charts.py.

Usage: job_bench.py JOB_SERVER JOB_CLIENT [seconds] [--runs=N]
                    [--connections=C] [--depth=D] [--csv=PATH]
"""

import csv
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CONNECTIONS = 16
DEPTH = 64
MIXES = ("ECHO:1", "PRIMES:1")
WORKERS = (1, 2, 4)


def start(cmd):
    """Starts `cmd` (possibly behind `taskset`, which execs it: the pid is
    the server's) and returns it and the port it announced."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    while True:
        line = proc.stdout.readline().decode()
        if not line:
            raise SystemExit("server did not start: %r" % cmd)
        m = re.search(r"listening on \S+:(\d+)", line)
        if m:
            return proc, int(m.group(1))


def cpu_seconds(pid):
    """User + system CPU time of every thread of `pid`."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_client(client, port, mix, secs, connections, depth, prefix=()):
    out = subprocess.run(
        list(prefix) + [client, "--port=%d" % port, "--connections=%d" % connections,
         "--depth=%d" % depth, "--duration=%ss" % secs, "--progress=false",
         "--mix=" + mix, "--primes_n=10000", "--echo_size=32"],
        capture_output=True, timeout=300).stdout.decode()
    rate = float(re.search(r"([\d.]+) req/s", out).group(1))
    p99 = float(re.search(r"p99 (\d+)us", out).group(1))
    replies = int(re.search(r"(\d+) replies", out).group(1))
    ok = "0 ERR replies, 0 wrong/out-of-order, 0 unanswered" in out
    return rate, p99, replies, ok


def measure(cmd, client, mix, secs, connections, depth, client_prefix=()):
    """Runs job_client (behind `client_prefix`, e.g. a taskset command)
    against a fresh server started by `cmd`."""
    proc, port = start(cmd)
    try:
        c0 = cpu_seconds(proc.pid)
        rate, p99, replies, ok = run_client(client, port, mix, secs,
                                            connections, depth, client_prefix)
        cpu = cpu_seconds(proc.pid) - c0
    finally:
        proc.kill()
        proc.wait()
    return {"rate": rate, "p99": p99, "ok": ok,
            "cpu_us": cpu * 1e6 / max(replies, 1)}


def write_csv(path, results, connections, depth):
    """Writes results {(mix, workers): {server: [measurement per run]}}."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["mix", "workers", "connections", "depth", "server", "run",
                    "req_per_s", "p99_us", "cpu_us_per_req", "ok"])
        for (mix, workers), cell in results.items():
            for name, runs in cell.items():
                for run, r in enumerate(runs, 1):
                    w.writerow([mix.split(":")[0], workers, connections, depth,
                                name, run, "%.1f" % r["rate"], "%.0f" % r["p99"],
                                "%.4f" % r["cpu_us"], int(r["ok"])])


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    opts = dict(a[2:].split("=", 1) for a in sys.argv[1:]
                if a.startswith("--"))
    server, client = args[0], args[1]
    secs = args[2] if len(args) > 2 else "3"
    runs = int(opts.get("runs", 1))
    connections = int(opts.get("connections", CONNECTIONS))
    depth = int(opts.get("depth", DEPTH))
    print("job_bench: %d connections x depth %d, %ss per measurement, "
          "%d run(s)" % (connections, depth, secs, runs), flush=True)
    results = {}  # (mix, workers) -> {"spindle": [...], "python": [...]}
    all_ok = True
    for run in range(runs):
        for mix in MIXES:
            for workers in WORKERS:
                cell = results.setdefault((mix, workers),
                                          {"spindle": [], "python": []})
                for name, cmd in (
                        ("spindle", [server, "--port=0",
                                     "--workers=%d" % workers]),
                        ("python", [sys.executable,
                                    os.path.join(HERE, "py_job_server.py"),
                                    str(workers)])):
                    r = measure(cmd, client, mix, secs, connections, depth)
                    cell[name].append(r)
                    all_ok = all_ok and r["ok"]
                    print("run %d %-8s %-9s workers=%d: %9.0f req/s  "
                          "p99 %8.0f us  %6.2f us CPU/req  %s" %
                          (run + 1, name, mix, workers, r["rate"], r["p99"],
                           r["cpu_us"], "ok" if r["ok"] else "ERRORS"),
                          flush=True)
    med = statistics.median
    print()
    print("| mix | workers | spindle req/s | spindle p99 | spindle CPU/req |"
          " python req/s | python p99 | python CPU/req | ratio (spread) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for mix in MIXES:
        for workers in WORKERS:
            cell = results[(mix, workers)]
            s, p = cell["spindle"], cell["python"]
            ratios = [a["rate"] / max(b["rate"], 1e-9) for a, b in zip(s, p)]
            spread = (" (%.1f-%.1f)" % (min(ratios), max(ratios))
                      if len(ratios) > 1 else "")
            print("| %s | %d | %.0f | %.2f ms | %.2f us | %.0f | %.2f ms |"
                  " %.2f us | %.1fx%s |" %
                  (mix.split(":")[0], workers,
                   med([r["rate"] for r in s]),
                   med([r["p99"] for r in s]) / 1e3,
                   med([r["cpu_us"] for r in s]),
                   med([r["rate"] for r in p]),
                   med([r["p99"] for r in p]) / 1e3,
                   med([r["cpu_us"] for r in p]),
                   med(ratios), spread))
    if "csv" in opts:
        write_csv(opts["csv"], results, connections, depth)
    if not all_ok:
        print("\nSOME RUNS HAD ERRORS (see above)")
        sys.exit(1)


if __name__ == "__main__":
    main()
