//! `demo --lab`: the demo's story on real (emulated) SR-IOV VFs, the seed's Figure 3 with its VLAN 210
//! rules. Boots the lab guest (`cni/tests/lab`: QEMU's igb with SR-IOV, four PFs on two wires) under
//! the lab's lock and runs its scenario `45-vlan-firewall` there: a pod gets two VFs in DPDK mode from
//! `multus` + `sriov` and runs `vlan-firewall --vlan-filter` on them by PCI address; `vlan-traffic` on
//! two VFs of the other PFs sends every frame kind of the plain demo (VLAN 210 allowed and denied,
//! VLANs 211 and 100, untagged, malformed) across the wires, and kernel pods on VLAN 210 (the seed's
//! sriov-vlanid-l2enable-conf) ping and talk HTTPS through it while telnet is dropped; the firewall's
//! per-VLAN and per-rule counters are printed, and CNI DEL returns the VFs. Shows the scenario's own
//! lines, not the guest's boot.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// The lab's entry point, relative to the repository.
const LAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../cni/tests/lab/run.sh");

/// The scenario the demo runs in the guest.
const SCENARIO: &str = "45-vlan-firewall";

/// The lock every user of the lab takes: one guest at a time on this machine.
const LOCK: &str = "/var/lock/multiplane-lab.lock";

/// Runs the scenario in the guest; returns the lab's exit code.
pub fn run() -> Result<i32, String> {
    if which("qemu-system-x86_64").is_none() {
        return Err("qemu-system-x86_64 is missing: `sudo apt-get install -t bookworm-backports qemu-system-x86` \
             (QEMU 10 has the igb device with SR-IOV; cni/tests/lab/README.md)"
            .into());
    }
    println!("multiplane demo --lab: the VLAN 210 firewall pod on real VFs of QEMU's emulated igb NICs (the seed's Figure 3)");
    println!("  booting the lab guest (TCG, 2 vCPUs) under {LOCK}; this takes 1-3 minutes, longer if another lab run holds the lock");
    let mut child = Command::new("flock")
        .args([LOCK, LAB, SCENARIO])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("flock {LOCK} {LAB}: {e}"))?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let errors = std::thread::spawn(move || {
        let lines = BufReader::new(stderr).lines().map_while(Result::ok);
        lines.filter(|l| l.starts_with("lab:")).collect::<Vec<_>>()
    });
    let mut inside = false;
    for line in BufReader::new(child.stdout.take().ok_or("no stdout")?)
        .lines()
        .map_while(Result::ok)
    {
        if line.starts_with("=== lab scenario") {
            inside = true;
            println!("  guest: {line}");
        } else if line.starts_with("=== PASS") || line.starts_with("=== FAIL") {
            inside = false;
            println!("  guest: {line}");
        } else if inside || line.starts_with("lab:") {
            println!("  guest: {line}");
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    for line in errors.join().unwrap_or_default() {
        println!("  {line}");
    }
    let code = status.code().unwrap_or(1);
    if code == 0 {
        println!("verdict: on real VFs too, allowed traffic arrived and denied traffic did not (VLANs 211 and 100 stopped at the VFs' VLAN filter); CNI DEL gave the VFs back to igbvf");
    } else {
        println!("verdict: FAILED (the lab exited {code}; its full console log is named above)");
    }
    Ok(code)
}

/// The path of `program` on PATH.
fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.exists())
}
