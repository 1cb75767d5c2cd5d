#!/usr/bin/env bash
# Installs the Debian packages Vectron needs, if any are missing. Idempotent.
#   bash scripts/install-deps.sh             build and test dependencies, Node.js and npm
#                                            (the web console is built when they are there)
#   bash scripts/install-deps.sh --console   also Chromium and curl, for the console's
#                                            end-to-end test (scripts/test-console.sh)
set -euo pipefail
PKGS=(meson ninja-build pkg-config g++ liblmdb-dev libhnswlib-dev libeigen3-dev
      libabsl-dev libuv1-dev libflatbuffers-dev flatbuffers-compiler libssl-dev
      doctest-dev pybind11-dev python3-dev python3-numpy python3-pytest python3-mesonpy
      python3-venv python3-pip libroaring-dev libhttp-parser-dev nlohmann-json3-dev libsimdjson-dev
      libcli11-dev clang libclang-rt-14-dev python3-hnswlib openssl golang-go
      python3-pandas)  # Collection.to_pandas (its test is skipped without it); no python3-pyarrow in Debian 12
[ "${1:-}" = "--console" ] && PKGS+=(chromium curl)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm build the web console (console/) and the JavaScript client. Any node >= 18
# with its npm will do (Debian 12's nodejs + npm, or a nodejs package that bundles npm, whose
# package conflicts with Debian's npm): check the commands, not the package names.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
