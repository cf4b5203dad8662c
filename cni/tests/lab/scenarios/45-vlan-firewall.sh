# The demo's story on real VFs: the seed's VLAN 210 firewall (dataplane/tests/firewall_rules_vlan210.json)
# in a pod whose two VFs (port A on PF0, wire A; port B on PF1, wire B) are in DPDK mode, given by
# `multus` + `sriov`. VLAN-tagged traffic reaches it over the wires from outside the pod:
#  1. `vlan-traffic` on two DPDK VFs of PF2 and PF3 (an "outside" pod) sends every frame kind of the
#     demo (allowed and denied flows on VLAN 210, VLANs 211 and 100, untagged, malformed); each kind
#     arrives on the far side exactly when the rules' reference model allows it, byte for byte.
#  2. Kernel endpoints with the seed's sriov-vlanid-l2enable-conf (`"vlan": 210`: the PF tags what
#     the VF sends and strips what it receives) talk through it: ping and HTTPS pass, telnet does not.
# Both firewall ports and the generator run with `--vlan-filter` (a VF receives tagged frames only of
# the VLANs in its filter; igb's PF also strips those tags, which the ports put back).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

mapfile -t pfs < <(lab_pfs)
for pf in "${pfs[@]}"; do set_numvfs "$pf" 2; done
# The demo's frames (benches/src/traffic.rs) go to the pod's MAC and come from the outside's; the
# seed's VLAN 210 rewrite sends a->b frames to 02:00:00:00:02:10. Both firewall ports are the pod.
pod_mac=02:00:00:00:0a:02 outside_mac=02:00:00:00:0a:01 seed_dst_mac=02:00:00:00:02:10

# The seed's rules with the rewrites a wire of VFs needs. A VF's switch delivers by destination MAC:
# frames entering on port B are addressed to the pod and must leave port A addressed to the outside
# (VLAN 210 b->a). And QEMU's igb delivers a VF's broadcast to every pool of its PF, the sender's own
# included (its tx switch does not leave out the source pool), so a broadcast the firewall forwards
# unchanged comes straight back to it and circles between its ports forever: the untagged table (the
# seed forwards untagged ARP) addresses what it forwards too.
seed=$(cd "$(dirname "$0")/../../../.." && pwd)/dataplane/tests/firewall_rules_vlan210.json
rules=/tmp/vlan210-rules.json
jq --arg out "$outside_mac" --arg in "$seed_dst_mac" '.vlans["210"].rewrite["b->a"] = {dst_mac: $out}
  | .vlans.untagged.rewrite = {"a->b": {dst_mac: $in}, "b->a": {dst_mac: $out}}' "$seed" >"$rules"
both_ways="{\"a->b\":{\"dst_mac\":\"$seed_dst_mac\"},\"b->a\":{\"dst_mac\":\"$outside_mac\"}}"
expect_eq "$(jq -c '.vlans["210"].rewrite' "$rules")" "$both_ways" "the seed's VLAN 210 rewrite, both ways"
expect_eq "$(jq -c '.vlans.untagged.rewrite' "$rules")" "$both_ways" "the untagged table rewrites the same"
[ "$(jq -c 'del(.vlans[].rewrite)' "$rules")" = "$(jq -c 'del(.vlans[].rewrite)' "$seed")" ] ||
  fail "the lab's rules differ from the seed's in more than the rewrites: $(cat "$rules")"
ok "otherwise the seed's rules ($seed)"

dpdk='"dpdk": { "kernel_driver": "igbvf", "dpdk_driver": "vfio-pci" }'
fw_a=$(vf_bdf "${pfs[0]}" 0) fw_b=$(vf_bdf "${pfs[1]}" 0)
fw_conf=$(cat <<EOF
{
  "cniVersion": "1.0.0",
  "name": "vlan-firewall-pod-network",
  "type": "multus",
  "delegates": [
    { "name": "flannel-conf", "type": "bridge", "bridge": "cni-fw", "isDefaultGateway": true,
      "masterplugin": true, "ipam": { "type": "host-local", "subnet": "192.168.45.0/24" } },
    { "name": "net0", "type": "sriov", "if0": "${pfs[0]}", "vf": 0, "if0name": "net0",
      "mac": "$pod_mac", "spoofchk": "off", $dpdk },
    { "name": "north", "type": "sriov", "if0": "${pfs[1]}", "vf": 0, "if0name": "north",
      "mac": "$pod_mac", "spoofchk": "off", $dpdk }
  ]
}
EOF
)
# sriov_conf NAME PF VF MAC EXTRA: one sriov network on a given VF.
sriov_conf() {
  echo "{ \"cniVersion\": \"1.0.0\", \"name\": \"$1\", \"type\": \"sriov\", \"if0\": \"$2\", \"vf\": $3,
    \"mac\": \"$4\", \"spoofchk\": \"off\", $5 }"
}
gen_a_conf=$(sriov_conf outside-a "${pfs[2]}" 0 "$outside_mac" "$dpdk")
gen_b_conf=$(sriov_conf outside-b "${pfs[3]}" 0 "$seed_dst_mac" "$dpdk")
gen_a=$(vf_bdf "${pfs[2]}" 0) gen_b=$(vf_bdf "${pfs[3]}" 0)

