#!/usr/bin/env bash
# Regenerate the Go code in clients/go/gen from proto/vlm/v1 (never edit clients/go/gen by hand).
#   scripts/generate_go.sh           rewrite clients/go/gen
#   scripts/generate_go.sh --check   regenerate into a temporary folder; fail when anything differs (CI drift check)
# Needs protoc, protoc-gen-go and protoc-gen-go-grpc (clients/go/install-deps.sh installs Debian 12's).
# The checked-in code was made by protoc 3.21.12, protoc-gen-go v1.28.1 and protoc-gen-go-grpc 1.33.3:
# other versions write other headers (or code), which the check reports as drift.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=$ROOT/clients/go/gen
GO_PACKAGE=github.com/vlm-grpc/vlm-grpc/clients/go/gen/vlm/v1

for tool in protoc protoc-gen-go protoc-gen-go-grpc; do
  command -v "$tool" >/dev/null || { echo "$tool not found: run clients/go/install-deps.sh" >&2; exit 1; }
done

generate() {  # $1: output folder
  local sources=() mapping="" file
  cd "$ROOT/proto"
  for file in vlm/v1/*.proto; do
    sources+=("$file")
    # The files' own go_package names no real folder; M options place the package under clients/go/gen.
    mapping+=",M$file=$GO_PACKAGE;vlmv1"
  done
  # google/rpc comes from proto/google/rpc (its go_package is genproto's); the well-known types from
  # /usr/include, where libprotobuf-dev puts them.
  protoc -I . --go_out="$1" --go_opt="paths=source_relative$mapping" \
    --go-grpc_out="$1" --go-grpc_opt="paths=source_relative$mapping" "${sources[@]}"
}

fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
generate "$fresh"

if [[ "${1:-}" == "--check" ]]; then
  if ! diff -r "$fresh" "$TARGET" >/dev/null 2>&1; then
    echo "generated Go code is out of date; run scripts/generate_go.sh:" >&2
    diff -rq "$fresh" "$TARGET" >&2 || true
    exit 1
  fi
  echo "generated Go code is up to date"
  exit 0
fi

rm -rf "$TARGET"
cp -r "$fresh" "$TARGET"
echo "wrote ${TARGET#"$ROOT"/}"
