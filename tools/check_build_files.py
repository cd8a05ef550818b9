#!/usr/bin/env python3
"""Fails when Bazel's BUILD files and CMake's CMakeLists.txt disagree.

spindle has two builds: Bazel (primary) and CMake (README "Building with
CMake"). Each package's CMakeLists.txt lists the same targets and files as
its BUILD file. This check reads both and prints, then fails on:

  * a .cc/.h file named by one build and not the other;
  * a .cc/.h file on disk that neither build names;
  * a file named by a build that does not exist;
  * a library or test target defined by one build and not the other.

Some parts are one build's alone, listed below (BAZEL_ONLY, CMAKE_ONLY).

Usage: tools/check_build_files.py [REPO_ROOT]   (python3, standard library)

BUILD files are Starlark, close enough to Python to be executed with stub
rules that record srcs/hdrs (select() contributes every branch); CMake files
are read for the spindle_* calls of cmake/SpindleHelpers.cmake and
add_executable/add_library.
"""

import os
import re
import subprocess
import sys

SOURCE_SUFFIXES = (".cc", ".h")

# Folders (relative to the root) only one build knows, with the reason.
BAZEL_ONLY = {
    "bazel": "Bazel macros and the TSan suppression hook (no sanitizers "
             "in the CMake build)",
    "bench": "benchmarks need Google Benchmark and the peer libraries",
    "tests/consumer_workspace": "the Bazel downstream-workspace check",
}
CMAKE_ONLY = {
    "tests/cmake_consumer": "the CMake downstream-project check",
}
# Folders never looked at.
SKIP_DIRS = {".git", ".offline", "build"}

# Bazel rule names whose targets CMake mirrors, by kind.
LIBRARY_RULES = ("cc_library", "spindle_cc_library")
TEST_RULES = ("cc_test", "sh_test", "spindle_cc_test", "spindle_fuzz_test")
BINARY_RULES = ("cc_binary", "spindle_cc_binary")
# Rules that name no C++ sources.
IGNORED_RULES = ("filegroup", "genrule", "alias", "test_suite", "sh_binary",
                 "sh_library", "py_binary", "py_library", "py_test")


def under(path, folders):
    return any(path == f or path.startswith(f + "/") for f in folders)


class Build:
    """What one build names: files and targets, each with where it came from."""

    def __init__(self, name):
        self.name = name
        self.files = {}  # path -> the build file naming it
        self.targets = {}  # (kind, name) -> the build file defining it

    def add_file(self, path, origin):
        self.files.setdefault(os.path.normpath(path), origin)

    def add_target(self, kind, name, origin):
        self.targets.setdefault((kind, name), origin)


