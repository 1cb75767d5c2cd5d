#!/usr/bin/env bash
# Filtered search benchmark: `vectron bench filtered` on every dataset in
# ../shared/datasets (uncorrelated and correlated filters, 1,000 queries, all threads),
# saved under docs/bench/filtered/ and rendered into docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
DATA=${VECTRON_DATASETS:-../shared/datasets}
[ -d "$DATA" ] || { echo "skipped: no ../shared/datasets"; exit 0; }
mkdir -p docs/bench/filtered
for ds in "$DATA"/*/; do
  name=$(basename "$ds")
  case "$name" in *euclidean*) metric=l2 ;; *angular*) metric=cosine ;; *) metric=ip ;; esac
  out="docs/bench/filtered/$name.jsonl"
  echo "== $name metric=$metric -> $out"
  ./build/tools/vectron bench filtered --dataset "$ds" --metric "$metric" --M 16 --ef-construction 200 \
    --ef 16,32,64,96,128,192,256 --k 10 --threads 0 --max-queries 1000 --repeats 2 \
    --selectivity 0.5,0.3,0.1,0.01,0.001 --json > "$out.tmp"
  mv "$out.tmp" "$out"
done
/usr/bin/python3 scripts/bench_report.py docs/bench docs/benchmarks.md
