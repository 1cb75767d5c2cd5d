#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test suite:
#   1. release build: unit, crash (kill -9 loop), example, recall (shared datasets)
#   2. AddressSanitizer + UBSan build: the same suites except recall
#   3. ThreadSanitizer build: the concurrent tests, and a real cluster (PDs, workers, two
#      gateways) of the TSan binary under concurrent logins, key changes and data calls
#   4. Python: wheel built and installed into a fresh venv, tests/python run against it
#      (embedded, and the client against a `vectron serve` of the release build)
#   5. the JavaScript and Go clients against real servers (node --test, go test)
#   6. the web console: unit tests and the end-to-end test in Chromium (scripts/test-console.sh)
#   7. the filter-parser, HTTP-request, RPC-frame, JWT and JSON-body fuzzers, briefly
#   8. clang's thread-safety analysis over libvectron (compile only)
# Each step prints "--- step NAME: N s" when it ends, and all of them again before the
# last line, which is "N passed, N failed, N skipped" summing all of them.
# The project's own code is compiled with -Werror here (meson's werror option, and
# VECTRON_WERROR=1 for fuzz/run.sh): CI fails on a new warning. A plain `meson setup`
# does not, so a newer compiler's new warnings do not break a user's build.
set -uo pipefail
cd "$(dirname "$0")/.."
start_all=$SECONDS
bash scripts/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }

logs=()
step_times=()
# timed NAME COMMAND...: runs COMMAND in this shell, then prints "--- step NAME: N s".
timed() {
  local name=$1 start=$SECONDS
  shift
  "$@"
  local line="--- step $name: $((SECONDS - start)) s"
  echo "$line"
  step_times+=("$line")
}
run_suite() {  # name builddir meson-setup-args... -- meson-test-args...
  local name=$1 dir=$2; shift 2
  local setup=() testargs=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do setup+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  testargs=("$@")
  echo "=== $name ($dir)"
  local t0=$SECONDS
  # An existing build directory is reconfigured, so it has these options (-Dwerror too).
  local reconfigure=()
  [ -f "$dir/build.ninja" ] && reconfigure=(--reconfigure)
  meson setup ${reconfigure[@]+"${reconfigure[@]}"} "$dir" -Dwerror=true "${setup[@]}" >"$dir.setup.log" 2>&1 ||
    { cat "$dir.setup.log"; logs+=("$dir/missing"); return; }
  # Only what the selected tests need (the sanitizer steps skip benches and recall).
  # The release step builds everything (benches and tools included, so they compile).
  local targets=""
  if [ "$name" != release ]; then
    targets=$(python3 scripts/test-targets.py "$dir" "${testargs[@]}") || { logs+=("$dir/missing"); return; }
  fi
  # shellcheck disable=SC2086  # one target per line
  if ! ninja -C "$dir" $targets >"$dir.ninja.log" 2>&1; then
    tail -40 "$dir.ninja.log"; logs+=("$dir/missing"); return
  fi
  local t1=$SECONDS
  meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes "${TEST_PROCESSES:-1}" "${testargs[@]}" | tail -25
  logs+=("$dir/meson-logs/testlog.json")
  echo "    $name: build $((t1 - t0)) s, tests $((SECONDS - t1)) s"
}

# The release and ASan tests run two at a time, for the 2 cores: each test has its own
# temporary directories and loopback ports (port 0, or free ports picked just before
# use); those that must run alone (crash, raft-crash, recall, serve-soak) are marked
# is_parallel: false and meson runs them alone. The concurrency suite (TSan) runs one at
# a time: its tests keep both cores busy themselves.
TEST_PROCESSES=2 timed release run_suite release build --buildtype=release -- --no-suite concurrency
# The sanitizer builds compile libvectron, net/ and raft/ at -O1 (half the compile time
# of -O2 on this 2-core machine) and the test suites, CLI and tools at -O0
# (-Dtest_optimization=0: most of the compile time, little of the run time), all with
# -g1: line tables, which is what sanitizer reports print (file:line), at about half the
# compile time of full debug information. They are unity builds (meson's unity=on: each
# target's sources compiled 8 to a translation unit), which parse the shared headers
# (nlohmann/json, abseil, flatbuffers, doctest) and instantiate their templates once per
# 8 files: 426 s instead of 778 s for the ASan build here. The release build stays one
# translation unit per file, as a user builds it, so a missing #include still fails CI.
# The console is built (npm, Vite) and tested in the release build only.
sanitizer_build=(-Ddebug=true -Doptimization=1 -Dtest_optimization=0 -Dcpp_args=-g1 -Dconsole=disabled
                 -Dunity=on -Dunity_size=8)
