#!/usr/bin/env bash
# Builds the Kubernetes test tier's binaries from the k8s.io/kubernetes Go module (kube-apiserver, kubelet),
# the etcd server that Kubernetes release pins, and our podresources-stub (kubelet's PodResources API
# from kubelet's own generated code), once per version, into a cache outside the repo.
# Prints the directory holding the binaries.
# Usage: build.sh [BINARY...] (default: etcd kube-apiserver podresources-stub)
# Env: K8S_VERSION (default v1.34.4), K8S_CACHE (default /var/cache/multiplane/k8s).
set -euo pipefail

version=${K8S_VERSION:-v1.34.4}
cache=${K8S_CACHE:-/var/cache/multiplane/k8s}/$version
bins=("$@"); [ ${#bins[@]} -gt 0 ] || bins=(etcd kube-apiserver podresources-stub)
here=$(cd "$(dirname "$0")" && pwd)
# The machine's Go (/usr/local/go, 1.26) on purpose: Debian's golang-go 1.19 is too old for Kubernetes.
export PATH=/usr/local/go/bin:$PATH GOTOOLCHAIN=local GOFLAGS=-mod=mod
export GOPATH=${GOPATH:-/root/go} GOCACHE=${GOCACHE:-/root/.cache/go-build}
command -v go >/dev/null || { echo "k8s build: Go is not installed (need Go >= 1.24 at /usr/local/go)" >&2; exit 1; }

# Kubernetes binaries report their release (kubelet registers its Node with it).
version_flags="-X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1"
version_flags="$version_flags -X k8s.io/component-base/version.gitMinor=$(echo "$version" | cut -d. -f2)"
mkdir -p "$cache/src" "$cache/bin"
cd "$cache/src"
if [ ! -f go.sum ]; then
  # Require k8s.io/kubernetes and replace each staging module it pins to v0.0.0 with the matching v0.X.Y.
  staging_version=v0.${version#v1.}
  go mod init multiplane.local/k8s-tier >/dev/null 2>&1 || true
  go mod edit -require "k8s.io/kubernetes@$version"
  modfile=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  for m in $(awk '/^\tk8s.io\/[^ ]+ v0.0.0$/ {print $1}' "$modfile"); do
    go mod edit -replace "$m=$m@$staging_version"
  done
  cat > tools.go <<'GO'
//go:build tools

// Package tools pins the commands the test tier builds.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
  go mod tidy >/dev/null
fi

# Our stub is rebuilt whenever its source changes (it is small); the rest once per version.
mkdir -p podresources-stub
if ! cmp -s "$here/podresources-stub/main.go" podresources-stub/main.go; then
  cp "$here/podresources-stub/main.go" podresources-stub/main.go
  rm -f "$cache/bin/podresources-stub"
fi
declare -A pkg=([etcd]=go.etcd.io/etcd/server/v3 [kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
                [kubelet]=k8s.io/kubernetes/cmd/kubelet [podresources-stub]=./podresources-stub)
for b in "${bins[@]}"; do
  [ -n "${pkg[$b]:-}" ] || { echo "k8s build: unknown binary $b" >&2; exit 1; }
  if [ ! -x "$cache/bin/$b" ]; then
    started=$(date +%s)
    go build -trimpath -ldflags="-s $version_flags" -o "$cache/bin/$b.tmp" "${pkg[$b]}"
    mv "$cache/bin/$b.tmp" "$cache/bin/$b"
    echo "k8s build: $b $version built in $(( $(date +%s) - started ))s" >&2
  fi
done
echo "$cache/bin"