def _flatten(value):
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _flatten(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _flatten(item)
    elif isinstance(value, str):
        yield value


class _Select(list):
    """select({...}): every branch's items (a file in any branch is named)."""


def read_bazel(root, build_files):
    build = Build("Bazel")
    for build_file in build_files:
        pkg = os.path.relpath(os.path.dirname(build_file), root)
        pkg = "" if pkg == "." else pkg
        origin = os.path.relpath(build_file, root)

        def rule(kind):
            def record(name=None, srcs=(), hdrs=(), **_):
                for label in list(_flatten(srcs)) + list(_flatten(hdrs)):
                    if (label.startswith(("@", "//", ":")) or
                            not label.endswith(SOURCE_SUFFIXES)):
                        continue  # Another target or a script.
                    build.add_file(os.path.join(pkg, label), origin)
                if kind in LIBRARY_RULES:
                    build.add_target("library", name, origin)
                elif kind in TEST_RULES:
                    build.add_target("test", name, origin)
                elif kind in BINARY_RULES:
                    build.add_target("binary", name, origin)
            return record

        env = {
            "load": lambda *a, **k: None,
            "package": lambda *a, **k: None,
            "licenses": lambda *a, **k: None,
            "exports_files": lambda *a, **k: None,
            "config_setting": lambda *a, **k: None,
            "glob": lambda *a, **k: [],
            "select": lambda branches: _Select(_flatten(branches)),
            "SPINDLE_COPTS": [],
        }
        for kind in IGNORED_RULES:
            env[kind] = lambda *a, **k: None
        for kind in LIBRARY_RULES + TEST_RULES + BINARY_RULES:
            env[kind] = rule(kind)
        with open(build_file, encoding="utf-8") as f:
            try:
                exec(compile(f.read(), build_file, "exec"), env)  # noqa: S102
            except NameError as e:
                sys.exit(f"check_build_files: {origin}: {e}: a rule or macro "
                         "this check does not know; add it to the lists at "
                         "the top of tools/check_build_files.py")
    return build


_CMAKE_CALL = re.compile(
    r"\b(spindle_cc_library|spindle_cc_binary|spindle_cc_test|"
    r"spindle_fuzz_test|spindle_test_helper|spindle_script_test|"
    r"spindle_py_test|add_executable|add_library|add_test)\s*\(([^()]*"
    r"(?:\([^()]*\)[^()]*)*)\)", re.S)
_CMAKE_KINDS = {
    "spindle_cc_library": "library",
    "spindle_test_helper": "library",
    "spindle_cc_test": "test",
    "spindle_fuzz_test": "test",
    "spindle_script_test": "test",
    "spindle_py_test": "test",
    "spindle_cc_binary": "binary",
    "add_library": "library",
    "add_executable": "binary",
}


def _cmake_tokens(text):
    text = re.sub(r"#[^\n]*", "", text)  # Comments (no '#' in our strings).
    return re.findall(r'"[^"]*"|[^\s"]+', text)


def read_cmake(root, cmake_files):
    build = Build("CMake")
    for cmake_file in cmake_files:
        folder = os.path.dirname(cmake_file)
        origin = os.path.relpath(cmake_file, root)
        with open(cmake_file, encoding="utf-8") as f:
            text = re.sub(r"#[^\n]*", "", f.read())
        for match in _CMAKE_CALL.finditer(text):
            command, args = match.group(1), _cmake_tokens(match.group(2))
            if not args:
                continue
            name = args[0]
            kind = _CMAKE_KINDS.get(command)
            if kind and "${" not in name and "::" not in name:
                # Test helpers are spindle_<bazel name>.
                if command == "spindle_test_helper":
                    name = name[len("spindle_"):]
                build.add_target(kind, name, origin)
            for token in args[1:]:
                token = token.strip('"')
                if token.endswith(SOURCE_SUFFIXES) and "$" not in token:
                    if command in ("spindle_py_test", "spindle_script_test"):
                        continue  # Arguments, not sources.
                    path = os.path.relpath(os.path.join(folder, token), root)
                    build.add_file(path, origin)
    return build


def list_files(root, predicate):
    """Files under root (relative paths) for which predicate(name) holds.

    Uses git's view (tracked plus untracked, not ignored) when root is a git
    checkout, so build folders and ignored files never count.
    """
    try:
        out = subprocess.run(
            ["git", "-C", root, "ls-files", "--cached", "--others",
             "--exclude-standard", "-z"],
            check=True, capture_output=True).stdout.decode()
        paths = [p for p in out.split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        paths = []
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs
                       if d not in SKIP_DIRS and not d.startswith("bazel-")]
            paths += [os.path.relpath(os.path.join(folder, f), root)
                      for f in files]
    return sorted(p for p in paths
                  if predicate(os.path.basename(p)) and
                  not under(p, SKIP_DIRS) and os.path.exists(
                      os.path.join(root, p)))


def check(root):
    problems = []
    build_files = [os.path.join(root, p) for p in list_files(
        root, lambda n: n in ("BUILD", "BUILD.bazel"))
        if not under(p, ("bazel/compat",))]
    cmake_files = [os.path.join(root, p) for p in list_files(
        root, lambda n: n == "CMakeLists.txt")]
    bazel = read_bazel(root, build_files)
    cmake = read_cmake(root, cmake_files)
    on_disk = set(list_files(root, lambda n: n.endswith(SOURCE_SUFFIXES)))

    for one, other, alone in ((bazel, cmake, BAZEL_ONLY),
                              (cmake, bazel, CMAKE_ONLY)):
        for path, origin in sorted(one.files.items()):
            if not os.path.exists(os.path.join(root, path)):
                problems.append(f"{path}: named in {origin}, not on disk")
            elif path not in other.files and not under(path, alone):
                problems.append(
                    f"{path}: in {one.name} ({origin}), not in {other.name}")
        for (kind, name), origin in sorted(one.targets.items()):
            if under(os.path.dirname(origin), alone):
                continue
            if (kind, name) not in other.targets:
                problems.append(f"{kind} {name}: in {one.name} ({origin}), "
                                f"not in {other.name}")
    for path in sorted(on_disk - set(bazel.files) - set(cmake.files)):
        problems.append(f"{path}: on disk, in neither build")
    return problems, len(on_disk), len(bazel.targets), len(cmake.targets)


def main(argv):
    root = os.path.abspath(argv[1] if len(argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), ".."))
    problems, files, bazel_targets, cmake_targets = check(root)
    for problem in problems:
        print(f"check_build_files: {problem}")
    if problems:
        print(f"check_build_files: {len(problems)} difference(s) between "
              "the BUILD files and the CMakeLists.txt files; add the file or "
              "target to both (one line each), or list a Bazel- or "
              "CMake-only folder in tools/check_build_files.py")
        return 1
    print(f"check_build_files: ok ({files} source files; {bazel_targets} "
          f"Bazel and {cmake_targets} CMake targets compared)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
