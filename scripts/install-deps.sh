#!/usr/bin/env bash
# Installs the Debian packages Vectron needs, if any are missing. Idempotent.
set -euo pipefail
PKGS=(meson ninja-build pkg-config g++ liblmdb-dev libhnswlib-dev libeigen3-dev
      libabsl-dev libuv1-dev libflatbuffers-dev flatbuffers-compiler libssl-dev
      doctest-dev pybind11-dev python3-dev python3-numpy python3-pytest python3-mesonpy
      python3-venv python3-pip libroaring-dev libhttp-parser-dev nlohmann-json3-dev
      libcli11-dev clang libclang-rt-14-dev python3-hnswlib openssl golang-go)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm (the JavaScript client): Debian's unless some node (e.g. a newer one from
# another repository, whose package conflicts with Debian's npm) is already installed.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
