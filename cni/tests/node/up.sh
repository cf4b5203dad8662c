#!/usr/bin/env bash
# Brings up the node tier: the Kubernetes tier's control plane (etcd + kube-apiserver), then one node on
# this machine: containerd (Debian) + runc as its CRI runtime and kubelet registered as Node $NODE_NAME,
# kube-controller-manager running the DaemonSet controller (and the kube-root-ca.crt publisher), and
# kube-scheduler, which binds the DaemonSet's pods (the tests' own pods name their node).
# Everything is private to STATE: containerd's root, state, socket and CNI dirs (STATE/cni/bin,
# STATE/cni/net.d: never the machine's /opt/cni/bin or /etc/cni/net.d), kubelet's root and certificate
# dirs, the cgroup root (/multiplane-node in every hierarchy, cgroupfs driver); kubelet's fixed paths
# under /var/lib/kubelet are the exception (see below). Images come only from local builds (build.sh):
# the sandbox image and a static busybox, imported with ctr.
# The node starts without a CNI configuration (NotReady for pod networks until one is written to
# STATE/cni/net.d); host-network pods run at once.
# Usage: up.sh STATE_DIR. Prints the path of an env file to source (the control plane's variables plus
# NODE_*, CONTAINERD_ADDRESS, CRICTL and CRI_CONFIG_FILE for it). down.sh STATE_DIR stops everything.
# Env: NODE_NAME (multiplane-node), K8S_APISERVER_PORT (36443), K8S_ETCD_PORT (32379),
# NODE_KUBELET_PORT (30250; kubelet's healthz on that - 2, the controller manager's + 7, the scheduler's
# + 9: below the kernel's ephemeral range, where a client's source port can take a listener's port), and
# NODE_CNI_ENV: names of variables (space-separated, e.g. the sriov seams) passed on to containerd, which
# runs the CNI plugins with its own environment.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
state=${1:?usage: up.sh STATE_DIR}
node=${NODE_NAME:-multiplane-node}
export K8S_APISERVER_PORT=${K8S_APISERVER_PORT:-36443} K8S_ETCD_PORT=${K8S_ETCD_PORT:-32379}
kubelet_port=${NODE_KUBELET_PORT:-30250}
healthz_port=$((kubelet_port - 2))
cgroup_root=/multiplane-node
pause_image=localhost/multiplane/pause:node
started=$(date +%s.%N)

