//! `vlan-firewall` on DPDK's `net_af_xdp` between two veth pairs in a network namespace of its own:
//! traffic goes through, and shutdown exits 0 although the PMD never returns the mbufs of its rings
//! (what it keeps is accounted for, and reported). Needs root, hugepages and the `net_af_xdp` PMD
//! (Debian `librte-net-af-xdp23`); without them the test says why and checks nothing else.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PMD: &str = "/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0/librte_net_af_xdp.so";

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().unwrap();
    assert!(status.success(), "ip {args:?}: {status}");
}

/// The namespace, deleted (with its veths) on drop.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn hugepages_free() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let free = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("HugePages_Free:"));
    free.and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:"));
    uid.and_then(|u| u.split_whitespace().next()) == Some("0")
}

#[test]
fn af_xdp_forwards_and_shuts_down_with_exit_0() {
    if !is_root() || !Path::new(PMD).exists() || hugepages_free() < 256 {
        eprintln!("skipped: needs root, {PMD} and 256 free hugepages");
        return;
    }
    let ns = Netns(format!("mpxdp{}", std::process::id()));
    ip(&["netns", "add", &ns.0]);
    let n = ns.0.as_str();
    for (a, b) in [("fa", "ga"), ("fb", "gb")] {
        ip(&["-n", n, "link", "add", a, "type", "veth", "peer", "name", b]);
        ip(&["-n", n, "link", "set", a, "up"]);
        ip(&["-n", n, "link", "set", b, "up"]);
    }
    ip(&["-n", n, "addr", "add", "10.9.9.1/24", "dev", "ga"]);
    ip(&[
        "-n",
        n,
        "neigh",
        "add",
        "10.9.9.9",
        "lladdr",
        "02:00:00:00:00:09",
        "dev",
        "ga",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.json");
    std::fs::write(&rules, r#"{"default": "allow", "vlans": {}}"#).unwrap();
    let prefix = format!("mpxdp{}", std::process::id());
    let child = Command::new("ip")
        .args(["netns", "exec", n, env!("CARGO_BIN_EXE_vlan-firewall")])
        .args([
            "-l",
            "0-1",
            "--no-pci",
            "--in-memory",
            "-m",
            "512",
            "--log-level",
            "error",
        ])
        .args(["--file-prefix", &prefix, "--vdev", "net_af_xdp0,iface=fa"])
        .args(["--vdev", "net_af_xdp1,iface=fb", "--", "--rules"])
        .arg(&rules)
        .args(["--port-a", "net_af_xdp0", "--port-b", "net_af_xdp1"])
        .args(["--data-room", "2176", "--stats-interval", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Pings from ga cross the firewall (fa -> fb) and leave on gb; until it runs they are lost.
    let deadline = Instant::now() + Duration::from_secs(30);
    std::thread::sleep(Duration::from_secs(3));
    let ping = Command::new("ip")
        .args([
            "netns", "exec", n, "ping", "-q", "-c", "200", "-i", "0.01", "-W", "1",
        ])
        .args(["-I", "ga", "10.9.9.9"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(
        !ping.success(),
        "nobody answers 10.9.9.9: the pings only cross the firewall"
    );
    assert!(Instant::now() < deadline);
    // SIGTERM to the firewall (the child of `ip netns exec`, which execs it: same pid).
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        out.status
    );
    let mbufs = stdout
        .lines()
        .find(|l| l.starts_with("mbufs in use after shutdown:"))
        .unwrap_or_else(|| panic!("no mbufs line:\n{stdout}"));
    assert!(mbufs.contains("net_af_xdp keeps up to"), "{mbufs}");
    let core = stdout.lines().find(|l| l.contains("core 0: rx")).unwrap();
    let rx: u64 = core.split_whitespace().nth(3).unwrap().parse().unwrap();
    assert!(rx >= 100, "the pings crossed the firewall: {core}");
    assert!(
        core.contains(&format!("tx {rx} ")),
        "every frame was allowed: {core}"
    );
}
