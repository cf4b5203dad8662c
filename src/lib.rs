//! Raw DPDK 22.11 FFI: bindgen output over the EAL, ethdev, mbuf, mempool, ring, lcore, malloc and
//! ACL headers, plus `shim_*` functions that export DPDK's `static inline` fast-path functions
//! (see `src/shim/shim.h`). Nothing safe lives here: the `dataplane` crate wraps it.
#![allow(non_upper_case_globals, non_camel_case_types, non_snake_case, dead_code)]
#![allow(clippy::all, rustdoc::all, improper_ctypes)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
