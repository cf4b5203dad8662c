//! The "firewall vs DPDK's ACL forwarder" case of the `throughput` harness: ClassBench-style rule
//! sets and traffic (`dataplane::firewall::classbench`), written for `vlan-firewall` and for
//! `l3fwd --lookup=acl`, a check that both forward exactly the frames the reference model allows, and
//! per-second rates of both read through DPDK telemetry on the same `net_pcap` vdevs.

use crate::l3fwd;
use crate::telemetry::App;
use dataplane::firewall::classbench::{rules, traffic, Shape, Wildcards};
use dataplane::firewall::synth::Rng;
use dataplane::firewall::{Action, ReferenceModel, Rule, Side};
use dataplane::packet::{emit_frame, MacAddr};
use dataplane::pcap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Frames of the checked replay: flows aimed at rules all over the table.
pub const FRAMES: usize = 8192;

/// Frames of the measured replay (the first of the checked ones): `net_pcap` with `infinite_rx` holds
/// a whole file in mbufs per port, and l3fwd's pool has 8 192 for both ports.
pub const RATE_FRAMES: usize = 2048;

/// Filler bytes after the L4 header: TCP frames of 60 bytes (64 on the wire).
const PAYLOAD: usize = 6;

/// One rule set with its traffic, written to files in a directory of its own.
pub struct RuleCase {
    /// What the set is, e.g. `acl 1000`.
    pub label: String,
    /// How many rules.
    pub rules: usize,
    dir: PathBuf,
    frames: Vec<Vec<u8>>,
    model_rules: Vec<Rule>,
}

/// The cases: one allow-everything rule, then acl- and fw-shaped sets of each of `sizes` rules
/// (wildcards left out, ending in catch-all drops), each with `FRAMES` frames of its own traffic (the
/// one-rule case replays the acl traffic of the first size).
pub fn cases(dir: &Path, sizes: &[usize]) -> Result<Vec<RuleCase>, String> {
    let mut sets: Vec<(String, Vec<Rule>, Vec<Rule>)> = Vec::new();
    for shape in [Shape::Acl, Shape::Fw] {
        for &n in sizes {
            let mut rng = Rng::new(10 + n as u64);
            let set = rules(&mut rng, shape, n, Wildcards::LeftOut);
            sets.push((format!("{} {n}", shape.name()), set.clone(), set));
        }
    }
    let first_traffic = sets.first().map(|s| s.2.clone()).unwrap_or_default();
    sets.insert(
        0,
        (
            "allow all 1".into(),
            vec![Rule::new(Action::Allow)],
            first_traffic,
        ),
    );
    let mut out = Vec::new();
    for (label, set, aim) in sets {
        let mut rng = Rng::new(7);
        let (dst, src) = (MacAddr([2, 0, 0, 0, 0, 2]), MacAddr([2, 0, 0, 0, 0, 1]));
        let frames = traffic(&mut rng, &aim, FRAMES)
            .iter()
            .map(|flow| emit_frame(flow, None, dst, src, PAYLOAD))
            .collect();
        let case_dir = dir.join(label.replace(' ', "-"));
        let case = RuleCase {
            label,
            rules: set.len(),
            dir: case_dir,
            frames,
            model_rules: set,
        };
        case.write()?;
        out.push(case);
    }
    Ok(out)
}

fn write_file(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn write_pcap(path: &Path, frames: &[Vec<u8>]) -> Result<(), String> {
    let out = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    pcap::write(out, frames).map_err(|e| format!("{}: {e}", path.display()))
}

fn read_pcap(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let input = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    pcap::read(input).map_err(|e| format!("{}: {e}", path.display()))
}

/// Which forwarder runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forwarder {
    /// multiplane's `vlan-firewall`.
    Firewall,
    /// `l3fwd --lookup=acl`.
    L3fwd,
}

/// The two forwarders' binaries and the EAL memory arguments both get.
pub struct Forwarders {
    /// `vlan-firewall`.
    pub firewall: PathBuf,
    /// DPDK's l3fwd.
    pub l3fwd: PathBuf,
    /// EAL memory arguments (hugepages or `--no-huge`).
    pub memory: Vec<String>,
}

impl RuleCase {
    fn write(&self) -> Result<(), String> {
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        write_pcap(&self.dir.join("traffic.pcap"), &self.frames)?;
        write_pcap(&self.dir.join("rate.pcap"), &self.frames[..RATE_FRAMES])?;
        write_pcap(&self.dir.join("empty.pcap"), &[])?;
        write_file(
            &self.dir.join("firewall.json"),
            &l3fwd::firewall_rules(&self.model_rules)?,
        )?;
        // Allowed frames leave on port 1, as the firewall sends what arrives on port A (0) out of B.
        write_file(
            &self.dir.join("ipv4.rules"),
            &l3fwd::ipv4_rules(&self.model_rules, 1)?,
        )?;
        write_file(&self.dir.join("ipv6.rules"), l3fwd::IPV6_RULES)
    }

    /// The rules.
    pub fn rule_list(&self) -> &[Rule] {
        &self.model_rules
    }

    /// A file of the case's directory: `traffic.pcap` (the checked frames), `rate.pcap` (the
    /// measured ones), or a new one.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The frames the reference model forwards out of port B when the traffic arrives on port A.
    pub fn expected(&self) -> Vec<Vec<u8>> {
        let set = dataplane::firewall::classbench::rule_set(self.model_rules.clone());
        let mut model = ReferenceModel::new(set);
        self.frames
            .iter()
            .filter_map(|f| model.process(Side::A, f).1)
            .collect()
    }