for pod in firewall outside; do ip netns add "$pod"; done
# add POD NETNS IFNAME CONFIG...: a CNI ADD whose log lines go to /tmp/cni.log (shown if it fails).
add() {
  local pod=$1 ifname=$2 plugin=$3 out
  out=$(cni "$plugin" ADD "$pod" "/run/netns/$pod" "$ifname" <<<"$4" 2>>/tmp/cni.log) ||
    fail "$pod pod ADD $ifname: $out $(cat /tmp/cni.log)"
  echo "$out"
}
fw_result=$(add firewall eth0 multus "$fw_conf")
expect_eq "$(pci_driver "$fw_a") $(pci_driver "$fw_b")" "vfio-pci vfio-pci" "firewall VFs $fw_a (net0) and $fw_b (north) on vfio-pci"
add outside gen-a sriov "$gen_a_conf" >/dev/null
add outside gen-b sriov "$gen_b_conf" >/dev/null
expect_eq "$(pci_driver "$gen_a") $(pci_driver "$gen_b")" "vfio-pci vfio-pci" "generator VFs $gen_a and $gen_b on vfio-pci"

ip netns exec firewall "$LAB_BIN/vlan-firewall" -l 0-1 --in-memory -a "$fw_a" -a "$fw_b" -- \
  --rules "$rules" --port-a "$fw_a" --port-b "$fw_b" --vlan-filter --stats-interval 1 \
  >"/tmp/firewall.out" 2>&1 &
fw_pid=$!
trap stop_firewall EXIT
wait_until 60 "vlan-firewall asks both VFs for VLAN 210" grep -q 'device VLAN filter \[210\]' /tmp/firewall.out
# Its first stats line comes once both ports run.
wait_until 90 "the firewall's ports are up" grep -q 'rules gen 1' /tmp/firewall.out

# 1. Every frame kind of the demo, 20 of each, from the outside pod's VFs.
count=20
kinds=$("$LAB_BIN/vlan-traffic" --rules "$rules" --list --wire)
gen_out=$(ip netns exec outside timeout 180 "$LAB_BIN/vlan-traffic" --rules "$rules" --port-a "$gen_a" \
  --port-b "$gen_b" --count "$count" --vlan-filter </dev/null 2>&1) || fail "vlan-traffic failed: $gen_out"
