//! The kernel path: the same rules as an nftables chain on a bump in the wire between veths in three
//! network namespaces (generator `g0` -> `a0` | firewall | `b0` -> `s0` sink). The chain sits on
//! `a0`'s netdev ingress hook and `fwd`s allowed frames straight to `b0`: no bridge, no routing,
//! the cheapest honest kernel forwarding of a first-match rule list. It is VLAN-aware as the firewall
//! is: the rules are a VLAN's table (`vlan id` on every rule) and the frames carry that tag. Frames come from `dpdk-testpmd`
//! (io forwarding from a `net_pcap` file to `net_af_packet` on `g0`) on CPU 1; the kernel's cost is
//! that CPU's system, irq and softirq time from `/proc/stat`, which includes the generator's
//! `AF_PACKET` sends and the veth hops.

use crate::telemetry::App;
use dataplane::firewall::{Action, PortRange, Rule};
use dataplane::packet::{IPPROTO_TCP, IPPROTO_UDP};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs `ip`/`nft`/`sysctl` style commands, failing with their stderr.
fn run(args: &[&str]) -> Result<String, String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args[0]))?;
    if !out.status.success() {
        return Err(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `rules` (one table, first match wins, default drop) as an nftables ruleset: a netdev ingress
/// chain on `a0` whose allowed frames go out of `b0`; every rule counts. With `vlan`, the table is that
/// VLAN's, as in the firewall: every rule matches `vlan id` first, and other frames meet the policy.
pub fn ruleset(rules: &[Rule], vlan: Option<u16>) -> Result<String, String> {
    let mut out = String::from("table netdev mpfw {\n  chain in {\n    type filter hook ingress device \"a0\" priority 0; policy drop;\n");
    for rule in rules {
        if rule.ingress.is_some() || rule.ethertype.is_some() || rule.tcp_flags.is_some() {
            return Err(format!(
                "rule {rule:?}: only IPv4 5-tuple rules are written for nftables"
            ));
        }
        let mut m = vlan.map_or(String::new(), |id| format!("vlan id {id} "));
        for (key, prefix) in [("saddr", rule.src), ("daddr", rule.dst)] {
            if let Some(p) = prefix {
                let family = if p.addr.is_ipv4() { "ip" } else { "ip6" };
                let _ = write!(m, "{family} {key} {p} ");
            }
        }
        if let Some(proto) = rule.protocol {
            let _ = write!(m, "meta l4proto {proto} ");
            let l4 = match proto {
                IPPROTO_TCP => "tcp",
                IPPROTO_UDP => "udp",
                _ => "",
            };
            let ports = |p: PortRange| {
                if p.lo == p.hi {
                    p.lo.to_string()
                } else {
                    format!("{}-{}", p.lo, p.hi)
                }
            };
            for (key, range) in [("sport", rule.sport), ("dport", rule.dport)] {
                if let (false, Some(r)) = (l4.is_empty(), range) {
                    let _ = write!(m, "{l4} {key} {} ", ports(r));
                }
            }
        }
        let verdict = match rule.action {
            Action::Allow => "counter fwd to \"b0\"",
            Action::Drop => "counter drop",
        };
        let _ = writeln!(out, "    {m}{verdict}");
    }
    out.push_str("  }\n}\n");
    Ok(out)
}

/// Three namespaces and two veth pairs, removed when dropped.
pub struct Bed {
    id: String,
}

impl Bed {
    fn ns(&self, role: char) -> String {
        format!("{}{role}", self.id)
    }

    /// Creates the namespaces `<id>g`, `<id>f`, `<id>s` and the veths, IPv6 off (no stray
    /// neighbour discovery frames), all links up.
    pub fn new(id: &str) -> Result<Bed, String> {
        let bed = Bed { id: id.to_string() };
        let (g, f, s) = (bed.ns('g'), bed.ns('f'), bed.ns('s'));
        for ns in [&g, &f, &s] {
            run(&["ip", "netns", "add", ns])?;
            run(&[
                "ip",
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
            ])?;
            run(&[
                "ip",
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.default.disable_ipv6=1",
            ])?;
        }
        run(&[
            "ip", "link", "add", "g0", "netns", &g, "type", "veth", "peer", "a0", "netns", &f,
        ])?;
        run(&[
            "ip", "link", "add", "b0", "netns", &f, "type", "veth", "peer", "s0", "netns", &s,
        ])?;
        for (ns, link) in [(&g, "g0"), (&f, "a0"), (&f, "b0"), (&s, "s0")] {
            run(&["ip", "-n", ns, "link", "set", link, "up"])?;
        }
        Ok(bed)
    }

    /// Replaces the firewall namespace's ruleset with `text`.
    pub fn load(&self, text: &str, file: &Path) -> Result<(), String> {
        std::fs::write(file, format!("flush ruleset\n{text}"))
            .map_err(|e| format!("{}: {e}", file.display()))?;
        run(&[
            "ip",
            "netns",
            "exec",
            &self.ns('f'),
            "nft",
            "-f",
            &file.display().to_string(),
        ])
        .map(drop)
    }

    /// Frames the chain allowed and dropped (rule counters; the policy drops nothing in these sets,
    /// which end in catch-alls, except for the allow-all set which ends in an allow).
    pub fn verdicts(&self) -> Result<(u64, u64), String> {
        let text = run(&[
            "ip",
            "netns",
            "exec",
            &self.ns('f'),
            "nft",
            "-j",
            "list",
            "chain",
            "netdev",
            "mpfw",
            "in",
        ])?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("nft -j: {e}"))?;
        let (mut allowed, mut dropped) = (0, 0);
        for item in json["nftables"].as_array().into_iter().flatten() {
            let Some(exprs) = item["rule"]["expr"].as_array() else {
                continue;
            };
            let packets: u64 = exprs
                .iter()
                .filter_map(|e| e["counter"]["packets"].as_u64())
                .sum();
            if exprs.iter().any(|e| e.get("drop").is_some()) {
                dropped += packets;
            } else {
                allowed += packets;
            }
        }
        Ok((allowed, dropped))
    }

    /// Frames that reached the firewall's `a0`.
    pub fn arrived(&self) -> Result<u64, String> {
        let text = run(&["ip", "-n", &self.ns('f'), "-j", "-s", "link", "show", "a0"])?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("ip -j: {e}"))?;
        json[0]["stats64"]["rx"]["packets"]
            .as_u64()
            .ok_or_else(|| format!("no rx packets in {json}"))
    }

    /// Starts the generator: testpmd in the generator namespace replaying `pcap` (forever if
    /// `infinite`) into `g0`, forwarding on CPU 1 in bursts of `burst`.
    pub fn generator(
        &self,
        pcap: &Path,
        infinite: bool,
        burst: u16,
        memory: &[String],
        log: &Path,
    ) -> Result<App, String> {
        let prefix = format!("{}gen", self.id);
        let mut rx = format!("net_pcap0,rx_pcap={}", pcap.display());
        if infinite {
            rx.push_str(",infinite_rx=1");
        }
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &self.ns('g'),
            "dpdk-testpmd",
            "-l",
            "0-1",
            "--no-pci",
            "--log-level",
            "error",
        ]);
        cmd.args([
            "--file-prefix",
            &prefix,
            "--vdev",
            &rx,
            "--vdev",
            "net_af_packet0,iface=g0",
        ]);
        cmd.args(memory).args([
            "--",
            "--forward-mode=io",
            "--nb-cores=1",
            "--total-num-mbufs=16383",
        ]);
        cmd.arg(format!("--burst={burst}"))
            .args(["--no-flush-rx", "--stats-period", "1"]);
        App::start(cmd, &prefix, log)
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        for role in ['g', 'f', 's'] {
            let _ = run(&["ip", "netns", "del", &self.ns(role)]);
        }
    }
}

