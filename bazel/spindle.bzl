"""Build macros for spindle: one place for warnings and the include prefix."""

SPINDLE_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
] + select({
    "//bazel:clang": ["-Wthread-safety", "-Wthread-safety-beta"],
    "//conditions:default": [],
})

# Every spindle target links the Abseil TSan false-positive suppression (a
# no-op outside ThreadSanitizer builds; see bazel/tsan_suppressions.cc).
_COMMON_DEPS = ["//bazel:tsan_suppressions"]

def spindle_cc_library(name, include_prefix = None, copts = [], deps = [], **kwargs):
    """A spindle library: its headers are included as spindle/<package>/x.h.

    Args:
      name: target name, conventionally the header's base name.
      include_prefix: defaults to "spindle/<package>".
      copts: extra compiler options.
      **kwargs: passed to cc_library.
    """
    if include_prefix == None:
        include_prefix = "spindle/" + native.package_name()
    native.cc_library(
        name = name,
        include_prefix = include_prefix,
        copts = SPINDLE_COPTS + copts,
        deps = deps + _COMMON_DEPS,
        **kwargs
    )

def spindle_cc_test(name, copts = [], deps = [], size = "small", **kwargs):
    """A GoogleTest test linked with gtest_main (small unless said otherwise)."""
    native.cc_test(
        name = name,
        size = size,
        copts = SPINDLE_COPTS + copts,
        deps = deps + _COMMON_DEPS + ["@com_google_googletest//:gtest_main"],
        **kwargs
    )

def spindle_cc_binary(name, copts = [], deps = [], **kwargs):
    """An example, tool or benchmark binary."""
    native.cc_binary(
        name = name,
        copts = SPINDLE_COPTS + copts,
        deps = deps + _COMMON_DEPS,
        **kwargs
    )
