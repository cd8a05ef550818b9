#!/usr/bin/env bash
# Installs what the CMake build needs (README "Building with CMake") from
# Debian's own packages: CMake, a C++20 compiler, Abseil and GoogleTest
# (the releases Bazel builds against), and Python 3 and nc for the
# integration tests. As root with apt-get it installs whatever is missing;
# otherwise it names what is missing and fails.
set -euo pipefail

packages=(cmake make g++ libabsl-dev libgtest-dev libgmock-dev python3
  netcat-openbsd)
missing=()
for pkg in "${packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install_cmake_deps: missing ${missing[*]}; as root:" \
    "apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "install_cmake_deps: installing ${missing[*]} with apt-get" >&2
apt-get update -qq >/dev/null ||
  echo "install_cmake_deps: apt-get update reported errors; installing anyway" >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
