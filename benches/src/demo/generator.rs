//! `vlan-traffic` running in the node namespace on the outside ends of `net0` and `north`: the exact
//! phase's tally, then a load phase on request.

use super::sys::{check_interrupted, Netns, Proc};
use benches::traffic::KindTally;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{ChildStdin, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The running generator.
pub struct Generator {
    proc: Proc,
    stdin: ChildStdin,
    stdout: Receiver<String>,
}

/// What the load phase did.
pub struct Load {
    /// Seconds it sent for.
    pub seconds: f64,
    /// Frames sent.
    pub sent: u64,
    /// Frames that arrived on the other side.
    pub arrived: u64,
}

impl Generator {
    /// Starts `exe` in `node` on the two interfaces, sending `count` frames of every kind; returns the
    /// exact phase's tally once it is done.
    pub fn start(
        node: &Netns,
        exe: &Path,
        rules: &Path,
        ifaces: [&str; 2],
        count: u64,
        file_prefix: &str,
    ) -> Result<(Generator, Vec<KindTally>), String> {
        let mut child = node
            .command(exe)
            .arg("--rules")
            .arg(rules)
            .args([
                "--port-a",
                ifaces[0],
                "--port-b",
                ifaces[1],
                "--count",
                &count.to_string(),
            ])
            .args(["--file-prefix", file_prefix])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: {e}", exe.display()))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let (tx, stdout) = channel();
        let out = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        std::thread::spawn(move || {
            out.lines()
                .map_while(Result::ok)
                .for_each(|l| drop(tx.send(l)))
        });
        let mut g = Generator {
            proc: Proc { child },
            stdin,
            stdout,
        };
        let mut tallies = Vec::new();
        loop {
            let line = g.line(Duration::from_secs(120))?;
            if line == "exact done" {
                return Ok((g, tallies));
            }
            tallies.push(
                KindTally::parse(&line)
                    .ok_or(format!("vlan-traffic: unexpected output {line:?}"))?,
            );
        }
    }

    fn line(&mut self, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            check_interrupted()?;
            match self.stdout.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => return Ok(line),
                Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                Err(_) => return Err(self.failure()),
            }
        }
    }

    fn failure(&mut self) -> String {
        self.proc.stop(Duration::from_secs(1));
        let mut err = String::new();
        if let Some(mut e) = self.proc.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        format!("vlan-traffic stopped: {}", err.trim())
    }

    /// Sends the mix as fast as it can for `seconds`.
    pub fn load(&mut self, seconds: f64) -> Result<Load, String> {
        writeln!(self.stdin, "load {seconds}").map_err(|e| format!("vlan-traffic: {e}"))?;
        let line = self.line(Duration::from_secs_f64(seconds + 30.0))?;
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["load", "seconds", s, "sent", n, "arrived", m] => Ok(Load {
                seconds: s.parse().map_err(|_| format!("vlan-traffic: {line:?}"))?,
                sent: n.parse().map_err(|_| format!("vlan-traffic: {line:?}"))?,
                arrived: m.parse().map_err(|_| format!("vlan-traffic: {line:?}"))?,
            }),
            _ => Err(format!("vlan-traffic: unexpected output {line:?}")),
        }
    }

    /// Closes its input, so it exits, and reaps it.
    pub fn finish(self) -> Result<(), String> {
        let Generator {
            mut proc, stdin, ..
        } = self;
        drop(stdin);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = proc.child.try_wait() {
                return if status.success() {
                    Ok(())
                } else {
                    Err(format!("vlan-traffic exited with {status}"))
                };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("vlan-traffic did not exit".to_string())
    }
}
