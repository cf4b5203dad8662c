//! Benchmarks for multiplane: criterion benches under `benches/` and the `throughput` harness,
//! which measures our forwarding against `dpdk-testpmd` in the same run; and the traffic of the
//! end-to-end demo (`demo`, `vlan-traffic`).

pub mod test_acl;
pub mod traffic;
