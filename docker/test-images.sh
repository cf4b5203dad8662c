#!/usr/bin/env bash
# Tests the images docker/build-images.sh built (it runs this before exporting them), with buildah
# alone (root):
#   installer: the per-call plugins are static executables; run as the DaemonSet runs it against a
#              temporary host root, it leaves the plugins (identical to the image's binaries, runnable
#              on the host), 00-multus.conf wrapping the
#              host's first CNI config and the service account's kubeconfig; with multus-thick.yaml's
#              arguments, multus-shim and a configuration calling it; multus-daemon runs; the image
#              holds no shell.
#   vnf:       the EAL starts with every driver the image ships (port-info on net_null), the PMD
#              directory has the issue's drivers and no others, the entrypoint takes the ports from
#              VNF_PORTS, the network-status device-info, NPWG device-info files and PCIDEVICE_*, and
#              vlan-firewall forwards a pcap through net_pcap vdevs as the seed's VLAN 210 rules say.
# Env: INSTALLER_IMAGE, VNF_IMAGE, BIN_DIR (the binaries the images were built with).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
: "${INSTALLER_IMAGE:?}" "${VNF_IMAGE:?}" "${BIN_DIR:?}"
work=$(mktemp -d /var/tmp/multiplane-images.XXXXXX)
installer=multiplane-test-installer-$$
vnf=multiplane-test-vnf-$$
cleanup() {
  buildah umount "$installer" "$vnf" >/dev/null 2>&1 || true
  buildah rm "$installer" "$vnf" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "test-images: FAIL: $*" >&2; exit 1; }
ok() { echo "test-images: ok: $*" >&2; }
check() { local what=$1; shift; "$@" || fail "$what"; ok "$what"; }

buildah from --pull=never --name "$installer" "$INSTALLER_IMAGE" >/dev/null
buildah from --pull=never --name "$vnf" "$VNF_IMAGE" >/dev/null

# --- installer ----------------------------------------------------------------------------------
host=$work/host
mkdir -p "$host/opt/cni/bin" "$host/etc/cni/net.d" "$work/sa"
echo '{"cniVersion": "1.0.0", "name": "cbr0", "plugins": [{"type": "bridge"},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}' > "$host/etc/cni/net.d/10-bridge.conflist"
echo '{"cniVersion": "0.4.0", "name": "later", "type": "macvlan"}' > "$host/etc/cni/net.d/20-macvlan.conf"
echo "image-test-token" > "$work/sa/token"
echo "test CA" > "$work/sa/ca.crt"
# The DaemonSet's arguments, as the manifest gives them, and its mounts.
# install_once MANIFEST HOST_ROOT: the installer image run once (--once) with the install container's
# arguments of docker/manifests/MANIFEST, as the DaemonSet runs it, against HOST_ROOT's CNI dirs.
install_once() {
  local manifest=$1 root=$2 args log=$work/install-${1%.yaml}.log
  mapfile -t args < <(sed -n 's/^ *- \(--[a-z-]*=.*\)$/\1/p' "$here/manifests/$manifest")
  buildah run --isolation chroot \
    -v "$root/opt/cni/bin:/host/opt/cni/bin" -v "$root/etc/cni/net.d:/host/etc/cni/net.d" \
    -v "$work/sa:/var/run/secrets/kubernetes.io/serviceaccount:ro" \
    --env KUBERNETES_SERVICE_HOST=10.96.0.1 --env KUBERNETES_SERVICE_PORT=443 \
    "$installer" -- /usr/src/multiplane/bin/multiplane-install "${args[@]}" --once 2> "$log" ||
    { cat "$log" >&2; fail "the installer image ran with $manifest's arguments"; }
}
entrypoint=$(buildah inspect --type container --format '{{.OCIv1.Config.Entrypoint}}' "$installer")
check "the installer image's entrypoint is multiplane-install" \
  test "$entrypoint" = '[/usr/src/multiplane/bin/multiplane-install]'
install_once installer.yaml "$host"
for plugin in multus multus-shim sriov; do
  check "$plugin is a static executable (no loader, no shared libraries)" \
    sh -c "! readelf -lW '$BIN_DIR/$plugin' | grep -q INTERP && ! readelf -dW '$BIN_DIR/$plugin' | grep -q NEEDED"
done
for plugin in multus sriov; do
  check "$plugin installed, identical to the image's binary" cmp -s "$BIN_DIR/$plugin" "$host/opt/cni/bin/$plugin"
  check "$plugin runs on the host" \
    sh -c "CNI_COMMAND=VERSION '$host/opt/cni/bin/$plugin' | jq -e '.supportedVersions | length > 0' >/dev/null"
