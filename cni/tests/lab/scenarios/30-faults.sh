# Faults on real hardware paths: the pod netns deleted before DEL (the kernel hands the VF back under
# whatever name is free), DEL twice, two pods racing for one VF, and ADDs that fail after the VF moved
# (in the sriov plugin itself and in a later multus delegate) rolled back completely.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

mapfile -t pfs < <(lab_pfs)
pf=${pfs[0]}

# sriov_conf NAME VLAN SELECTOR IPAM: an sriov network; SELECTOR picks the VF (JSON members).
sriov_conf() {
  cat <<EOF
{ "cniVersion": "1.0.0", "name": "$1", "type": "sriov", $3, "vlan": $2,
  "ipam": $4 }
EOF
}
ipam() { echo "{ \"type\": \"host-local\", \"subnet\": \"$1\" }"; }

# addresses_held NETWORK: host-local reservations of a network (IP-named files).
addresses_held() { ls "/var/lib/cni/networks/$1" 2>/dev/null | grep -E '^[0-9.]+$' | xargs; }

expect_cni_error() { # OUTPUT DESCRIPTION: a CNI error object on stdout
  jq -e '.code > 0 and (.msg | length > 0)' >/dev/null 2>&1 <<<"$1" || fail "$2: not a CNI error: $1"
  ok "$2: code $(jq .code <<<"$1"): $(jq -r .msg <<<"$1")"
}

echo "--- netns deleted before DEL, then DEL twice"
set_numvfs "$pf" 2
name=$(vf_netdev "$pf" 0) mac=$(cat "/sys/class/net/$(vf_netdev "$pf" 0)/address")
conf=$(sriov_conf fault-netns 100 "\"if0\": \"$pf\"" "$(ipam 10.56.220.0/24)")
ip netns add fa
result=$(cni sriov ADD fa /run/netns/fa net1 <<<"$conf") || fail "sriov ADD failed: $result"
expect_eq "$(netns_links fa)" "lo net1" "pod interfaces"
expect_match "$(pf_vf_line "$pf" 0)" 'vlan 100' "VF 0 has vlan 100"
ip netns delete fa
wait_until 30 "the kernel returned the VF netdev to the host namespace" vf_has_netdev "$pf" 0
echo "the kernel named it $(vf_netdev "$pf" 0)"
check "DEL with the netns gone" cni sriov DEL fa /run/netns/fa net1 <<<"$(with_prev_result "$conf" "$result")"
expect_vf_home "$pf" 0 "$name" "$mac"
expect_eq "$(addresses_held fault-netns)" "" "addresses released"
check "second DEL" cni sriov DEL fa /run/netns/fa net1 <<<"$conf"
check "DEL of a container never added" cni sriov DEL never-added /run/netns/never-added net1 <<<"$conf"
expect_vf_home "$pf" 0 "$name" "$mac"

echo "--- two pods racing for one VF"
set_numvfs "$pf" 1
vf=$(vf_bdf "$pf" 0)
name=$(vf_netdev "$pf" 0) mac=$(cat "/sys/class/net/$name/address")
selectors=("\"if0\": \"$pf\"" "\"if0\": \"$pf\", \"vf\": 0" "\"deviceID\": \"$vf\"")
for round in 0 1 2; do
  conf=$(sriov_conf fault-race 0 "${selectors[$round]}" "$(ipam 10.56.222.0/24)")
  echo "round $round: selector '${selectors[$round]}'"
  ip netns add r1
  ip netns add r2
  out=/tmp/race.$round
  cni sriov ADD r1 /run/netns/r1 net1 <<<"$conf" >"$out.r1" 2>"$out.r1.log" & p1=$!
  cni sriov ADD r2 /run/netns/r2 net1 <<<"$conf" >"$out.r2" 2>"$out.r2.log" & p2=$!
  rc1=0 rc2=0
  wait $p1 || rc1=$?
  wait $p2 || rc2=$?
  if [ $rc1 -eq 0 ] && [ $rc2 -ne 0 ]; then
    winner=r1 loser=r2
  elif [ $rc2 -eq 0 ] && [ $rc1 -ne 0 ]; then
    winner=r2 loser=r1
  else
    fail "exactly one ADD must win: r1 exit $rc1 ($(cat "$out.r1")), r2 exit $rc2 ($(cat "$out.r2"))"
  fi
  ok "$winner got the VF"
  expect_cni_error "$(cat "$out.$loser")" "$loser's ADD"
  expect_eq "$(netns_pci "$winner" net1)" "$vf" "$winner's net1 is the VF"
  expect_eq "$(netns_links "$loser")" "lo" "$loser has nothing"
  check "DEL of the loser" cni sriov DEL "$loser" "/run/netns/$loser" net1 <<<"$conf"
  expect_eq "$(netns_links "$winner")" "lo net1" "the loser's DEL left $winner's VF alone"
  check "DEL of the winner" cni sriov DEL "$winner" "/run/netns/$winner" net1 \
    <<<"$(with_prev_result "$conf" "$(cat "$out.$winner")")"
  expect_vf_home "$pf" 0 "$name" "$mac"
  expect_eq "$(addresses_held fault-race)" "" "addresses released"
  ip netns delete r1
  ip netns delete r2
