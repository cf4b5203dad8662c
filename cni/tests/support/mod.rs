//! What the `cni` integration tests share: network namespaces, host links and scratch directories that
//! clean up after themselves, a runtime that calls a plugin binary as kubelet's runtime would, and the
//! libcni driver. [`sriov_tree`] adds the fake SR-IOV host the `sriov` tests run on.
//!
//! These tests need root (they create namespaces and links); they fail loudly without it.

#![allow(dead_code)] // each test binary uses its own subset

pub mod k8s;
pub mod kill;
pub mod multus_k8s;
pub mod node;
pub mod sriov_tree;
pub mod thick;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

/// Directory of the reference plugins from Debian's `containernetworking-plugins`.
pub const REFERENCE_PLUGINS: &str = "/usr/lib/cni";

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A name unique to this process and call, at most 15 bytes (`<prefix><pid><n>`).
pub fn unique(prefix: &str) -> String {
    let name = format!(
        "{prefix}{}x{}",
        std::process::id() % 1_000_000,
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    assert!(name.len() <= 15, "{name} is too long for an interface name");
    name
}

/// Panics unless running as root: these tests must run, not skip, in CI.
pub fn require_root() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "the cni integration tests need root (CI runs as root)"
    );
}

/// Runs a host command and returns its stdout; panics with its stderr on failure.
pub fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `inet` addresses (with prefix) in the output of `ip -o -4 addr show`.
pub fn inet_addresses(ip_output: &str) -> Vec<String> {
    ip_output
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .skip_while(|w| *w != "inet")
                .nth(1)
                .map(str::to_string)
        })
        .collect()
}

/// A named network namespace (`ip netns add`), deleted on drop.
pub struct Netns {
    /// Its name under /run/netns.
    pub name: String,
}

impl Netns {
    /// Creates a namespace with a unique name.
    pub fn new() -> Netns {
        require_root();
        let name = unique("mtns");
        sh("ip", &["netns", "add", &name]);
        Netns { name }
    }

    /// The path a runtime passes as CNI_NETNS.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Runs `ip -netns <name> <args>` (args split on whitespace) and returns its stdout.
    pub fn ip(&self, args: &str) -> String {
        let mut argv = vec!["-netns", self.name.as_str()];
        argv.extend(args.split_whitespace());
        sh("ip", &argv)
    }

    /// Names of the links in the namespace, loopback excluded.
    pub fn links(&self) -> Vec<String> {
        link_names(&self.ip("-o link show"))
            .into_iter()
            .filter(|l| l != "lo")
            .collect()
    }

    /// The IPv4 addresses (with prefix) of `ifname` in the namespace.
    pub fn ipv4_of(&self, ifname: &str) -> Vec<String> {
        inet_addresses(&self.ip(&format!("-o -4 addr show dev {ifname}")))
    }

    /// Deletes the namespace now (as a pod's death would).
    pub fn delete(&self) {
        sh("ip", &["netns", "del", &self.name]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if self.path().exists() {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.name])
                .status();
        }
    }
}

/// Link names from `ip -o link show` output (`"5: name@peer: <...>"`).
fn link_names(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

/// Names of the links in the host namespace.
pub fn host_links() -> Vec<String> {
    link_names(&sh("ip", &["-o", "link", "show"]))
}

/// A host link deleted on drop (bridges the bridge plugin creates, veth pairs).
pub struct HostLink {
    /// Its name.
    pub name: String,
}

impl HostLink {
    /// Names a link that a plugin will create (removed on drop if it exists).
    pub fn expect(prefix: &str) -> HostLink {
        require_root();
        HostLink {
            name: unique(prefix),
        }
    }

    /// Creates a veth pair; returns this end (the peer, [`HostLink::peer`], goes with it).
    pub fn veth() -> HostLink {
        let link = HostLink::expect("mtv");
        sh(
            "ip",
            &[
                "link",
                "add",
                &link.name,
                "type",
                "veth",
                "peer",
                "name",
                &link.peer(),
            ],
        );
        link
    }

    /// The name of the other end of a [`HostLink::veth`] pair.
    pub fn peer(&self) -> String {
        format!("{}p", self.name)
    }

    /// Sets the link up (a macvlan master must be up for traffic; the kernel module for dummy links is
    /// not always there, a veth end always is).
    pub fn up(self) -> HostLink {
        sh("ip", &["link", "set", &self.name, "up"]);
        self
    }

    /// Names of the links enslaved to this one (a bridge's ports).
    pub fn ports(&self) -> Vec<String> {
        link_names(&sh("ip", &["-o", "link", "show", "master", &self.name]))
    }

    /// Whether the link exists in the host namespace.
    pub fn exists(&self) -> bool {
        Path::new("/sys/class/net").join(&self.name).exists()
    }
}

impl Drop for HostLink {
    fn drop(&mut self) {
        if self.exists() {
            let _ = Command::new("ip")
                .args(["link", "del", &self.name])
                .status();
        }
    }
}

/// A scratch directory (caches, IPAM stores, configs, fake trees), removed on drop.
pub struct Scratch {
    /// The directory.
    pub dir: PathBuf,
}

impl Scratch {
    /// A fresh directory under the system temp dir.
    pub fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "cni-it-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch { dir }
    }

    /// `dir/name`.
    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The IPs host-local has leased in its store `dataDir` (all networks).
    pub fn leases(&self, data_dir: &str) -> Vec<String> {
        let store = self.join(data_dir);
        let mut leases: Vec<String> = names_in(&store)
            .iter()
            .flat_map(|network| names_in(&store.join(network)))
            .filter(|name| name.parse::<std::net::IpAddr>().is_ok())
            .collect();
        leases.sort();
        leases
    }

    /// Files left in subdirectory `sub` (e.g. the multus cache).
    pub fn files(&self, sub: &str) -> Vec<String> {
        names_in(&self.join(sub))
    }
}

