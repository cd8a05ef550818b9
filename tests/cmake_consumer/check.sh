#!/usr/bin/env bash
# Builds and runs the downstream CMake project in this folder against spindle:
#   check.sh PREFIX   find_package(spindle) from an install under PREFIX
#                     (cmake --install <build> --prefix PREFIX)
#   check.sh          FetchContent from this checkout (no network: its
#                     SOURCE_DIR is the checkout), the add_subdirectory route;
#                     only the queue_only program, so that the library is
#                     not compiled a second time in CI
# Each way configures, builds and runs the programs under ctest in a
# temporary folder, removed afterwards.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [ $# -ge 1 ]; then
  prefix="$(cd "$1" && pwd)"
  echo "cmake_consumer: find_package(spindle) from $prefix"
  args=(-DCMAKE_PREFIX_PATH="$prefix")
  target=all
  tests=.
else
  echo "cmake_consumer: FetchContent from $repo"
  args=(-DSPINDLE_SOURCE_DIR="$repo")
  target=queue_only
  tests="^queue_only\$"
fi
cmake -S "$here" -B "$work" "${args[@]}" >"$work.log" 2>&1 ||
  { cat "$work.log"; rm -f "$work.log"; exit 1; }
rm -f "$work.log"
cmake --build "$work" -j"$(nproc)" --target "$target"
ctest --test-dir "$work" --output-on-failure -R "$tests"
