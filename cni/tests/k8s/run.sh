#!/usr/bin/env bash
# The Kubernetes tier of `make test`: builds (cached) and starts a real control plane, runs every `k8s_*`
# test binary of the cni crate against it, and stops it. Usage: run.sh [extra nextest args]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
started=$(date +%s)
cd "$repo"
cargo build -p cni --bins
"$here/with-control-plane.sh" cargo nextest run -p cni --no-fail-fast -E 'binary(/^k8s_/)' "$@"
echo "k8s tier: took $(( $(date +%s) - started ))s in all"
