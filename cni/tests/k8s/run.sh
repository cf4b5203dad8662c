#!/usr/bin/env bash
# The Kubernetes tier of `make test`: builds (cached) and starts a real control plane, runs every `k8s_*`
# test binary of the cni crate against it, and stops it. Usage: run.sh [extra nextest args]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
state=$target/k8s-tier
started=$(date +%s)

env_file=$("$here/up.sh" "$state")
trap '"$here/down.sh" "$state"' EXIT
. "$env_file"
cd "$repo"
cargo build -p cni --bins
cargo nextest run -p cni --no-fail-fast -E 'binary(/^k8s_/)' "$@"
echo "k8s tier: took $(( $(date +%s) - started ))s in all (apiserver log: $state/kube-apiserver.log)"