    /// Starts `side` with `vdevs` (two `net_pcap` ports) on one worker core.
    fn start(
        &self,
        fwd: &Forwarders,
        side: Forwarder,
        vdevs: [String; 2],
        tag: &str,
    ) -> Result<App, String> {
        let prefix = format!("mpbench{}{tag}", std::process::id());
        let mut eal: Vec<String> = ["--no-pci", "--log-level", "error", "--file-prefix", &prefix]
            .map(String::from)
            .to_vec();
        for v in vdevs {
            eal.extend(["--vdev".to_string(), v]);
        }
        eal.extend(fwd.memory.iter().cloned());
        let dir = |name: &str| self.dir.join(name).display().to_string();
        let cmd = match side {
            Forwarder::Firewall => {
                let mut cmd = Command::new(&fwd.firewall);
                cmd.args(["-l", "0-1"])
                    .args(&eal)
                    .args(["--", "--rules", &dir("firewall.json")]);
                cmd.args(["--port-a", "net_pcap0", "--port-b", "net_pcap1"]);
                cmd
            }
            Forwarder::L3fwd => {
                // l3fwd wants one TX queue per lcore, and a net_pcap port has one: a single lcore,
                // the same CPU the firewall's one worker runs on.
                let mut cmd = Command::new(&fwd.l3fwd);
                cmd.args(["-l", "1"]).args(&eal).args([
                    "--",
                    "-p",
                    "0x3",
                    "--config=(0,0,1),(1,0,1)",
                ]);
                cmd.args(["--lookup=acl", "--parse-ptype"]);
                cmd.arg(format!("--rule_ipv4={}", dir("ipv4.rules")));
                cmd.arg(format!("--rule_ipv6={}", dir("ipv6.rules")));
                cmd
            }
        };
        App::start(cmd, &prefix, &self.dir.join(format!("{tag}.log")))
    }

    /// Replays the traffic once into port 0 of `side` and returns what left port 1 (and fails if
    /// anything left port 0).
    pub fn forwarded(&self, fwd: &Forwarders, side: Forwarder) -> Result<Vec<Vec<u8>>, String> {
        let tag = format!("{side:?}").to_lowercase();
        let out = |port: u8| self.dir.join(format!("{tag}-out{port}.pcap"));
        let vdev = |port: u8, rx: &str| {
            format!(
                "net_pcap{port},rx_pcap={},tx_pcap={}",
                self.dir.join(rx).display(),
                out(port).display()
            )
        };
        let app = self.start(
            fwd,
            side,
            [vdev(0, "traffic.pcap"), vdev(1, "empty.pcap")],
            &tag,
        )?;
        app.wait_for_rx(self.frames.len() as u64, Duration::from_secs(60))?;
        std::thread::sleep(Duration::from_millis(300)); // l3fwd drains its TX buffers on a timer
        app.stop().map_err(|e| format!("{side:?}: {e}"))?;
        let back = read_pcap(&out(0))?;
        if !back.is_empty() {
            return Err(format!(
                "{side:?} sent {} frames back out of port 0",
                back.len()
            ));
        }
        read_pcap(&out(1))
    }

    /// Checks that the firewall forwards exactly the model's frames and l3fwd the same frames
    /// (addresses, TTL and checksum aside, which l3fwd rewrites); returns how many were forwarded.
    pub fn verify(&self, fwd: &Forwarders) -> Result<usize, String> {
        let expected = self.expected();
        let ours = self.forwarded(fwd, Forwarder::Firewall)?;
        if ours != expected {
            return Err(format!(
                "{}: vlan-firewall forwarded {} frames, the reference model {} (or other bytes)",
                self.label,
                ours.len(),
                expected.len()
            ));
        }
        let peer = self.forwarded(fwd, Forwarder::L3fwd)?;
        let norm = |v: &[Vec<u8>]| {
            v.iter()
                .map(|f| l3fwd::forwarded_part(f))
                .collect::<Vec<_>>()
        };
        if norm(&peer) != norm(&expected) {
            let same = norm(&peer)
                .iter()
                .zip(norm(&expected))
                .filter(|(a, b)| *a == b)
                .count();
            return Err(format!(
                "{}: l3fwd forwarded {} frames, the reference model {} ({same} equal in order)",
                self.label,
                peer.len(),
                expected.len()
            ));
        }
        Ok(expected.len())
    }

    /// Runs `side` with both ports replaying the traffic forever and returns its per-second receive
    /// rates (Mpps) over `seconds` seconds.
    pub fn measure(
        &self,
        fwd: &Forwarders,
        side: Forwarder,
        seconds: u64,
    ) -> Result<Vec<f64>, String> {
        let tag = format!("{side:?}rate").to_lowercase();
        let traffic = self.dir.join("rate.pcap").display().to_string();
        let vdev = |port: u8| format!("net_pcap{port},rx_pcap={traffic},infinite_rx=1");
        let app = self.start(fwd, side, [vdev(0), vdev(1)], &tag)?;
        let samples = app.sample_mpps(seconds)?;
        app.stop().map_err(|e| format!("{side:?}: {e}"))?;
        Ok(samples)
    }
}
