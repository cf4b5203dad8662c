//! The benchmark harness in its CI form: `throughput --quick` runs every case briefly — io against
//! testpmd, vlan-firewall against `l3fwd --lookup=acl` on every rule-set shape and size (each side
//! first checked frame by frame against the reference model), 1 and 2 worker cores, and the kernel
//! nftables path (checked by its counters) — and writes its JSON, table and chart. The numbers are not
//! judged here; that each case ran, was checked and printed its target is. Needs root and DPDK's
//! `dpdk-testpmd`; builds `l3fwd` once into /var/cache/multiplane/l3fwd.

mod support;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

#[test]
fn the_quick_run_measures_and_checks_every_case() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "the throughput harness needs root (CI runs as root)"
    );
    let throughput = PathBuf::from(env!("CARGO_BIN_EXE_throughput"));
    support::build_beside(&throughput, &[("dataplane", "vlan-firewall")]);
    let out = std::env::temp_dir().join(format!("multiplane-throughput-{}", std::process::id()));
    let run = Command::new(&throughput)
        .arg("--quick")
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
    );
    assert!(
        run.status.success(),
        "throughput --quick failed\n{stdout}\n{stderr}"
    );

    let json: Value =
        serde_json::from_slice(&std::fs::read(out.join("throughput.json")).unwrap()).unwrap();
    let cases = json["cases"].as_array().unwrap();
    let labels = |workload: &str| -> Vec<String> {
        cases
            .iter()
            .filter(|c| c["workload"] == workload)
            .map(|c| c["case"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(labels("io").len(), 2, "io on null and on replayed frames");
    let sets: Vec<String> = ["acl", "fw", "ipc"]
        .iter()
        .flat_map(|shape| ["1", "10", "1000", "10000"].map(|n| format!("{shape} {n}")))
        .collect();
    assert_eq!(
        labels("acl"),
        sets,
        "firewall vs l3fwd-acl on every shape and size"
    );
    assert_eq!(
        labels("kernel"),
        sets,
        "the kernel path on every shape and size"
    );
    assert!(!labels("cores").is_empty(), "1 and 2 worker cores");
    for case in cases {
        let verdict = &case["verdict"];
        let ratio = verdict["ratio"].as_f64().unwrap_or(f64::NAN);
        assert!(
            verdict["met"].is_boolean() && ratio.is_finite() && ratio > 0.0,
            "a measured ratio and its target: {case}"
        );
        for side in case["sides"].as_array().unwrap() {
            assert!(side["median_mpps"].as_f64().unwrap() > 0.0, "{case}");
        }
    }
    // Each side forwarded exactly the model's frames before it was timed.
    for set in &sets {
        assert!(
            stderr.contains(&format!("throughput: {set}: both forward the same")),
            "{set}: firewall and l3fwd not checked\n{stderr}"
        );
        assert!(
            stderr.contains(&format!("throughput: kernel {set}: nftables allows")),
            "{set}: kernel path not checked\n{stderr}"
        );
    }
    for chart in ["throughput.png", "throughput.svg"] {
        assert!(
            std::fs::metadata(out.join(chart)).unwrap().len() > 1000,
            "{chart}"
        );
    }
    assert!(stdout.contains("met"), "{stdout}");
    std::fs::remove_dir_all(&out).unwrap();
}
