#!/usr/bin/env bash
# Builds what the node tier needs, once, into caches outside the repo, installing Debian packages first:
# containerd + runc (the CRI runtime), busybox-static (the test image), gcc (the pause binary); kubelet,
# etcd, kube-apiserver and the podresources-stub through the Kubernetes tier's build.sh; crictl from the
# Go module proxy; kube-controller-manager and kube-scheduler of the same release; our device plugin
# (device-plugin/main.go, on kubelet's own API module); and the node's two images (pause, busybox) as
# OCI archives.
# Prints NODE_CACHE (below), which holds those binaries in bin/ and the archives in images/.
# Env: NODE_CACHE (default /var/cache/multiplane/node), CRICTL_VERSION (v1.34.0), K8S_VERSION (build.sh's).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${NODE_CACHE:-/var/cache/multiplane/node}
crictl_version=${CRICTL_VERSION:-v1.34.0}

missing=()
for package in containerd runc busybox-static gcc libc6-dev openssl curl util-linux iproute2; do
  dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q 'ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "node build: installing ${missing[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

"$here/../k8s/build.sh" etcd kube-apiserver kubelet podresources-stub >/dev/null

export PATH=/usr/local/go/bin:$PATH GOTOOLCHAIN=local GOFLAGS=-mod=mod
export GOPATH=${GOPATH:-/root/go} GOCACHE=${GOCACHE:-/root/.cache/go-build}
mkdir -p "$cache/bin" "$cache/images"
if [ ! -x "$cache/bin/crictl" ]; then
  started=$(date +%s)
  GOBIN=$cache/bin.tmp go install -trimpath -ldflags=-s "sigs.k8s.io/cri-tools/cmd/crictl@$crictl_version"
  mv "$cache/bin.tmp/crictl" "$cache/bin/crictl"; rmdir "$cache/bin.tmp"
  echo "node build: crictl $crictl_version built in $(( $(date +%s) - started ))s" >&2
fi

# kube-controller-manager (its DaemonSet controller creates the installer's pods) and kube-scheduler
# (which binds them to the node), from the tier's k8s.io/kubernetes release: a module of our own that
# starts from the tier's go.mod.
k8s_version=${K8S_VERSION:-v1.34.4}
k8s_src=${K8S_CACHE:-/var/cache/multiplane/k8s}/$k8s_version/src
src=$cache/src/$k8s_version
mkdir -p "$src"
printf '%s\n' '//go:build tools' '' '// Package tools pins the commands the node tier builds.' 'package tools' '' 'import (' \
  '	_ "k8s.io/kubernetes/cmd/kube-controller-manager"' '	_ "k8s.io/kubernetes/cmd/kube-scheduler"' ')' > "$src/tools.go.new"
if ! cmp -s "$src/tools.go.new" "$src/tools.go"; then
  cp "$k8s_src/go.mod" "$k8s_src/go.sum" "$src/"
  (cd "$src" && go mod edit -module multiplane.local/node-tier)
  mv "$src/tools.go.new" "$src/tools.go"
  (cd "$src" && go mod tidy >/dev/null)
fi
rm -f "$src/tools.go.new"
flags="-s -X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1"
flags="$flags -X k8s.io/component-base/version.gitMinor=$(echo "$k8s_version" | cut -d. -f2)"
# Our device plugin (cni/tests/node/device-plugin) is rebuilt whenever its source changes.
mkdir -p "$src/device-plugin"
if ! cmp -s "$here/device-plugin/main.go" "$src/device-plugin/main.go"; then
  cp "$here/device-plugin/main.go" "$src/device-plugin/main.go"
  rm -f "$cache/bin/device-plugin"
fi
if [ ! -x "$cache/bin/device-plugin" ]; then
  (cd "$src" && go build -trimpath -ldflags=-s -o "$cache/bin/device-plugin.tmp" ./device-plugin)
  mv "$cache/bin/device-plugin.tmp" "$cache/bin/device-plugin"
fi
for b in kube-controller-manager kube-scheduler; do
  if [ ! -x "$cache/bin/$b-$k8s_version" ]; then
    started=$(date +%s)
    (cd "$src" && go build -trimpath -ldflags="$flags" -o "$cache/bin/$b.tmp" "k8s.io/kubernetes/cmd/$b")
    mv "$cache/bin/$b.tmp" "$cache/bin/$b-$k8s_version"
    echo "node build: $b $k8s_version built in $(( $(date +%s) - started ))s" >&2
  fi
done

# The images are tiny and rebuilt every time (deterministically: same inputs, same digests).
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$work/pause" "$work/busybox/bin" "$work/busybox/etc"
install -d -m 1777 "$work/busybox/tmp"
gcc -static -Os -s -o "$work/pause/pause" "$here/pause/pause.c"
"$here/oci-archive.sh" "$work/pause" localhost/multiplane/pause:node '["/pause"]' "$cache/images/pause.tar"
cp /bin/busybox "$work/busybox/bin/busybox"
for applet in $(busybox --list); do
  [ "$applet" = busybox ] || ln -s busybox "$work/busybox/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$work/busybox/etc/passwd"
printf 'root:x:0:\n' > "$work/busybox/etc/group"
"$here/oci-archive.sh" "$work/busybox" localhost/multiplane/busybox:node '["/bin/sh"]' "$cache/images/busybox.tar"
echo "$cache"
