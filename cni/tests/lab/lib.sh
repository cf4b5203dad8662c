# Helpers for lab scenarios (bash, sourced). Runs inside the guest, chrooted into the host root.
# Every check prints what it proved; the first failed check ends the scenario with a message.

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

ok() { echo "ok: $*"; }

# check DESCRIPTION COMMAND...: runs COMMAND, fails the scenario with its output when it fails.
check() {
  local what=$1 out
  shift
  out=$("$@" 2>&1) || fail "$what: \`$*\` failed: $out"
  ok "$what"
}

# check_not DESCRIPTION COMMAND...: the command must fail.
check_not() {
  local what=$1 out
  shift
  out=$("$@" 2>&1) && fail "$what: \`$*\` unexpectedly succeeded: $out"
  ok "$what"
}

# expect_eq ACTUAL EXPECTED DESCRIPTION
expect_eq() {
  [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"
  ok "$3 ($1)"
}

# expect_match TEXT REGEX DESCRIPTION (extended regex, matched against the whole multi-line TEXT)
expect_match() {
  grep -Eq -- "$2" <<<"$1" || fail "$3: /$2/ not found in: $1"
  ok "$3"
}

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s until it succeeds.
wait_until() {
  local limit=$1 what=$2 start=$SECONDS
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ $((SECONDS - start)) -lt "$limit" ] || fail "$what: not true after ${limit}s: \`$*\`"
    sleep 0.2
  done
  ok "$what (after $((SECONDS - start))s)"
}

# The SR-IOV PFs (igb-bound PCI functions), as netdev names, in PCI order.
lab_pfs() {
  local dev
  for dev in /sys/bus/pci/drivers/igb/0000:*; do
    ls "$dev/net"
  done
}

pf_device() { echo "/sys/class/net/$1/device"; }

# vf_bdf PF INDEX: PCI address of the PF's VF number INDEX.
vf_bdf() { basename "$(readlink "$(pf_device "$1")/virtfn$2")"; }

# vf_netdev PF INDEX: kernel netdev name of the VF (empty when the VF has no netdev).
vf_netdev() { ls "$(pf_device "$1")/virtfn$2/net" 2>/dev/null; }

vf_has_netdev() { [ -n "$(vf_netdev "$1" "$2")" ]; }

# pci_driver BDF: name of the driver bound to a PCI function (empty when unbound).
pci_driver() {
  local link=/sys/bus/pci/devices/$1/driver
  [ -e "$link" ] && basename "$(readlink "$link")"
  return 0
}

# iommu_group BDF
iommu_group() { basename "$(readlink "/sys/bus/pci/devices/$1/iommu_group")"; }

# bind_pci BDF DRIVER: the driver_override + unbind + drivers_probe dance.
bind_pci() {
  local bdf=$1 driver=$2 dev=/sys/bus/pci/devices/$1
  echo "$driver" >"$dev/driver_override"
  if [ -e "$dev/driver" ]; then echo "$bdf" >"$dev/driver/unbind"; fi
  echo "$bdf" >/sys/bus/pci/drivers_probe
  echo >"$dev/driver_override"
  [ "$(pci_driver "$bdf")" = "$driver" ]
}

# set_numvfs PF COUNT: recreates the PF's VFs and waits until each has its igbvf netdev.
set_numvfs() {
  local pf=$1 count=$2 dev i
  dev=$(pf_device "$pf")
  echo 0 >"$dev/sriov_numvfs"
  [ "$count" -eq 0 ] && return 0
  echo "$count" >"$dev/sriov_numvfs"
  for ((i = 0; i < count; i++)); do
    wait_until 60 "$pf VF $i has an igbvf netdev" vf_has_netdev "$pf" "$i" >/dev/null
  done
}

# Returns the lab to its boot state: no VFs, no extra network namespaces, no bridges, PFs up.
lab_reset() {
  local pf ns br
  for ns in $(ip netns list | cut -d' ' -f1); do ip netns delete "$ns"; done
  for br in $(ip -o link show type bridge | awk -F': ' '{print $2}'); do ip link delete "$br"; done
  for pf in $(lab_pfs); do
    echo 0 >"$(pf_device "$pf")/sriov_numvfs"
    ip link set "$pf" up
  done
}

