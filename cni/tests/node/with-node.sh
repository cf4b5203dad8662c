#!/usr/bin/env bash
# Runs COMMAND with the node tier up (up.sh) and the node's own network in place, then stops it all.
# The node's own network, as a cluster's network provider would lay it: the reference plugins (Debian's
# containernetworking-plugins) in its CNI bin dir and a bridge network (10-node-bridge.conflist) as its
# only configuration; multiplane comes on top through the installer DaemonSet (node_install).
# containerd gets the sriov plugin's host seams pointing into STATE/sriov, where a test links its fake
# SR-IOV tree. The node's images: the installer and VNF archives of `make images`
# (docker/build-images.sh, run when they are missing) are imported next to the tier's own.
# Usage: with-node.sh COMMAND [ARG...]. Env: NODE_IMAGES (dir of the archives; <target>/images),
# NODE_TIER_STATE (the tier's state, kept after the run for its logs; /var/tmp/multiplane-node-tier: a
# short path, as kubelet's and containerd's unix sockets live under it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
state=${NODE_TIER_STATE:-/var/tmp/multiplane-node-tier}
images=${NODE_IMAGES:-$target/images}

if [ ! -f "$images/multiplane-installer.tar" ] || [ ! -f "$images/multiplane-vnf.tar" ]; then
  IMAGES_OUT=$images "$repo/docker/build-images.sh"
fi
dpkg-query -W -f '${Status}' containernetworking-plugins 2>/dev/null | grep -q 'ok installed' || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq containernetworking-plugins >&2; }

env_file=$(SRIOV_SYSFS_ROOT=$state/sriov/sys SRIOV_DEV_ROOT=$state/sriov/dev SRIOV_STATE_DIR=$state/sriov/state \
  SRIOV_PF_JOURNAL=$state/sriov/journal NODE_CNI_ENV="SRIOV_SYSFS_ROOT SRIOV_DEV_ROOT SRIOV_STATE_DIR SRIOV_PF_JOURNAL" \
  "$here/up.sh" "$state")
bridge=mpnode0
trap '"$here/down.sh" "$state"; ip link del "$bridge" 2>/dev/null || true' EXIT
# shellcheck disable=SC1090
. "$env_file"

cp /usr/lib/cni/* "$NODE_CNI_BIN/"
cat > "$NODE_CNI_CONF/10-node-bridge.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "node-bridge", "plugins": [
  {"type": "bridge", "bridge": "$bridge", "isGateway": true,
   "ipam": {"type": "host-local", "subnet": "10.240.0.0/24", "dataDir": "$NODE_STATE/ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
JSON
for archive in "$images/multiplane-installer.tar" "$images/multiplane-vnf.tar"; do
  ctr --address "$CONTAINERD_ADDRESS" -n k8s.io image import "$archive" >/dev/null
done
"$@"