/// The names in directory `dir`, sorted (none if it does not exist).
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The `multus` binary under test.
pub fn multus_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_multus"))
}

/// The `sriov` binary under test.
pub fn sriov_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sriov"))
}

/// CNI_PATH for calls: the directory of the binaries under test, then the reference plugins.
pub fn cni_path() -> String {
    format!(
        "{}:{REFERENCE_PLUGINS}",
        multus_bin().parent().unwrap().display()
    )
}

/// What a plugin (or the libcni driver) printed and whether it exited 0.
#[derive(Debug)]
pub struct Reply {
    /// Exit status 0.
    pub ok: bool,
    /// stdout parsed as JSON (`Null` when empty).
    pub json: Value,
    /// stderr, for failure messages.
    pub stderr: String,
}

impl Reply {
    /// Panics with the error if the call failed.
    pub fn expect_ok(self, what: &str) -> Value {
        assert!(self.ok, "{what} failed: {} / {}", self.json, self.stderr);
        self.json
    }

    /// Panics unless the call failed; returns (code, msg).
    pub fn expect_err(self, what: &str) -> (u64, String) {
        assert!(!self.ok, "{what} unexpectedly succeeded: {}", self.json);
        (
            self.json["code"].as_u64().unwrap(),
            self.json["msg"].as_str().unwrap().to_string(),
        )
    }
}

/// Starts `cmd` with `stdin` written to it; [`collect`] waits for it.
pub fn spawn_with_stdin(mut cmd: Command, stdin: &[u8]) -> Child {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child
}

