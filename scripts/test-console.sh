#!/usr/bin/env bash
# The web console: unit tests (Vitest) and the end-to-end test (playwright-core driving
# Debian's Chromium against a real `vectron serve`, TLS and auth on). Writes
# OUT/testlog.json (meson's testlog format, one line per part) for scripts/summarize.py.
#
#   bash scripts/test-console.sh BUILDDIR [OUT]     OUT defaults to BUILDDIR/console-test
#
# BUILDDIR holds a built tools/vectron with the console embedded (meson configured with
# Node.js and npm present). Screenshots of every page go to OUT/screenshots/.
# VECTRON_CONSOLE_DOCS=1 also rewrites the committed set in docs/console/.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${1:?usage: test-console.sh BUILDDIR [OUT]}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
OUT=${2:-$BUILD/console-test}
case "$OUT" in /*) ;; *) OUT="$ROOT/$OUT" ;; esac
mkdir -p "$OUT"
rm -f "$OUT/testlog.json"
PY=/usr/bin/python3

write_log() {  # name result output-file seconds
  "$PY" - "$@" "$OUT/testlog.json" <<'PYEOF'
import json, sys
name, result, out_path, secs, log_path = sys.argv[1:6]
stdo = open(out_path, errors="replace").read() if out_path != "-" else ""
with open(log_path, "a") as f:
    f.write(json.dumps({"name": name, "result": result, "stdo": stdo, "duration": float(secs),
                        "suite": ["console"], "command": ["scripts/test-console.sh"]}) + "\n")
PYEOF
}

# Vitest's summary as "console-X: N passed, N failed, N skipped" (read by summarize.py).
counts() {  # json-report
  "$PY" - "$1" <<'PYEOF'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
    p, f, s = r["numPassedTests"], r["numFailedTests"], r["numPendingTests"] + r.get("numTodoTests", 0)
except (OSError, ValueError, KeyError):
    p, f, s = 0, 1, 0
print(f"{p} passed, {f} failed, {s} skipped")
PYEOF
}

echo "=== console ($OUT)"
if ! bash scripts/install-deps.sh --console >"$OUT/deps.log" 2>&1; then
  cat "$OUT/deps.log"; write_log console-deps FAIL "$OUT/deps.log" 0; exit 1
fi
cd console
# The build already ran npm ci; this is a no-op then, and installs after a clean checkout.
if [ ! -d node_modules ] && ! npm ci --no-audit --no-fund --loglevel=error >"$OUT/npm.log" 2>&1; then
  cat "$OUT/npm.log"; write_log console-npm FAIL "$OUT/npm.log" 0; exit 1
fi

rc=0
start=$(date +%s)
npx vitest run --config vitest.config.ts --reporter=default --reporter=json --outputFile="$OUT/unit.json" \
  >"$OUT/unit.log" 2>&1
unit_rc=$?
echo "console-unit: $(counts "$OUT/unit.json")" | tee -a "$OUT/unit.log"
[ $unit_rc -eq 0 ] || { tail -40 "$OUT/unit.log"; rc=1; }
write_log console-unit "$([ $unit_rc -eq 0 ] && echo OK || echo FAIL)" "$OUT/unit.log" $(( $(date +%s) - start ))

start=$(date +%s)
rm -rf "$OUT/screenshots"
VECTRON_BIN="$BUILD/tools/vectron" VECTRON_CONSOLE_ARTIFACTS="$OUT/screenshots" \
  timeout 600 npx vitest run --config e2e/vitest.e2e.config.ts --reporter=default --reporter=json \
  --outputFile="$OUT/e2e.json" >"$OUT/e2e.log" 2>&1
e2e_rc=$?
echo "console-e2e: $(counts "$OUT/e2e.json")" | tee -a "$OUT/e2e.log"
[ $e2e_rc -eq 0 ] || { tail -60 "$OUT/e2e.log"; rc=1; }
echo "screenshots: $(ls "$OUT/screenshots" 2>/dev/null | wc -l) in $OUT/screenshots"
write_log console-e2e "$([ $e2e_rc -eq 0 ] && echo OK || echo FAIL)" "$OUT/e2e.log" $(( $(date +%s) - start ))
exit $rc
