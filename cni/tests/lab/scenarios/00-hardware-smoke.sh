# Hardware smoke: the kernel and DPDK paths the plugins rely on work on the emulated igb NICs, without
# any of our code. SR-IOV sysfs, igbvf netdevs, PF netlink VF settings, IOMMU groups, the vfio-pci
# rebind dance, DPDK's igbvf PMD probing a VF by PCI address, the way back to igbvf, and VF traffic
# between the two PFs (kernel and DPDK).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

mapfile -t pfs < <(lab_pfs)
expect_eq "${#pfs[@]}" 4 "igb PFs found"
for pf in "${pfs[@]}"; do
  expect_eq "$(cat "$(pf_device "$pf")/sriov_totalvfs")" 7 "$pf sriov_totalvfs"
done
pf=${pfs[0]}

for p in "${pfs[@]}"; do set_numvfs "$p" 4; done
for p in "${pfs[@]}"; do
  for i in 0 1 2 3; do
    bdf=$(vf_bdf "$p" "$i")
    expect_eq "$(pci_driver "$bdf")" igbvf "$p VF $i ($bdf, $(vf_netdev "$p" "$i")) driver"
    expect_eq "$(basename "$(readlink "/sys/bus/pci/devices/$bdf/physfn")")" \
      "$(basename "$(readlink "$(pf_device "$p")")")" "$p VF $i physfn link"
    group=$(iommu_group "$bdf")
    expect_eq "$(ls "/sys/kernel/iommu_groups/$group/devices")" "$bdf" "$p VF $i alone in IOMMU group $group"
  done
done

# PF-side VF settings through netlink, as the plugin will do them.
check "set VF 0 vlan 210 through $pf" ip link set "$pf" vf 0 vlan 210
check "set VF 0 mac through $pf" ip link set "$pf" vf 0 mac 02:00:00:00:02:10
check "set VF 0 spoofchk off through $pf" ip link set "$pf" vf 0 spoofchk off
check "set VF 1 trust on through $pf" ip link set "$pf" vf 1 trust on
show=$(ip link show "$pf")
expect_match "$show" 'vf 0 .*link/ether 02:00:00:00:02:10 .*vlan 210, spoof checking off' "ip link show $pf: VF 0 mac, vlan 210, spoofchk off"
expect_match "$show" 'vf 1 .*trust on' "ip link show $pf: VF 1 trusted"
check_not "igb refuses VF link-state (not implemented by the driver)" ip link set "$pf" vf 2 state enable
check "reset VF 0 vlan to 0" ip link set "$pf" vf 0 vlan 0
expect_match "$(ip link show "$pf")" 'vf 0 .*link/ether 02:00:00:00:02:10 brd ff:ff:ff:ff:ff:ff, spoof' "ip link show $pf: VF 0 vlan cleared"

# vfio-pci binding and DPDK's igbvf PMD.
vf=$(vf_bdf "$pf" 0)
netdev=$(vf_netdev "$pf" 0)
group=$(iommu_group "$vf")
check "bind $vf to vfio-pci" bind_pci "$vf" vfio-pci
check "/dev/vfio/$group appears" test -c "/dev/vfio/$group"
check_not "$netdev is gone while bound to vfio-pci" ip link show "$netdev"

start=$SECONDS
out=$(printf 'show port info 0\nstart\nstop\nquit\n' |
  timeout 120 dpdk-testpmd -l 0-1 -n 1 --in-memory -a "$vf" -- -i --total-num-mbufs=2048 2>&1) ||
  fail "dpdk-testpmd -a $vf failed: $out"
echo "dpdk-testpmd ran in $((SECONDS - start))s"
expect_match "$out" "Probe PCI driver: net_e1000_igb_vf .* device: $vf" "testpmd probed $vf with the igbvf PMD"
expect_match "$out" 'Driver name: net_e1000_igb_vf' "port 0 driver is net_e1000_igb_vf"
expect_match "$out" 'MAC address: 02:00:00:00:02:10' "port 0 has the MAC set through the PF"
expect_match "$out" 'io packet forwarding - ports=1' "port 0 started forwarding"
expect_match "$out" 'Port 0 is closed' "port 0 closed cleanly"

out=$(port_info "$vf") || fail "port-info $vf failed: $out"
expect_eq "$(jq -r '"\(.driver) \(.mac) \(.started)"' <<<"$out")" "net_e1000_igb_vf 02:00:00:00:02:10 true" \
  "the dataplane crate (port-info) opens and starts $vf"

check "bind $vf back to igbvf" bind_pci "$vf" igbvf
wait_until 30 "VF 0 netdev returns" vf_has_netdev "$pf" 0
expect_eq "$(cat "/sys/class/net/$(vf_netdev "$pf" 0)/address")" 02:00:00:00:02:10 "VF 0 netdev took the admin MAC on reload"
check_not "/dev/vfio/$group is gone" test -e "/dev/vfio/$group"

# Traffic: with the PFs up before their VFs exist (lab_reset does that), VF frames cross a wire from
# one PF to the other, both through igbvf and through DPDK's PMD. Wire A joins PF0 and PF2, wire B
# joins PF1 and PF3, and nothing joins the two wires.
host_in_netns ta "$(vf_netdev "$pf" 3)" 10.99.0.1/24
host_in_netns tc "$(vf_netdev "${pfs[2]}" 3)" 10.99.0.3/24
host_in_netns tb "$(vf_netdev "${pfs[1]}" 3)" 10.99.0.2/24
check "ping from $pf VF 3 to ${pfs[2]} VF 3 (kernel igbvf, wire A)" ip netns exec ta ping -c 3 -i 0.2 -W 2 10.99.0.3
check_not "no path from wire A to wire B" ip netns exec ta ping -c 1 -W 1 10.99.0.2

ip link set "${pfs[1]}" vf 2 mac 02:00:00:00:00:a2
ip link set "${pfs[3]}" vf 2 mac 02:00:00:00:00:b2
va=$(vf_bdf "${pfs[1]}" 2) vb=$(vf_bdf "${pfs[3]}" 2)
check "bind $va to vfio-pci" bind_pci "$va" vfio-pci
check "bind $vb to vfio-pci" bind_pci "$vb" vfio-pci
out=$( (echo 'start tx_first'; sleep 4; echo stop; sleep 1; echo quit) |
  timeout 120 dpdk-testpmd -l 0-1 -n 1 --in-memory -a "$va" -a "$vb" -- -i --total-num-mbufs=4096 \
    --eth-peer=0,02:00:00:00:00:b2 --eth-peer=1,02:00:00:00:00:a2 2>&1) || fail "dpdk-testpmd failed: $out"
stats=$(grep -E '^ +RX-packets: [0-9]+ +RX-dropped' <<<"$out" | head -2 | awk '{print $2}' | xargs)
echo "testpmd io forwarding between $va and $vb: RX-packets per port: $stats"
[[ "$stats" =~ ^[1-9][0-9]*\ [1-9][0-9]*$ ]] || fail "DPDK VF traffic did not flow both ways: $out"
ok "DPDK VFs on PF1 and PF3 exchange packets over wire B"

set_numvfs "$pf" 0
check_not "VFs removed with sriov_numvfs=0" test -e "$(pf_device "$pf")/virtfn0"
