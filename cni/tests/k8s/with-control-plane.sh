#!/usr/bin/env bash
# Runs COMMAND with the Kubernetes tier's control plane up and its environment set (KUBECONFIG,
# K8S_SERVER, ...), then stops it. Usage: with-control-plane.sh COMMAND [ARG...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
state=${CARGO_TARGET_DIR:-$repo/target}/k8s-tier
env_file=$("$here/up.sh" "$state")
trap '"$here/down.sh" "$state"' EXIT
. "$env_file"
"$@"
