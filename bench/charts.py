#!/usr/bin/env python3
# Copyright 2026 The spindle Authors.
"""Draws the benchmark charts (SVG) from the benchmarks' machine-readable
output; bench/make_charts.sh runs the benchmarks and then this script.

Inputs (each optional; a chart whose input is missing is not drawn):
  --queue=FILE  //bench:queue_bench --benchmark_out=FILE (JSON)
  --pool=FILE   //bench:thread_pool_bench --benchmark_out=FILE (JSON)
  --echo=FILE   bench/echo_bench.py --csv=FILE
  --job=FILE,FILE,...  bench/job_bench.py --csv=FILE, one per --depth
Output: --out=DIR (queue.svg, thread_pool.svg, echo.svg, job_server.svg;
--format=png for a quick look in an image viewer).
--command=TEXT is the command named in each chart's footer, with the
machine (CPU count and model from /proc/cpuinfo), the date and --load (the
load average before the run, if given).

Needs matplotlib (Debian: apt-get install python3-matplotlib); nothing in
the build or the tests does. The SVGs carry no timestamp and fixed ids, so
regenerated charts differ only where the numbers do.
"""

import argparse
import csv
import datetime
import json
import os
import statistics

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt  # noqa: E402

matplotlib.rcParams.update({
    "svg.hashsalt": "spindle-charts",  # Fixed ids: deterministic output.
    "svg.fonttype": "none",  # Text as text: small files, readable diffs.
    "font.size": 9,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.alpha": 0.3,
})

# One colour per contestant, the same in every chart: spindle in blues.
COLORS = {
    "spindle": "#1f4e9c", "spindle_many": "#3b7dd8", "spindle_batch": "#8fb8f0",
    "std": "#7f7f7f", "tbb": "#d62728", "moody": "#2ca02c",
    "moody_bulk": "#74c476", "moody_batch": "#c7e9c0",
    "asio": "#ff7f0e", "thread_pool": "#9467bd", "epoll": "#17becf",
    "libevent": "#8c564b", "python": "#e6ab02",
}


def machine():
    """'2 x Intel(R) Xeon(R) ...' from nproc and /proc/cpuinfo."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = " ".join(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    return "%d x %s" % (os.cpu_count() or 0, model)


class Output:
    """Where the charts go and what each one's footer says."""

    def __init__(self, args):
        self.dir, self.fmt = args.out, args.format
        where = machine()
        if args.load:
            where += ", load average %s before the run" % args.load
        self.footer = "%s, %s\n%s" % (where, args.date, args.command)

    def save(self, fig, name):
        fig.text(0.01, 0.005, self.footer, fontsize=7, color="#555555",
                 ha="left", va="bottom", family="monospace")
        fig.tight_layout(rect=(0, 0.07, 1, 1))
        path = os.path.join(self.dir, name + "." + self.fmt)
        if self.fmt == "svg":
            fig.savefig(path, metadata={"Date": None})  # No timestamp.
        else:
            fig.savefig(path, dpi=100)
        plt.close(fig)
        print("wrote " + path)


def grouped_bars(ax, groups, series, value, unit):
    """Bars for each series (name, label) within each group; value(group,
    name) is the height or None (no bar)."""
    width = 0.8 / max(1, len(series))
    for i, (name, label) in enumerate(series):
        xs, ys = [], []
        for g, group in enumerate(groups):
            v = value(group, name)
            if v is not None:
                xs.append(g - 0.4 + width * (i + 0.5))
                ys.append(v)
        if xs:
            ax.bar(xs, ys, width, label=label, color=COLORS.get(name))
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    ax.set_ylabel(unit)


def medians(path):
    """Google Benchmark JSON -> [(run_name, median aggregate record)]."""
    with open(path) as f:
        data = json.load(f)
    return [(b["run_name"], b) for b in data["benchmarks"]
            if b.get("aggregate_name", "median") == "median"
            and b.get("run_type") in (None, "aggregate", "iteration")]


