#!/usr/bin/env bash
# Stops the node tier that up.sh started in STATE: the scheduler, the controller manager, kubelet, then
# every pod sandbox through containerd's CRI (so the CNI DEL of each runs), containerd, any runc shim of
# this containerd left behind, the mounts under STATE, kubelet's cgroups, /var/lib/kubelet and the root
# mount's shared propagation if up.sh made them, and the control plane.
# Safe to run twice.
# Usage: down.sh STATE_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state=${1:?usage: down.sh STATE_DIR}
[ -d "$state" ] || exit 0
state=$(cd "$state" && pwd)
sock=$state/containerd/containerd.sock
cache=${NODE_CACHE:-/var/cache/multiplane/node}

"$here/daemon.sh" "$state" stop scheduler
"$here/daemon.sh" "$state" stop controller-manager
"$here/daemon.sh" "$state" stop kubelet

# Sandboxes go through containerd (a containerd killed by a test is started again for this).
if [ -f "$state/containerd/config.toml" ]; then
  [ -f "$state/containerd.pid" ] && kill -0 "$(cat "$state/containerd.pid")" 2>/dev/null \
    || "$here/daemon.sh" "$state" start containerd
  timeout 120 "$cache/bin/crictl" --config "$state/crictl.yaml" rmp --all --force >/dev/null \
    || echo "node tier: removing the pod sandboxes failed" >&2
  "$here/daemon.sh" "$state" stop containerd
fi

# Shims of this containerd (named by its socket in their arguments) that outlived it.
for cmdline in /proc/[0-9]*/cmdline; do
  pid=${cmdline#/proc/}; pid=${pid%/cmdline}
  if { tr '\0' ' ' < "$cmdline"; } 2>/dev/null | grep -q "^/usr/bin/containerd-shim-runc-v2 .*-address $sock "; then
    kill -KILL "$pid" 2>/dev/null
  fi
done

# Mounts under STATE (rootfs snapshots, kubelet's volumes), innermost first.
awk -v s="$state/" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r mnt; do
  umount "$mnt" 2>/dev/null || umount -l "$mnt"
done

# kubelet's cgroups, leaves first.
for hierarchy in /sys/fs/cgroup/*/; do
  [ -d "$hierarchy/multiplane-node" ] && find "$hierarchy/multiplane-node" -depth -type d -exec rmdir {} + 2>/dev/null
done

# /var/lib/kubelet, if up.sh made it (kubelet's device plugins' directory, the PodResources link).
[ -f "$state/made-var-lib-kubelet" ] && rm -rf /var/lib/kubelet && rm "$state/made-var-lib-kubelet"
# The root mount's propagation, if up.sh made it shared.
[ -f "$state/made-root-shared" ] && mount --make-private / && rm "$state/made-root-shared"

"$here/../k8s/down.sh" "$state/k8s"
