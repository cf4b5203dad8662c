#!/usr/bin/env bash
# Stops the control plane that up.sh started in STATE_DIR (kube-apiserver first, then etcd).
set -uo pipefail
state=${1:?usage: down.sh STATE_DIR}
for p in kube-apiserver etcd; do
  [ -f "$state/$p.pid" ] || continue
  pid=$(cat "$state/$p.pid")
  kill "$pid" 2>/dev/null && for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
  rm -f "$state/$p.pid"
done
