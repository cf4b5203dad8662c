#!/usr/bin/env bash
# Builds the libcni driver against Debian's libcni (golang-github-appc-cni-dev) in GOPATH mode.
# Usage: build.sh OUTPUT_BINARY
set -euo pipefail
out=${1:?usage: build.sh OUTPUT_BINARY}
here=$(cd "$(dirname "$0")" && pwd)
gopath=$(mktemp -d)
trap 'rm -rf "$gopath"' EXIT
mkdir -p "$gopath/src/libcni-driver" "$(dirname "$out")"
cp "$here/main.go" "$gopath/src/libcni-driver/"
cd "$gopath/src/libcni-driver"
# Go's build cache lives beside the output, so the build works without $HOME and starts clean in CI.
export GOCACHE="${GOCACHE:-$(cd "$(dirname "$out")" && pwd)/go-cache}"
GOPATH="$gopath:/usr/share/gocode" GO111MODULE=off go build -o "$out.tmp" .
mv "$out.tmp" "$out"
