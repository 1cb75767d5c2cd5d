#!/usr/bin/env bash
# Runs `vectron bench search` on every dataset in ../shared/datasets, single-threaded and with
# all threads, saves the JSON lines under docs/bench/, and regenerates the tables in
# docs/benchmarks.md (between the BEGIN/END markers). The server (HTTP/RPC vs embedded)
# and filtered benchmarks have their own scripts: bench-serve.sh, bench-filtered.sh;
# VECTRON_BENCH_SERVE=1 runs bench-serve.sh after this one.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
DATA=${VECTRON_DATASETS:-../shared/datasets}
[ -d "$DATA" ] || { echo "skipped: no ../shared/datasets"; exit 0; }
threads_all=$(nproc)
for ds in "$DATA"/*/; do
  name=$(basename "$ds")
  case "$name" in *euclidean*) metric=l2 ;; *angular*) metric=cosine ;; *) metric=ip ;; esac
  for t in 1 "$threads_all"; do
    out="docs/bench/$name-t$t.jsonl"
    echo "== $name metric=$metric threads=$t -> $out"
    ./build/tools/vectron bench search --dataset "$ds" --metric "$metric" --M 16 --ef-construction 200 \
      --ef 16,32,64,128,256,512 --k 10 --threads "$t" --json > "$out.tmp"
    mv "$out.tmp" "$out"
  done
done
/usr/bin/python3 scripts/bench_report.py docs/bench docs/benchmarks.md
if [ "${VECTRON_BENCH_SERVE:-0}" = 1 ]; then bash scripts/bench-serve.sh; fi
