#!/usr/bin/env bash
# The main job: install what is missing, build, run the quickstart example (which
# creates a database under ./vectron-data, inserts 5,000 vectors with metadata,
# searches and prints the results), then serve that database with `vectron serve`
# (REST/JSON on https://127.0.0.1:7700, binary RPC on 127.0.0.1:7701, both TLS with a
# self-signed certificate generated into ./vectron-data/tls/, and authentication on;
# Ctrl-C or SIGTERM stops it gracefully). VECTRON_NO_SERVE=1 stops after the quickstart.
# On the first start the server creates the user "admin" with the password in
# $VECTRON_ADMIN_PASSWORD, or generates one and prints it once. See docs/auth.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build
./build/examples/quickstart ./vectron-data
[ "${VECTRON_NO_SERVE:-0}" = 1 ] && exit 0
cat <<'HOWTO'

== Serving ./vectron-data over TLS (certificate ./vectron-data/tls/cert.pem) with auth on. Connect:
  CA="--cacert ./vectron-data/tls/cert.pem"; URL=https://127.0.0.1:7700
  # log in as admin: the password is $VECTRON_ADMIN_PASSWORD, or the one printed below on the first start
  LOGIN=$(curl -s $CA $URL/v1/auth/login -d '{"username": "admin", "password": "PASSWORD"}' \
          | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
  # an API key for the data API (its SDK token is shown once)
  KEY=$(curl -s $CA $URL/v1/keys -H "Authorization: Bearer $LOGIN" \
          -d '{"name": "cli", "scopes": ["read", "write", "admin"]}' \
          | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
  curl -s $CA $URL/v1/collections -H "Authorization: Bearer $KEY"

HOWTO
exec ./build/tools/vectron serve --db ./vectron-data