done

echo "--- sriov ADD failing at IPAM after the VF moved"
set_numvfs "$pf" 2
name=$(vf_netdev "$pf" 0) mac=$(cat "/sys/class/net/$name/address")
# A one-address range whose address another container already holds.
mkdir -p /var/lib/cni/networks/fault-ipam
printf 'someone-else\r\neth0' >/var/lib/cni/networks/fault-ipam/10.56.221.10
conf=$(sriov_conf fault-ipam 300 "\"if0\": \"$pf\", \"spoofchk\": \"off\"" \
  '{ "type": "host-local", "ranges": [[{ "subnet": "10.56.221.0/24", "rangeStart": "10.56.221.10", "rangeEnd": "10.56.221.10" }]] }')
ip netns add fi
if out=$(cni sriov ADD fi /run/netns/fi net1 <<<"$conf"); then fail "ADD succeeded with no address left: $out"; fi
expect_cni_error "$out" "ADD with an exhausted range"
expect_eq "$(netns_links fi)" "lo" "nothing left in the pod"
expect_match "$(jq -r .msg <<<"$out")" '10\.56\.221' "it failed at IPAM (which runs after the VF moved into the pod)"
expect_vf_home "$pf" 0 "$name" "$mac"
expect_match "$(pf_vf_line "$pf" 0)" 'spoof checking on' "spoofchk restored"
expect_eq "$(addresses_held fault-ipam)" "10.56.221.10" "the other container's address is untouched"
check "DEL after the failed ADD" cni sriov DEL fi /run/netns/fi net1 <<<"$conf"
expect_vf_home "$pf" 0 "$name" "$mac"
ip netns delete fi

echo "--- multus ADD failing at a later delegate after the VF moved"
conf=$(cat <<EOF
{ "cniVersion": "1.0.0", "name": "fault-multus", "type": "multus",
  "delegates": [
    { "name": "fault-bridge", "type": "bridge", "bridge": "cni-fault", "masterplugin": true,
      "ipam": { "type": "host-local", "subnet": "192.168.44.0/24" } },
    { "name": "fault-sriov", "type": "sriov", "if0": "$pf", "vlan": 310,
      "ipam": { "type": "host-local", "subnet": "10.56.223.0/24" } },
    { "name": "fault-macvlan", "type": "macvlan", "master": "no-such-link",
      "ipam": { "type": "host-local", "subnet": "10.56.224.0/24" } }
  ] }
EOF
)
ip netns add fm
if out=$(cni multus ADD fm /run/netns/fm eth0 <<<"$conf"); then fail "multus ADD succeeded: $out"; fi
expect_cni_error "$out" "multus ADD with a failing macvlan delegate"
expect_match "$out" 'fault-macvlan|delegates\[2\]|macvlan' "the error names the failing delegate"
expect_eq "$(netns_links fm)" "lo" "nothing left in the pod"
expect_vf_home "$pf" 0 "$name" "$mac"
expect_eq "$(addresses_held fault-bridge) $(addresses_held fault-sriov)" " " "addresses released"
check "multus DEL after the failed ADD" cni multus DEL fm /run/netns/fm eth0 <<<"$conf"
ip netns delete fm
