//! The "firewall vs DPDK's ACL forwarder" case of the `throughput` harness: ClassBench-style rule
//! sets and traffic (`dataplane::firewall::classbench`), written for `vlan-firewall` (the rules in the
//! VLAN 210 table, the traffic tagged with VLAN 210) and for `l3fwd --lookup=acl` (which cannot match
//! VLANs: the same rules and the same traffic untagged), a check that both forward exactly the frames
//! the reference model allows, and per-second rates of both read through DPDK telemetry on the same
//! `net_pcap` vdevs, on one worker core or two (one `net_pcap` queue pair each).

use crate::l3fwd;
use crate::telemetry::App;
use dataplane::firewall::classbench::{rules, traffic, Shape, Wildcards};
use dataplane::firewall::synth::Rng;
use dataplane::firewall::{Action, ReferenceModel, Rule, RuleSet, Side, Table, TableKey};
use dataplane::packet::{emit_frame, MacAddr};
use dataplane::pcap;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The VLAN whose table holds the firewall's rules and whose tag its traffic carries (the seed's).
pub const VLAN: u16 = 210;

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
    /// Its ClassBench shape.
    pub shape: Shape,
    /// How many rules.
    pub rules: usize,
    dir: PathBuf,
    /// The traffic untagged (l3fwd's and the kernel path's).
    frames: Vec<Vec<u8>>,
    /// The same traffic tagged with [`VLAN`] (the firewall's).
    tagged: Vec<Vec<u8>>,
    model_rules: Vec<Rule>,
}

/// The ClassBench set whose traffic the 1-rule cases replay: the shape's set of this many rules.
const ONE_RULE_TRAFFIC_FROM: usize = 1000;

