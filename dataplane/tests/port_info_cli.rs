//! The `port-info` probe reports a vdev's driver, MAC and link, and fails clearly on a bad name.

use std::process::Command;

fn port_info(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_port-info"))
        .args(["-l", "0", "--no-pci", "--no-huge", "--no-shconf", "-m", "128", "--log-level", "error"])
        .args(args)
        .output()
        .expect("run port-info")
}

#[test]
fn reports_a_started_vdev_as_json() {
    let out = port_info(&["--vdev", "net_ring0", "--", "--start", "net_ring0"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["name"], "net_ring0");
    assert_eq!(v["driver"], "net_ring");
    assert_eq!(v["started"], true);
    assert_eq!(v["link_up"], true);
    assert_eq!(v["mac"].as_str().map(str::len), Some(17));
}

#[test]
fn an_unknown_port_fails_with_its_name() {
    let out = port_info(&["--", "0000:42:00.0"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no DPDK port named \"0000:42:00.0\""), "{err}");
}
