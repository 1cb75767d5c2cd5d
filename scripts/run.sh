#!/usr/bin/env bash
# The main job: install what is missing, build, and run the quickstart example, which
# creates a database under ./vectron-data, inserts 5,000 vectors with metadata,
# searches and prints the results.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build
./build/examples/quickstart ./vectron-data
