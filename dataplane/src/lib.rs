//! Safe DPDK core, packet views, poll-mode pipeline and the VLAN-aware firewall VNF.
