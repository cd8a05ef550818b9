#!/usr/bin/env bash
# CI step: the stress tests of the lock-free and spinning paths under
# ThreadSanitizer with schedule perturbation (--config=perturb: random yields
# and short sleeps at the hand-off points of the queues, the future state
# machine, the pool's worker parking, the event loop's wake-up, the
# request lanes and the process queue; see
# concurrency/internal/perturb.h), each test run several times, every run
# with a fresh seed.
#
#   .ci/perturb_stress.sh                          the CI step
#   PERTURB_RUNS=20 .ci/perturb_stress.sh          more runs per test
#   SPINDLE_PERTURB_ODDS=1 .ci/perturb_stress.sh   perturb at every point
#   SPINDLE_PERTURB_SEED=N .ci/perturb_stress.sh --test_filter=...
#                                                  replay a failed run's seed
# Extra arguments go to `bazel test`. Prints its own wall time; the exit
# status is Bazel's (non-zero when a test failed). Called from .ci/run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

runs="${PERTURB_RUNS:-4}"
tests=(
  //tests/concurrency:queue_stress_test
  //tests/concurrency:queue_test
  //tests/concurrency:future_test
  //tests/concurrency:future_chain_test
  //tests/concurrency:wait_test
  //tests/concurrency:thread_pool_test
  //tests/concurrency:thread_pool_composition_test
  //tests/concurrency:thread_pool_inbox_test
  //tests/io:event_loop_test
  //tests/io:request_lanes_test
  //tests/process:process_queue_test
  //tests/process:process_pool_test
)

t0=$(date +%s)
echo "=== perturb: ${#tests[@]} tests x $runs runs under --config=tsan --config=perturb"
set +e
# --config=tsan spelled out: ./bazelw installs clang when it sees it.
./bazelw test --config=tsan --config=perturb --runs_per_test="$runs" \
  --nocache_test_results "$@" "${tests[@]}"
rc=$?
set -e
if [ "$rc" != 0 ]; then
  # Each run's log starts with its seed; name the failed runs' seeds.
  testlogs="$(./bazelw info --config=tsan --config=perturb bazel-testlogs 2>/dev/null || true)"
  if [ -n "$testlogs" ] && [ -d "$testlogs" ]; then
    for t in "${tests[@]}"; do
      dir="$testlogs/${t#//}"
      dir="${dir/://}"
      logs=("$dir/test.log")
      [ "$runs" -gt 1 ] && logs=("$dir"/run_*_of_"$runs"/test.log)
      for log in "${logs[@]}"; do
        [ -f "$log" ] || continue
        # A run that passed ends with gtest's "[  PASSED  ]" and no failure.
        if ! grep -q '^\[  PASSED  \]' "$log" || grep -q '^\[  FAILED  \]' "$log"; then
          echo "=== perturb: failed run ${log#"$testlogs"/}: $(grep -m1 'perturbation seed' "$log" || echo 'no seed line')"
        fi
      done
    done
  fi
fi
echo "=== perturb: took $(($(date +%s) - t0)) s (exit $rc)"
exit "$rc"
