# DPDK mode, the seed's section 5.1.3 on a real VF: `multus` with an `sriov` delegate carrying a `dpdk`
# block (igbvf -> vfio-pci) and a master delegate. The plugin binds the VF to vfio-pci, /dev/vfio/<group>
# appears, and our dataplane crate (port-info) opens the VF by PCI address with DPDK's igbvf PMD: probe,
# configure, start, and read the MAC the plugin set through the PF. DEL rebinds igbvf and the netdev comes
# back under its original name and MAC.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

mapfile -t pfs < <(lab_pfs)
pf=${pfs[0]}
set_numvfs "$pf" 4
vf=$(vf_bdf "$pf" 0)
host_name=$(vf_netdev "$pf" 0)
host_mac=$(cat "/sys/class/net/$host_name/address")
group=$(iommu_group "$vf")
mac=02:00:00:00:05:13

conf=$(cat <<EOF
{
  "cniVersion": "1.0.0",
  "name": "minion1-multus-demo-network",
  "type": "multus",
  "delegates": [
    { "name": "sriov-dpdk", "type": "sriov", "if0": "$pf", "if0name": "north0", "mac": "$mac",
      "dpdk": { "kernel_driver": "igbvf", "dpdk_driver": "vfio-pci",
                "dpdk_tool": "/usr/bin/dpdk-devbind.py" } },
    { "name": "flannel-conf", "type": "bridge", "bridge": "cni-dpdk", "isDefaultGateway": true,
      "masterplugin": true, "ipam": { "type": "host-local", "subnet": "192.168.43.0/24" } }
  ]
}
EOF
)
pod=dpdk-pod netns=/run/netns/dpdk-pod
ip netns add "$pod"

start=$SECONDS
result=$(cni multus ADD "$pod" "$netns" eth0 <<<"$conf") || fail "multus ADD failed: $result"
echo "multus ADD took $((SECONDS - start))s"
expect_eq "$(pci_driver "$vf")" vfio-pci "$vf driver after ADD"
check "/dev/vfio/$group exists" test -c "/dev/vfio/$group"
check_not "$host_name is gone from the host namespace" ip link show "$host_name"
expect_eq "$(netns_links "$pod")" "eth0 lo" "pod interfaces (the DPDK VF has no netdev)"
expect_match "$(pf_vf_line "$pf" 0)" "link/ether $mac " "ip link show $pf: VF 0 has the configured MAC"
check "multus CHECK" cni multus CHECK "$pod" "$netns" eth0 <<<"$(with_prev_result "$conf" "$result")"

start=$SECONDS
out=$(port_info "$vf") || fail "port-info $vf failed: $out"
echo "port-info took $((SECONDS - start))s: $out"
expect_eq "$(jq -r '"\(.driver) \(.mac) \(.started)"' <<<"$out")" "net_e1000_igb_vf $mac true" \
  "the dataplane opens the VF by PCI address with the igbvf PMD and reads the MAC set through the PF"

start=$SECONDS
check "multus DEL" cni multus DEL "$pod" "$netns" eth0 <<<"$(with_prev_result "$conf" "$result")"
echo "multus DEL took $((SECONDS - start))s"
wait_until 30 "VF 0 has a netdev again" vf_has_netdev "$pf" 0
expect_vf_home "$pf" 0 "$host_name" "$host_mac"
check_not "/dev/vfio/$group is gone" test -e "/dev/vfio/$group"
expect_eq "$(netns_links "$pod")" "lo" "pod interfaces after DEL"
check "second multus DEL succeeds" cni multus DEL "$pod" "$netns" eth0 <<<"$conf"
expect_eq "$(pci_driver "$vf")" igbvf "$vf driver after the second DEL"
ip netns delete "$pod"
