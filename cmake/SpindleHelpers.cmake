# The CMake twins of bazel/spindle.bzl's macros: one place for warnings, the
# C++ standard, the spindle/ include prefix, installation and test timeouts,
# so no CMakeLists.txt repeats them.
#
# Each package's CMakeLists.txt lists its targets as its BUILD file does
# (same names, same srcs/hdrs, same spindle deps); tools/check_build_files.py
# fails CI when the two builds disagree about a file or a target.
#
#   spindle_cc_library(<name> [HDRS ...] [SRCS ...] [DEPS ...] [ALWAYSLINK]
#                      [NO_INSTALL])
#       -> target spindle_<name>, alias spindle::<name>; installed and
#          exported as spindle::<name> unless NO_INSTALL (examples' helpers).
#   spindle_cc_binary(<name> SRCS ... [DEPS ...])
#       -> executable <name> (an example program).
#   spindle_cc_test(<name> SRCS ... [DEPS ...] [SIZE small|medium|large]
#                   [COPTS ...])
#       -> executable <name> linked with GoogleTest's main, ctest test <name>.
#   spindle_test_helper(<name> HDRS ... [SRCS ...] [DEPS ...])
#       -> a test-only library (Bazel's testonly cc_library).
#   spindle_fuzz_test(<name> SRCS ... [DEPS ...])
#       -> a fuzz target built with tests/fuzz/fuzz_main.cc, its ctest test
#          replaying tests/fuzz/corpus/<name>/ (tests/fuzz/fuzz.bzl's
#          non-fuzz configuration; libFuzzer runs are Bazel's).
#   spindle_script_test(<name> COMMAND ... [SIZE ...] [ENV VAR=value ...]
#                       [SERIAL])
#       -> ctest test running a command (Bazel's sh_test), in the source
#          root; a target name as the command runs that executable.

include_guard(GLOBAL)
include(GNUInstallDirs)

# Bazel's SPINDLE_COPTS (bazel/spindle.bzl): -Wall -Wextra -Werror, plus
# clang's thread-safety analysis.
set(SPINDLE_COPTS -Wall -Wextra)
if(SPINDLE_WERROR)
  list(APPEND SPINDLE_COPTS -Werror)
endif()
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  list(APPEND SPINDLE_COPTS -Wthread-safety -Wthread-safety-beta)
endif()

# Headers are included as spindle/<package>/<file>.h, and the repository root
# is the spindle/ prefix: <build>/spindle_include/spindle links to the source
# root (the Bazel twin is include_prefix). Tests also include
# tests/<file>.h relative to the root, as under Bazel.
set(SPINDLE_BUILD_INCLUDE_DIR "${PROJECT_BINARY_DIR}/spindle_include")
file(MAKE_DIRECTORY "${SPINDLE_BUILD_INCLUDE_DIR}")
if(NOT EXISTS "${SPINDLE_BUILD_INCLUDE_DIR}/spindle")
  file(CREATE_LINK "${PROJECT_SOURCE_DIR}" "${SPINDLE_BUILD_INCLUDE_DIR}/spindle"
       SYMBOLIC)
endif()

# Bazel test sizes as ctest timeouts (Bazel's defaults: 60, 300, 900 s).
set(_spindle_timeout_small 60)
set(_spindle_timeout_medium 300)
set(_spindle_timeout_large 900)

# The package of the current CMakeLists.txt, as Bazel names it ("concurrency",
# "tests/io").
function(_spindle_package out)
  file(RELATIVE_PATH pkg "${PROJECT_SOURCE_DIR}" "${CMAKE_CURRENT_SOURCE_DIR}")
  set(${out} "${pkg}" PARENT_SCOPE)
endfunction()

# A compiled spindle library, libspindle_<name>.a, from the caller's
# arg_SRCS, arg_HDRS and arg_DEPS. Static only: as shared libraries, each
# one linking the whole-archive lifecycle library would run its initialiser
# again.
macro(_spindle_static_library name target)
  add_library(${target} STATIC ${arg_SRCS} ${arg_HDRS})
  set_target_properties(${target} PROPERTIES OUTPUT_NAME spindle_${name})
  target_compile_options(${target} PRIVATE ${SPINDLE_COPTS})
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_include_directories(${target} PUBLIC ${includes})
  target_link_libraries(${target} PUBLIC ${arg_DEPS})
endmacro()

