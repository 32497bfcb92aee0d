#!/usr/bin/env bash
# Regenerate the TypeScript code in clients/typescript/src/gen from proto/ with buf and protoc-gen-es (never edit
# src/gen by hand); both are pinned in package.json, so the output only changes when proto/ does.
#   clients/typescript/generate.sh           rewrite src/gen
#   clients/typescript/generate.sh --check   regenerate into a temporary folder; fail when anything differs (CI)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TARGET=$HERE/src/gen
cd "$HERE"
./install-deps.sh

fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
# buf.gen.yaml: the input (../../proto) and the local plugin, relative to this folder; -o prefixes its out.
./node_modules/.bin/buf generate --template buf.gen.yaml -o "$fresh"

if [[ "${1:-}" == "--check" ]]; then
  if ! diff -r "$fresh/src/gen" "$TARGET" >/dev/null 2>&1; then
    echo "generated TypeScript code is out of date; run clients/typescript/generate.sh:" >&2
    diff -rq "$fresh/src/gen" "$TARGET" >&2 || true
    exit 1
  fi
  echo "generated TypeScript code is up to date"
  exit 0
fi

rm -rf "$TARGET"
cp -r "$fresh/src/gen" "$TARGET"
echo "wrote clients/typescript/src/gen"
