#!/usr/bin/env bash
# The node tier (`make node`): brings up the node (with-node.sh) and runs the cni crate's `node_*` tests
# on it in three steps: node_install (the installer DaemonSet puts multiplane on the node; the others
# need it), then the tests that share the node peacefully, in parallel, then the ones that restart its
# daemons or switch its network (node_faults, node_latency, node_thick), one at a time. Root only.
# Usage: run.sh [extra nextest args]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
started=$(date +%s)
cd "$repo"
# Built before the node comes up (the node runs the installer image's plugins, not these builds).
cargo nextest run -p cni --no-run
nextest() { cargo nextest run -p cni --no-fail-fast "$@"; }
"$here/with-node.sh" bash -c "$(declare -f nextest); set -e; status=0
  nextest -E 'binary(node_install)' $* || exit 1
  nextest -E 'binary(/^node_/) - binary(node_install) - binary(node_faults) - binary(node_latency) - binary(node_thick)' $* || status=1
  nextest -j 1 --success-output final -E 'binary(node_faults) | binary(node_latency) | binary(node_thick)' $* || status=1
  exit \$status"
echo "node tier: took $(( $(date +%s) - started ))s in all"