function(spindle_cc_library name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "ALWAYSLINK;NO_INSTALL" ""
                        "HDRS;SRCS;DEPS")
  set(target spindle_${name})
  _spindle_package(pkg)
  set(includes "$<BUILD_INTERFACE:${SPINDLE_BUILD_INCLUDE_DIR}>"
               "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
  if(arg_SRCS AND arg_ALWAYSLINK)
    # The archive itself, linked whole into whoever links the public
    # (interface) target, so only that target ever names it.
    _spindle_static_library(${name} ${target}_archive)
    set_target_properties(${target}_archive PROPERTIES
      EXPORT_NAME ${name}_archive
      POSITION_INDEPENDENT_CODE ON)
    add_library(${target} INTERFACE)
    target_link_libraries(${target} INTERFACE
      "$<BUILD_INTERFACE:$<LINK_LIBRARY:WHOLE_ARCHIVE,${target}_archive>>"
      "$<INSTALL_INTERFACE:$<LINK_LIBRARY:WHOLE_ARCHIVE,spindle::${name}_archive>>")
    set(installed ${target} ${target}_archive)
  elseif(arg_SRCS)
    _spindle_static_library(${name} ${target})
    set(installed ${target})
  else()
    # Header-only.
    add_library(${target} INTERFACE ${arg_HDRS})
    target_compile_features(${target} INTERFACE cxx_std_20)
    target_include_directories(${target} INTERFACE ${includes})
    target_link_libraries(${target} INTERFACE ${arg_DEPS})
    set(installed ${target})
  endif()
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name})
  add_library(spindle::${name} ALIAS ${target})

  if(arg_NO_INSTALL OR NOT SPINDLE_INSTALL)
    return()
  endif()
  install(TARGETS ${installed} EXPORT spindleTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  foreach(hdr IN LISTS arg_HDRS)
    get_filename_component(dir "${hdr}" DIRECTORY)
    install(FILES "${hdr}"
      DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/spindle/${pkg}/${dir}")
  endforeach()
endfunction()

function(spindle_cc_binary name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SRCS;DEPS;COPTS")
  add_executable(${name} ${arg_SRCS})
  target_compile_options(${name} PRIVATE ${SPINDLE_COPTS} ${arg_COPTS})
  target_link_libraries(${name} PRIVATE ${arg_DEPS})
endfunction()

function(spindle_test_helper name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "HDRS;SRCS;DEPS")
  if(arg_SRCS)
    add_library(${name} STATIC ${arg_SRCS} ${arg_HDRS})
    target_compile_options(${name} PRIVATE ${SPINDLE_COPTS})
    target_include_directories(${name} PUBLIC "${PROJECT_SOURCE_DIR}")
    target_link_libraries(${name} PUBLIC ${arg_DEPS})
  else()
    add_library(${name} INTERFACE ${arg_HDRS})
    target_include_directories(${name} INTERFACE "${PROJECT_SOURCE_DIR}")
    target_link_libraries(${name} INTERFACE ${arg_DEPS})
  endif()
endfunction()

# Bazel's test size as a timeout, and Bazel's TEST_TMPDIR: a private scratch
# folder per test (tests run in parallel under ctest -j too).
function(_spindle_test_properties name size)
  if(NOT size)
    set(size small)
  endif()
  set(tmpdir "${CMAKE_CURRENT_BINARY_DIR}/${name}.tmp")
  file(MAKE_DIRECTORY "${tmpdir}")
  set_tests_properties(${name} PROPERTIES
    TIMEOUT ${_spindle_timeout_${size}}
    LABELS "${size}"
    ENVIRONMENT "TEST_TMPDIR=${tmpdir}")
endfunction()

function(spindle_cc_test name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "SIZE" "SRCS;DEPS;COPTS")
  spindle_cc_binary(${name} SRCS ${arg_SRCS} COPTS ${arg_COPTS}
    DEPS ${arg_DEPS} GTest::gtest_main GTest::gmock)
  # Tests include tests/<file>.h relative to the root, as under Bazel.
  target_include_directories(${name} PRIVATE "${PROJECT_SOURCE_DIR}")
  add_test(NAME ${name} COMMAND ${name})
  _spindle_test_properties(${name} "${arg_SIZE}")
endfunction()

function(spindle_script_test name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "SERIAL" "SIZE" "COMMAND;ENV")
  add_test(NAME ${name} COMMAND ${arg_COMMAND}
           WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}")
  _spindle_test_properties(${name} "${arg_SIZE}")
  if(arg_ENV)
    set_property(TEST ${name} APPEND PROPERTY ENVIRONMENT "${arg_ENV}")
  endif()
  if(arg_SERIAL)
    set_tests_properties(${name} PROPERTIES RUN_SERIAL TRUE)
  endif()
endfunction()

function(spindle_fuzz_test name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "SIZE" "SRCS;DEPS")
  spindle_cc_binary(${name} SRCS ${arg_SRCS}
    DEPS ${arg_DEPS} spindle_fuzz_input spindle_fuzz_main)
  add_test(NAME ${name} COMMAND ${name} -runs=0 tests/fuzz/corpus/${name}
           WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}")
  _spindle_test_properties(${name} "${arg_SIZE}")
endfunction()
