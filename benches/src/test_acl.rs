//! DPDK's own ACL benchmark, `dpdk-test-acl`, as the baseline of the classifier bench: the same rules
//! and trace written in its ClassBench formats, one run per `--alg`, ns/packet and runtime memory read
//! back from its output.

use dataplane::firewall::{AclAlgorithm, Rule};
use dataplane::packet::IpFlow;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

/// What one `dpdk-test-acl` run reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestAclRun {
    /// Nanoseconds per classified packet (from its packets per second).
    pub ns_per_packet: f64,
    /// Bytes of rte_acl runtime structures (its build log's `total: N bytes`).
    pub memory: usize,
}

fn v4(prefix: Option<dataplane::firewall::Prefix>) -> String {
    prefix.map_or("0.0.0.0/0".to_string(), |p| p.to_string())
}

/// `rules` (IPv4 5-tuples) in the ClassBench filter format `dpdk-test-acl --rulesf` reads:
/// `@src/len dst/len slo : shi dlo : dhi proto/mask`.
pub fn rules_file(rules: &[Rule]) -> String {
    let mut out = String::new();
    for r in rules {
        let ports =
            |p: Option<dataplane::firewall::PortRange>| p.map_or((0, 65535), |p| (p.lo, p.hi));
        let ((slo, shi), (dlo, dhi)) = (ports(r.sport), ports(r.dport));
        let (proto, mask) = r.protocol.map_or((0, 0), |p| (p, 0xff));
        let _ = writeln!(
            out,
            "@{} {} {slo} : {shi} {dlo} : {dhi} {proto:#04x}/{mask:#04x}",
            v4(r.src),
            v4(r.dst)
        );
    }
    out
}

/// `flows` (IPv4) in the trace format `dpdk-test-acl --tracef` reads: `src dst sport dport proto`, with
/// addresses as 32-bit numbers and ports 0 where a flow has none.
pub fn trace_file(flows: &[IpFlow]) -> String {
    let mut out = String::new();
    for f in flows {
        let num = |a: IpAddr| match a {
            IpAddr::V4(a) => u32::from(a),
            IpAddr::V6(_) => 0,
        };
        let (s, d) = f.ports.unwrap_or((0, 0));
        let _ = writeln!(
            out,
            "{:#010x} {:#010x} {s} {d} {}",
            num(f.src),
            num(f.dst),
            f.protocol
        );
    }
    out
}

/// Reads ns/packet and memory from `dpdk-test-acl` output (stdout and log together).
pub fn parse_output(text: &str) -> Option<TestAclRun> {
    let pps: f64 = text
        .lines()
        .rev()
        .filter(|l| l.contains("search_ip5tuples") && l.contains("pkt/sec"))
        .find_map(|l| {
            l.rsplit(", ")
                .next()?
                .strip_suffix(" pkt/sec")?
                .trim()
                .parse()
                .ok()
        })?;
    let memory = text.lines().rev().find_map(|l| {
        l.trim()
            .strip_prefix("total: ")?
            .strip_suffix(" bytes")?
            .parse()
            .ok()
    })?;
    (pps > 0.0).then(|| TestAclRun {
        ns_per_packet: 1e9 / pps,
        memory,
    })
}

/// Runs `dpdk-test-acl` on one lcore with the EAL memory arguments `memory` over the files in `dir`
/// with `alg`, classifying `step` packets per call for `iterations` passes; `None` if this CPU cannot
/// run `alg` or the tool failed.
pub fn run(
    dir: &Path,
    memory: &[String],
    alg: AclAlgorithm,
    step: usize,
    iterations: usize,
) -> Option<TestAclRun> {
    let out = Command::new("dpdk-test-acl")
        .args(["-l", "0", "--no-pci"])
        .args(memory)
        .arg(format!("--file-prefix=testacl{}", std::process::id()))
        .args([
            "--force-max-simd-bitwidth=512",
            "--log-level=lib.acl:debug",
            "--",
        ])
        .arg(format!("--rulesf={}", dir.join("rules.txt").display()))
        .arg(format!("--tracef={}", dir.join("trace.txt").display()))
        .args(["--bldcat=1", "--runcat=1", "--verbose=0"])
        .arg(format!("--tracestep={step}"))
        .arg(format!("--iter={iterations}"))
        .arg(format!("--alg={}", alg.name()))
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    parse_output(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::firewall::{Action, PortRange, Prefix};
    use dataplane::packet::IPPROTO_TCP;

    #[test]
    fn rules_and_traces_use_classbench_syntax() {
        let rule = Rule {
            protocol: Some(IPPROTO_TCP),
            dst: Some(Prefix::covering("10.1.2.0".parse().unwrap(), 24)),
            dport: Some(PortRange { lo: 80, hi: 88 }),
            ..Rule::new(Action::Allow)
        };
        assert_eq!(
            rules_file(&[rule, Rule::new(Action::Drop)]),
            "@0.0.0.0/0 10.1.2.0/24 0 : 65535 80 : 88 0x06/0xff\n\
             @0.0.0.0/0 0.0.0.0/0 0 : 65535 0 : 65535 0x00/0x00\n"
        );
        let flow = IpFlow {
            src: "1.2.3.4".parse().unwrap(),
            dst: "10.1.2.3".parse().unwrap(),
            protocol: 1,
            ports: None,
            tcp_flags: None,
        };
        assert_eq!(trace_file(&[flow]), "0x01020304 0x0a010203 0 0 1\n");
    }

    #[test]
    fn output_gives_ns_per_packet_and_memory() {
        let text = "ACL: Gen phase for ACL \"TESTACL\":\nruntime memory footprint on socket -1:\n\
            total: 8784 bytes\nmax limit: 18446744073709551615 bytes\n\
            search_ip5tuples  @lcore 0: 1 iterations, 2 pkts, 1 categories, 4784 cycles (0.00 sec), \
            2392.00 cycles/pkt, 50000000.00 pkt/sec\n";
        assert_eq!(
            parse_output(text),
            Some(TestAclRun {
                ns_per_packet: 20.0,
                memory: 8784
            })
        );
        assert_eq!(parse_output("EAL: Error - exiting with code: 95"), None);
    }
}
