# The seed's Figure 3 on real VFs: a firewall pod gets two VFs in DPDK mode from `multus` + `sriov`
# (port A on PF0, wire A; port B on PF1, wire B) and runs our `vlan-firewall` on them; a client pod
# (kernel-mode VF on PF2, wire A) and a server pod (kernel-mode VF on PF3, wire B) talk only through
# it. The firewall rewrites destination MACs per direction, allows ICMP and TCP to port 5001, and drops
# TCP to port 5002 (and everything else).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

mapfile -t pfs < <(lab_pfs)
for pf in "${pfs[@]}"; do set_numvfs "$pf" 2; done
fw_a_mac=02:00:00:00:0f:0a fw_b_mac=02:00:00:00:0f:0b
fw_a=$(vf_bdf "${pfs[0]}" 0) fw_b=$(vf_bdf "${pfs[1]}" 0)

fw_conf=$(cat <<EOF
{
  "cniVersion": "1.0.0",
  "name": "firewall-pod-network",
  "type": "multus",
  "delegates": [
    { "name": "flannel-conf", "type": "bridge", "bridge": "cni-fw", "isDefaultGateway": true,
      "masterplugin": true, "ipam": { "type": "host-local", "subnet": "192.168.45.0/24" } },
    { "name": "fw-a", "type": "sriov", "if0": "${pfs[0]}", "vf": 0, "if0name": "fw-a",
      "mac": "$fw_a_mac", "spoofchk": "off",
      "dpdk": { "kernel_driver": "igbvf", "dpdk_driver": "vfio-pci" } },
    { "name": "fw-b", "type": "sriov", "if0": "${pfs[1]}", "vf": 0, "if0name": "fw-b",
      "mac": "$fw_b_mac", "spoofchk": "off",
      "dpdk": { "kernel_driver": "igbvf", "dpdk_driver": "vfio-pci" } }
  ]
}
EOF
)
# endpoint_conf NAME PF ADDRESS: a kernel-mode sriov network with a static address.
endpoint_conf() {
  echo "{ \"cniVersion\": \"1.0.0\", \"name\": \"$1\", \"type\": \"sriov\", \"if0\": \"$2\",
    \"ipam\": { \"type\": \"static\", \"addresses\": [ { \"address\": \"$3\" } ] } }"
}
client_conf=$(endpoint_conf fw-client "${pfs[2]}" 10.77.0.1/24)
server_conf=$(endpoint_conf fw-server "${pfs[3]}" 10.77.0.2/24)

for pod in firewall client server; do ip netns add "$pod"; done
fw_result=$(cni multus ADD firewall /run/netns/firewall eth0 <<<"$fw_conf") || fail "firewall pod ADD: $fw_result"
expect_eq "$(pci_driver "$fw_a") $(pci_driver "$fw_b")" "vfio-pci vfio-pci" "firewall VFs bound to vfio-pci"
expect_match "$(pf_vf_line "${pfs[0]}" 0)" "link/ether $fw_a_mac .*spoof checking off" "port A MAC and spoofchk set through ${pfs[0]}"
expect_match "$(pf_vf_line "${pfs[1]}" 0)" "link/ether $fw_b_mac .*spoof checking off" "port B MAC and spoofchk set through ${pfs[1]}"
cni sriov ADD client /run/netns/client net1 <<<"$client_conf" >/dev/null || fail "client pod ADD failed"
cni sriov ADD server /run/netns/server net1 <<<"$server_conf" >/dev/null || fail "server pod ADD failed"
client_mac=$(ip netns exec client cat /sys/class/net/net1/address)
server_mac=$(ip netns exec server cat /sys/class/net/net1/address)
wait_until 10 "client VF has carrier" has_carrier client net1
wait_until 10 "server VF has carrier" has_carrier server net1
# Each endpoint reaches the other through the firewall port on its own wire.
ip -n client neigh replace 10.77.0.2 lladdr "$fw_a_mac" dev net1 nud permanent
ip -n server neigh replace 10.77.0.1 lladdr "$fw_b_mac" dev net1 nud permanent
check_not "no path without the firewall" ip netns exec client ping -c 1 -W 1 10.77.0.2