/// Waits for `child` and reads its output into a [`Reply`]; panics if stdout is neither empty nor JSON.
pub fn collect(child: Child) -> Reply {
    let out = child.wait_with_output().unwrap();
    let json = if out.stdout.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    };
    Reply {
        ok: out.status.success(),
        json,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `cmd` with `stdin` and collects a [`Reply`].
pub fn run_with_stdin(cmd: Command, stdin: &[u8]) -> Reply {
    collect(spawn_with_stdin(cmd, stdin))
}

/// A command for `binary` as a runtime starts a plugin: a clean environment (PATH kept), CNI_COMMAND,
/// CNI_PATH ([`cni_path`]) and whichever of CNI_CONTAINERID, CNI_NETNS and CNI_IFNAME are given.
fn plugin_command(
    binary: &Path,
    command: &str,
    container_id: Option<&str>,
    netns: Option<&Path>,
    ifname: Option<&str>,
) -> Command {
    let mut cmd = Command::new(binary);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CNI_COMMAND", command)
        .env("CNI_PATH", cni_path());
    if let Some(id) = container_id {
        cmd.env("CNI_CONTAINERID", id);
    }
    if let Some(ns) = netns {
        cmd.env("CNI_NETNS", ns);
    }
    if let Some(ifname) = ifname {
        cmd.env("CNI_IFNAME", ifname);
    }
    cmd
}

/// Calls `binary` as a runtime would, with `conf` on stdin.
pub fn call_plugin(
    binary: &Path,
    command: &str,
    conf: &Value,
    container_id: Option<&str>,
    netns: Option<&Path>,
    ifname: Option<&str>,
) -> Reply {
    let cmd = plugin_command(binary, command, container_id, netns, ifname);
    run_with_stdin(cmd, &serde_json::to_vec(conf).unwrap())
}

/// One attachment as the runtime sees it, and the plugin it calls.
#[derive(Debug, Clone)]
pub struct Pod {
    /// The plugin binary.
    pub binary: PathBuf,
    /// CNI_CONTAINERID.
    pub id: String,
    /// CNI_NETNS (`None` to leave it unset, as for a DEL after the pod died).
    pub netns: Option<PathBuf>,
    /// CNI_IFNAME.
    pub ifname: String,
    /// CNI_ARGS (unset when empty).
    pub args: String,
    /// Further environment for the plugin (host seams).
    pub env: Vec<(String, String)>,
}

impl Pod {
    /// A pod with a unique container ID in `netns`, primary interface eth0, calling `multus`.
    pub fn new(netns: &Netns) -> Pod {
        Pod {
            binary: multus_bin(),
            id: unique("pod"),
            netns: Some(netns.path()),
            ifname: "eth0".into(),
            args: String::new(),
            env: Vec::new(),
        }
    }

    /// Runs `command` with `conf` on stdin.
    pub fn call(&self, command: &str, conf: &Value) -> Reply {
        collect(self.spawn(command, conf))
    }

    /// Runs `command` with `stdin` as it is (e.g. malformed JSON).
    pub fn call_bytes(&self, command: &str, stdin: &[u8]) -> Reply {
        run_with_stdin(self.command(command), stdin)
    }

    /// Starts `command` with `conf` on stdin; [`collect`] waits for it.
    pub fn spawn(&self, command: &str, conf: &Value) -> Child {
        spawn_with_stdin(self.command(command), &serde_json::to_vec(conf).unwrap())
    }

    fn command(&self, command: &str) -> Command {
        let mut cmd = plugin_command(
            &self.binary,
            command,
            Some(&self.id),
            self.netns.as_deref(),
            Some(&self.ifname),
        );
        if !self.args.is_empty() {
            cmd.env("CNI_ARGS", &self.args);
        }
        cmd.envs(self.env.iter().cloned());
        cmd
    }
}

/// A bridge delegate on `bridge` with host-local IPAM in `subnet`, storing leases under `data_dir`.
pub fn bridge_delegate(bridge: &HostLink, subnet: &str, data_dir: &Path) -> Value {
    serde_json::json!({"type": "bridge", "bridge": bridge.name,
        "ipam": {"type": "host-local", "subnet": subnet, "dataDir": data_dir}})
}

/// The libcni driver binary, built (once per target dir and again when its sources change, under a
/// lock) by its build script.
pub fn libcni_driver() -> PathBuf {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("libcni-driver/libcni-driver");
    let lock = fs::File::create(out.with_extension("lock")).or_else(|_| {
        fs::create_dir_all(out.parent().unwrap())?;
        fs::File::create(out.with_extension("lock"))
    });
    let _guard =
        nix::fcntl::Flock::lock(lock.unwrap(), nix::fcntl::FlockArg::LockExclusive).unwrap();
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/libcni-driver");
    let modified = |path: &Path| fs::metadata(path).and_then(|m| m.modified()).ok();
    let built = modified(&out);
    let stale = ["main.go", "build.sh"]
        .iter()
        .any(|source| built.is_none() || modified(&sources.join(source)) > built);
    if stale {
        let script = sources.join("build.sh");
        sh(script.to_str().unwrap(), &[out.to_str().unwrap()]);
    }
    out
}

/// The libcni driver set up to run `command` on the network in `conf_file` for `pod` (its netns, ID,
/// interface name and environment), with libcni's cache in `cache_dir`.
pub fn libcni(command: &str, conf_file: &Path, pod: &Pod, cache_dir: &Path) -> Command {
    libcni_in(&cni_path(), command, conf_file, pod, cache_dir)
}

/// [`libcni`] with the plugins looked up in `path` (directories joined by `:`).
pub fn libcni_in(
    path: &str,
    command: &str,
    conf_file: &Path,
    pod: &Pod,
    cache_dir: &Path,
) -> Command {
    let netns = pod
        .netns
        .as_ref()
        .map(|n| n.display().to_string())
        .unwrap_or_default();
    let mut cmd = Command::new(libcni_driver());
    cmd.args([command, "-conf", conf_file.to_str().unwrap(), "-path", path])
        .args(["-netns", &netns, "-id", &pod.id, "-ifname", &pod.ifname])
        .args(["-cachedir", cache_dir.to_str().unwrap()])
        .args(["-args", &pod.args])
        .envs(pod.env.iter().cloned());
    cmd
}

/// Runs the libcni driver: `command` on the network in `conf_file` for `pod`.
pub fn drive(command: &str, conf_file: &Path, pod: &Pod, cache_dir: &Path) -> Reply {
    run_with_stdin(libcni(command, conf_file, pod, cache_dir), b"")
}
