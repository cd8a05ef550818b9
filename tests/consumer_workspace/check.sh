#!/usr/bin/env bash
# Builds and runs the consumer workspace against this checkout of spindle.
# Uses the same Bazel and offline setup as ./bazelw.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BAZELW_SETUP_ONLY=1 "$here/../../bazelw"
bazel_bin="$(command -v bazelisk || command -v bazel)"
cd "$here"
"$bazel_bin" test --test_output=errors //...
"$bazel_bin" shutdown