rules=/tmp/firewall-rules.json
cat >"$rules" <<EOF
{ "default": "drop",
  "vlans": { "untagged": { "default": "drop",
    "rules": [
      { "name": "icmp", "action": "allow", "proto": "icmp" },
      { "name": "tcp-5001-in", "action": "allow", "direction": "a->b", "proto": "tcp",
        "dst": "10.77.0.2/32", "dport": 5001 },
      { "name": "tcp-5001-out", "action": "allow", "direction": "b->a", "proto": "tcp",
        "src": "10.77.0.2/32", "sport": 5001 },
      { "name": "tcp-5002", "action": "drop", "direction": "a->b", "proto": "tcp", "dport": 5002 } ],
    "rewrite": { "a->b": { "dst_mac": "$server_mac" }, "b->a": { "dst_mac": "$client_mac" } } } } }
EOF
ip netns exec firewall "$LAB_BIN/vlan-firewall" -l 0-1 --in-memory -a "$fw_a" -a "$fw_b" -- \
  --rules "$rules" --port-a "$fw_a" --port-b "$fw_b" --stats-interval 0 >/tmp/firewall.out 2>&1 &
fw_pid=$!
trap stop_firewall EXIT
wait_until 90 "ping from client to server through the firewall" \
  ip netns exec client ping -c 1 -W 1 10.77.0.2
check "3 more pings" ip netns exec client ping -c 3 -i 0.2 -W 2 10.77.0.2

listeners=()
for port in 5001 5002; do
  ip netns exec server timeout 60 nc -l "$port" >"/tmp/server.$port" &
  listeners+=($!)
done
wait_until 10 "the server listens on 5001 and 5002" \
  sh -c 'ip netns exec server ss -ltn | grep -q ":5001 " && ip netns exec server ss -ltn | grep -q ":5002 "'
check "TCP to 5001 is allowed" sh -c 'echo through-the-firewall | ip netns exec client nc -N -w 5 10.77.0.2 5001'
wait_until 10 "the server got the data on 5001" grep -q through-the-firewall /tmp/server.5001
check_not "TCP to 5002 is dropped" ip netns exec client nc -z -w 3 10.77.0.2 5002
expect_eq "$(cat /tmp/server.5002)" "" "nothing reached the server on 5002"
kill "${listeners[@]}" 2>/dev/null || true

end_firewall
out=$(cat /tmp/firewall.out)
echo "$out" | sed -n '/^final:/,$p'
expect_match "$out" 'rule 0 icmp Allow +[1-9][0-9]* pkts' "ICMP counted by its rule"
expect_match "$out" 'rule 1 tcp-5001-in Allow +[1-9][0-9]* pkts' "TCP to 5001 counted a->b"
expect_match "$out" 'rule 2 tcp-5001-out Allow +[1-9][0-9]* pkts' "TCP from 5001 counted b->a"
expect_match "$out" 'rule 3 tcp-5002 Drop +[1-9][0-9]* pkts' "the SYNs to 5002 dropped by their rule"
expect_match "$out" 'mbufs in use after shutdown: 0 of' "no mbuf leaked"

check "firewall pod DEL" cni multus DEL firewall /run/netns/firewall eth0 <<<"$(with_prev_result "$fw_conf" "$fw_result")"
check "client pod DEL" cni sriov DEL client /run/netns/client net1 <<<"$client_conf"
check "server pod DEL" cni sriov DEL server /run/netns/server net1 <<<"$server_conf"
expect_eq "$(pci_driver "$fw_a") $(pci_driver "$fw_b")" "igbvf igbvf" "firewall VFs back on igbvf"
for pod in firewall client server; do ip netns delete "$pod"; done
