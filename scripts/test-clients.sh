#!/usr/bin/env bash
# The JavaScript and Go clients (clients/js, clients/go), each with its own test runner
# (node --test, go test) against real `vectron serve` processes the tests start (TLS with
# the generated certificate, auth on, loopback). Writes OUT/js.testlog.json and
# OUT/go.testlog.json, one line per test in meson's testlog format ({"name", "result",
# "stdo"}), which scripts/summarize.py counts.
#
#   bash scripts/test-clients.sh [OUT]        OUT defaults to build-clients-test
#
# Needs build/tools/vectron (VECTRON_BIN overrides), node and npm (TypeScript comes from
# npm, pinned by clients/js/package-lock.json), and Go (Debian's golang-go). Go runs
# offline: no module is fetched (GOPROXY=off), and its caches live in OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${1:-build-clients-test}
case "$OUT" in /*) ;; *) OUT="$ROOT/$OUT" ;; esac
mkdir -p "$OUT"
rm -f "$OUT"/js.testlog.json "$OUT"/go.testlog.json
export VECTRON_BIN=${VECTRON_BIN:-$ROOT/build/tools/vectron}
PY=/usr/bin/python3

# record LOG NAME OK|FAIL OUTPUT-FILE: appends one test line to LOG.
record() {
  "$PY" - "$@" <<'PYEOF'
import json, sys
log, name, result, out = sys.argv[1:5]
stdo = open(out, errors="replace").read()[-20000:] if out else ""
with open(log, "a") as f:
    f.write(json.dumps({"name": name, "result": result, "stdo": stdo}) + "\n")
PYEOF
}

# step LOG NAME OUTPUT-FILE COMMAND...: runs COMMAND, records it, returns its status.
step() {
  local log=$1 name=$2 out=$3; shift 3
  if "$@" >"$out" 2>&1; then record "$log" "$name" OK "$out"; return 0; fi
  tail -30 "$out"; record "$log" "$name" FAIL "$out"; return 1
}

js_suite() {
  local log=$OUT/js.testlog.json
  echo "=== clients/js (node $(node --version 2>/dev/null || echo missing))"
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "node or npm missing" >"$OUT/js-setup.log"; record "$log" "js: node and npm installed" FAIL "$OUT/js-setup.log"; return
  fi
  cd "$ROOT/clients/js" || return
  step "$log" "js: npm ci (typescript from package-lock.json)" "$OUT/js-npm.log" \
    npm ci --prefer-offline --no-audit --no-fund || { cd "$ROOT"; return; }
  step "$log" "js: tsc builds the package and its type declarations check" "$OUT/js-build.log" \
    sh -c 'npm run build && npm run typecheck' || { cd "$ROOT"; return; }
  rm -f "$OUT/js-tests.json"
  node --test --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=./test/testlog-reporter.mjs --test-reporter-destination="$OUT/js-tests.json" \
    test/*.test.mjs >"$OUT/js-test.log" 2>&1
  local rc=$?
  cd "$ROOT" || return
  grep -E "^ℹ (tests|pass|fail|skipped)|^✖" "$OUT/js-test.log" | tail -12
  [ -f "$OUT/js-tests.json" ] && cat "$OUT/js-tests.json" >>"$log"
  if [ $rc -ne 0 ] && ! grep -Eq '"result": ?"FAIL"' "$log"; then
    record "$log" "js: node --test exited with status $rc" FAIL "$OUT/js-test.log"
  fi
}

go_suite() {
  local log=$OUT/go.testlog.json
  echo "=== clients/go ($(go version 2>/dev/null || echo "go missing"))"
  if ! command -v go >/dev/null; then
    echo "go missing" >"$OUT/go-setup.log"; record "$log" "go: go installed" FAIL "$OUT/go-setup.log"; return
  fi
  export GOCACHE=$OUT/go-cache GOPATH=$OUT/gopath GOPROXY=off GOFLAGS= GO111MODULE=on GOTOOLCHAIN=local GOTELEMETRY=off
  cd "$ROOT/clients/go" || return
  step "$log" "go: go vet and gofmt" "$OUT/go-vet.log" \
    sh -c 'go vet ./... && test -z "$(gofmt -l . ../../examples/go | tee /dev/stderr)"'
  go test -count=1 -json -timeout 10m ./... >"$OUT/go-test.json" 2>"$OUT/go-test.stderr"
  local rc=$?
  cd "$ROOT" || return
  # One line per leaf test (a test with subtests counts through its subtests).
  "$PY" - "$OUT/go-test.json" "$OUT/go-test.stderr" "$log" "$rc" <<'PYEOF'
import json, sys
events_path, stderr_path, log_path, rc = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
results, output, order, pkg_out = {}, {}, [], []
for line in open(events_path, errors="replace"):
    try:
        e = json.loads(line)
    except ValueError:
        pkg_out.append(line)
        continue
    t = e.get("Test")
    if not t:
        if e.get("Action") == "output":
            pkg_out.append(e.get("Output", ""))
        continue
    if t not in output:
        output[t] = []
        order.append(t)
    if e.get("Action") == "output":
        output[t].append(e.get("Output", ""))
    elif e.get("Action") in ("pass", "fail", "skip"):
        results[t] = {"pass": "OK", "fail": "FAIL", "skip": "SKIP"}[e["Action"]]
leaves = [t for t in order if not any(o.startswith(t + "/") for o in order)]
failed = 0
with open(log_path, "a") as f:
    for t in leaves:
        r = results.get(t, "FAIL")  # started but never finished: the binary died
        failed += r == "FAIL"
        f.write(json.dumps({"name": "go: " + t, "result": r, "stdo": "".join(output[t])[-20000:]}) + "\n")
        if r == "FAIL":
            print("--- FAIL: " + t + "\n" + "".join(output[t])[-3000:])
    if rc != 0 and failed == 0:
        text = "".join(pkg_out) + open(stderr_path, errors="replace").read()
        f.write(json.dumps({"name": f"go: go test exited with status {rc}", "result": "FAIL", "stdo": text[-20000:]}) + "\n")
        print(text[-3000:])
        failed += 1
print(f"go: {sum(results.get(t) == 'OK' for t in leaves)} passed, {failed} failed, "
      f"{sum(results.get(t) == 'SKIP' for t in leaves)} skipped")
PYEOF
}

js_suite
go_suite
