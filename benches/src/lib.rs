//! Benchmarks for multiplane: criterion benches under `benches/` and the `throughput` harness,
//! which measures our forwarding against `dpdk-testpmd` and our firewall against DPDK's `l3fwd`
//! ACL forwarder in the same run; and the traffic of the end-to-end demo (`demo`, `vlan-traffic`).

pub mod acl_peer;
pub mod eal_memory;
pub mod kernel_path;
pub mod l3fwd;
pub mod report;
pub mod telemetry;
pub mod test_acl;
pub mod traffic;
