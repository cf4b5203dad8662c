//! Packet counts of a running DPDK application read through its telemetry socket
//! (`/var/run/dpdk/<file-prefix>/dpdk_telemetry.v2`), so that every side of a benchmark — ours and
//! DPDK's own applications, which print no rates — is measured the same way from outside.

use nix::sys::socket::{
    connect, recv, send, socket, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr,
};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A connection to one application's telemetry socket.
pub struct Telemetry {
    fd: OwnedFd,
}

/// The runtime directory EAL makes for `--file-prefix prefix` when run as root.
pub fn runtime_dir(prefix: &str) -> PathBuf {
    Path::new("/var/run/dpdk").join(prefix)
}

impl Telemetry {
    /// Connects to the application started with `--file-prefix prefix`, waiting up to `timeout` for
    /// its socket to appear (EAL creates it during init, before the application builds its tables).
    pub fn connect(prefix: &str, timeout: Duration) -> Result<Telemetry, String> {
        let path = runtime_dir(prefix).join("dpdk_telemetry.v2");
        let deadline = Instant::now() + timeout;
        loop {
            match Self::try_connect(&path) {
                Ok(t) => return Ok(t),
                Err(e) if Instant::now() > deadline => {
                    return Err(format!("{}: {e}", path.display()))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    fn try_connect(path: &Path) -> Result<Telemetry, String> {
        let fd = socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(|e| e.to_string())?;
        let addr = UnixAddr::new(path).map_err(|e| e.to_string())?;
        connect(fd.as_raw_fd(), &addr).map_err(|e| e.to_string())?;
        let t = Telemetry { fd };
        t.receive()?; // the greeting: version, pid, max output length
        Ok(t)
    }

    fn receive(&self) -> Result<serde_json::Value, String> {
        let mut buf = vec![0u8; 64 * 1024];
        let n =
            recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("telemetry socket closed".into());
        }
        serde_json::from_slice(&buf[..n]).map_err(|e| format!("telemetry reply: {e}"))
    }

    /// `ipackets` (frames received) of port `port`.
    pub fn rx_packets(&self, port: u16) -> Result<u64, String> {
        let cmd = format!("/ethdev/stats,{port}");
        send(self.fd.as_raw_fd(), cmd.as_bytes(), MsgFlags::empty()).map_err(|e| e.to_string())?;
        let reply = self.receive()?;
        reply["/ethdev/stats"]["ipackets"]
            .as_u64()
            .ok_or_else(|| format!("{cmd}: no ipackets in {reply}"))
    }

    /// Frames received on ports 0 and 1 together.
    pub fn rx_total(&self) -> Result<u64, String> {
        Ok(self.rx_packets(0)? + self.rx_packets(1)?)
    }
}

/// A DPDK application started with `--file-prefix prefix`: [`App::stop`] stops it with SIGINT; dropped
/// while running, it is killed.
pub struct App {
    child: Child,
    log: PathBuf,
    prefix: String,
    /// Its telemetry connection.
    pub telemetry: Telemetry,
}

impl App {
    /// Starts `cmd` (whose EAL arguments include `--file-prefix prefix`) with its output in `log`,
    /// and connects to it; an error quotes the end of the log.
    pub fn start(mut cmd: Command, prefix: &str, log: &Path) -> Result<App, String> {
        let name = format!("{:?}", cmd.get_program());
        let file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = file.try_clone().map_err(|e| e.to_string())?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("{name}: {e}"))?;
        match Telemetry::connect(prefix, Duration::from_secs(30)) {
            Ok(telemetry) => Ok(App {
                child,
                log: log.to_path_buf(),
                prefix: prefix.to_string(),
                telemetry,
            }),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("{name}: {e}; {}", log_tail(log)))
            }
        }
    }

    /// Waits until the application has received `frames` frames on ports 0 and 1 (its ports are up
    /// and its tables built once frames flow), within `timeout`.
    pub fn wait_for_rx(&self, frames: u64, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        while self.telemetry.rx_total()? < frames {
            if Instant::now() > deadline {
                return Err(format!(
                    "fewer than {frames} frames received in {timeout:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Frames received per second (Mpps), one sample per second for `seconds` seconds, counted from
    /// the first frame.
    pub fn sample_mpps(&self, seconds: u64) -> Result<Vec<f64>, String> {
        self.wait_for_rx(1, Duration::from_secs(60))?;
        let mut last = (Instant::now(), self.telemetry.rx_total()?);
        let mut samples = Vec::new();
        for _ in 0..seconds {
            std::thread::sleep(Duration::from_secs(1));
            let now = (Instant::now(), self.telemetry.rx_total()?);
            samples
                .push((now.1 - last.1) as f64 / now.0.duration_since(last.0).as_secs_f64() / 1e6);
            last = now;
        }
        Ok(samples)
    }

    /// Stops the application with SIGINT and waits for it to exit; one that is still running 30 s
    /// later is killed and reported.
    pub fn stop(mut self) -> Result<(), String> {
        self.interrupt();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                // EAL leaves its (by now empty) runtime directory behind.
                let _ = std::fs::remove_dir(runtime_dir(&self.prefix));
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!(
                    "still running 30 s after SIGINT, killed; {}",
                    log_tail(&self.log)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        match status.success() {
            true => Ok(()),
            false => Err(format!("exited with {status}; {}", log_tail(&self.log))),
        }
    }

    fn interrupt(&self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
    }
}

/// The last lines of `log`, for error messages.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    format!(
        "its log ends: {}",
        lines[lines.len().saturating_sub(5)..].join(" | ")
    )
}

impl Drop for App {
    fn drop(&mut self) {
        // Only on error paths ([`App::stop`] waits for a clean exit): no waiting on a signal here.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
