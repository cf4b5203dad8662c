# Kernel mode with a MAC on real igbvf VFs (untrusted): igb refuses a VF any change of its own MAC once
# the PF imposes one, so the plugin gives the netdev the MAC first. `mac` in the config and CNI_ARGS
# `MAC=`: the pod's interface has the MAC and the PF imposes it; DEL gives the netdev back its name and
# MAC and the PF imposes nothing (the netdev may change its MAC again, and `ip link show <pf>` reports
# the VF's own MAC as before). An ADD whose IPAM fails after all that rolls back the same way. igb logs
# no refused override but the one the scenario provokes from the pod.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

mapfile -t pfs < <(lab_pfs)
pf=${pfs[0]}
set_numvfs "$pf" 4
overrides() { dmesg | grep -c 'attempted to override administratively set MAC' || true; }
dmesg >/dev/null || fail "dmesg is not readable"
refused_before=$(overrides)

# vf_mac PF INDEX: the MAC `ip link show PF` reports for the VF.
vf_mac() { pf_vf_line "$1" "$2" | grep -oE 'link/ether [0-9a-f:]+' | cut -d' ' -f2; }

# expect_not_imposed PF INDEX NAME MAC: the VF netdev NAME has MAC, the PF reports it, and the PF imposes
# nothing (igb would refuse the netdev another MAC).
expect_not_imposed() {
  expect_eq "$(vf_mac "$1" "$2")" "$4" "ip link show $1: VF $2 reports its own MAC"
  check "$3 may change its own MAC (the PF imposes none)" ip link set "$3" address 02:00:00:00:15:ff
  check "$3 takes its MAC back" ip link set "$3" address "$4"
}

declare -A name mac
for i in 1 2 3; do
  name[$i]=$(vf_netdev "$pf" "$i")
  mac[$i]=$(cat "/sys/class/net/${name[$i]}/address")
  expect_eq "$(vf_mac "$pf" "$i")" "${mac[$i]}" "ip link show $pf: VF $i reports igbvf's MAC before ADD"
done

modern=$(cat <<EOF
{ "cniVersion": "1.0.0", "name": "mac-modern", "type": "sriov", "deviceID": "$(vf_bdf "$pf" 1)",
  "vlan": 215, "mac": "02:00:00:00:15:01",
  "ipam": { "type": "host-local", "subnet": "10.56.215.0/24" } }
EOF
)
seed=$(cat <<EOF
{ "cniVersion": "0.4.0", "name": "mac-seed", "type": "sriov", "if0": "$pf", "vf": 2, "if0name": "north",
  "l2enable": true }
EOF
)
ip netns add mac-a
ip netns add mac-b

start=$SECONDS
result_a=$(cni sriov ADD mac-a /run/netns/mac-a net1 <<<"$modern") || fail "ADD with mac failed: $result_a"
echo "ADD with mac took $((SECONDS - start))s"
result_b=$(CNI_ARGS="IgnoreUnknown=1;MAC=02:00:00:00:15:02" cni sriov ADD mac-b /run/netns/mac-b net1 <<<"$seed") ||
  fail "ADD with CNI_ARGS MAC= failed: $result_b"
expect_eq "$(jq -r '.interfaces[0].mac' <<<"$result_a")" 02:00:00:00:15:01 "result A reports the MAC"
expect_eq "$(jq -r '.interfaces[0].mac' <<<"$result_b")" 02:00:00:00:15:02 "result B reports the MAC"
expect_eq "$(ip netns exec mac-a cat /sys/class/net/net1/address)" 02:00:00:00:15:01 "pod A's net1 has the MAC"
expect_eq "$(ip netns exec mac-b cat /sys/class/net/north/address)" 02:00:00:00:15:02 "pod B's north has the MAC"
expect_eq "$(netns_pci mac-a net1)" "$(vf_bdf "$pf" 1)" "net1 is $pf VF 1"
expect_match "$(pf_vf_line "$pf" 1)" 'link/ether 02:00:00:00:15:01 .*vlan 215' "ip link show $pf: VF 1 MAC and vlan"
expect_match "$(pf_vf_line "$pf" 2)" 'link/ether 02:00:00:00:15:02 ' "ip link show $pf: VF 2 MAC"
expect_match "$(ip -n mac-a -4 -o addr show dev net1)" 'inet 10\.56\.215\.2/24 ' "net1 has its address"
expect_eq "$(overrides)" "$refused_before" "igb refused no MAC change during the ADDs"
check_not "the PF imposes VF 1's MAC: pod A cannot change it" \
  ip -n mac-a link set net1 address 02:00:00:00:15:99
expect_eq "$(overrides)" "$((refused_before + 1))" "igb logged that refusal"
check "CHECK A" cni sriov CHECK mac-a /run/netns/mac-a net1 <<<"$(with_prev_result "$modern" "$result_a")"
CNI_ARGS="IgnoreUnknown=1;MAC=02:00:00:00:15:02" check "CHECK B" \
  cni sriov CHECK mac-b /run/netns/mac-b net1 <<<"$(with_prev_result "$seed" "$result_b")"

start=$SECONDS
check "DEL A" cni sriov DEL mac-a /run/netns/mac-a net1 <<<"$(with_prev_result "$modern" "$result_a")"
echo "DEL with mac took $((SECONDS - start))s"
CNI_ARGS="IgnoreUnknown=1;MAC=02:00:00:00:15:02" check "DEL B" \
  cni sriov DEL mac-b /run/netns/mac-b net1 <<<"$(with_prev_result "$seed" "$result_b")"
for i in 1 2; do
  expect_vf_home "$pf" "$i" "${name[$i]}" "${mac[$i]}"
  expect_not_imposed "$pf" "$i" "${name[$i]}" "${mac[$i]}"
done
expect_eq "$(netns_links mac-a) / $(netns_links mac-b)" "lo / lo" "pods' interfaces after DEL"
check "second DEL A" cni sriov DEL mac-a /run/netns/mac-a net1 <<<"$modern"

# IPAM fails once the VF is in the pod with its MAC imposed: everything rolls back.
failing=$(jq -c --arg vf "$(vf_bdf "$pf" 3)" '.deviceID = $vf | .mac = "02:00:00:00:15:03"
  | .ipam = {type: "host-local", ranges: [[{subnet: "10.56.216.0/24", rangeStart: "10.56.217.5"}]]}' <<<"$modern")
out=$(cni sriov ADD mac-a /run/netns/mac-a net1 <<<"$failing") && fail "ADD with a failing IPAM succeeded: $out"
expect_match "$out" 'not in network' "ADD fails with host-local's error"
expect_eq "$(netns_links mac-a)" lo "the VF left pod A"
expect_vf_home "$pf" 3 "${name[3]}" "${mac[3]}"
expect_not_imposed "$pf" 3 "${name[3]}" "${mac[3]}"

expect_eq "$(overrides)" "$((refused_before + 1))" "igb refused no other MAC change"
ip netns delete mac-a
ip netns delete mac-b
