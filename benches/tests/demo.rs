//! `make demo`'s story in its quick mode: multus gives a pod its interfaces, vlan-firewall judges the
//! generator's frames inside it, the verdict holds, and CNI DEL plus the namespaces' removal leave
//! nothing behind; and its error paths: without hugepages and AF_XDP it says so and still works,
//! unprivileged or without a package it says exactly what to do. Needs root (CI runs as root); no
//! hugepages (every EAL runs with --no-huge).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The demo's verdict line when allowed traffic arrived and denied traffic did not.
const VERDICT_OK: &str = "verdict: allowed traffic arrived, denied traffic did not";

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

/// What a finished demo run printed.
struct Outcome {
    status: std::process::ExitStatus,
    out: String,
    err: String,
    pid: u32,
}

impl Outcome {
    /// Both streams, for failure messages.
    fn both(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.out, self.err)
    }
}

/// Runs `cmd` (the demo, or a wrapper that `exec`s it, so the PID stays the demo's) to the end.
fn run_demo(mut cmd: Command) -> Outcome {
    let child = cmd
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
    Outcome {
        status,
        out,
        err,
        pid,
    }
}

/// The demo binary, with the programs it runs built beside it.
fn demo() -> PathBuf {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "the demo tests need root (CI runs as root)"
    );
    let demo = PathBuf::from(env!("CARGO_BIN_EXE_demo"));
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        support::build_beside(&demo, &[("cni", "multus"), ("dataplane", "vlan-firewall")])
    });
    demo
}

/// `demo --quick` inside a private mount namespace after `setup` (shell commands) ran there.
fn in_private_mounts(setup: &str, demo: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "sh", "-c", &format!("{setup} && exec \"$0\" --quick")])
        .arg(demo)
        .envs(env.iter().copied());
    cmd
}

/// The checks every successful story passes: verdict, the pod's interfaces, the teardown, no noise.
fn assert_story(o: &Outcome) {
    let both = o.both();
    assert!(o.status.success(), "demo exited with {}\n{both}", o.status);
    assert!(
        o.out.lines().any(|l| l.starts_with(VERDICT_OK)),
        "no verdict line\n{both}"
    );
    for name in ["eth0", "net0", "north"] {
        assert!(
            o.out.lines().any(|l| l.trim_start().starts_with(name)),
            "{name} not in the pod's ip -br addr\n{both}"
        );
    }
    let teardown = o
        .out
        .lines()
        .find(|l| l.contains("CNI DEL"))
        .unwrap_or_else(|| panic!("no teardown line\n{both}"));
    assert!(
        teardown.contains("pod links [], IP leases [], multus cache []"),
        "{teardown}"
    );
    assert!(o.out.contains("nothing is left"), "{both}");
    assert_eq!(
        leftovers(o.pid),
        Vec::<String>::new(),
        "namespaces left\n{both}"
    );
    assert!(!state_dir(o.pid).exists(), "state directory left\n{both}");
    assert!(
        o.err.lines().all(|l| !l.contains("No such process")),
        "shell noise on stderr\n{both}"
    );
}

#[test]
fn the_quick_demo_reaches_its_verdict_and_leaves_nothing() {
    let mut cmd = Command::new(demo());
    cmd.arg("--quick");
    assert_story(&run_demo(cmd));
}

#[test]
fn without_hugepages_or_af_xdp_the_demo_says_so_and_still_reaches_its_verdict() {
    // Every hugetlbfs unmounted in a private mount namespace; AF_XDP switched off by the demo's switch.
    let setup = "for m in $(awk '$3 == \"hugetlbfs\" {print $2}' /proc/self/mounts); do umount -l \"$m\"; done";
    let o = run_demo(in_private_mounts(
        setup,
        &demo(),
        &[("MULTIPLANE_DEMO_NO_AF_XDP", "1")],
    ));
    assert_story(&o);
    let both = o.both();
    assert!(
        o.out
            .contains("no hugetlbfs is mounted, so DPDK runs with --no-huge")
            && o.out.contains("sudo .ci/install-deps"),
        "no hugepage note\n{both}"
    );
    assert!(
        o.out.contains("AF_XDP is unavailable (switched off by MULTIPLANE_DEMO_NO_AF_XDP=1); falling back to net_af_packet"),
        "no fallback line\n{both}"
    );
    assert!(
        o.out.contains("DPDK net_af_packet PMD"),
        "the firewall did not run on net_af_packet\n{both}"
    );
}

#[test]
fn unprivileged_the_demo_says_to_run_it_as_root() {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(demo())
        .arg("--quick");
    let o = run_demo(cmd);
    assert_eq!(o.status.code(), Some(1), "{}", o.both());
    assert_eq!(
        o.err.trim(),
        "demo: the demo creates network namespaces and needs root: run `sudo make demo`"
    );
    assert_eq!(o.out, "", "it printed before checking");
    assert_eq!(leftovers(o.pid), Vec::<String>::new());
}

#[test]
fn a_missing_package_is_named_with_the_command_that_installs_it() {
    // The reference CNI plugins hidden under an empty tmpfs, as on a machine without the package.
    let o = run_demo(in_private_mounts(
        "mount -t tmpfs none /usr/lib/cni",
        &demo(),
        &[],
    ));
    let both = o.both();
    assert_eq!(o.status.code(), Some(1), "{both}");
    assert!(
        o.err.contains(
            "/usr/lib/cni/bridge, /usr/lib/cni/host-device, /usr/lib/cni/host-local missing"
        ) && o
            .err
            .contains("`sudo apt-get install containernetworking-plugins`"),
        "{both}"
    );
    assert_eq!(leftovers(o.pid), Vec::<String>::new(), "{both}");
    assert!(!state_dir(o.pid).exists(), "{both}");
}
