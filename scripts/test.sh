#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test suite:
#   1. release build: unit, crash (kill -9 loop), example, recall (shared datasets)
#   2. AddressSanitizer + UBSan build: the same suites except recall
#   3. ThreadSanitizer build: the concurrent tests
#   4. Python: wheel built and installed into a fresh venv, tests/python run against it
#   5. the JavaScript and Go clients against real servers (node --test, go test)
#   6. the web console: unit tests and the end-to-end test in Chromium (scripts/test-console.sh)
#   7. the filter-parser, HTTP-request, RPC-frame, JWT and JSON-body fuzzers, briefly
#   8. clang's thread-safety analysis over libvectron (compile only)
# Ends with one line "N passed, N failed, N skipped" summing all of them.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }

logs=()
run_suite() {  # name builddir meson-setup-args... -- meson-test-args...
  local name=$1 dir=$2; shift 2
  local setup=() testargs=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do setup+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  testargs=("$@")
  echo "=== $name ($dir)"
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "${setup[@]}" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; logs+=("$dir/missing"); return; }
  fi
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
  meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes 1 "${testargs[@]}" | tail -25
  logs+=("$dir/meson-logs/testlog.json")
}

run_suite release build --buildtype=release -- --no-suite concurrency
# The sanitizer builds use -O1 -g: half the compile time of -O2 on this 2-core machine.
# The console is built (npm, Vite) and tested in the release build only.
run_suite asan build-asan -Ddebug=true -Doptimization=1 -Db_sanitize=address,undefined -Db_lundef=false \
  -Dnative=true -Dconsole=disabled -- --no-suite recall --no-suite concurrency --timeout-multiplier 4
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp" \
run_suite tsan build-tsan -Ddebug=true -Doptimization=1 -Db_sanitize=thread -Dconsole=disabled -- --suite concurrency --timeout-multiplier 4
bash scripts/test-python.sh build-python-test; logs+=("build-python-test/testlog.json")
bash scripts/test-clients.sh build-clients-test
logs+=("build-clients-test/js.testlog.json" "build-clients-test/go.testlog.json")
bash scripts/test-console.sh build; logs+=("build/console-test/testlog.json")

# 7. The filter parser under libFuzzer (+ASan/UBSan) for a short, fixed time.
echo "=== fuzz: filter parser (${VECTRON_FUZZ_SECONDS:-30} s)"
if bash fuzz/run.sh filter_parser "${VECTRON_FUZZ_SECONDS:-30}" >build-fuzz.log 2>&1; then fuzz=OK; else fuzz=FAIL; tail -40 build-fuzz.log; fi
grep -E "^#[0-9]+ +DONE|stat::number_of_executed_units" build-fuzz.log | tail -2
printf '{"name": "fuzz-filter-parser", "result": "%s", "stdo": ""}\n' "$fuzz" >build-fuzz.testlog.json
logs+=("$PWD/build-fuzz.testlog.json")
# The server's input paths: HTTP requests, RPC frames, JWTs and JSON bodies.
for target in http_request rpc_frame jwt json_body; do
  echo "=== fuzz: $target (${VECTRON_FUZZ_SECONDS:-30} s)"
  if bash fuzz/run.sh "$target" "${VECTRON_FUZZ_SECONDS:-30}" >"build-fuzz-$target.log" 2>&1; then fuzz=OK; else fuzz=FAIL; tail -40 "build-fuzz-$target.log"; fi
  grep -E "stat::number_of_executed_units" "build-fuzz-$target.log" | tail -1
  printf '{"name": "fuzz-%s", "result": "%s", "stdo": ""}\n' "$target" "$fuzz" >"build-fuzz-$target.testlog.json"
  logs+=("$PWD/build-fuzz-$target.testlog.json")
done

# 8. libvectron once with clang -Wthread-safety -Werror=thread-safety, compile only
# (unoptimised, lib/ alone): every ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED in
# lib/ (see lib/util/mutex.h) must hold where the code says.
echo "=== clang thread-safety analysis (build-clang, lib/ only)"
tsa=FAIL
if [ -f build-clang/build.ninja ] || CXX=clang++ meson setup build-clang --buildtype=plain -Dtools=false -Dnative=false -Dconsole=disabled \
     "-Dcpp_args=-Wthread-safety -Werror=thread-safety" >build-clang.setup.log 2>&1; then
  if ninja -C build-clang lib/libvectron.so >build-clang.ninja.log 2>&1; then tsa=OK; else grep -E "error|warning: .*thread-safety" build-clang.ninja.log | head -40; fi
else
  cat build-clang.setup.log
fi
printf '{"name": "clang-thread-safety", "result": "%s", "stdo": ""}\n' "$tsa" >build-clang.testlog.json
logs+=("$PWD/build-clang.testlog.json")

python3 scripts/summarize.py "${logs[@]}"