# cni PLUGIN COMMAND CONTAINER NETNS IFNAME < CONFIG: runs one of our plugins ($LAB_BIN) as a
# runtime would, delegates found in $LAB_BIN then /usr/lib/cni; prints the plugin's stdout.
cni() {
  CNI_COMMAND=$2 CNI_CONTAINERID=$3 CNI_NETNS=$4 CNI_IFNAME=$5 CNI_PATH="$LAB_BIN:/usr/lib/cni" \
    "$LAB_BIN/$1"
}

# port_info BDF: the dataplane's `port-info` opens a vfio-bound VF by PCI address, configures and
# starts it; prints its JSON report (driver, mac, link_up, ...).
port_info() { "$LAB_BIN/port-info" -l 0 --in-memory -a "$1" -- --start "$1" 2>/dev/null | tail -1; }

# with_prev_result CONFIG RESULT: the config a runtime sends for CHECK/DEL after an ADD.
with_prev_result() { jq -c --argjson prev "$2" '. + {prevResult: $prev}' <<<"$1"; }

# netns_links NS: the interface names in a network namespace, sorted, on one line.
netns_links() { ip -n "$1" -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | sort | xargs; }

# netns_pci NS IFNAME: PCI address behind an interface inside a namespace.
netns_pci() { ip netns exec "$1" sh -c "basename \$(readlink /sys/class/net/$2/device)"; }

# has_carrier NS IFNAME
has_carrier() { ip -n "$1" link show "$2" | grep -q 'LOWER_UP'; }

# host_in_netns NS LINK ADDRESS: moves a host link into a new namespace, addresses it, brings it up
# and waits for carrier.
host_in_netns() {
  ip netns add "$1"
  ip link set "$2" netns "$1"
  ip -n "$1" addr add "$3" dev "$2"
  ip -n "$1" link set "$2" up
  wait_until 10 "$2 in $1 has carrier" has_carrier "$1" "$2"
}

# pf_vf_line PF INDEX: the PF's `ip link show` line for one VF.
pf_vf_line() { ip link show "$1" | grep -E "^ +vf $2 "; }

# expect_vf_home PF INDEX NAME MAC: the VF is back in the host namespace as NAME with MAC, on igbvf,
# with no VLAN set through the PF.
expect_vf_home() {
  local pf=$1 i=$2 name=$3 mac=$4 bdf
  bdf=$(vf_bdf "$pf" "$i")
  expect_eq "$(pci_driver "$bdf")" igbvf "$pf VF $i ($bdf) driver"
  expect_eq "$(vf_netdev "$pf" "$i")" "$name" "$pf VF $i netdev name in the host namespace"
  expect_eq "$(cat "/sys/class/net/$name/address")" "$mac" "$name MAC"
  if pf_vf_line "$pf" "$i" | grep -q ' vlan '; then fail "$pf VF $i still has a VLAN: $(pf_vf_line "$pf" "$i")"; fi
  ok "$pf VF $i has no VLAN"
}

# Stops the vlan-firewall of $fw_pid (SIGINT, SIGKILL after 10 s) and shows the end of what it said
# (/tmp/firewall.out). The firewall scenarios trap it on EXIT while it runs: whatever fails, a VF that a
# process still holds through vfio cannot be removed, and the lab's reset would wait for it forever.
stop_firewall() {
  kill -INT "$fw_pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$fw_pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$fw_pid" 2>/dev/null || true
  wait "$fw_pid" 2>/dev/null || true
  echo "vlan-firewall said (the end):"
  tail -40 /tmp/firewall.out || true
}

# Stops the vlan-firewall of $fw_pid on purpose (SIGINT, its EXIT trap dropped) and fails unless it
# exits 0; its output stays in /tmp/firewall.out.
end_firewall() {
  trap - EXIT
  kill -INT "$fw_pid"
  wait "$fw_pid" || fail "vlan-firewall exited with $?: $(cat /tmp/firewall.out)"
}
