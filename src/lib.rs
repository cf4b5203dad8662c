//! Raw DPDK 22.11 FFI: bindgen output plus the C shim for static-inline functions.
