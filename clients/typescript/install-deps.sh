#!/usr/bin/env bash
# Installs the TypeScript client's pinned npm packages (package-lock.json) into clients/typescript/node_modules,
# only when they are missing or the lock file changed since the last install. Install scripts are skipped:
# none is needed (buf's only checks for its platform binary, which its bin shim finds on its own).
set -euo pipefail
cd "$(dirname "$0")"

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "$tool not found: install Node.js 20 or later" >&2; exit 1; }
done
stamp=node_modules/.installed-$(sha1sum package-lock.json | cut -c1-12)
[[ -e $stamp ]] && exit 0

npm ci --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error
touch "$stamp"
