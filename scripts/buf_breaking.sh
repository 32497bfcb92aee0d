#!/usr/bin/env bash
# buf breaking (FILE rules, proto/buf.yaml) for the vlm.v1 API, against two baselines:
#   1. the released API, proto/release/vlm-v1.json (a buf image: what shipped to clients must keep working);
#   2. the proto as it stood on main before this change: the merge base with origin/main (or main) when HEAD
#      is not on it, else HEAD's parent (a clean clone of main checks its last commit).
#   scripts/buf_breaking.sh             both checks (make test)
#   scripts/buf_breaking.sh --release   cut a release: write today's API as the new proto/release/vlm-v1.json
# Offline: buf reads the git history of this checkout, no registry.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUF=$ROOT/proto/node_modules/.bin/buf
RELEASE=release/vlm-v1.json
cd "$ROOT/proto"

if [ "${1:-}" = --release ]; then
  "$BUF" build --exclude-source-info -o "$RELEASE"
  echo "wrote proto/$RELEASE"
  exit 0
fi

echo "buf breaking against the released API (proto/$RELEASE)"
"$BUF" breaking --against "$RELEASE"

git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1 || { echo "not a git checkout: skipped the check against main"; exit 0; }
head=$(git -C "$ROOT" rev-parse HEAD)
base=""
for ref in origin/main main; do
  if tip=$(git -C "$ROOT" rev-parse -q --verify "$ref^{commit}"); then
    base=$(git -C "$ROOT" merge-base HEAD "$tip" || true)
    break
  fi
done
if [ -z "$base" ] || [ "$base" = "$head" ]; then
  base=$(git -C "$ROOT" rev-parse -q --verify "HEAD~1^{commit}" || true)
fi
if [ -z "$base" ]; then
  echo "no earlier commit: skipped the check against main"
  exit 0
fi
if ! git -C "$ROOT" cat-file -e "$base:proto/buf.yaml" 2>/dev/null; then
  echo "main at ${base:0:12} has no buf module: skipped the check against main"
  exit 0
fi
echo "buf breaking against main before this change (${base:0:12})"
"$BUF" breaking --against "$ROOT/.git#ref=$base,subdir=proto"