/// Jiffies CPU `cpu` spent in system, irq and softirq so far (`/proc/stat`).
fn kernel_jiffies(cpu: usize) -> Result<u64, String> {
    let stat = std::fs::read_to_string("/proc/stat").map_err(|e| format!("/proc/stat: {e}"))?;
    let name = format!("cpu{cpu}");
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(&name))
        .ok_or("no cpu line")?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq
    Ok(f.get(2).copied().unwrap_or(0)
        + f.get(5).copied().unwrap_or(0)
        + f.get(6).copied().unwrap_or(0))
}

/// One second of the kernel path at saturation.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Frames judged per second (Mpps).
    pub mpps: f64,
    /// Kernel CPU time (system + irq + softirq on the generator's CPU) per frame, in ns.
    pub ns_per_packet: f64,
}

/// Samples the bed once a second for `seconds` seconds while a generator runs.
pub fn sample(bed: &Bed, seconds: u64) -> Result<Vec<Sample>, String> {
    let hz = 100.0; // USER_HZ on Linux
    let mut last = (Instant::now(), bed.arrived()?, kernel_jiffies(1)?);
    let mut out = Vec::new();
    for _ in 0..seconds {
        std::thread::sleep(Duration::from_secs(1));
        let now = (Instant::now(), bed.arrived()?, kernel_jiffies(1)?);
        let frames = (now.1 - last.1) as f64;
        let cpu_ns = (now.2 - last.2) as f64 / hz * 1e9;
        out.push(Sample {
            mpps: frames / now.0.duration_since(last.0).as_secs_f64() / 1e6,
            ns_per_packet: if frames > 0.0 {
                cpu_ns / frames
            } else {
                f64::NAN
            },
        });
        last = now;
    }
    Ok(out)
}
