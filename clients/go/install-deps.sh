#!/usr/bin/env bash
# Installs Debian 12's Go toolchain, protoc and the Go protobuf/gRPC libraries the client builds against
# (no module proxy needed), only when something is missing. apt-get needs root, or sudo.
set -euo pipefail

# golang-github-golang-protobuf-1-5-dev is named on purpose: left out, apt satisfies grpc's dependency with
# the 1.3 package, whose marshaller crashes (SIGSEGV) on the first RPC that carries a Struct or Value.
PACKAGES=(golang-go protobuf-compiler libprotobuf-dev protoc-gen-go protoc-gen-go-grpc golang-google-grpc-dev
  golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev golang-google-genproto-dev)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

SUDO=$([[ $(id -u) -eq 0 ]] || echo sudo)
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; }
