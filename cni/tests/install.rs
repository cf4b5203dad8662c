//! `multiplane-install` run as a subprocess against a node made of temporary directories: the host's
//! CNI bin and conf dirs, a service account directory, and the plugins it installs.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};
use support::Scratch;

/// Where the tests say the host sees its conf dir (written into the generated config).
const HOST_CONF_DIR: &str = "/etc/cni/net.d";

/// A node's directories: `bin` and `net.d` (the host's, as the installer pod mounts them), `sa`
/// (the service account), `src` (the plugins the installer ships).
struct Node {
    scratch: Scratch,
}

impl Node {
    fn new() -> Node {
        let scratch = Scratch::new();
        for dir in ["bin", "net.d", "sa", "src"] {
            fs::create_dir(scratch.join(dir)).unwrap();
        }
        let node = Node { scratch };
        node.write_plugin("multus", b"#!/bin/sh\necho multus v2\n");
        node.write_plugin("sriov", b"#!/bin/sh\necho sriov v2\n");
        node
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.scratch.join(name)
    }

    fn conf(&self, name: &str) -> PathBuf {
        self.dir("net.d").join(name)
    }

    fn multus_conf(&self) -> PathBuf {
        self.conf("00-multus.conf")
    }

    fn kubeconfig(&self) -> PathBuf {
        self.conf("multus.d/multus.kubeconfig")
    }

