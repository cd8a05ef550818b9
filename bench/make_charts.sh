#!/usr/bin/env bash
# Copyright 2026 The spindle Authors.
#
# Regenerates the benchmark charts in docs/charts/ in one command: builds the
# benchmarks with --config=opt, runs each briefly with machine-readable
# output (Google Benchmark JSON; CSV from the Python runners) into a
# temporary folder, and draws the SVGs with bench/charts.py.
#
#   bench/make_charts.sh           all points (about 6 minutes on 2 cores,
#                                  once built)
#   bench/make_charts.sh --quick   fewer points, shorter runs (about 2)
#   bench/make_charts.sh --out=DIR write the SVGs to DIR (default docs/charts)
#   bench/make_charts.sh --data=DIR keep the measurements in DIR (default: a
#                                   temporary folder, removed at the end);
#                                   bench/charts.py redraws from them
#
# Needs matplotlib (Debian: apt-get install python3-matplotlib); the build
# and the tests do not. Run it on a quiet machine: the charts show absolute
# figures, which other load on the machine lowers unevenly.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

die() {
  printf 'make_charts: %s\n' "$*" >&2
  exit 1
}

quick=0
out=docs/charts
data=
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    --out=*) out="${arg#--out=}" ;;
    --data=*) data="${arg#--data=}" ;;
    -h | --help)
      sed -n '3,19p' "$0"
      exit 0
      ;;
    *) die "unknown argument: $arg (see --help)" ;;
  esac
done

# The first python3 with matplotlib: the one on PATH, else Debian's (a
# pyenv or virtualenv python3 first on PATH does not see Debian's packages).
chart_python=
for py in python3 /usr/bin/python3; do
  if "$py" -c 'import matplotlib' 2>/dev/null; then
    chart_python="$py"
    break
  fi
done
[ -n "$chart_python" ] ||
  die "needs matplotlib: apt-get install python3-matplotlib"

targets=(//bench:queue_bench //bench:thread_pool_bench //bench:echo_servers
  //bench:echo_load //examples:job_server //examples:job_client)
./bazelw build --config=opt "${targets[@]}"
bin="$(./bazelw info --config=opt bazel-bin 2>/dev/null)"

if [ -n "$data" ]; then
  mkdir -p "$data"
  tmp="$(cd "$data" && pwd)"
else
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
fi

if [ "$quick" = 1 ]; then
  queue_filter=cap1024 # The bounded half only.
  echo_secs=1
  job_secs=1
  depths=(1 8 64)
else
  queue_filter=.
  echo_secs=2
  job_secs=2
  depths=(1 4 16 64)
fi

load="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "make_charts: queue_bench" >&2
"$bin/bench/queue_bench" --benchmark_filter="$queue_filter" \
  --benchmark_out="$tmp/queue.json" --benchmark_out_format=json

echo "make_charts: thread_pool_bench" >&2
"$bin/bench/thread_pool_bench" \
  --benchmark_out="$tmp/pool.json" --benchmark_out_format=json

echo "make_charts: echo_bench.py" >&2
python3 bench/echo_bench.py "$bin/bench/echo_servers" "$bin/bench/echo_load" \
  "$echo_secs" --csv="$tmp/echo.csv"

job_csvs=()
for depth in "${depths[@]}"; do
  echo "make_charts: job_bench.py --depth=$depth" >&2
  python3 bench/job_bench.py "$bin/examples/job_server" \
    "$bin/examples/job_client" "$job_secs" --depth="$depth" \
    --csv="$tmp/job_depth$depth.csv"
  job_csvs+=("$tmp/job_depth$depth.csv")
done

command="bench/make_charts.sh${*:+ $*}"
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
"$chart_python" bench/charts.py --out="$out" \
  --command="$command (spindle $commit)" --load="$load" \
  --queue="$tmp/queue.json" --pool="$tmp/pool.json" --echo="$tmp/echo.csv" \
  --job="$(
    IFS=,
    echo "${job_csvs[*]}"
  )"
