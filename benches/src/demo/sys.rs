//! The host seams of the demo: commands, network namespaces, the scratch directory and child processes,
//! each cleaned up on drop, and Ctrl-C turned into an error so that the guards run.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Set by SIGINT/SIGTERM; long waits check it and return an error, so guards clean up.
static STOP: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();

/// Routes SIGINT and SIGTERM to [`check_interrupted`].
pub fn catch_interrupts() -> Result<(), String> {
    let flag = STOP.get_or_init(|| Arc::new(AtomicBool::new(false)));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, flag.clone())
            .map_err(|e| format!("signal handler: {e}"))?;
    }
    Ok(())
}

/// An error once SIGINT or SIGTERM arrived.
pub fn check_interrupted() -> Result<(), String> {
    match STOP.get() {
        Some(flag) if flag.load(Ordering::Relaxed) => Err("interrupted; cleaning up".to_string()),
        _ => Ok(()),
    }
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// Runs `program args`, returning stdout; an error carries the command and its stderr.
pub fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    checked(&format!("{program} {}", args.join(" ")), out)
}

/// stdout of a finished command, or an error naming it with its stderr.
pub fn checked(what: &str, out: Output) -> Result<String, String> {
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{what}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A named network namespace, deleted on drop (with every link in it) unless kept.
pub struct Netns {
    /// The name under /run/netns.
    pub name: String,
    keep: bool,
}

impl Netns {
    /// Creates `name` with IPv6 off, so the kernel sends nothing on its own on the demo's links.
    pub fn create(name: &str) -> Result<Netns, String> {
        run("ip", &["netns", "add", name])?;
        let ns = Netns {
            name: name.to_string(),
            keep: false,
        };
        for key in ["all", "default"] {
            ns.exec(
                "sysctl",
                &["-qw", &format!("net.ipv6.conf.{key}.disable_ipv6=1")],
            )?;
        }
        Ok(ns)
    }

    /// The path a runtime passes as CNI_NETNS.
    pub fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    /// Runs `program args` inside the namespace.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<String, String> {
        let mut all = vec!["netns", "exec", &self.name, program];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Runs `ip -n <name> args`.
    pub fn ip(&self, args: &[&str]) -> Result<String, String> {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Names of the links in the namespace other than `lo`.
    pub fn links(&self) -> Result<Vec<String>, String> {
        let out = self.ip(&["-br", "link"])?;
        Ok(out
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(|n| n.split('@').next().unwrap_or(n).to_string())
            .filter(|n| n != "lo")
            .collect())
    }

    /// Leaves the namespace in place when dropped.
    pub fn keep(&mut self) {
        self.keep = true;
    }

    /// Deletes the namespace now.
    pub fn delete(mut self) -> Result<(), String> {
        self.keep = true;
        run("ip", &["netns", "del", &self.name]).map(|_| ())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if !self.keep {
            let _ = run("ip", &["netns", "del", &self.name]);
        }
    }
}

/// Whether a namespace of that name exists.
pub fn netns_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

/// A directory removed on drop unless kept.
pub struct Scratch {
    /// Its path.
    pub path: PathBuf,
    keep: bool,
}

impl Scratch {
    /// Creates `path` (empty).
    pub fn create(path: PathBuf) -> Result<Scratch, String> {
        std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Scratch { path, keep: false })
    }

    /// A path inside.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Leaves the directory in place when dropped.
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A child process stopped (SIGTERM, then SIGKILL after 5 s) and reaped on drop.
pub struct Proc {
    /// The child.
    pub child: Child,
}

impl Proc {
    /// Sends SIGTERM and waits up to `grace` for the exit, then kills; returns whether it exited by
    /// itself with status 0.
    pub fn stop(&mut self, grace: Duration) -> bool {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status.success();
        }
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}
