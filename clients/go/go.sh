#!/usr/bin/env bash
# Runs `go "$@"` in clients/go, offline, against Debian's Go packages in /usr/share/gocode (GOPATH mode:
# no module proxy, no go.sum). The build cache and the GOPATH link live in clients/go/.cache.
#   clients/go/go.sh vet ./... && clients/go/go.sh test ./...
#   clients/go/go.sh build -o .cache/bin/ocr-document ./cmd/ocr-document
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
IMPORT_PATH=github.com/vlm-grpc/vlm-grpc/clients/go
CACHE=$HERE/.cache
SYSTEM_GOPATH=/usr/share/gocode

command -v go >/dev/null || { echo "go not found: run clients/go/install-deps.sh" >&2; exit 1; }
[[ -d $SYSTEM_GOPATH/src/google.golang.org/grpc ]] || {
  echo "Debian's Go gRPC packages are missing: run clients/go/install-deps.sh" \
       "(or, with a module proxy, use plain module mode: go mod tidy && go build ./...)" >&2; exit 1; }

# GOPATH mode finds this module's packages by import path, so link the folder into a private GOPATH.
link=$CACHE/gopath/src/$IMPORT_PATH
mkdir -p "$(dirname "$link")"
[[ $(readlink "$link" 2>/dev/null) == "$HERE" ]] || ln -sfn "$HERE" "$link"  # re-linked if the repo moved

cd "$link"
export GO111MODULE=off GOPATH=$CACHE/gopath:$SYSTEM_GOPATH GOCACHE=$CACHE/go-build GOPROXY=off GOFLAGS=
exec go "$@"