done
check "00-multus.conf wraps the host's first config as the cluster network" jq -e >/dev/null '
  .type == "multus" and .clusterNetwork == "/etc/cni/net.d/10-bridge.conflist"
  and .kubeconfig == "/etc/cni/net.d/multus.d/multus.kubeconfig" and .capabilities.portMappings == true' \
  "$host/etc/cni/net.d/00-multus.conf"
kubeconfig=$host/etc/cni/net.d/multus.d/multus.kubeconfig
check "the kubeconfig holds the service account's token and the service address" jq -e >/dev/null '
  .users[0].user.token == "image-test-token" and .clusters[0].cluster.server == "https://10.96.0.1:443"' "$kubeconfig"
check "the kubeconfig is private" test "$(stat -c %a "$kubeconfig")" = 600
# The thick plugin (multus-thick.yaml): its install container's arguments put multus-shim in place
# of multus, and the daemon container's program is in the image.
thick=$work/thick
mkdir -p "$thick/opt/cni/bin" "$thick/etc/cni/net.d"
cp "$host/etc/cni/net.d/10-bridge.conflist" "$thick/etc/cni/net.d/"
install_once multus-thick.yaml "$thick"
check "thick: multus-shim and sriov installed, identical to the image's binaries" \
  sh -c "cmp -s '$BIN_DIR/multus-shim' '$thick/opt/cni/bin/multus-shim' && cmp -s '$BIN_DIR/sriov' '$thick/opt/cni/bin/sriov' && test ! -e '$thick/opt/cni/bin/multus'"
check "thick: 00-multus.conf calls multus-shim" \
  jq -e '.type == "multus-shim" and .clusterNetwork == "/etc/cni/net.d/10-bridge.conflist"' "$thick/etc/cni/net.d/00-multus.conf" >/dev/null
daemon_usage=$(buildah run --isolation chroot "$installer" -- /usr/src/multiplane/bin/multus-daemon --no-such-flag 2>&1 >/dev/null || true)
check "thick: the image's multus-daemon runs and names a bad flag" grep -q 'unknown argument "--no-such-flag"' <<<"$daemon_usage"
root=$(buildah mount "$installer")
check "the installer image has no shell" test ! -e "$root/bin/sh"
check "the installer image holds only the programs and their libraries ($(find "$root" -type f | wc -l) files)" \
  test "$(find "$root" -type f | wc -l)" -le 14

# --- vnf: drivers -------------------------------------------------------------------------------
root=$(buildah mount "$vnf")
pmd_dir=$(ls -d "$root"/usr/lib/x86_64-linux-gnu/dpdk/pmds-*)
for pmd in net_iavf net_ixgbe net_e1000 net_mlx5 net_af_xdp net_af_packet net_pcap net_null mempool_ring bus_pci; do
  check "the VNF image ships $pmd" test -e "$pmd_dir/librte_$pmd.so.23"
done
for pmd in net_i40e net_ice net_bnxt crypto_ipsec_mb; do
  check "the VNF image does not ship $pmd" test ! -e "$pmd_dir/librte_$pmd.so.23"
done
check "the VNF image has no apt lists" test -z "$(ls "$root/var/lib/apt/lists" 2>/dev/null | grep -v '^lock$\|^partial$' || true)"
run_vnf() { buildah run --isolation chroot "$@"; }
eal_test=(--no-pci --no-huge --no-shconf -m 256)
info=$(run_vnf "$vnf" -- port-info "${eal_test[@]}" --vdev net_null0 -- --start net_null0 2> "$work/port-info.log") ||
  { cat "$work/port-info.log" >&2; fail "port-info ran in the VNF image"; }
check "the EAL loads every shipped driver and starts a port ($info)" \
  jq -e '.driver == "net_null" and .started == true' <<<"$info" >/dev/null

# --- vnf: the entrypoint's ports ----------------------------------------------------------------
# Each case runs the entrypoint with no such devices: vlan-firewall then fails on the first port,
# after the entrypoint said which ports it chose.
expect_ports() {
  local what=$1 expected=$2 log=$work/entrypoint.log
  shift 2
  run_vnf --env "VNF_EAL_ARGS=${eal_test[*]}" "$@" "$vnf" -- vnf-entrypoint --stats-interval 0 2> "$log" && true
  grep -q "vnf-entrypoint: ports $expected" "$log" || { cat "$log" >&2; fail "$what"; }
  ok "$what"
}
pcidevice=PCIDEVICE_INTEL_COM_INTEL_SRIOV_DPDK=0000:03:02.0,0000:03:02.1
expect_ports "the ports from the device plugin's variable" \
  "0000:03:02.0 (A) and 0000:03:02.1 (B) from PCIDEVICE_INTEL_COM_INTEL_SRIOV_DPDK" --env "$pcidevice"
