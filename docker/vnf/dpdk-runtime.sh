#!/bin/bash
# Runs in the VNF image's first build stage: installs Debian's DPDK packages for the programs
# (BINARY_PACKAGES, from the build host) and for the poll-mode drivers below, then collects into OUT
# the programs, the libraries they and the drivers load, the drivers' plugin links and jq, leaving
# out what the base image already has. The EAL loads every plugin in its PMD directory at start,
# so that directory holds exactly the drivers listed here, each with everything it needs.
# Usage: dpdk-runtime.sh OUT PROGRAM...
set -euo pipefail
out=${1:?usage: dpdk-runtime.sh OUT PROGRAM...}
shift

# The drivers (DPDK's names, as in librte_<name>.so):
pmds=(
  bus_pci bus_vdev     # PCI devices (VFs) and virtual devices
  mempool_ring         # the default mempool handler: the EAL needs one
  net_iavf             # Intel E810/X710 VFs (iavf)
  net_ixgbe            # Intel 82599/X540 VFs (ixgbevf)
  net_e1000            # Intel 82576/I350 VFs (igbvf; the emulated lab's igb)
  net_mlx5             # NVIDIA ConnectX-4 and later (kernel bifurcated, rdma-core)
  net_af_xdp           # any netdev through AF_XDP
  net_af_packet        # any netdev through AF_PACKET
  net_pcap net_null net_ring   # test and replay vdevs
)
# Drivers the ones above load themselves (they sit in the PMD directory too).
pmds+=(bus_auxiliary common_iavf common_mlx5)

# Debian names each library package librte-<name with dashes>23, with a dash before the ABI
# version when the name ends in a digit (librte-net-e1000-23).
packages=(jq)
for pmd in "${pmds[@]}"; do
  name=librte-${pmd//_/-}
  [[ $name =~ [0-9]$ ]] && name+=-
  packages+=("${name}23")
done

# What the base image has (the programs themselves aside) stays out of OUT.
find /usr /etc -xdev \( -type f -o -type l \) | grep -vxF -f <(realpath "$@") > /tmp/base-files
apt-get update -qq
# shellcheck disable=SC2086 # BINARY_PACKAGES is a list
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "${packages[@]}" ${BINARY_PACKAGES:-} >/dev/null

pmd_dir=$(dirname "$(ls /usr/lib/x86_64-linux-gnu/dpdk/pmds-*/librte_bus_pci.so.23)")
links=()
for pmd in "${pmds[@]}"; do
  links+=("$pmd_dir/librte_$pmd.so.23")
done
# libibverbs finds its mlx5 provider through a driver file and loads it by name.
verbs=(/etc/libibverbs.d/mlx5.driver /usr/lib/x86_64-linux-gnu/libibverbs/libmlx5-rdmav*.so)
collect-runtime.sh --skip-listed /tmp/base-files "$out" "$@" "${links[@]}" /usr/bin/jq "${verbs[@]}"
echo "dpdk-runtime: $(find "$out$pmd_dir" -name '*.so.23' | wc -l) drivers in $pmd_dir"
