#!/usr/bin/env bash
# Builds a libFuzzer target directly with clang (not via meson) and runs it briefly.
# Usage: fuzz/run.sh TARGET SECONDS    e.g. fuzz/run.sh filter_parser 60
# Exits non-zero if the fuzzer finds a crash, leak or sanitizer error.
# VECTRON_WERROR=1 (scripts/test.sh sets it) makes compiler warnings errors.
set -euo pipefail

target="${1:?usage: fuzz/run.sh TARGET SECONDS}"
seconds="${2:?usage: fuzz/run.sh TARGET SECONDS}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

case "$target" in
  filter_parser)
    sources=(fuzz/filter_parser_fuzz.cc lib/filter/value.cc lib/filter/ast.cc lib/filter/parser.cc
             lib/filter/evaluator.cc lib/filter/printer.cc lib/filter/walk.cc lib/util/untrusted_json.cc lib/status.cc)
    libs=()
    seeds="fuzz/corpus/filter"
    dict="fuzz/filter.dict"
    ;;
  json_body)
    sources=(fuzz/json_body_fuzz.cc net/api/request_json.cc lib/util/untrusted_json.cc lib/validate.cc
             lib/filter/value.cc lib/filter/ast.cc lib/filter/parser.cc lib/filter/evaluator.cc lib/filter/printer.cc
             lib/filter/walk.cc lib/status.cc)
    libs=()
    seeds="fuzz/corpus/json"
    dict="fuzz/json.dict"
    ;;
  http_request)
    sources=(fuzz/http_request_fuzz.cc net/io/event_loop.cc net/http/http_server.cc net/http/http_types.cc
             net/api/request_json.cc lib/util/untrusted_json.cc lib/status.cc)
    libs=(-luv -lhttp_parser)
    seeds="fuzz/corpus/http"
    dict="fuzz/http.dict"
    ;;
  rpc_frame)
    sources=(fuzz/rpc_frame_fuzz.cc net/rpc/frame.cc lib/status.cc)
    libs=()
    seeds="fuzz/corpus/rpc"
    dict=""
    ;;
  jwt)
    sources=(fuzz/jwt_fuzz.cc net/auth/jwt.cc net/auth/base64url.cc net/io/crypto.cc lib/status.cc)
    libs=(-lcrypto)
    seeds="fuzz/corpus/jwt"
    dict="fuzz/jwt.dict"
    ;;
  *)
    echo "unknown fuzz target: $target" >&2
    exit 2
    ;;
esac

cxx="${CXX_FUZZ:-clang++}"
out="$(mktemp -d /tmp/vectron-fuzz-${target}.XXXXXX)"
# The RPC schema's generated header (the meson build makes it the same way).
flatc --cpp --scoped-enums -o "$out" net/schema/rpc.fbs
binary="$out/${target}_fuzz"
echo "building $binary"
werror=()
[ "${VECTRON_WERROR:-0}" = 1 ] && werror=(-Werror)
# -lsimdjson: lib/util/untrusted_json.cc parses with it (unused, and dropped, by the others).
# -g1: line tables, which is what a crash report prints (file:line), at less compile time than -g.
"$cxx" -std=c++20 -g1 -O1 -Wall -Wextra ${werror[@]+"${werror[@]}"} -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I include -I lib -I . -I "$out" "${sources[@]}" ${libs[@]+"${libs[@]}"} -lsimdjson -o "$binary"

# Run on a scratch copy so the committed seeds are not mixed with generated inputs.
corpus="$out/corpus"
mkdir -p "$corpus"
cp "$seeds"/* "$corpus"/
echo "fuzzing $target for ${seconds}s (artifacts in $out)"
"$binary" -max_total_time="$seconds" -max_len=4096 -timeout=10 -print_final_stats=1 \
  ${dict:+-dict="$dict"} -artifact_prefix="$out/" "$corpus"
