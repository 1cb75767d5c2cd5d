#!/usr/bin/env bash
# Server benchmark: search QPS and p50/p99 latency on the shared GloVe set through the
# embedded API, HTTP/JSON and the binary RPC, in one process on loopback, with 1 and 2
# client connections, at the first ef whose recall@10 reaches 0.95. The output (a
# Markdown table with the load average) goes to docs/bench/serve-<dataset>.md; paste
# it into docs/benchmarks.md.
#
# The built collection is kept in $VECTRON_SERVE_BENCH_DB (default
# /tmp/vectron-serve-bench-<dataset>) and reused by the next run: importing the 200k
# points takes minutes on a 2-core machine. Extra arguments go to `vectron bench serve`
# and override the defaults here (e.g. --max-base 100000 for a subset, --rounds 5).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
DATA=${VECTRON_DATASETS:-../shared/datasets}
ds="$DATA/${VECTRON_SERVE_BENCH_DATASET:-glove-100-angular-200k}"
[ -d "$ds" ] || { echo "skipped: no $ds"; exit 0; }
name=$(basename "$ds")
db=${VECTRON_SERVE_BENCH_DB:-/tmp/vectron-serve-bench-$name}
mkdir -p docs/bench
out="docs/bench/serve-$name.md"
./build/tools/vectron bench serve --dataset "$ds" --db "$db" --M 16 --ef-construction 200 \
  --ef 64,128,256,512 --target-recall 0.95 --k 10 --clients 1,2 --rounds 5 --seconds 5 "$@" > "$out.tmp"
mv "$out.tmp" "$out"
cat "$out"
