# One helper per kind of target keeps module CMakeLists short.
#
#   warren_library(NAME SOURCES a.cc b.cc DEPS other_lib ...)
#   warren_test(NAME SOURCES a_test.cc DEPS lib ...)      -> gtest binary, label "unit"
#   warren_benchmark(NAME SOURCES a_bench.cc DEPS lib ...) -> google benchmark binary (not a test)
#   warren_interop_test(NAME COMMAND ... [TIMEOUT s] [LABELS l])  -> ctest entry, label "interop"
#   warren_fuzzer(NAME SOURCES a_fuzz.cc DEPS lib ...)    -> libFuzzer binary (WARREN_FUZZ=ON only)

function(warren_library name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  if(A_SOURCES)
    add_library(${name} STATIC ${A_SOURCES})
    target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(${name} PUBLIC ${A_DEPS})
  else()
    add_library(${name} INTERFACE)
    target_include_directories(${name} INTERFACE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(${name} INTERFACE ${A_DEPS})
  endif()
endfunction()

function(warren_test name)
  cmake_parse_arguments(A "" "TIMEOUT" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE ${A_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE WARREN_TIME_SCALE=${WARREN_TIME_SCALE})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 120)
  endif()
  math(EXPR A_TIMEOUT "${A_TIMEOUT} * ${WARREN_TIME_SCALE}")
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${A_TIMEOUT} LABELS unit
    ENVIRONMENT "WARREN_SANITIZED=$<BOOL:${WARREN_SANITIZE}>;WARREN_TIME_SCALE=${WARREN_TIME_SCALE};UBSAN_OPTIONS=print_stacktrace=1")
endfunction()

function(warren_benchmark name)
  if(WARREN_SANITIZE)
    return()  # not tests; timings under ASan mean nothing
  endif()
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE ${A_DEPS} benchmark::benchmark)
endfunction()

# Interop tests start a real warrend through tests/interop/harness.py.
# A test whose script is missing fails the configure step: interop tests may not vanish silently.
function(warren_interop_test name)
  cmake_parse_arguments(A "" "TIMEOUT" "COMMAND;LABELS" ${ARGN})
  foreach(arg ${A_COMMAND})
    if(arg MATCHES "\\.(py|js)$" AND NOT EXISTS ${arg})
      message(FATAL_ERROR "interop test ${name}: ${arg} is missing")
    endif()
  endforeach()
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 180)
  endif()
  math(EXPR A_TIMEOUT "${A_TIMEOUT} * ${WARREN_TIME_SCALE}")
  # detect_leaks=0: LSan's exit-time check stopped warrend (ptrace) for minutes when many brokers
  # exited at once; the unit tests keep it. A sanitizer report fails the test (harness.py).
  add_test(NAME ${name} COMMAND ${A_COMMAND} WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}/tests/interop)
  set_tests_properties(${name} PROPERTIES TIMEOUT ${A_TIMEOUT} LABELS "interop;${A_LABELS}"
    SKIP_RETURN_CODE 77
    ENVIRONMENT "WARREND=$<TARGET_FILE:warrend>;WARREN_BUILD=${PROJECT_BINARY_DIR};WARREN_SOURCE=${PROJECT_SOURCE_DIR};WARREN_SANITIZED=$<BOOL:${WARREN_SANITIZE}>;WARREN_TIME_SCALE=${WARREN_TIME_SCALE};ASAN_OPTIONS=detect_leaks=0;UBSAN_OPTIONS=print_stacktrace=1")
endfunction()

# libFuzzer targets (fuzz/): the sanitizers come from WARREN_FUZZ's compile options; the fuzzer
# runtime and main are linked here. `fuzz_targets` builds them all.
function(warren_fuzzer name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE ${A_DEPS})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  if(NOT TARGET fuzz_targets)
    add_custom_target(fuzz_targets)
  endif()
  add_dependencies(fuzz_targets ${name})
endfunction()
