#!/bin/bash
# The VNF image's entrypoint: starts vlan-firewall on the pod's two data ports, so that a pod spec
# never names its VFs. Its own arguments go to vlan-firewall after the rules and the ports.
#
# The ports (A then B) come from the first of these that names two:
#   VNF_PORTS             "A,B": vdev names or PCI addresses, given outright
#   VNF_NETWORK_STATUS    a file holding the pod's k8s.v1.cni.cncf.io/network-status annotation (a
#                         Downward API volume): the device-info PCI addresses of the interfaces
#                         VNF_IFACE_A (default net0) and VNF_IFACE_B (default north)
#   VNF_DEVINFO_DIR       a directory of NPWG device-info files (*.json of type pci), in name order
#   PCIDEVICE_<RESOURCE>  what the SR-IOV device plugin allocated for VNF_RESOURCE (default
#                         intel.com/intel_sriov_dpdk, read from PCIDEVICE_INTEL_COM_INTEL_SRIOV_DPDK)
# Also: VNF_RULES (default /etc/vlan-firewall/rules.json) and VNF_EAL_ARGS (default --in-memory);
# each PCI address is added to the EAL's allow list (-a).
set -euo pipefail

say() { echo "vnf-entrypoint: $*" >&2; }

resource=${VNF_RESOURCE:-intel.com/intel_sriov_dpdk}
resource_var=PCIDEVICE_$(tr '[:lower:]' '[:upper:]' <<<"$resource" | tr -c 'A-Z0-9\n' '_')
iface_a=${VNF_IFACE_A:-net0}
iface_b=${VNF_IFACE_B:-north}

# Prints the PCI address in the network-status device-info of interface $2 of file $1.
status_address() {
  jq -r --arg i "$2" '.[]? | select(.interface == $i) | .["device-info"].pci["pci-address"] // empty' "$1" 2>/dev/null | head -1
}

ports=()
source=""
if [ -n "${VNF_PORTS:-}" ]; then
  IFS=, read -ra ports <<<"$VNF_PORTS"
  source=VNF_PORTS
fi
if [ ${#ports[@]} -ne 2 ] && [ -s "${VNF_NETWORK_STATUS:-}" ]; then
  ports=()
  for iface in "$iface_a" "$iface_b"; do
    address=$(status_address "$VNF_NETWORK_STATUS" "$iface")
    [ -n "$address" ] && ports+=("$address")
  done
  source="the device-info of $iface_a and $iface_b in $VNF_NETWORK_STATUS"
fi
if [ ${#ports[@]} -ne 2 ] && [ -d "${VNF_DEVINFO_DIR:-}" ]; then
  mapfile -t ports < <(find "$VNF_DEVINFO_DIR" -maxdepth 1 -name '*.json' -print0 | sort -z |
    xargs -0 -r jq -r 'select(.type == "pci") | .pci["pci-address"] // empty')
  source="the device-info files in $VNF_DEVINFO_DIR"
fi
if [ ${#ports[@]} -ne 2 ] && [ -n "${!resource_var:-}" ]; then
  IFS=, read -ra ports <<<"${!resource_var}"
  source=$resource_var
fi
if [ ${#ports[@]} -ne 2 ]; then
  say "need two data ports, found ${#ports[@]} (looked at VNF_PORTS, VNF_NETWORK_STATUS," \
    "VNF_DEVINFO_DIR and $resource_var)"
  exit 2
fi

read -ra eal <<<"${VNF_EAL_ARGS:---in-memory}"
for port in "${ports[@]}"; do
  [[ $port =~ ^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$ ]] && eal+=(-a "$port")
done
rules=${VNF_RULES:-/etc/vlan-firewall/rules.json}
say "ports ${ports[0]} (A) and ${ports[1]} (B) from $source"
say "exec vlan-firewall ${eal[*]} -- --rules $rules --port-a ${ports[0]} --port-b ${ports[1]} $*"
exec vlan-firewall "${eal[@]}" -- --rules "$rules" --port-a "${ports[0]}" --port-b "${ports[1]}" "$@"
