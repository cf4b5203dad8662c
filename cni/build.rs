//! Links the plugin binaries as position-dependent executables (`-no-pie`), as Go links the reference
//! plugins and Multus. A CNI plugin is a process per call, so its start-up is part of every pod's
//! ADD and DEL: a PIE binary of this size has ~30 000 relative relocations, and applying them
//! copies some 140 pages on every start (~0.3-0.5 ms per call here); a fixed-address binary maps
//! them straight from the page cache. Only the binaries: tests and the library stay PIC.
//!
//! A build with `+crt-static` (`build-static-plugins.sh`) gets its fixed addresses from
//! `-C relocation-model=static` instead: `-no-pie` on top of a static-PIE link would leave the
//! program a loader that is not there.

fn main() {
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    if !features.split(',').any(|feature| feature == "crt-static") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