def queue_chart(path, out):
    # run_name: Handoff/<n>P<n>C/<cap1024|unbounded>/<impl>/...
    rate = {}
    for run_name, b in medians(path):
        parts = run_name.split("/")
        rate[(parts[2], parts[1], parts[3])] = b["items_per_second"] / 1e6
    configs = sorted({k[1] for k in rate}, key=lambda c: int(c.split("P")[0]))
    series = [("spindle", "spindle Queue"),
              ("spindle_many", "spindle GetMany"),
              ("spindle_batch", "spindle PutMany+GetMany"),
              ("std", "std mutex+condvar+deque"),
              ("tbb", "oneTBB concurrent_bounded_queue"),
              ("moody", "moodycamel"),
              ("moody_bulk", "moodycamel bulk get"),
              ("moody_batch", "moodycamel bulk put+get")]
    caps = [c for c in ("cap1024", "unbounded") if any(k[0] == c for k in rate)]
    # "2P2C" -> "2 x 2"
    label = {c: c.replace("P", " x ").replace("C", "") for c in configs}
    config_of = {v: k for k, v in label.items()}
    fig, axes = plt.subplots(1, len(caps), figsize=(11, 4.6), squeeze=False)
    for ax, cap in zip(axes[0], caps):
        grouped_bars(ax, [label[c] for c in configs], series,
                     lambda g, n, cap=cap: rate.get((cap, config_of[g], n)),
                     "items handed off per second (millions, median)")
        ax.set_title("capacity 1024" if cap == "cap1024" else "unbounded")
        ax.set_xlabel("producers x consumers (threads)")
    axes[0][0].legend(fontsize=7, ncol=2)
    fig.suptitle("Queue hand-off throughput: spindle vs std, oneTBB, "
                 "moodycamel (//bench:queue_bench)")
    out.save(fig, "queue")


def pool_chart(path, out):
    by_fn = {name.split("/")[0]: b for name, b in medians(path)}

    def get(fn, key, scale=1.0):
        b = by_fn.get(fn)
        return b[key] * scale if b and key in b else None

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6))
    throughput = [
        ("Submit + Result", [
            ("spindle", "BM_Spindle_SubmitResult", "spindle\nSubmit"),
            ("asio", "BM_Asio_PackagedTask", "asio +\npackaged_task"),
            ("thread_pool", "BM_ThreadPoolPeer_Submit",
             "libthread-pool\nSubmit")]),
        ("no future", [
            ("spindle", "BM_Spindle_Execute", "spindle\nExecute"),
            ("tbb", "BM_Tbb_TaskGroup", "oneTBB\ntask_group")]),
    ]
    x = 0
    ticks, labels = [], []
    for g, (group, members) in enumerate(throughput):
        if g > 0:
            left.axvline(x - 0.5, color="#999999", lw=0.8)
        left.text(x + (len(members) - 1) / 2, 0.97, group, ha="center",
                  va="top", transform=left.get_xaxis_transform())
        for color, fn, label in members:
            v = get(fn, "items_per_second", 1e-6)
            if v is not None:
                left.bar(x, v, 0.8, color=COLORS[color])
                left.text(x, v, "%.2f" % v, ha="center", va="bottom",
                          fontsize=7)
            ticks.append(x)
            labels.append(label)
            x += 1
    left.set_ylim(top=left.get_ylim()[1] * 1.12)  # Room for the groups' names.
    left.set_xticks(ticks)
    left.set_xticklabels(labels, fontsize=7)
    left.set_ylabel("tiny tasks per second (millions, median)")
    left.set_title("throughput, 2 workers")
    latency = [("spindle", "BM_Spindle_SubmitLatency", "spindle"),
               ("asio", "BM_Asio_SubmitLatency", "asio"),
               ("thread_pool", "BM_ThreadPoolPeer_SubmitLatency",
                "libthread-pool")]
    grouped_bars(right, ["p50", "p99"],
                 [(c, label) for c, _, label in latency],
                 lambda g, n: get({c: fn for c, fn, _ in latency}[n],
                                  g + "_us"),
                 "submit-to-start latency (us, parked workers)")
    right.set_title("submit-to-start latency")
    right.legend(fontsize=7)
    fig.suptitle("ThreadPoolExecutor vs asio, libthread-pool, oneTBB "
                 "(//bench:thread_pool_bench)")
    out.save(fig, "thread_pool")


def read_csv(paths):
    rows = []
    for path in paths:
        with open(path, newline="") as f:
            rows.extend(csv.DictReader(f))
    return rows


