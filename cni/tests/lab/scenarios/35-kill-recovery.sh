# kill -9 during ADD on real VFs: the sriov plugin runs under strace (-f -b execve: its threads, not
# the IPAM plugin it starts), which kills it with SIGKILL on entry to one chosen state-changing system
# call. A clean ADD is traced first; then, at evenly spread kill points (LAB_KILL_POINTS per mode,
# default 10), ADD is killed, DEL must put the VF back exactly (igbvf, netdev name and MAC in the host,
# no VLAN/MAC imposed, spoofchk on, trust off, no lease, no record or temporary file), and the next ADD
# and DEL of the VF must work. Kernel mode (VLAN, MAC, spoofchk, trust, IPAM) and DPDK mode (vfio-pci).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

mapfile -t pfs < <(lab_pfs)
pf=${pfs[0]}
set_numvfs "$pf" 2
vf=$(vf_bdf "$pf" 1)
name=$(vf_netdev "$pf" 1) mac=$(cat "/sys/class/net/$(vf_netdev "$pf" 1)/address")
points=${LAB_KILL_POINTS:-10}
calls=openat,write,rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat,sendto,sendmsg,setns,ioctl,flock,clone,clone3,vfork,wait4
trace=/var/lib/cni/kill-trace
state=/var/lib/cni/sriov

# sriov_under ARGS... COMMAND CONTAINER NETNS IFNAME < CONFIG: the sriov plugin under strace ARGS.
sriov_under() {
  local args=$1
  shift
  CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=$3 CNI_IFNAME=$4 CNI_PATH="$LAB_BIN:/usr/lib/cni" \
    strace -qq -f -b execve $args -- "$LAB_BIN/sriov"
}

# kill_points: the distinct "syscall nth" points of the traced ADD (strace counts per thread), in order.
kill_points() {
  awk '{ s = $2; sub(/\(.*/, "", s); if (s !~ /^[a-z0-9_]+$/) next
         c[$1 " " s]++; p = s " " c[$1 " " s]; if (!(p in seen)) { seen[p] = 1; print p } }' "$trace"
}

# expect_home: the VF is back as it was, nothing of the attachment is left.
expect_home() {
  expect_vf_home "$pf" 1 "$name" "$mac"
  expect_match "$(pf_vf_line "$pf" 1)" 'spoof checking on' "spoofchk back on"
  expect_match "$(pf_vf_line "$pf" 1)" 'trust off' "trust back off"
  if pf_vf_line "$pf" 1 | grep -q "link/ether $vf_mac "; then fail "the PF still imposes $vf_mac"; fi
  expect_eq "$(ls /var/lib/cni/networks/kill-net 2>/dev/null | grep -E '^[0-9.]+$' | xargs)" "" "no lease"
  expect_eq "$(ls -A $state/attachments $state/alloc 2>/dev/null | grep -v ':$' | xargs)" "" "no record, allocation or temporary file"
  expect_eq "$(netns_links kp)" "lo" "nothing in the pod"
}

# run_mode DESCRIPTION CONFIG
run_mode() {
  local what=$1 conf=$2 total stride i=0 tried=0 killed=0 syscall nth out
  echo "--- $what: a traced clean ADD"
  out=$(sriov_under "-e trace=$calls -e signal=none -o $trace" ADD kp /run/netns/kp net1 <<<"$conf") \
    || fail "traced ADD failed: $out"
  check "DEL" cni sriov DEL kp /run/netns/kp net1 <<<"$conf"
  expect_home
  mapfile -t all < <(kill_points)
  total=${#all[@]}
  stride=$(( (total + points - 1) / points ))
  echo "$total kill points; killing at every ${stride}th"
  for ((i = 0; i < total; i += stride)); do
    read -r syscall nth <<<"${all[$i]}"
    echo "--- $what: killed at point $i ($syscall #$nth)"
    tried=$((tried + 1))
    if out=$(sriov_under "-o /dev/null -e trace=$syscall -e signal=none -e inject=$syscall:signal=KILL:when=$nth" \
      ADD kp /run/netns/kp net1 <<<"$conf" 2>/dev/null); then
      echo "(ADD finished before the point)"
    else
      killed=$((killed + 1))
    fi
    sleep 0.5 # an IPAM plugin the killed ADD started finishes on its own
    check "DEL after the kill" cni sriov DEL kp /run/netns/kp net1 <<<"$conf"
    expect_home
    out=$(cni sriov ADD kp /run/netns/kp net1 <<<"$conf") || fail "the next ADD failed: $out"
    check "DEL of the next ADD" cni sriov DEL kp /run/netns/kp net1 <<<"$conf"
    expect_home
  done
  ok "$what: $tried of $total kill points tried, $killed kills, all restored"
}

ip netns add kp
vf_mac=02:00:00:00:35:01
run_mode "kernel mode" "$(cat <<EOF
{ "cniVersion": "1.0.0", "name": "kill-net", "type": "sriov", "deviceID": "$vf", "vlan": 350,
  "mac": "$vf_mac", "spoofchk": "off", "trust": "on",
  "ipam": { "type": "host-local", "subnet": "10.56.235.0/24" } }
EOF
)"
vf_mac=02:00:00:00:35:02
run_mode "DPDK mode" "$(cat <<EOF
{ "cniVersion": "1.0.0", "name": "kill-net", "type": "sriov", "deviceID": "$vf", "vlan": 351,
  "mac": "$vf_mac", "trust": "on",
  "dpdk": { "kernel_driver": "igbvf", "dpdk_driver": "vfio-pci" } }
EOF
)"
ip netns delete kp
