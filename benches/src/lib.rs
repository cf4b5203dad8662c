//! Benchmarks for multiplane: criterion benches under `benches/` and the `throughput` harness,
//! which measures our forwarding against `dpdk-testpmd` in the same run.

pub mod test_acl;