echo "frame kinds sent from outside ($gen_a on wire A, $gen_b on wire B) through the firewall pod:"
printf '  %-46s %-6s %-36s %5s %8s\n' frame rules "decided by" sent arrived
bad=0
while read -r _ i action rest; do
  name=${rest% (*} decided=${rest##* (}
  read -r _ _ _ sent _ arrived _ unexpected < <(grep -E "^kind $i " <<<"$gen_out") ||
    fail "vlan-traffic reported nothing for kind $i: $gen_out"
  printf '  %-46s %-6s %-36s %5s %8s\n' "$name" "$action" "${decided%)}" "$sent" "$arrived"
  [ "$sent" -eq "$count" ] || { echo "FAIL: kind $i: sent $sent of $count" >&2; bad=1; }
  if [ "$action" = Allow ]; then
    [ "$arrived" -eq "$sent" ] && [ "$unexpected" -eq 0 ] ||
      { echo "FAIL: kind $i ($name) is allowed: arrived $arrived of $sent, $unexpected altered" >&2; bad=1; }
  else
    [ "$arrived" -eq 0 ] || { echo "FAIL: kind $i ($name) is denied, yet $arrived arrived" >&2; bad=1; }
  fi
done <<<"$kinds"
[ $bad -eq 0 ] || fail "the frame kinds did not come out as the rules say"
ok "every allowed kind arrived, byte for byte as the rules' model says; no denied kind arrived"
check "outside pod DEL gen-a" cni sriov DEL outside /run/netns/outside gen-a <<<"$gen_a_conf"
check "outside pod DEL gen-b" cni sriov DEL outside /run/netns/outside gen-b <<<"$gen_b_conf"
expect_eq "$(pci_driver "$gen_a") $(pci_driver "$gen_b")" "igbvf igbvf" "generator VFs back on igbvf"

# 2. Kernel pods on VLAN 210 through the PF (the seed's sriov-vlanid-l2enable-conf: L2 only, so the
# pod sets its own address), addressed as the seed's rules expect: the client inside 10.56.217.0/24
# on wire A, the server on wire B with the MAC the seed's rewrite sends to.
vlan_conf() {
  echo "{ \"cniVersion\": \"1.0.0\", \"name\": \"$1\", \"type\": \"sriov\", \"if0\": \"$2\", \"vf\": 1,
    \"vlan\": 210, \"l2enable\": true, \"mac\": \"$3\" }"
}
client_conf=$(vlan_conf vlan210-client "${pfs[2]}" "$outside_mac")
server_conf=$(vlan_conf vlan210-server "${pfs[3]}" "$seed_dst_mac")
for pod in client server; do ip netns add "$pod"; done
echo "kernel pods on VLAN 210 through their PFs (sriov \"vlan\": 210) talk through the firewall pod:"
add client net1 sriov "$client_conf" >/dev/null
add server net1 sriov "$server_conf" >/dev/null
ip -n client addr add 10.56.217.1/24 dev net1
ip -n server addr add 10.56.217.2/24 dev net1
expect_match "$(pf_vf_line "${pfs[2]}" 1)" "link/ether $outside_mac .*vlan 210" "client VF: MAC and VLAN 210 set through ${pfs[2]}"
expect_match "$(pf_vf_line "${pfs[3]}" 1)" "link/ether $seed_dst_mac .*vlan 210" "server VF: MAC and VLAN 210 set through ${pfs[3]}"
wait_until 10 "client VF has carrier" has_carrier client net1
wait_until 10 "server VF has carrier" has_carrier server net1
ip -n client neigh replace 10.56.217.2 lladdr "$pod_mac" dev net1 nud permanent
ip -n server neigh replace 10.56.217.1 lladdr "$pod_mac" dev net1 nud permanent
wait_until 60 "ping from client to server through the firewall (rule ping)" \
  ip netns exec client ping -c 1 -W 1 10.56.217.2
ip netns exec server timeout 60 nc -l 443 >"/tmp/server.443" &
https=$!
ip netns exec server timeout 60 nc -l 23 >"/tmp/server.23" &
telnet=$!
wait_until 10 "the server listens on 443 and 23" \
  sh -c 'ip netns exec server ss -ltn | grep -q ":443 " && ip netns exec server ss -ltn | grep -q ":23 "'
check "HTTPS from the client is allowed (rules web out, web back)" \
  sh -c 'echo vlan-210-through-the-firewall | ip netns exec client nc -N -w 5 10.56.217.2 443'
wait_until 10 "the server got the data on 443" grep -q vlan-210-through-the-firewall "/tmp/server.443"
check_not "telnet from the client is dropped (rule no telnet)" ip netns exec client nc -z -w 3 10.56.217.2 23
expect_eq "$(cat "/tmp/server.23")" "" "nothing reached the server on 23"
kill "$https" "$telnet" 2>/dev/null || true

end_firewall
out=$(sed -n '/^final:/,$p' /tmp/firewall.out)
echo "the firewall's counters, per VLAN and per rule:"
echo "$out"
for rule in '0 dns' '1 web out' '2 web back' '3 no telnet' '4 ping' '5 arp'; do
  expect_match "$out" "rule $rule (Allow|Drop) +[1-9][0-9]* pkts" "vlan 210 rule $rule counted"
done
vlan210=$(sed -n '/^  vlan 210:/,$p' <<<"$out") untagged=$(sed -n '/^  untagged:/,/^  vlan /p' <<<"$out")
expect_match "$vlan210" '^    default Drop +[1-9][0-9]* pkts' "vlan 210 default drop counted (ssh, 10.56.218.0/24, unsolicited syn)"
expect_match "$untagged" 'rule 0 arp Allow +[1-9][0-9]* pkts' "untagged arp counted"
# Untagged frames reach the firewall (igb's PF lets a VF without a port VLAN take untagged frames)
# and its untagged table drops what it does not allow.
expect_match "$untagged" 'default Drop +[1-9][0-9]* pkts' "untagged dns dropped by the untagged table's default"
# The cut-off IPv4 header arrives padded to 60 bytes and is malformed (its length field runs past the
# frame). The IHL-12 frame never leaves the generator: QEMU's igb does not transmit a frame whose IPv4
# header it cannot parse (header length under 20 bytes), so the firewall cannot count it.
expect_match "$vlan210" 'malformed bad_ipv4_length +[1-9][0-9]* pkts' "the cut-off IPv4 header counted as malformed"
# Tagged frames of VLANs without a table never reach the firewall: the VFs' filter (the PF's VLVF
# entries) holds VLAN 210 only, so the NIC drops VLANs 211 and 100 before the firewall sees them.
expect_match "$out" 'core 0: .* no table 0 ' "VLANs 211 and 100 never reached the firewall (the VFs' VLAN filter holds 210 only)"
expect_match "$out" 'mbufs in use after shutdown: 0 of' "no mbuf leaked"

check "firewall pod DEL" cni multus DEL firewall /run/netns/firewall eth0 <<<"$(with_prev_result "$fw_conf" "$fw_result")"
check "client pod DEL" cni sriov DEL client /run/netns/client net1 <<<"$client_conf"
check "server pod DEL" cni sriov DEL server /run/netns/server net1 <<<"$server_conf"
expect_eq "$(pci_driver "$fw_a") $(pci_driver "$fw_b")" "igbvf igbvf" "firewall VFs back on igbvf"
for pf in "${pfs[2]}" "${pfs[3]}"; do
  if pf_vf_line "$pf" 1 | grep -q ' vlan '; then fail "$pf VF 1 still has a VLAN: $(pf_vf_line "$pf" 1)"; fi
done
ok "the client and server VFs have no VLAN any more"
for pod in firewall outside client server; do ip netns delete "$pod"; done
