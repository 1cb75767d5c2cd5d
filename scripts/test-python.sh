#!/usr/bin/env bash
# Python package: builds the wheel offline (meson-python, no build isolation), installs
# it into a fresh virtual environment, and runs tests/python against the installed
# package from outside the source tree. Writes OUT/testlog.json in meson's testlog
# format (one JSON line with "name", "result", "stdo") for scripts/summarize.py.
#
#   bash scripts/test-python.sh [OUT]        OUT defaults to build-python-test
#
# Uses Debian's /usr/bin/python3 (python3-mesonpy, pybind11-dev, python3-numpy,
# python3-pytest, python3-venv, python3-pip); PyPI is never contacted. The meson build
# directory build-python/ is kept between runs so a rebuild is incremental.
#
# The client tests (vectron.connect) start a real `vectron serve`: VECTRON_BIN names the
# binary (default build/tools/vectron if it exists; without one they are skipped, unless
# VECTRON_REQUIRE_SERVER=1, as scripts/test.sh sets, turns that into a failure).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${1:-build-python-test}
case "$OUT" in /*) ;; *) OUT="$ROOT/$OUT" ;; esac
PY=/usr/bin/python3
mkdir -p "$OUT"
rm -rf "$OUT/venv" "$OUT/dist" "$OUT/testlog.json"
start=$(date +%s)

write_log() {  # result output-file
  "$PY" - "$1" "$2" "$OUT/testlog.json" "$(( $(date +%s) - start ))" <<'PYEOF'
import json, sys
result, out_path, log_path, secs = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
stdo = open(out_path, errors="replace").read()
with open(log_path, "w") as f:
    f.write(json.dumps({"name": "python", "result": result, "stdo": stdo, "duration": secs,
                        "suite": ["python"], "command": ["scripts/test-python.sh"]}) + "\n")
PYEOF
}

echo "=== python wheel ($OUT)"
if ! "$PY" -m venv --system-site-packages "$OUT/venv" >"$OUT/venv.log" 2>&1; then
  cat "$OUT/venv.log"; write_log FAIL "$OUT/venv.log"; exit 1
fi
VPY="$OUT/venv/bin/python"
if ! nice -n 10 "$VPY" -m pip wheel --no-build-isolation --no-deps --no-index \
      --config-settings=builddir=build-python -w "$OUT/dist" . >"$OUT/wheel.log" 2>&1; then
  tail -40 "$OUT/wheel.log"; write_log FAIL "$OUT/wheel.log"; exit 1
fi
WHEEL=$(ls "$OUT"/dist/vectron-*.whl)
echo "built $(basename "$WHEEL") ($(du -k "$WHEEL" | cut -f1) KiB)"
if ! "$VPY" -m pip install --no-index --no-deps "$WHEEL" >"$OUT/install.log" 2>&1; then
  cat "$OUT/install.log"; write_log FAIL "$OUT/install.log"; exit 1
fi

if [ -z "${VECTRON_BIN:-}" ] && [ -x "$ROOT/build/tools/vectron" ]; then export VECTRON_BIN="$ROOT/build/tools/vectron"; fi
echo "server for the client tests: ${VECTRON_BIN:-none (skipped)}"

# Run from an empty directory so `import vectron` can only find the installed wheel.
RUN_DIR=$(mktemp -d)
trap 'rm -rf "$RUN_DIR"' EXIT
( cd "$RUN_DIR" && VECTRON_EXPECT_INSTALLED=1 timeout 1800 "$VPY" -m pytest -p no:cacheprovider -rs \
    "$ROOT/tests/python" ) >"$OUT/pytest.log" 2>&1
rc=$?
tail -25 "$OUT/pytest.log"
if [ $rc -eq 0 ]; then write_log OK "$OUT/pytest.log"; else write_log FAIL "$OUT/pytest.log"; fi
exit $rc
