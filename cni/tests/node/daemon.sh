#!/usr/bin/env bash
# Starts, stops or kills one of the node tier's daemons (containerd, kubelet, the controller manager that
# runs the DaemonSet controller, the scheduler) as up.sh configured it in STATE; the tests restart them
# through this.
# Usage: daemon.sh STATE start|stop|kill containerd|kubelet|controller-manager|scheduler
#   start: starts it (its log appended to STATE/log/NAME.log) and waits until it answers.
#   stop:  SIGTERM, then SIGKILL after 20 s; kill: SIGKILL at once (a crash). Both wait for the exit.
set -euo pipefail
state=${1:?usage: daemon.sh STATE start|stop|kill containerd|kubelet}
action=${2:?action} name=${3:?daemon}
pidfile=$state/$name.pid

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

wait_gone() { # PID SECONDS
  local i
  for i in $(seq 1 $(( $2 * 10 ))); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  return 1
}

case $action in
start)
  ! running || { echo "node tier: $name is already running (pid $(cat "$pidfile"))" >&2; exit 1; }
  case $name in
  containerd)
    mapfile -t cni_env < "$state/containerd/cni.env"
    env "${cni_env[@]}" containerd --config "$state/containerd/config.toml" >>"$state/log/containerd.log" 2>&1 &
    echo $! > "$pidfile"
    ready() { ctr --address "$state/containerd/containerd.sock" version >/dev/null 2>&1; } ;;
  kubelet)
    # shellcheck disable=SC1091
    . "$state/kubelet/env"
    "$KUBELET" --config "$state/kubelet/config.yaml" --kubeconfig "$state/kubelet/kubeconfig" \
      --root-dir "$state/kubelet/root" --cert-dir "$state/kubelet/pki" --hostname-override "$NODE_NAME" \
      >>"$state/log/kubelet.log" 2>&1 &
    echo $! > "$pidfile"
    ready() { curl -fsS --max-time 1 "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz" >/dev/null 2>&1; } ;;
  controller-manager)
    # shellcheck disable=SC1091
    . "$state/kubelet/env"
    "$KUBE_CONTROLLER_MANAGER" --kubeconfig "$state/k8s/admin.kubeconfig" --controllers "$CONTROLLERS" \
      --leader-elect=false --bind-address 127.0.0.1 --secure-port "$CONTROLLER_MANAGER_PORT" \
      --cert-dir "$state/pki/controller-manager" --root-ca-file "$state/k8s/pki/ca.crt" \
      >>"$state/log/$name.log" 2>&1 &
    echo $! > "$pidfile"
    ready() { curl -fsSk --max-time 1 "https://127.0.0.1:$CONTROLLER_MANAGER_PORT/healthz" >/dev/null 2>&1; } ;;
  scheduler)
    # shellcheck disable=SC1091
    . "$state/kubelet/env"
    "$KUBE_SCHEDULER" --kubeconfig "$state/k8s/admin.kubeconfig" --leader-elect=false \
      --bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" --cert-dir "$state/pki/scheduler" \
      >>"$state/log/$name.log" 2>&1 &
    echo $! > "$pidfile"
    ready() { curl -fsSk --max-time 1 "https://127.0.0.1:$SCHEDULER_PORT/healthz" >/dev/null 2>&1; } ;;
  *) echo "node tier: unknown daemon $name" >&2; exit 1 ;;
  esac
  for _ in $(seq 1 600); do
    ready && exit 0
    running || break
    sleep 0.1
  done
  echo "node tier: $name did not start; last lines of STATE/log/$name.log:" >&2
  tail -20 "$state/log/$name.log" >&2
  exit 1 ;;
stop|kill)
  running || exit 0
  pid=$(cat "$pidfile")
  if [ "$action" = kill ]; then
    kill -KILL "$pid"; wait_gone "$pid" 10
  else
    kill -TERM "$pid"; wait_gone "$pid" 20 || { kill -KILL "$pid"; wait_gone "$pid" 10; }
  fi
  rm -f "$pidfile" ;;
*) echo "node tier: unknown action $action" >&2; exit 1 ;;
esac
