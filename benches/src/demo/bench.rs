//! The demo's short benchmark table: one round of `throughput` (its io case, and its kernel case on
//! the 1 000-rule acl set) read back from the JSON file it writes, as the three paths a reader
//! compares: DPDK's testpmd io (no rules), our firewall (DPDK) and the kernel's nftables, with the gain.

use super::preflight::hugepage_notice;
use super::sys::checked;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};

/// Seconds of the one measured round per side.
const SECONDS: &str = "4";

/// The median Mpps of the side named `name` in the case `workload`/`label` of a results file.
fn median(results: &Value, workload: &str, label: &str, name: &str) -> Result<f64, String> {
    let cases = results["cases"]
        .as_array()
        .ok_or("no cases in throughput.json")?;
    let case = cases
        .iter()
        .find(|c| c["workload"] == workload && c["case"] == label)
        .ok_or(format!("throughput.json has no {workload} case {label:?}"))?;
    let sides = case["sides"].as_array().ok_or("a case without sides")?;
    sides
        .iter()
        .find(|s| s["name"] == name)
        .and_then(|s| s["median_mpps"].as_f64())
        .ok_or(format!(
            "throughput.json: {workload} {label:?} has no side {name:?}"
        ))
}

/// Runs `throughput` (next to this binary as `exe`) with its results in `dir`, and prints the table.
pub fn run(exe: &Path, dir: &Path) -> Result<(), String> {
    println!(
        "benchmark: one round of {SECONDS} s per side on this machine's {} CPUs, 1 worker core each (the full run, \
         with DPDK's l3fwd-acl, rule and core scaling: `make bench`)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if let Some(note) = hugepage_notice() {
        println!("  {note}");
    }
    let out = Command::new(exe)
        .args([
            "--seconds",
            SECONDS,
            "--rounds",
            "1",
            "--case",
            "io",
            "--case",
            "kernel",
        ])
        .args(["--sizes", "1000", "--shapes", "acl", "--out"])
        .arg(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", exe.display()))?;
    checked("throughput (the demo's round)", out)?;
    let file = dir.join("throughput.json");
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let results: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let testpmd = median(&results, "io", "replay", "testpmd io")?;
    let seed = median(&results, "io", "replay", "vlan-firewall (seed rules)")?;
    let firewall = median(&results, "kernel", "acl 1000", "vlan-firewall")?;
    let kernel = median(
        &results,
        "kernel",
        "acl 1000",
        "nftables per kernel CPU-second",
    )?;
    let rows = [
        (
            "dpdk-testpmd io: no rules, DPDK's forwarding floor (net_pcap)",
            testpmd,
        ),
        ("vlan-firewall: the seed's VLAN 210 rules (net_pcap)", seed),
        (
            "vlan-firewall: 1 000 ClassBench acl rules, VLAN 210 (net_pcap)",
            firewall,
        ),
        (
            "kernel nftables: the same 1 000 rules (veth, netdev ingress + fwd)",
            kernel,
        ),
    ];
    println!("  {:<70} {:>10} {:>13}", "path", "Mpps/core", "vs kernel");
    for (name, mpps) in rows {
        println!("  {name:<70} {mpps:>10.3} {:>12.1}x", mpps / kernel);
    }
    let gain = firewall / kernel;
    println!(
        "  gain, DPDK firewall over the kernel per core, same 1 000 rules: {gain:.0}x (target >= 10: {}); \
         the kernel's Mpps/core counts frames per CPU-second of kernel time",
        if gain >= 10.0 { "met" } else { "not met" }
    );
    Ok(())
}
