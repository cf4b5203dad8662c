//! `make demo`'s story in its quick mode: multus gives a pod its interfaces, vlan-firewall judges the
//! generator's frames inside it, the verdict holds, and CNI DEL plus the namespaces' removal leave
//! nothing behind. Needs root (CI runs as root); no hugepages (every EAL runs with --no-huge).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The demo's verdict line when allowed traffic arrived and denied traffic did not.
const VERDICT_OK: &str = "verdict: allowed traffic arrived, denied traffic did not";

/// Builds the programs the demo runs that live in other crates, next to the demo binary.
fn build_siblings(demo: &Path) {
    let profile_dir = demo.parent().unwrap();
    let target = profile_dir.parent().unwrap();
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "build",
        "-p",
        "cni",
        "--bin",
        "multus",
        "-p",
        "dataplane",
        "--bin",
        "vlan-firewall",
    ])
    .arg("--target-dir")
    .arg(target);
    if profile_dir.file_name().unwrap() == "release" {
        cmd.arg("--release");
    }
    let status = cmd.status().unwrap();
    assert!(status.success(), "building multus and vlan-firewall failed");
}

/// The demo process: on drop (also when the test fails) it is stopped, and whatever it left under its
/// process ID is removed.
struct DemoRun {
    child: Child,
}

impl Drop for DemoRun {
    fn drop(&mut self) {
        let pid = self.child.id();
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(20);
            while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for ns in leftovers(pid) {
            let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        }
        let _ = std::fs::remove_dir_all(state_dir(pid));
    }
}

fn state_dir(pid: u32) -> PathBuf {
    PathBuf::from(format!("/run/multiplane-demo-{pid}"))
}

/// Namespaces named after the demo process `pid`.
fn leftovers(pid: u32) -> Vec<String> {
    let prefix = format!("mpdemo-{pid}-");
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_quick_demo_reaches_its_verdict_and_leaves_nothing() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "the demo test needs root (CI runs as root)"
    );
    let demo = PathBuf::from(env!("CARGO_BIN_EXE_demo"));
    build_siblings(&demo);
    let child = Command::new(&demo)
        .arg("--quick")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut run = DemoRun { child };
    let pid = run.child.id();
    let (stdout, stderr) = (
        run.child.stdout.take().unwrap(),
        run.child.stderr.take().unwrap(),
    );
    let err = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let out = std::io::read_to_string(stdout).unwrap();
    let status = run.child.wait().unwrap();
    let err = err.join().unwrap();
    let both = format!("stdout:\n{out}\nstderr:\n{err}");

    assert!(status.success(), "demo exited with {status}\n{both}");
    assert!(
        out.lines().any(|l| l.starts_with(VERDICT_OK)),
        "no verdict line\n{both}"
    );
    for name in ["eth0", "net0", "north"] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(name)),
            "{name} not in the pod's ip -br addr\n{both}"
        );
    }
    let teardown = out
        .lines()
        .find(|l| l.contains("CNI DEL"))
        .unwrap_or_else(|| panic!("no teardown line\n{both}"));
    assert!(
        teardown.contains("pod links [], IP leases [], multus cache []"),
        "{teardown}"
    );
    assert!(out.contains("nothing is left"), "{both}");
    assert_eq!(
        leftovers(pid),
        Vec::<String>::new(),
        "namespaces left\n{both}"
    );
    assert!(!state_dir(pid).exists(), "state directory left\n{both}");
    assert!(
        err.lines().all(|l| !l.contains("No such process")),
        "shell noise on stderr\n{both}"
    );
}