grep -q -- "-a 0000:03:02.0 -a 0000:03:02.1 --" "$work/entrypoint.log" || fail "the PCI addresses reach the EAL's allow list"
mkdir -p "$work/podinfo" "$work/devinfo"
cat > "$work/podinfo/network-status" <<'JSON'
[{"name": "cbr0", "interface": "eth0", "ips": ["10.244.0.5"], "default": true},
 {"name": "ns/vnf-north", "interface": "north",
  "device-info": {"type": "pci", "version": "1.1.0", "pci": {"pci-address": "0000:05:00.2"}}},
 {"name": "ns/vnf-net0", "interface": "net0",
  "device-info": {"type": "pci", "version": "1.1.0", "pci": {"pci-address": "0000:05:00.1"}}}]
JSON
expect_ports "the ports from network-status, by interface, before the device plugin's variable" \
  "0000:05:00.1 (A) and 0000:05:00.2 (B) from the device-info of net0 and north" \
  -v "$work/podinfo:/etc/podinfo:ro" --env VNF_NETWORK_STATUS=/etc/podinfo/network-status --env "$pcidevice"
echo '{"type": "pci", "version": "1.1.0", "pci": {"pci-address": "0000:07:00.4"}}' > "$work/devinfo/a.json"
echo '{"type": "pci", "version": "1.1.0", "pci": {"pci-address": "0000:07:00.5"}}' > "$work/devinfo/b.json"
expect_ports "the ports from NPWG device-info files" "0000:07:00.4 (A) and 0000:07:00.5 (B) from the device-info files" \
  -v "$work/devinfo:/devinfo:ro" --env VNF_DEVINFO_DIR=/devinfo
run_vnf "$vnf" -- vnf-entrypoint 2> "$work/entrypoint.log" && fail "the entrypoint started without ports"
check "without ports the entrypoint says where it looked" grep -q "need two data ports, found 0" "$work/entrypoint.log"

# --- vnf: forwarding ----------------------------------------------------------------------------
data=$work/data
mkdir -p "$data"
cp "$repo/dataplane/tests/firewall_rules_vlan210.json" "$data/rules.json"
. "$here/pcap.sh"
a=02000000000a; b=02000000000b
dns=$(vlan_frame "$b" "$a" 210 "$(ipv4 17 10.56.217.10 8.8.8.8 "$(udp 5353 53 0000000000010000000000000377777700)")")
telnet=$(vlan_frame "$b" "$a" 210 "$(ipv4 6 10.56.217.10 10.1.1.1 "$(tcp 40000 23 02)")")
web=$(vlan_frame "$b" "$a" 210 "$(ipv4 6 10.56.217.10 93.184.216.34 "$(tcp 40001 443 02)")")
untagged=$b${a}0800$(ipv4 17 10.56.217.10 8.8.8.8 "$(udp 5353 53 00)")
other_vlan=$(vlan_frame "$b" "$a" 100 "$(ipv4 17 10.56.217.10 8.8.8.8 "$(udp 5353 53 00)")")
write_pcap "$data/a-in.pcap" "$dns" "$telnet" "$web" "$untagged" "$other_vlan"
write_pcap "$data/b-in.pcap"
vdevs="--vdev net_pcap0,rx_pcap=/data/a-in.pcap,tx_pcap=/data/a-out.pcap"
vdevs+=" --vdev net_pcap1,rx_pcap=/data/b-in.pcap,tx_pcap=/data/b-out.pcap"
run_vnf -v "$data:/data" --env VNF_PORTS=net_pcap0,net_pcap1 --env VNF_RULES=/data/rules.json \
  --env "VNF_EAL_ARGS=-l 0-1 ${eal_test[*]} $vdevs" \
  "$vnf" -- timeout --preserve-status -s INT 8 vnf-entrypoint --stats-interval 0 > "$work/firewall.log" 2>&1 ||
  { cat "$work/firewall.log" >&2; fail "vlan-firewall ran and stopped cleanly on SIGINT"; }
ok "vlan-firewall ran in the VNF image and stopped cleanly on SIGINT"
rewritten() { echo "020000000210${1:12}"; }
check "port B sent the allowed frames (dns, web), in order, with the rule's destination MAC" \
  test "$(read_pcap "$data/b-out.pcap")" = "$(rewritten "$dns") $(rewritten "$web")"
check "port A sent nothing (nothing arrived on B)" test -z "$(read_pcap "$data/a-out.pcap")"