def echo_chart(path, out):
    rows = read_csv([path])
    conns = sorted({int(r["connections"]) for r in rows})
    servers = []
    for r in rows:
        if r["server"] not in servers:
            servers.append(r["server"])
    cell = {(r["server"], int(r["connections"])): r for r in rows}
    labels = {"epoll": "raw epoll", "spindle": "spindle EventLoop",
              "asio": "asio", "libevent": "libevent",
              "python": "Python selectors"}
    series = [(s, labels.get(s, s)) for s in servers]
    groups = [str(c) for c in conns]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6))

    def value(key):
        return lambda g, n: (float(cell[(n, int(g))][key])
                             if (n, int(g)) in cell else None)

    grouped_bars(left, groups, series, value("cpu_us_per_msg"),
                 "server CPU per message (us, user + system)")
    left.set_title("server CPU per message (lower is better)")
    grouped_bars(right, groups, series, lambda g, n: (
        None if value("msg_per_s")(g, n) is None
        else value("msg_per_s")(g, n) / 1e3), "messages per second (thousands)")
    right.set_title("throughput")
    for ax in (left, right):
        ax.set_xlabel("connections (one 64-byte message in flight each)")
    left.legend(fontsize=7)
    fig.suptitle("Echo servers: spindle vs raw epoll, asio, libevent, Python "
                 "(bench/echo_bench.py)")
    out.save(fig, "echo")


def job_chart(paths, out):
    rows = read_csv(paths)
    # Median over runs of each (mix, workers, depth, server).
    cells = {}
    for r in rows:
        key = (r["mix"], int(r["workers"]), int(r["depth"]), r["server"])
        cells.setdefault(key, []).append(r)
    med = {k: (statistics.median(float(r["req_per_s"]) for r in v),
               statistics.median(float(r["p99_us"]) for r in v))
           for k, v in cells.items()}
    mixes = sorted({k[0] for k in med})
    depths = sorted({k[2] for k in med})
    workers = sorted({k[1] for k in med})
    conns = sorted({int(r["connections"]) for r in rows})
    fig, axes = plt.subplots(2, len(mixes), figsize=(11, 7.5), squeeze=False)
    shades = ["#9ecae1", "#4292c6", "#08306b"]
    py_shades = ["#fdd49e", "#fc8d59", "#b30000"]
    for col, mix in enumerate(mixes):
        for row, (index, unit) in enumerate(
                ((0, "requests per second (log)"),
                 (1, "p99 latency (ms, log)"))):
            ax = axes[row][col]
            for server, palette, style in (("spindle", shades, "-"),
                                           ("python", py_shades, "--")):
                for i, w in enumerate(workers):
                    pts = [(d, med[(mix, w, d, server)][index])
                           for d in depths if (mix, w, d, server) in med]
                    if not pts:
                        continue
                    ys = [y / 1e3 if index == 1 else y for _, y in pts]
                    ax.plot([d for d, _ in pts], ys, style, marker="o",
                            ms=3, color=palette[i % len(palette)],
                            label="%s, %d worker%s" % (
                                "spindle job_server" if server == "spindle"
                                else "Python job server", w,
                                "" if w == 1 else "s"))
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks(depths)
            ax.set_xticklabels([str(d) for d in depths])
            ax.set_ylabel(unit)
            ax.set_xlabel("pipelining depth (requests in flight per "
                          "connection, %s connections)" %
                          "/".join(str(c) for c in conns))
            ax.set_title("%s: %s" % (mix, "throughput" if index == 0
                                     else "p99 latency"))
    axes[0][0].legend(fontsize=7, ncol=2)
    fig.suptitle("Job server: spindle vs the Python job server (selectors + "
                 "ThreadPoolExecutor), by pipelining depth "
                 "(bench/job_bench.py)")
    out.save(fig, "job_server")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--queue")
    p.add_argument("--pool")
    p.add_argument("--echo")
    p.add_argument("--job", help="comma-separated CSV files")
    p.add_argument("--out", default="docs/charts")
    p.add_argument("--format", default="svg", choices=("svg", "png"))
    p.add_argument("--command", default="bench/make_charts.sh")
    p.add_argument("--date", default=datetime.datetime.now(
        datetime.timezone.utc).strftime("%Y-%m-%d"))
    p.add_argument("--load", help="load average before the run, for the "
                   "footer (bench/make_charts.sh passes /proc/loadavg)")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    out = Output(a)
    if a.queue:
        queue_chart(a.queue, out)
    if a.pool:
        pool_chart(a.pool, out)
    if a.echo:
        echo_chart(a.echo, out)
    if a.job:
        job_chart(a.job.split(","), out)


if __name__ == "__main__":
    main()