/// The cases: acl-, fw- and ipc-shaped sets of each of `sizes` rules (wildcards left out, ending in
/// catch-all drops), each with `FRAMES` frames of its own traffic aimed at rules all over the set.
/// A ClassBench set of 1 rule would be a lone catch-all drop, which l3fwd cannot run (it needs a
/// route); size 1 is therefore one rule that allows everything, fed the traffic of the shape's
/// 1 000-rule set: both forwarders forward every frame.
pub fn cases(dir: &Path, sizes: &[usize]) -> Result<Vec<RuleCase>, String> {
    let mut out = Vec::new();
    for shape in Shape::ALL {
        for &n in sizes {
            let (set, flows) = if n == 1 {
                let seed = 10 + ONE_RULE_TRAFFIC_FROM as u64;
                let aimed_at = rules(
                    &mut Rng::new(seed),
                    shape,
                    ONE_RULE_TRAFFIC_FROM,
                    Wildcards::LeftOut,
                );
                let flows = traffic(&mut Rng::new(7), &aimed_at, FRAMES);
                (vec![Rule::new(Action::Allow)], flows)
            } else {
                let set = rules(&mut Rng::new(10 + n as u64), shape, n, Wildcards::LeftOut);
                let flows = traffic(&mut Rng::new(7), &set, FRAMES);
                (set, flows)
            };
            let (dst, src) = (MacAddr([2, 0, 0, 0, 0, 2]), MacAddr([2, 0, 0, 0, 0, 1]));
            let emit = |vlan| {
                let each = flows.iter().map(|flow| {
                    let flow = dataplane::packet::Flow { vlan, ..*flow };
                    emit_frame(&flow, None, dst, src, PAYLOAD)
                });
                each.collect()
            };
            let label = format!("{} {n}", shape.name());
            let case = RuleCase {
                dir: dir.join(label.replace(' ', "-")),
                label,
                shape,
                rules: set.len(),
                frames: emit(None),
                tagged: emit(Some(VLAN)),
                model_rules: set,
            };
            case.write()?;
            out.push(case);
        }
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
    /// DPDK's l3fwd (`None`: only the firewall runs).
    pub l3fwd: Option<PathBuf>,
    /// EAL memory arguments (hugepages or `--no-huge`).
    pub memory: Vec<String>,
}

fn forwarded_by_model(set: RuleSet, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut model = ReferenceModel::new(set);
    frames
        .iter()
        .filter_map(|f| model.process(Side::A, f).1)
        .collect()
}

impl RuleCase {
    fn write(&self) -> Result<(), String> {
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        for (stem, frames) in [("", &self.frames), ("-vlan", &self.tagged)] {
            write_pcap(&self.file(&format!("traffic{stem}.pcap")), frames)?;
            let rate = &frames[..RATE_FRAMES];
            write_pcap(&self.file(&format!("rate{stem}.pcap")), rate)?;
            // Two queues share the same frames: each replays half of them.
            let (q0, q1) = rate.split_at(RATE_FRAMES / 2);
            write_pcap(&self.file(&format!("rate{stem}-q0.pcap")), q0)?;
            write_pcap(&self.file(&format!("rate{stem}-q1.pcap")), q1)?;
        }
        write_pcap(&self.dir.join("empty.pcap"), &[])?;
        write_file(
            &self.dir.join("firewall.json"),
            &l3fwd::firewall_rules(&self.model_rules, Some(VLAN))?,
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

    /// The frames the reference model forwards out of port B when the untagged traffic arrives on
    /// port A and the rules are one untagged table (l3fwd's and the kernel path's view).
    pub fn expected(&self) -> Vec<Vec<u8>> {
        let set = dataplane::firewall::classbench::rule_set(self.model_rules.clone());
        forwarded_by_model(set, &self.frames)
    }

    /// The same for the firewall's view: the tagged traffic and the rules in the VLAN 210 table.
    fn expected_tagged(&self) -> Vec<Vec<u8>> {
        let mut table = Table::new(Action::Drop);
        table.rules = self.model_rules.clone();
        let tables = BTreeMap::from([(TableKey::Vlan(VLAN), table)]);
        forwarded_by_model(
            RuleSet {
                default: Action::Drop,
                tables,
            },
            &self.tagged,
        )
    }

    /// Starts `side` with `vdevs` (two `net_pcap` ports of `cores` queue pairs) on `cores` worker
    /// cores: CPU 1 for one, CPUs 0 and 1 for two.
    fn start(
        &self,
        fwd: &Forwarders,
        side: Forwarder,
        vdevs: [String; 2],
        cores: usize,
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
                // The main lcore only waits (parked) while the workers run: it may float.
                let lcores = match cores {
                    1 => "0@0,1@1",
                    _ => "0@(0,1),1@0,2@1",
                };
                let mut cmd = Command::new(&fwd.firewall);
                cmd.args(["--lcores", lcores]).args(&eal).args([
                    "--",
                    "--rules",
                    &dir("firewall.json"),
                ]);
                cmd.args(["--port-a", "net_pcap0", "--port-b", "net_pcap1"]);
                cmd.args(["--cores", &cores.to_string()]);
                cmd
            }
            Forwarder::L3fwd => {
                // l3fwd forwards on its main lcore too and wants one TX queue per lcore: lcore 1
                // alone (the CPU of the firewall's one worker), or lcores 0 and 1, each polling
                // queue i of both ports.
                let (lcores, config) = match cores {
                    1 => ("1", "(0,0,1),(1,0,1)".to_string()),
                    _ => ("0,1", "(0,0,0),(0,1,1),(1,0,0),(1,1,1)".to_string()),
                };
                let l3fwd = fwd
                    .l3fwd
                    .as_ref()
                    .ok_or("l3fwd was not built for this run")?;
                let mut cmd = Command::new(l3fwd);
                cmd.args(["-l", lcores])
                    .args(&eal)
                    .args(["--", "-p", "0x3"]);
                cmd.arg(format!("--config={config}"));
                cmd.args(["--lookup=acl", "--parse-ptype"]);
                cmd.arg(format!("--rule_ipv4={}", dir("ipv4.rules")));
                cmd.arg(format!("--rule_ipv6={}", dir("ipv6.rules")));
                cmd
            }
        };
        App::start(cmd, &prefix, &self.dir.join(format!("{tag}.log")))
    }

    /// The traffic file stem `side` gets: tagged for the firewall, untagged for l3fwd.
    fn stem(side: Forwarder) -> &'static str {
        match side {
            Forwarder::Firewall => "-vlan",
            Forwarder::L3fwd => "",
        }
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
        let traffic = format!("traffic{}.pcap", Self::stem(side));
        let app = self.start(
            fwd,
            side,
            [vdev(0, &traffic), vdev(1, "empty.pcap")],
            1,
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

    /// Checks that the firewall forwards exactly the model's tagged frames, and l3fwd the model's
    /// untagged ones (addresses, TTL and checksum aside, which l3fwd rewrites), the same flows;
    /// returns how many were forwarded.
    pub fn verify(&self, fwd: &Forwarders) -> Result<usize, String> {
        let (expected, expected_tagged) = (self.expected(), self.expected_tagged());
        if expected.len() != expected_tagged.len() {
            return Err(format!(
                "{}: the model allows {} untagged frames but {} tagged with VLAN {VLAN}",
                self.label,
                expected.len(),
                expected_tagged.len()
            ));
        }
        let ours = self.forwarded(fwd, Forwarder::Firewall)?;
        if ours != expected_tagged {
            return Err(format!(
                "{}: vlan-firewall forwarded {} frames, the reference model {} (or other bytes)",
                self.label,
                ours.len(),
                expected_tagged.len()
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

    /// Runs `side` on `cores` worker cores with both ports replaying the traffic forever (one
    /// `net_pcap` queue per core, the queues sharing the same frames) and returns its per-second
    /// receive rates (Mpps) over `seconds` seconds.
    pub fn measure(
        &self,
        fwd: &Forwarders,
        side: Forwarder,
        cores: usize,
        seconds: u64,
    ) -> Result<Vec<f64>, String> {
        let tag = format!("{side:?}rate{cores}").to_lowercase();
        let stem = Self::stem(side);
        let rx: Vec<String> = match cores {
            1 => vec![format!(
                "rx_pcap={}",
                self.file(&format!("rate{stem}.pcap")).display()
            )],
            2 => (0..2)
                .map(|q| {
                    format!(
                        "rx_pcap={}",
                        self.file(&format!("rate{stem}-q{q}.pcap")).display()
                    )
                })
                .collect(),
            n => return Err(format!("{n} cores: the benchmark runs on 1 or 2")),
        };
        let vdev = |port: u8| format!("net_pcap{port},{},infinite_rx=1", rx.join(","));
        let app = self.start(fwd, side, [vdev(0), vdev(1)], cores, &tag)?;
        let samples = app.sample_mpps(seconds)?;
        app.stop()
            .map_err(|e| format!("{side:?} on {cores} core(s): {e}"))?;
        Ok(samples)
    }
}
