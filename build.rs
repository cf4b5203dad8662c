//! Finds DPDK 22.11 with pkg-config, generates bindings with bindgen and compiles the C shim that
//! exports DPDK's static-inline fast-path functions.

use std::env;
use std::path::PathBuf;

const INSTALL_HINT: &str =
    "run `make deps` (or: apt-get install libdpdk-dev dpdk dpdk-dev clang libclang-dev pkg-config)";

fn main() {
    let dpdk = match pkg_config::Config::new()
        .atleast_version("22.11")
        .probe("libdpdk")
    {
        Ok(lib) => lib,
        Err(_) => {
            let line = format!("DPDK 22.11 not found (pkg-config libdpdk failed): {INSTALL_HINT}");
            println!("cargo:warning={line}");
            eprintln!("{line}");
            std::process::exit(1);
        }
    };
    let cflags = cflags_from_pkg_config();

    println!("cargo:rerun-if-changed=src/shim/shim.c");
    println!("cargo:rerun-if-changed=src/shim/shim.h");
    println!("cargo:rerun-if-changed=src/shim/wrapper.h");

    let mut shim = cc::Build::new();
    shim.file("src/shim/shim.c").include("src/shim").opt_level(3);
    for flag in cflags.split_whitespace() {
        shim.flag(flag);
    }
    for path in &dpdk.include_paths {
        shim.include(path);
    }
    shim.warnings(false).compile("multiplane_dpdk_shim");

    let mut builder = bindgen::Builder::default()
        .header("src/shim/wrapper.h")
        .clang_arg("-Isrc/shim")
        .allowlist_function("rte_.*")
        .allowlist_function("shim_.*")
        .allowlist_type("rte_.*")
        .allowlist_var("RTE_.*")
        .allowlist_var("RING_F_.*")
        // Packed structs that also carry an alignment attribute cannot be expressed in Rust.
        .opaque_type("rte_arp_hdr")
        .opaque_type("rte_arp_ipv4")
        .opaque_type("rte_l2tpv2_combined_msg_hdr")
        .opaque_type("rte_gtp_psc_generic_hdr")
        .opaque_type("rte_gtp_psc_type0_hdr")
        .opaque_type("rte_gtp_psc_type1_hdr")
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    for flag in cflags.split_whitespace() {
        builder = builder.clang_arg(flag);
    }
    for path in &dpdk.include_paths {
        builder = builder.clang_arg(format!("-I{}", path.display()));
    }
    let bindings = builder
        .generate()
        .unwrap_or_else(|e| panic!("bindgen over the DPDK headers failed: {e}; {INSTALL_HINT}"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("writing bindings.rs into OUT_DIR");
}

/// `pkg-config --cflags libdpdk`: include paths, `-include rte_config.h` and the `-march` DPDK was
/// built for, which the shim must match.
fn cflags_from_pkg_config() -> String {
    let out = std::process::Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .unwrap_or_else(|e| panic!("running pkg-config failed: {e}; {INSTALL_HINT}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
