# Kernel mode, the seed's sections 4.1 and 4.3 on real VFs: `multus` with the seed's three networks
# (flannel-conf, with `bridge` standing in for flannel; sriov-conf; sriov-vlanid-l2enable-conf) gives the
# pod eth0, net0 (10.56.217.171) and north (VLAN 210 set on the PF, no IP). DEL returns both VFs to the
# host under their original names and MACs, with VLAN 0, and releases the addresses.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

mapfile -t pfs < <(lab_pfs)
pf0=${pfs[0]} pf1=${pfs[1]}
set_numvfs "$pf0" 4
set_numvfs "$pf1" 4
# The plugin takes the first free VF of each PF: VF 0.
net0_vf=$(vf_bdf "$pf0" 0) north_vf=$(vf_bdf "$pf1" 0)
net0_host=$(vf_netdev "$pf0" 0) north_host=$(vf_netdev "$pf1" 0)
net0_mac=$(cat "/sys/class/net/$net0_host/address") north_mac=$(cat "/sys/class/net/$north_host/address")

conf=$(cat <<EOF
{
  "cniVersion": "1.0.0",
  "name": "multus-multi-net-pod",
  "type": "multus",
  "delegates": [
    { "name": "flannel-conf", "type": "bridge", "bridge": "cni0", "isDefaultGateway": true,
      "masterplugin": true, "ipam": { "type": "host-local", "subnet": "192.168.42.0/24" } },
    { "name": "sriov-conf", "type": "sriov", "if0": "$pf0",
      "ipam": { "type": "host-local", "subnet": "10.56.217.0/24",
                "rangeStart": "10.56.217.171", "rangeEnd": "10.56.217.181",
                "routes": [ { "dst": "0.0.0.0/0" } ], "gateway": "10.56.217.1" } },
    { "name": "sriov-vlanid-l2enable-conf", "type": "sriov", "if0": "$pf1",
      "vlan": 210, "if0name": "north", "l2enable": true }
  ]
}
EOF
)
pod=multus-multi-net-pod netns=/run/netns/multus-multi-net-pod
ip netns add "$pod"

start=$SECONDS
result=$(cni multus ADD "$pod" "$netns" eth0 <<<"$conf") || fail "multus ADD failed: $result"
echo "multus ADD took $((SECONDS - start))s"
expect_eq "$(jq -r '.cniVersion' <<<"$result")" 1.0.0 "result cniVersion"
expect_match "$(jq -r '.ips[].address' <<<"$result")" '^192\.168\.42\.[0-9]+/24$' "result is the master's (bridge) address"

expect_eq "$(netns_links "$pod")" "eth0 lo net0 north" "pod interfaces"
expect_eq "$(netns_pci "$pod" net0)" "$net0_vf" "net0 is $pf0 VF 0"
expect_eq "$(netns_pci "$pod" north)" "$north_vf" "north is $pf1 VF 0"
expect_match "$(ip -n "$pod" -4 -o addr show dev net0)" 'inet 10\.56\.217\.171/24 ' "net0 has 10.56.217.171/24"
expect_eq "$(ip -n "$pod" -4 -o addr show dev north)" "" "north has no IPv4 address (l2enable)"
expect_match "$(ip -n "$pod" link show dev north)" '<[^>]*\bUP\b' "north is up"
expect_match "$(ip -n "$pod" -4 -o addr show dev eth0)" 'inet 192\.168\.42\.[0-9]+/24 ' "eth0 has its bridge address"
expect_match "$(ip -n "$pod" -4 route show default)" '^default via 192\.168\.42\.1 dev eth0' \
  "the master's default route wins over sriov-conf's"
expect_match "$(ip -n "$pod" -4 route show dev net0)" '10\.56\.217\.0/24' "net0 has its subnet route"
expect_match "$(pf_vf_line "$pf1" 0)" 'vlan 210' "ip link show $pf1: VF 0 has vlan 210"
if pf_vf_line "$pf0" 0 | grep -q ' vlan '; then fail "$pf0 VF 0 got a VLAN: $(pf_vf_line "$pf0" 0)"; fi
ok "ip link show $pf0: VF 0 has no VLAN"
check_not "$net0_host left the host namespace" ip link show "$net0_host"
check_not "$north_host left the host namespace" ip link show "$north_host"
check "host-local recorded 10.56.217.171" test -e /var/lib/cni/networks/sriov-conf/10.56.217.171

check "multus CHECK" cni multus CHECK "$pod" "$netns" eth0 <<<"$(with_prev_result "$conf" "$result")"

start=$SECONDS
check "multus DEL" cni multus DEL "$pod" "$netns" eth0 <<<"$(with_prev_result "$conf" "$result")"
echo "multus DEL took $((SECONDS - start))s"
expect_eq "$(netns_links "$pod")" "lo" "pod interfaces after DEL"
expect_vf_home "$pf0" 0 "$net0_host" "$net0_mac"
expect_vf_home "$pf1" 0 "$north_host" "$north_mac"
check_not "10.56.217.171 released" test -e /var/lib/cni/networks/sriov-conf/10.56.217.171
check "second multus DEL succeeds" cni multus DEL "$pod" "$netns" eth0 <<<"$conf"
expect_vf_home "$pf0" 0 "$net0_host" "$net0_mac"
ip netns delete "$pod"
