#!/usr/bin/env bash
# The main job: install what is missing, build, run the quickstart example (which
# creates a database under ./vectron-data, inserts 5,000 vectors with metadata,
# searches and prints the results), then serve that database with `vectron serve`
# (REST/JSON on 127.0.0.1:7700, binary RPC on 127.0.0.1:7701; Ctrl-C or SIGTERM stops
# it gracefully). VECTRON_NO_SERVE=1 stops after the quickstart.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build
./build/examples/quickstart ./vectron-data
[ "${VECTRON_NO_SERVE:-0}" = 1 ] && exit 0
exec ./build/tools/vectron serve --data ./vectron-data