cache=$("$here/build.sh")
built=$(date +%s.%N)
"$here/down.sh" "$state" >/dev/null 2>&1 || true
rm -rf "$state"
mkdir -p "$state"/{containerd/root,containerd/state,containerd/opt,cni/bin,cni/net.d,kubelet/root,pki,log}
state=$(cd "$state" && pwd)
# Whatever started is stopped again if a later step fails (the logs stay in STATE/log).
trap 'code=$?; [ $code -eq 0 ] || { echo "node tier: bring-up failed; logs in $state/log" >&2; "$here/down.sh" "$state" >/dev/null 2>&1; }' EXIT
# A unix socket's path has at most 107 bytes; kubelet's longest is this one.
longest=$state/kubelet/root/pod-resources/kubelet.sock
[ ${#longest} -le 107 ] || { echo "node tier: STATE $state is too long for kubelet's sockets ($longest)" >&2; exit 1; }

env_file=$("$here/../k8s/up.sh" "$state/k8s")
# shellcheck disable=SC1090
. "$env_file"
admin_token=$(awk -F, '$2 == "admin" {print $1}' "$K8S_TOKEN_FILE")
api() { # METHOD PATH [JSON]: the API as cluster admin
  curl -fsS --cacert "$K8S_CA" -H "Authorization: Bearer $admin_token" -H 'Content-Type: application/json' \
    -X "$1" "$K8S_SERVER$2" ${3:+--data "$3"}
}

# kubelet's client certificate (group system:nodes, user system:node:NAME), signed by the tier's CA, and
# the binding that gives that group the system:node role (the tier authorizes with RBAC only).
(
  cd "$state/pki"
  printf 'extendedKeyUsage=clientAuth\n' > client.ext
  openssl req -newkey rsa:2048 -nodes -subj "/O=system:nodes/CN=system:node:$node" \
    -keyout kubelet.key -out kubelet.csr 2>/dev/null
  openssl x509 -req -in kubelet.csr -CA "$K8S_CA" -CAkey "$K8S_STATE/pki/ca.key" -CAcreateserial -days 30 \
    -extfile client.ext -out kubelet.crt 2>/dev/null
)
api POST /apis/rbac.authorization.k8s.io/v1/clusterrolebindings '{"apiVersion":"rbac.authorization.k8s.io/v1",
  "kind":"ClusterRoleBinding","metadata":{"name":"multiplane-node-tier:system:nodes"},
  "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"system:node"},
  "subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"Group","name":"system:nodes"}]}' >/dev/null
cat > "$state/kubelet/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: tier
  cluster: {server: "$K8S_SERVER", certificate-authority: "$K8S_CA"}
users:
- name: kubelet
  user: {client-certificate: "$state/pki/kubelet.crt", client-key: "$state/pki/kubelet.key"}
contexts:
- name: tier
  context: {cluster: tier, user: kubelet}
current-context: tier
KC

# containerd: private root/state/socket, runc through the v2 shim with cgroupfs, the local sandbox image,
# private CNI dirs (one configuration: the first file of conf_dir).
sock=$state/containerd/containerd.sock
cat > "$state/containerd/config.toml" <<TOML
version = 2
root = "$state/containerd/root"
state = "$state/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$sock"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$state/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_image"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # This machine withholds CAP_SYS_RESOURCE, so no process may lower its oom_score_adj below 0 (runc's
  # write of the sandbox's -998 fails: "failed to update /proc/self/oom_score_adj: Permission denied").
  # Keep every container's at or above containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$state/cni/bin"
    conf_dir = "$state/cni/net.d"
    max_conf_num = 1
TOML
for name in ${NODE_CNI_ENV:-}; do printf '%s=%s\n' "$name" "${!name}"; done > "$state/containerd/cni.env"
cat > "$state/crictl.yaml" <<YAML
runtime-endpoint: unix://$sock
image-endpoint: unix://$sock
timeout: 60
YAML
"$here/daemon.sh" "$state" start containerd
ctr=(ctr --address "$sock")
for image in pause busybox; do
  "${ctr[@]}" -n k8s.io image import "$cache/images/$image.tar" >/dev/null
done

# The cgroup root kubelet puts its pods under, in every v1 hierarchy (cpuset's needs its CPUs and nodes).
for hierarchy in /sys/fs/cgroup/*/; do
  [ -f "$hierarchy/cgroup.procs" ] || continue
  mkdir -p "$hierarchy$cgroup_root"
  if [ -f "$hierarchy/cpuset.cpus" ]; then
    cat "$hierarchy/cpuset.cpus" > "$hierarchy$cgroup_root/cpuset.cpus"
    cat "$hierarchy/cpuset.mems" > "$hierarchy$cgroup_root/cpuset.mems"
  fi
done

cat > "$state/kubelet/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $kubelet_port
readOnlyPort: 0
healthzPort: $healthz_port
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: "$K8S_CA"}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupRoot: $cgroup_root
failSwapOn: false
containerRuntimeEndpoint: unix://$sock
imageServiceEndpoint: unix://$sock
registerNode: true
syncFrequency: 10s
fileCheckFrequency: 10s
nodeStatusUpdateFrequency: 2s
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
# No disk signals (unset, they are off): the machine's disk is shared with builds that fill and free it,
# and a node under DiskPressure evicts and refuses pods.
evictionHard: {memory.available: "1Mi"}
serializeImagePulls: false
resolvConf: /etc/resolv.conf
YAML
cat > "$state/kubelet/env" <<ENV
KUBELET=$K8S_BIN/kubelet
NODE_NAME=$node
KUBELET_HEALTHZ_PORT=$healthz_port
KUBE_CONTROLLER_MANAGER=$cache/bin/kube-controller-manager-${K8S_VERSION:-v1.34.4}
CONTROLLERS=daemonset,root-ca-cert-publisher
CONTROLLER_MANAGER_PORT=$((kubelet_port + 7))
KUBE_SCHEDULER=$cache/bin/kube-scheduler-${K8S_VERSION:-v1.34.4}
SCHEDULER_PORT=$((kubelet_port + 9))
ENV
# Two paths of kubelet's stay at /var/lib/kubelet whatever its --root-dir: its device plugins' directory
# (device-plugins/kubelet.sock, where plugins register), and the PodResources socket as multus finds it
# by default (the installer's configuration names none), which links to this kubelet's. down.sh removes
# /var/lib/kubelet if this made it; a machine's own kubelet there is left alone (and its PodResources).
if [ ! -e /var/lib/kubelet ]; then
  mkdir -p /var/lib/kubelet
  touch "$state/made-var-lib-kubelet"
  ln -s "$state/kubelet/root/pod-resources" /var/lib/kubelet/pod-resources
elif [ ! -e /var/lib/kubelet/pod-resources ]; then
  echo "node tier: /var/lib/kubelet exists; its pod-resources is not linked to this node's kubelet" >&2
fi
# A hostPath volume with mountPropagation (multus-thick.yaml mounts the host's / with HostToContainer,
# so that new pod network namespaces appear in the daemon's container) needs the host path's mount to
# be shared or a slave; systemd makes / shared at boot, this machine's init leaves it private. Made
# shared (that mount alone) for the tier's life; down.sh makes it private again.
if ! awk '$5 == "/" {print $7}' /proc/self/mountinfo | grep -q '^shared:'; then
  mount --make-shared /
  touch "$state/made-root-shared"
fi
"$here/daemon.sh" "$state" start kubelet
"$here/daemon.sh" "$state" start controller-manager
"$here/daemon.sh" "$state" start scheduler

registered=""
for _ in $(seq 1 600); do
  if api GET "/api/v1/nodes/$node" >/dev/null 2>&1; then registered=yes; break; fi
  sleep 0.1
done
if [ -z "$registered" ]; then
  echo "node tier: kubelet did not register Node $node; last lines of its log:" >&2
  grep -E '^[EF]' "$state/log/kubelet.log" | tail -20 >&2 || tail -20 "$state/log/kubelet.log" >&2
  exit 1
fi

cat > "$state/env" <<ENV
. "$env_file"
NODE_STATE=$state
NODE_NAME=$node
NODE_CNI_BIN=$state/cni/bin
NODE_CNI_CONF=$state/cni/net.d
NODE_KUBELET_ROOT=$state/kubelet/root
NODE_POD_RESOURCES=$state/kubelet/root/pod-resources/kubelet.sock
NODE_KUBELET_URL=https://127.0.0.1:$kubelet_port
NODE_DEVICE_PLUGIN=$cache/bin/device-plugin
NODE_DEVICE_PLUGINS_DIR=/var/lib/kubelet/device-plugins
NODE_PAUSE_IMAGE=$pause_image
NODE_TEST_IMAGE=localhost/multiplane/busybox:node
CONTAINERD_ADDRESS=$sock
CRICTL=$cache/bin/crictl
CRI_CONFIG_FILE=$state/crictl.yaml
export NODE_STATE NODE_NAME NODE_CNI_BIN NODE_CNI_CONF NODE_KUBELET_ROOT NODE_POD_RESOURCES NODE_KUBELET_URL
export NODE_DEVICE_PLUGIN NODE_DEVICE_PLUGINS_DIR NODE_PAUSE_IMAGE
export NODE_TEST_IMAGE CONTAINERD_ADDRESS CRICTL CRI_CONFIG_FILE
ENV
now=$(date +%s.%N)
awk -v s="$started" -v b="$built" -v n="$now" -v node="$node" 'BEGIN {
  printf "node tier: built in %.1fs, control plane + containerd + kubelet (Node %s) up in %.1fs\n", b - s, node, n - b }' >&2
echo "$state/env"