VECTRON_SANITIZED=1 TEST_PROCESSES=2 timed asan run_suite asan build-asan "${sanitizer_build[@]}" \
  -Db_sanitize=address,undefined -Db_lundef=false -Dnative=true \
  -- --no-suite recall --no-suite concurrency --timeout-multiplier 4
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp" \
timed tsan run_suite tsan build-tsan "${sanitizer_build[@]}" -Db_sanitize=thread -- --suite concurrency --timeout-multiplier 4
# The Python client's tests start the release build's server.
VECTRON_BIN="$PWD/build/tools/vectron" VECTRON_REQUIRE_SERVER=1 timed python bash scripts/test-python.sh build-python-test
logs+=("build-python-test/testlog.json")
timed clients bash scripts/test-clients.sh build-clients-test
logs+=("build-clients-test/js.testlog.json" "build-clients-test/go.testlog.json")
timed console bash scripts/test-console.sh build; logs+=("build/console-test/testlog.json")

# 7. The fuzzers under libFuzzer (+ASan/UBSan), each for a short, fixed time: the filter
# parser, and the server's input paths (HTTP requests, RPC frames, JWTs, JSON bodies).
# Two at a time, for the 2 cores: each builds in a directory of its own, writes its own
# log, and fuzzes on one thread.
fuzz_seconds=${VECTRON_FUZZ_SECONDS:-20}
fuzz_specs=(filter_parser:build-fuzz:fuzz-filter-parser http_request:build-fuzz-http_request:fuzz-http_request
            rpc_frame:build-fuzz-rpc_frame:fuzz-rpc_frame jwt:build-fuzz-jwt:fuzz-jwt
            json_body:build-fuzz-json_body:fuzz-json_body)
run_fuzzers() {
  local spec target base name running=0 result
  for spec in "${fuzz_specs[@]}"; do
    IFS=: read -r target base name <<<"$spec"
    (if VECTRON_WERROR=1 bash fuzz/run.sh "$target" "$fuzz_seconds" >"$base.log" 2>&1; then echo OK; else echo FAIL; fi \
       >"$base.result") &
    running=$((running + 1))
    if [ "$running" -ge 2 ]; then wait -n; running=$((running - 1)); fi
  done
  wait
  for spec in "${fuzz_specs[@]}"; do
    IFS=: read -r target base name <<<"$spec"
    result=$(cat "$base.result" 2>/dev/null || echo FAIL)
    echo "=== fuzz: $target ($fuzz_seconds s): $result"
    [ "$result" = OK ] || tail -40 "$base.log"
    grep -E "stat::number_of_executed_units" "$base.log" | tail -1
    printf '{"name": "%s", "result": "%s", "stdo": ""}\n' "$name" "$result" >"$base.testlog.json"
    logs+=("$PWD/$base.testlog.json")
  done
}
timed fuzz run_fuzzers

# 8. libvectron once with clang -Wthread-safety -Werror=thread-safety, compile only
# (unoptimised, lib/ alone): every ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED in
# lib/ (see lib/util/mutex.h) must hold where the code says. A unity build, like the
# sanitizer steps (19 s instead of 56 s here): the analysis is per function, so merging
# files loses nothing (a read of a guarded member without its lock still fails it).
clang_tsa() {
  echo "=== clang thread-safety analysis (build-clang, lib/ only)"
  local tsa=FAIL reconfigure=()
  [ -f build-clang/build.ninja ] && reconfigure=(--reconfigure)
  if CXX=clang++ meson setup ${reconfigure[@]+"${reconfigure[@]}"} build-clang --buildtype=plain -Dtools=false \
       -Dnative=false -Dconsole=disabled -Dwerror=true "-Dcpp_args=-Wthread-safety" -Dunity=on -Dunity_size=8 \
       >build-clang.setup.log 2>&1; then
    if ninja -C build-clang lib/libvectron.so >build-clang.ninja.log 2>&1; then tsa=OK; else grep -E "error|warning:" build-clang.ninja.log | head -40; fi
  else
    cat build-clang.setup.log
  fi
  printf '{"name": "clang-thread-safety", "result": "%s", "stdo": ""}\n' "$tsa" >build-clang.testlog.json
  logs+=("$PWD/build-clang.testlog.json")
}
timed clang-thread-safety clang_tsa

printf '%s\n' "${step_times[@]}"
echo "--- total: $((SECONDS - start_all)) s"
python3 scripts/summarize.py "${logs[@]}"
