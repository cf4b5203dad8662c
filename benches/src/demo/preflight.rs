//! What the demo needs from the machine, checked before anything is created, each failure saying
//! exactly what to do: root, the Debian packages whose programs it runs, and (not needed, but
//! noticed) hugepages and AF_XDP.

use super::cni::REFERENCE_PLUGINS;
use super::sys::is_root;
use std::path::Path;

/// Set to `1` to run the firewall on `net_af_packet` as if AF_XDP were unavailable.
pub const NO_AF_XDP: &str = "MULTIPLANE_DEMO_NO_AF_XDP";

/// Programs the demo runs and the Debian packages that ship them. Only the story's when `benchmark`
/// is false.
fn needed(benchmark: bool) -> Vec<(String, &'static str)> {
    let mut list: Vec<(String, &str)> = ["bridge", "host-device", "host-local"]
        .iter()
        .map(|p| {
            (
                format!("{REFERENCE_PLUGINS}/{p}"),
                "containernetworking-plugins",
            )
        })
        .collect();
    list.push(("/usr/bin/ip".into(), "iproute2"));
    if benchmark {
        list.push(("/usr/bin/dpdk-testpmd".into(), "dpdk-dev"));
        list.push(("/usr/sbin/nft".into(), "nftables"));
    }
    list
}

/// Fails unless the demo can run: it must be root, and every program it runs must be installed.
pub fn check(benchmark: bool) -> Result<(), String> {
    if !is_root() {
        return Err(
            "the demo creates network namespaces and needs root: run `sudo make demo`".into(),
        );
    }
    let missing: Vec<(String, &str)> = needed(benchmark)
        .into_iter()
        .filter(|(path, _)| !Path::new(path).exists())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut packages: Vec<&str> = missing.iter().map(|(_, p)| *p).collect();
    packages.dedup();
    let paths: Vec<&str> = missing.iter().map(|(p, _)| p.as_str()).collect();
    Err(format!(
        "{} missing: install {} with `sudo apt-get install {}` (`make demo` runs .ci/install-deps, \
         which installs them; if apt-get failed there, its message says why: no network, or no \
         Debian 12 package sources in /etc/apt/sources.list)",
        paths.join(", "),
        if packages.len() == 1 { "its package" } else { "their packages" },
        packages.join(" ")
    ))
}

/// A line about hugepages when none are usable: DPDK then runs with `--no-huge` (the story does
/// anyway; the benchmark's numbers are lower without them).
pub fn hugepage_notice() -> Option<String> {
    let why = match benches::eal_memory::free_hugepages() {
        Some(free) if free >= 256 => return None,
        None => "no hugetlbfs is mounted",
        Some(_) => "fewer than 256 hugepages are free",
    };
    Some(format!(
        "note: {why}, so DPDK runs with --no-huge (the story works the same; benchmark numbers are \
         lower). For hugepages: `sudo .ci/install-deps`, or `echo 512 | sudo tee \
         /proc/sys/vm/nr_hugepages && sudo mount -t hugetlbfs nodev /dev/hugepages`"
    ))
}

/// Why AF_XDP is not to be tried, when the switch says so.
pub fn af_xdp_switched_off() -> Option<String> {
    (std::env::var(NO_AF_XDP).as_deref() == Ok("1")).then(|| format!("{NO_AF_XDP}=1"))
}