    /// A plugin the installer ships (in `src`).
    fn write_plugin(&self, name: &str, content: &[u8]) {
        let path = self.dir("src").join(name);
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn write_conf(&self, name: &str, conf: &Value) {
        fs::write(self.conf(name), serde_json::to_vec_pretty(conf).unwrap()).unwrap();
    }

    /// A service account as the kubelet mounts one.
    fn service_account(&self, token: &str) {
        // kubelet's atomic writer: the files live in a fresh `..<timestamp>` directory, `..data`
        // points at it (swapped by rename) and the names the pod reads point through `..data`.
        let sa = self.dir("sa");
        let version = format!("..{}", support::unique("v"));
        fs::create_dir(sa.join(&version)).unwrap();
        fs::write(sa.join(&version).join("token"), token).unwrap();
        fs::write(
            sa.join(&version).join("ca.crt"),
            "-----BEGIN CERTIFICATE-----\n",
        )
        .unwrap();
        std::os::unix::fs::symlink(&version, sa.join("..data_tmp")).unwrap();
        fs::rename(sa.join("..data_tmp"), sa.join("..data")).unwrap();
        for name in ["token", "ca.crt"] {
            if !sa.join(name).is_symlink() {
                std::os::unix::fs::symlink(format!("..data/{name}"), sa.join(name)).unwrap();
            }
        }
    }

    /// The installer with this node's directories and the service environment; `extra` flags last.
    fn installer(&self, extra: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_multiplane-install"));
        cmd.arg(format!("--cni-bin-dir={}", self.dir("bin").display()))
            .arg(format!("--cni-conf-dir={}", self.dir("net.d").display()))
            .arg(format!("--cni-conf-dir-host={HOST_CONF_DIR}"))
            .arg(format!(
                "--multus-bin-file={}",
                self.dir("src/multus").display()
            ))
            .arg(format!(
                "--sriov-bin-file={}",
                self.dir("src/sriov").display()
            ))
            .arg(format!(
                "--service-account-dir={}",
                self.dir("sa").display()
            ))
            .args(extra)
            .env("KUBERNETES_SERVICE_HOST", "10.96.0.1")
            .env("KUBERNETES_SERVICE_PORT", "443")
            .env_remove("KUBERNETES_SERVICE_PROTOCOL");
        cmd
    }

    /// Runs the installer with `--once` and returns its output.
    fn once(&self, extra: &[&str]) -> Output {
        self.installer(&[&["--once"], extra].concat())
            .output()
            .unwrap()
    }

    /// Starts the long-running installer and waits for its first `00-multus.conf`.
    fn start(&self, extra: &[&str]) -> Running {
        let child = self
            .installer(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let running = Running { child: Some(child) };
        wait_until("the first 00-multus.conf", || self.multus_conf().exists());
        running
    }

    /// The generated configuration.
    fn generated(&self) -> Value {
        serde_json::from_slice(&fs::read(self.multus_conf()).unwrap()).unwrap()
    }
}

/// The long-running installer; killed if a test fails before stopping it.
struct Running {
    child: Option<Child>,
}

impl Running {
    /// Sends `signal` and returns the installer's exit output.
    fn stop(mut self, signal: Signal) -> Output {
        let child = self.child.take().unwrap();
        kill(Pid::from_raw(child.id() as i32), signal).unwrap();
        child.wait_with_output().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `condition` for up to 10 s.
fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Panics unless the installer's stderr says `text`.
fn expect_stderr(out: &Output, text: &str) {
    assert!(
        stderr(out).contains(text),
        "expected {text:?} in: {}",
        stderr(out)
    );
}

fn expect_success(out: &Output) {
    assert!(
        out.status.success(),
        "installer failed ({}): {}",
        out.status,
        stderr(out)
    );
}

fn bridge_conflist(name: &str) -> Value {
    json!({"cniVersion": "1.0.0", "name": name, "plugins": [
        {"type": "bridge", "bridge": "cni0", "ipam": {"type": "host-local", "subnet": "10.244.0.0/24"}},
        {"type": "portmap", "capabilities": {"portMappings": true}}]})
}

#[test]
fn auto_mode_wraps_the_first_config_by_name() {
    let node = Node::new();
    node.write_conf(
        "20-macvlan.conf",
        &json!({"cniVersion": "0.4.0", "name": "mv", "type": "macvlan"}),
    );
    node.write_conf("10-bridge.conflist", &bridge_conflist("cbr0"));
    node.write_conf("00-multus.conf", &json!({"stale": true}));
    fs::write(node.conf("01-notes.txt"), "not a config").unwrap();
    fs::create_dir(node.conf("05-dir.conf")).unwrap();
    node.service_account("token-1");

    expect_success(&node.once(&[
        "--namespace-isolation",
        "--global-namespaces=kube-system,shared",
        "--multus-log-level=verbose",
    ]));
    assert_eq!(
        node.generated(),
        json!({
            "cniVersion": "1.0.0",
            "name": "multus-cni-network",
            "type": "multus",
            "kubeconfig": "/etc/cni/net.d/multus.d/multus.kubeconfig",
            "clusterNetwork": "/etc/cni/net.d/10-bridge.conflist",
            "capabilities": {"portMappings": true},
            "namespaceIsolation": true,
            "globalNamespaces": "kube-system,shared",
            "logLevel": "verbose",
        })
    );
    // Named explicitly, a later file is the cluster network; --cni-version overrides its version.
    expect_success(&node.once(&[
        "--multus-master-cni-file-name=20-macvlan.conf",
        "--cni-version=1.1.0",
    ]));
    let conf = node.generated();
    assert_eq!(conf["clusterNetwork"], "/etc/cni/net.d/20-macvlan.conf");
    assert_eq!(conf["cniVersion"], "1.1.0");
    assert_eq!(conf.get("capabilities"), None);
}

#[test]
fn kubeconfig_comes_from_the_service_account() {
    let node = Node::new();
    node.write_conf("10-bridge.conflist", &bridge_conflist("cbr0"));
    node.service_account("secret-token\n");
    expect_success(&node.once(&[]));
    let kubeconfig: Value = serde_json::from_slice(&fs::read(node.kubeconfig()).unwrap()).unwrap();
    assert_eq!(
        kubeconfig["clusters"][0]["cluster"]["server"],
        "https://10.96.0.1:443"
    );
    assert_eq!(kubeconfig["users"][0]["user"]["token"], "secret-token");
    let mode = fs::metadata(node.kubeconfig())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "the kubeconfig holds a token");

    // Without the service environment the installer says which variable is missing.
    let out = node
        .installer(&["--once"])
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    expect_stderr(&out, "KUBERNETES_SERVICE_HOST is not set");
}

#[test]
fn real_plugins_are_installed_and_run() {
    let node = Node::new();
    node.write_conf("10-bridge.conflist", &bridge_conflist("cbr0"));
    let multus = PathBuf::from(env!("CARGO_BIN_EXE_multus"));
    let sriov = PathBuf::from(env!("CARGO_BIN_EXE_sriov"));
    let out = node.once(&[
        &format!("--multus-bin-file={}", multus.display()),
        &format!("--sriov-bin-file={}", sriov.display()),
    ]);
    expect_success(&out);
    for (name, source) in [("multus", &multus), ("sriov", &sriov)] {
        let installed = node.dir("bin").join(name);
        assert_eq!(
            fs::read(&installed).unwrap(),
            fs::read(source).unwrap(),
            "{name} differs"
        );
        assert_eq!(
            fs::metadata(&installed).unwrap().permissions().mode() & 0o777,
            0o755
        );
        let version = Command::new(&installed)
            .env("CNI_COMMAND", "VERSION")
            .output()
            .unwrap();
        let reply: Value = serde_json::from_slice(&version.stdout).unwrap();
        assert!(
            reply["supportedVersions"]
                .as_array()
                .is_some_and(|v| !v.is_empty()),
            "{name}: {reply}"
        );
    }
    // Nothing else is left in the bin dir (no temporary files).
    assert_eq!(support::names_in(&node.dir("bin")), ["multus", "sriov"]);
}

#[test]
fn the_thick_plugin_installs_the_shim_and_the_config_calls_it() {
    let node = Node::new();
    node.write_conf("10-bridge.conflist", &bridge_conflist("cbr0"));
    let shim = PathBuf::from(env!("CARGO_BIN_EXE_multus-shim"));
    expect_success(&node.once(&[
        "--thick-plugin",
        &format!("--multus-bin-file={}", shim.display()),
    ]));
    let installed = node.dir("bin").join("multus-shim");
    assert_eq!(fs::read(&installed).unwrap(), fs::read(&shim).unwrap());
    assert_eq!(support::names_in(&node.dir("bin")), ["multus-shim", "sriov"]);
    let conf = node.generated();
    assert_eq!(conf["type"], "multus-shim");
    assert_eq!(conf["clusterNetwork"], "/etc/cni/net.d/10-bridge.conflist");
    assert_eq!(
        conf["kubeconfig"],
        "/etc/cni/net.d/multus.d/multus.kubeconfig"
    );
    // Without a shim beside the installer or named by --multus-bin-file, nothing is installed.
    let out = Node::new().once(&["--thick-plugin", "--multus-bin-file=/nonexistent/multus-shim"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--multus-bin-file: /nonexistent/multus-shim"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_concurrent_reader_never_sees_a_partial_binary() {
    let node = Node::new();
    node.write_conf("10-bridge.conflist", &bridge_conflist("cbr0"));
    // Two versions of a large plugin; whatever a reader opens must be one of them, whole.
    let size = 8 << 20;
    let versions: Arc<[Vec<u8>; 2]> = Arc::new([vec![b'a'; size], vec![b'b'; size]]);
    let target = node.dir("bin").join("multus");
    fs::write(&target, &versions[0]).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (target, versions, stop) = (target.clone(), versions.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) {
                let content = fs::read(&target).unwrap();
                assert!(
                    versions.contains(&content),
                    "a reader saw {} bytes that are neither version",
                    content.len()
                );
                reads += 1;
            }
            reads
        })
    };
    for round in 0..12 {
        node.write_plugin("multus", &versions[(round + 1) % 2]);
        expect_success(&node.once(&["--skip-sriov-binary-copy"]));
    }
    stop.store(true, Ordering::Relaxed);
    let reads = reader.join().expect("the reader saw a partial binary");
    assert!(reads > 12, "the reader read only {reads} times");
    assert_eq!(fs::read(&target).unwrap(), versions[0]);
    assert_eq!(support::names_in(&node.dir("bin")), ["multus"]);
}

#[test]
fn a_running_plugin_binary_is_replaced() {
    let node = Node::new();
    node.write_conf("10-bridge.conflist", &bridge_conflist("cbr0"));
    // The old plugin is executing while the new one is installed (a write into it would fail with
    // "text file busy").
    let target = node.dir("bin").join("multus");
    fs::copy("/bin/sleep", &target).unwrap();
    let mut old = Command::new(&target).arg("30").spawn().unwrap();
    let out = node.once(&["--skip-sriov-binary-copy"]);
    old.kill().unwrap();
    old.wait().unwrap();
    expect_success(&out);
    assert_eq!(
        fs::read(&target).unwrap(),
        fs::read(node.dir("src/multus")).unwrap()
    );
}

#[test]
fn the_config_follows_the_cluster_network_and_the_token() {
    let node = Node::new();
    node.write_conf("10-bridge.conflist", &bridge_conflist("cbr0"));
    node.service_account("token-1");
    let running = node.start(&[]);
    assert_eq!(
        node.generated()["clusterNetwork"],
        "/etc/cni/net.d/10-bridge.conflist"
    );

    // The cluster network's config changes: its capabilities and version follow.
    node.write_conf(
        "10-bridge.conflist",
        &json!({"cniVersion": "1.1.0", "name": "cbr0", "plugins": [
        {"type": "bridge"}, {"type": "bandwidth", "capabilities": {"bandwidth": true}}]}),
    );
    wait_until("the new capabilities", || {
        node.generated()["capabilities"] == json!({"bandwidth": true})
    });
    assert_eq!(node.generated()["cniVersion"], "1.1.0");

    // A config that sorts first becomes the cluster network; written by rename, as installers do.
    let temp = node.dir("05-calico.conflist.tmp");
    fs::write(
        &temp,
        serde_json::to_vec(&bridge_conflist("calico")).unwrap(),
    )
    .unwrap();
    fs::rename(&temp, node.conf("05-calico.conflist")).unwrap();
    wait_until("the switch to 05-calico", || {
        node.generated()["clusterNetwork"] == "/etc/cni/net.d/05-calico.conflist"
    });

    // A half-written cluster network config leaves the last good configuration in place.
    fs::write(node.conf("05-calico.conflist"), "{\"cniVersion\": ").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        node.generated()["clusterNetwork"],
        "/etc/cni/net.d/05-calico.conflist"
    );

    // Removed, the next file is used again; with none left, the configuration goes too (the node
    // has no cluster network) and comes back with one.
    fs::remove_file(node.conf("05-calico.conflist")).unwrap();
    wait_until("the switch back", || {
        node.generated()["clusterNetwork"] == "/etc/cni/net.d/10-bridge.conflist"
    });
    fs::remove_file(node.conf("10-bridge.conflist")).unwrap();
    wait_until("00-multus.conf removed", || !node.multus_conf().exists());
    node.write_conf(
        "30-ptp.conf",
        &json!({"cniVersion": "1.0.0", "name": "ptp", "type": "ptp"}),
    );
    wait_until("00-multus.conf back", || node.multus_conf().exists());
    assert_eq!(
        node.generated()["clusterNetwork"],
        "/etc/cni/net.d/30-ptp.conf"
    );

    // Deleted by someone else, it is written again.
    fs::remove_file(node.multus_conf()).unwrap();
    wait_until("00-multus.conf rewritten", || node.multus_conf().exists());

    // The kubelet rotates the token: the kubeconfig follows.
    let token_of = || {
        let text = fs::read(node.kubeconfig()).unwrap();
        serde_json::from_slice::<Value>(&text).unwrap()["users"][0]["user"]["token"].clone()
    };
    assert_eq!(token_of(), "token-1");
    node.service_account("token-2");
    wait_until("the rotated token", || token_of() == "token-2");

    // Stopped without --cleanup-config-on-exit, everything stays.
    let out = running.stop(Signal::SIGTERM);
    expect_success(&out);
    assert!(node.multus_conf().exists() && node.kubeconfig().exists());
    expect_stderr(&out, "SIGTERM received");
}

#[test]
fn cleanup_on_exit_removes_what_it_wrote() {
    let node = Node::new();
    node.write_conf("10-bridge.conflist", &bridge_conflist("cbr0"));
    node.service_account("token-1");
    let running = node.start(&["--cleanup-config-on-exit"]);
    wait_until("the kubeconfig", || node.kubeconfig().exists());
    expect_success(&running.stop(Signal::SIGINT));
    assert!(!node.multus_conf().exists() && !node.kubeconfig().exists());
    assert!(
        !node.conf("multus.d").exists(),
        "the empty multus.d stays behind"
    );
    // The plugins stay (running pods need them for DEL), and so does the cluster network's config.
    assert_eq!(support::names_in(&node.dir("bin")), ["multus", "sriov"]);
    assert_eq!(
        support::names_in(&node.dir("net.d")),
        ["10-bridge.conflist"]
    );
}

#[test]
fn a_given_config_file_is_copied_and_removed() {
    let node = Node::new();
    let given = node.dir("src/70-multus.conf");
    let conf = json!({"cniVersion": "1.0.0", "name": "seed", "type": "multus", "delegates": [{"type": "bridge"}]});
    fs::write(&given, conf.to_string()).unwrap();
    // No cluster network config is needed for a given file, nor a service account.
    let running = {
        let child = node
            .installer(&[
                &format!("--multus-conf-file={}", given.display()),
                "--cleanup-config-on-exit",
            ])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Running { child: Some(child) }
    };
    wait_until("the copied config", || node.conf("70-multus.conf").exists());
    assert_eq!(
        fs::read(node.conf("70-multus.conf")).unwrap(),
        fs::read(&given).unwrap()
    );
    assert!(!node.multus_conf().exists());
    expect_success(&running.stop(Signal::SIGTERM));
    assert!(support::names_in(&node.dir("net.d")).is_empty());
}

#[test]
fn once_without_a_cluster_network_says_where_it_looked() {
    let node = Node::new();
    node.write_conf("00-multus.conf", &json!({"stale": true}));
    let out = node.once(&[]);
    assert_eq!(out.status.code(), Some(1));
    let dir = node.dir("net.d");
    let expected = format!(
        "no CNI config (.conf, .conflist, .json) in {}",
        dir.display()
    );
    expect_stderr(&out, &expected);
    // A named cluster network that is absent is waited for, even with other configs there.
    node.write_conf(
        "20-macvlan.conf",
        &json!({"cniVersion": "1.0.0", "name": "mv", "type": "macvlan"}),
    );
    let out = node.once(&["--multus-master-cni-file-name=10-calico.conflist"]);
    assert_eq!(out.status.code(), Some(1));
    let expected = format!(
        "no 10-calico.conflist (--multus-master-cni-file-name) in {}",
        dir.display()
    );
    expect_stderr(&out, &expected);
    assert!(
        !node.multus_conf().exists(),
        "a stale 00-multus.conf stayed without a cluster network"
    );
}

#[test]
fn bad_flags_name_the_flag_and_change_nothing() {
    let node = Node::new();
    node.write_conf("10-bridge.conflist", &bridge_conflist("cbr0"));
    let cases: &[(&[&str], &str)] = &[
        (
            &["--cni-bin-dir=/nonexistent-bin"],
            "--cni-bin-dir: /nonexistent-bin: No such file or directory",
        ),
        (
            &["--multus-log-level=loud"],
            "--multus-log-level: \"loud\" is not one of panic, error, verbose, debug",
        ),
        (
            &["--cleanup-config-on-exit=maybe"],
            "--cleanup-config-on-exit: expected true or false, found \"maybe\"",
        ),
        (
            &["--multus-conf-fil=auto"],
            "--multus-conf-fil: unknown flag",
        ),
        (
            &["--multus-conf-file=/nonexistent.conf"],
            "--multus-conf-file: /nonexistent.conf: No such file or directory",
        ),
        (
            &["--sriov-bin-file=/nonexistent-sriov"],
            "--sriov-bin-file: /nonexistent-sriov: No such file or directory",
        ),
        (&["--cni-conf-dir"], "--cni-conf-dir: needs a value"),
    ];
    for (args, message) in cases {
        let out = node.installer(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        expect_stderr(&out, message);
    }
    assert!(support::names_in(&node.dir("bin")).is_empty());
    assert_eq!(
        support::names_in(&node.dir("net.d")),
        ["10-bridge.conflist"]
    );
}

/// `--help` lists every flag the README and the DaemonSet use.
#[test]
fn help_lists_the_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_multiplane-install"))
        .arg("--help")
        .output()
        .unwrap();
    expect_success(&out);
    let help = String::from_utf8(out.stdout).unwrap();
    let manifest = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docker/manifests/installer.yaml"),
    )
    .unwrap();
    let daemonset = support::k8s::yaml_documents(&manifest)
        .into_iter()
        .find(|d| d["kind"] == "DaemonSet")
        .unwrap();
    let args = daemonset
        .pointer("/spec/template/spec/containers/0/args")
        .and_then(Value::as_array)
        .unwrap();
    let used: Vec<&str> = args
        .iter()
        .map(|a| a.as_str().unwrap().split('=').next().unwrap())
        .collect();
    assert!(!used.is_empty(), "the DaemonSet passes no flags");
    for flag in used {
        assert!(
            help.contains(flag),
            "{flag} is used by the DaemonSet but not in --help"
        );
    }
}
