//! `vlan-firewall` running inside the pod on `net0` (port A) and `north` (port B): started through
//! DPDK's `net_af_xdp` PMD, or `net_af_packet` when AF_XDP does not come up; its reports read as they
//! are printed.

use super::report::{is_report_header, Report};
use super::sys::{check_interrupted, Netns, Proc};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the firewall may take from start to its first report.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The DPDK PMD the firewall reads the pod's interfaces with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pmd {
    /// `net_af_xdp`: AF_XDP sockets (copy mode on veth).
    AfXdp,
    /// `net_af_packet`: AF_PACKET sockets with mmap rings.
    AfPacket,
}

impl Pmd {
    /// The DPDK driver name.
    pub fn driver(self) -> &'static str {
        match self {
            Pmd::AfXdp => "net_af_xdp",
            Pmd::AfPacket => "net_af_packet",
        }
    }
}

/// The running firewall.
pub struct Firewall {
    /// The PMD it runs on.
    pub pmd: Pmd,
    proc: Proc,
    stdout: Receiver<String>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Firewall {
    /// Starts `exe` in `pod` on `net0`/`north` with `rules`, printing a report every second; returns
    /// once the first report shows the workers running.
    pub fn start(
        pod: &Netns,
        exe: &Path,
        rules: &Path,
        pmd: Pmd,
        file_prefix: &str,
    ) -> Result<Firewall, String> {
        let d = pmd.driver();
        let mut cmd = pod.command(exe);
        cmd.args([
            "-l",
            "0-1",
            "--no-pci",
            "--no-huge",
            "--no-shconf",
            "-m",
            "256",
            "--log-level",
            "error",
        ])
        .args(["--file-prefix", file_prefix])
        .args([
            "--vdev",
            &format!("{d}0,iface=net0"),
            "--vdev",
            &format!("{d}1,iface=north"),
        ])
        .args(["--", "--rules"])
        .arg(rules)
        .args([
            "--port-a",
            &format!("{d}0"),
            "--port-b",
            &format!("{d}1"),
            "--stats-interval",
            "1",
        ])
        // AF_XDP takes mbufs as UMEM chunks, which must fit a 4 KiB page: standard frames only.
        .args(["--data-room", "2176"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| format!("{}: {e}", exe.display()))?;
        let (tx, stdout) = channel();
        let out = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        std::thread::spawn(move || {
            out.lines()
                .map_while(Result::ok)
                .for_each(|l| drop(tx.send(l)))
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (err, sink) = (
            BufReader::new(child.stderr.take().ok_or("no stderr")?),
            stderr.clone(),
        );
        std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                sink.lock().map(|mut v| v.push(line)).ok();
            }
        });
        let mut fw = Firewall {
            pmd,
            proc: Proc { child },
            stdout,
            stderr,
        };
        fw.next_report(START_TIMEOUT)?;
        Ok(fw)
    }

    /// What it printed on stderr (DPDK's and its own messages), without its banner.
    pub fn messages(&self) -> String {
        let lines = self.stderr.lock().map(|v| v.clone()).unwrap_or_default();
        let wanted = lines.iter().filter(|l| !l.contains("SIGHUP reloads"));
        wanted.cloned().collect::<Vec<_>>().join("\n")
    }

    /// Waits for the next complete periodic report.
    pub fn next_report(&mut self, timeout: Duration) -> Result<Report, String> {
        let deadline = Instant::now() + timeout;
        let mut block: Vec<String> = Vec::new();
        loop {
            check_interrupted()?;
            match self.stdout.recv_timeout(Duration::from_millis(100)) {
                Ok(line) if is_report_header(&line) => block = vec![line],
                Ok(line) if line.trim_start().starts_with("last ") && !block.is_empty() => {
                    return Report::parse(&block)
                        .ok_or_else(|| format!("unreadable report:\n{}", block.join("\n")));
                }
                Ok(line) if !block.is_empty() => block.push(line),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                Err(RecvTimeoutError::Timeout) => {
                    return Err("vlan-firewall printed no report in time".to_string())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.proc.stop(Duration::from_secs(1));
                    return Err(format!(
                        "vlan-firewall ({}) stopped: {}",
                        self.pmd.driver(),
                        self.messages()
                    ));
                }
            }
        }
    }

    /// The first report that starts after now, so it counts everything judged before the call.
    pub fn fresh_report(&mut self) -> Result<Report, String> {
        self.stdout.try_iter().for_each(drop);
        self.next_report(Duration::from_secs(10))
    }

    /// Stops it with SIGTERM; returns its line on the mbufs left in use (`mbufs in use after shutdown:
    /// U of N`, with what `net_af_xdp` keeps in its rings accounted for). It exits 1 when it leaked
    /// mbufs, which fails the demo.
    pub fn stop(mut self) -> Result<String, String> {
        let clean = self.proc.stop(Duration::from_secs(10));
        let mut mbufs = None;
        while let Ok(line) = self.stdout.recv_timeout(Duration::from_secs(2)) {
            if line.starts_with("mbufs in use") {
                mbufs = Some(line);
            }
        }
        match (clean, mbufs) {
            (true, Some(line)) => Ok(line),
            _ => Err(format!(
                "vlan-firewall did not shut down cleanly: {}",
                self.messages()
            )),
        }
    }
}
