//! Benchmarks for multiplane: see `benches/` and the throughput harness.
