//! The thick plugin under test: a `multus-daemon` of the test's own on a socket in a scratch directory,
//! and runtime calls of `multus-shim` pointed at it.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

/// The `multus-shim` binary under test.
pub fn shim_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_multus-shim"))
}

/// The `multus-daemon` binary under test.
pub fn daemon_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_multus-daemon"))
}

/// A running `multus-daemon`, stopped with SIGTERM when dropped.
pub struct Daemon {
    child: Option<Child>,
    /// The `socketDir` the shim's configuration names.
    pub socket_dir: PathBuf,
    /// Where its stderr goes.
    pub log: PathBuf,
}

impl Daemon {
    /// Starts a daemon on `socket_dir` with `args`, and waits (up to 20 s) until it answers.
    pub fn start(socket_dir: &Path, args: &[&str]) -> Daemon {
        let mut cmd = Command::new(daemon_bin());
        cmd.arg("--socket-dir").arg(socket_dir).args(args);
        Daemon::spawn(cmd, socket_dir)
    }

    /// Starts `cmd`, which runs a daemon on `socket_dir` (e.g. through a wrapper that `exec`s it),
    /// and waits (up to 20 s) until it answers.
    pub fn spawn(mut cmd: Command, socket_dir: &Path) -> Daemon {
        let log = socket_dir.with_extension("log");
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        cmd.stderr(std::fs::File::create(&log).unwrap());
        let mut daemon = Daemon {
            child: Some(cmd.spawn().expect("multus-daemon starts")),
            socket_dir: socket_dir.to_path_buf(),
            log,
        };
        let socket = socket_dir.join("multus.sock");
        let deadline = Instant::now() + Duration::from_secs(20);
        while UnixStream::connect(&socket).is_err() {
            if let Some(status) = daemon.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("multus-daemon exited with {status}: {}", daemon.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "multus-daemon did not listen on {}",
                socket.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        daemon
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the daemon runs").id()
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
        child.wait().unwrap().code()
    }

    /// A shim configuration: `conf` (a multus configuration) with `type` multus-shim and this
    /// daemon's `socketDir`.
    pub fn shim_conf(&self, conf: &Value) -> Value {
        let mut conf = conf.clone();
        conf["type"] = "multus-shim".into();
        conf["socketDir"] = self.socket_dir.to_str().unwrap().into();
        conf
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let _ = child.wait();
        }
    }
}
