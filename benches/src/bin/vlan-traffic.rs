//! The demo's traffic generator: sends the frame kinds of `benches::traffic` into two interfaces (the
//! outside ends of a pod's `net0` and `north`) through DPDK's `net_af_packet` PMD and tells apart what
//! comes back out of the other one.
//!
//! `vlan-traffic --rules FILE --port-a PORT --port-b PORT --count N [--file-prefix P] [--vlan-filter]`
//!
//! A PORT is a kernel interface (opened through `net_af_packet`) or, for both ports, the PCI address
//! of a NIC port bound to a DPDK driver (e.g. SR-IOV VFs on vfio-pci; hugepages, `--in-memory`).
//! `--vlan-filter` asks the devices for the VLANs the rule file has tables for, as `vlan-firewall`
//! does ([`dataplane::Port::set_vlan_filter`]): a VF receives tagged frames only of those VLANs.
//!
//! `vlan-traffic --rules FILE --list [--wire]` only prints the kinds, one `kind <i> <Allow|Drop> <name>
//! (<what decides>)` line each, as the rules' reference model judges them (for scripts that judge a
//! run); `--wire` judges them as sent to PCI ports.
//!
//! On PCI ports the frames go out as a NIC puts them on a wire: padded with zeros to 60 bytes
//! (`benches::traffic::wire_frame_kinds`), since the receiving NIC pads runts anyway.
//!
//! Exact phase: N frames of every kind, paced, then it waits until arrivals settle and prints one
//! `kind <i> sent <n> arrived <m> unexpected <k>` line per kind and `exact done`. Then it reads a line
//! from stdin: `load <seconds>` sends the mix as fast as it can for that long and prints
//! `load seconds <s> sent <n> arrived <m>`; end of input exits.

use benches::traffic::{
    expectations, expectations_of, match_arrival, wire_frame_kinds, Expected, KindTally,
};
use dataplane::firewall::{parse_rule_file, Action, Side, TableKey};
use dataplane::{
    EalBuilder, Mbuf, MbufBatch, Mempool, Port, PortConfig, RxQueue, TxQueue, BURST_SIZE,
};
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

const USAGE: &str =
    "usage: vlan-traffic --rules FILE --port-a PORT --port-b PORT --count N [--file-prefix P] [--vlan-filter]\n       vlan-traffic --rules FILE --list [--wire]";

/// Arrivals have settled when none came for this long.
const SETTLE: Duration = Duration::from_millis(300);

/// Rounds of allowed frames the exact phase lets be on their way at once.
const IN_FLIGHT: u64 = 4;

/// The exact phase sends on after this long without an arrival (the allowed frames may be lost: the
/// verdict will say so).
const STALL: Duration = Duration::from_millis(500);

struct Options {
    rules: String,
    ifaces: [String; 2],
    count: u64,
    file_prefix: String,
    vlan_filter: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let (mut rules, mut a, mut b, mut count) = (None, None, None, None);
    let mut file_prefix = format!("vlan-traffic{}", std::process::id());
    let mut vlan_filter = false;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--vlan-filter" {
            vlan_filter = true;
            continue;
        }
        let value = it
            .next()
            .cloned()
            .ok_or(format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--rules" => rules = Some(value),
            "--port-a" => a = Some(value),
            "--port-b" => b = Some(value),
            "--count" => {
                count = Some(
                    value
                        .parse()
                        .map_err(|_| format!("--count: {value:?} is not a number"))?,
                )
            }
            "--file-prefix" => file_prefix = value,
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let missing = |what: &str| format!("{what} is required\n{USAGE}");
    let ifaces = [
        a.ok_or_else(|| missing("--port-a"))?,
        b.ok_or_else(|| missing("--port-b"))?,
    ];
    if is_pci_address(&ifaces[0]) != is_pci_address(&ifaces[1]) {
        return Err(format!(
            "--port-a {:?} and --port-b {:?}: give two interfaces or two PCI addresses\n{USAGE}",
            ifaces[0], ifaces[1]
        ));
    }
    Ok(Options {
        rules: rules.ok_or_else(|| missing("--rules"))?,
        ifaces,
        count: count.ok_or_else(|| missing("--count"))?,
        file_prefix,
        vlan_filter,
    })
}

/// True for a PCI address, `0000:01:10.0` or `01:10.0`.
fn is_pci_address(name: &str) -> bool {
    let (bus_dev, function) = match name.rsplit_once('.') {
        Some(parts) => parts,
        None => return false,
    };
    let fields: Vec<&str> = bus_dev.split(':').collect();
    let widths: &[usize] = match fields.len() {
        2 => &[2, 2],
        3 => &[4, 2, 2],
        _ => return false,
    };
    let hex = |f: &str, w: usize| f.len() == w && f.chars().all(|c| c.is_ascii_hexdigit());
    fields.iter().zip(widths).all(|(f, &w)| hex(f, w))
        && function.len() == 1
        && matches!(function.as_bytes()[0], b'0'..=b'7')
}

/// One port's queues.
struct Io {
    rx: RxQueue,
    tx: TxQueue,
}

/// Both ports, the pool and the expectations they are judged by.
struct Generator<'a> {
    io: [Io; 2],
    pool: &'a Mempool,
    expected: Vec<Expected>,
    tallies: Vec<KindTally>,
    batch: MbufBatch,
}

fn side(port: usize) -> Side {
    if port == 0 {
        Side::A
    } else {
        Side::B
    }
}

impl Generator<'_> {
    /// Offers one burst of `kinds` (indices, at most a burst) to `port`; the port takes a prefix of
    /// them, which is counted as sent and returned.
    fn send(&mut self, port: usize, kinds: &[usize]) -> Result<usize, String> {
        let mut out = MbufBatch::new();
        for &k in kinds.iter().take(BURST_SIZE) {
            let m = Mbuf::from_bytes(self.pool, &self.expected[k].kind.frame)
                .map_err(|e| e.to_string())?;
            // The batch holds a burst and `kinds` was cut to one: the push cannot fail.
            let _ = out.push(m);
        }
        let offered = out.len();
        self.io[port].tx.tx_burst(&mut out);
        let taken = offered - out.len();
        kinds[..taken]
            .iter()
            .for_each(|&k| self.tallies[k].sent += 1);
        Ok(taken)
    }

    /// Receives what is waiting on both ports; returns the number of recognised arrivals.
    fn receive(&mut self) -> u64 {
        let mut arrived = 0;
        for port in 0..2 {
            while self.io[port].rx.rx_burst(&mut self.batch) > 0 {
                for m in self.batch.drain() {
                    if let Some(a) = match_arrival(&self.expected, side(port), m.data()) {
                        self.tallies[a.index].arrived += 1;
                        self.tallies[a.index].unexpected += u64::from(!a.as_expected);
                        arrived += 1;
                    }
                }
            }
        }
        arrived
    }

    /// `count` rounds of one frame of every kind, then waits for arrivals to settle. Paced by the
    /// path itself: a round goes out only when at most `IN_FLIGHT` rounds of allowed frames have not
    /// come back yet (or `STALL` passed without any arriving), so a firewall or veth that is starved of
    /// CPU for a while (a loaded machine) makes the generator wait rather than overflow its rings.
    fn exact(&mut self, count: u64) -> Result<(), String> {
        let allowed_per_round = self
            .expected
            .iter()
            .filter(|e| e.action == Action::Allow)
            .count() as u64;
        let (mut sent_allowed, mut arrived) = (0u64, 0u64);
        for _ in 0..count {
            let mut last = Instant::now();
            while sent_allowed > arrived + IN_FLIGHT * allowed_per_round && last.elapsed() < STALL {
                let got = self.receive();
                if got > 0 {
                    arrived += got;
                    last = Instant::now();
                } else {
                    std::thread::sleep(Duration::from_micros(100));
                }
            }
            for k in 0..self.expected.len() {
                let port = usize::from(self.expected[k].kind.ingress == Side::B);
                while self.send(port, &[k])? == 0 {
                    arrived += self.receive();
                }
            }
            sent_allowed += allowed_per_round;
            arrived += self.receive();
            std::thread::sleep(Duration::from_micros(200));
        }
        let mut last = Instant::now();
        let deadline = last + Duration::from_secs(5);
        while last.elapsed() < SETTLE && Instant::now() < deadline {
            if self.receive() > 0 {
                last = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    /// Sends the mix back to back for `seconds`; returns (sent, arrived).
    fn load(&mut self, seconds: f64) -> Result<(u64, u64), String> {
        let per_port: Vec<Vec<usize>> = [Side::A, Side::B]
            .iter()
            .map(|&s| {
                let mine = (0..self.expected.len()).filter(|&k| self.expected[k].kind.ingress == s);
                mine.cycle().take(BURST_SIZE).collect()
            })
            .collect();
        let (mut sent, mut arrived) = (0, 0);
        let end = Instant::now() + Duration::from_secs_f64(seconds);
        while Instant::now() < end {
            for (port, kinds) in per_port.iter().enumerate() {
                sent += self.send(port, kinds)? as u64;
            }
            arrived += self.receive();
        }
        let settle_end = Instant::now() + SETTLE;
        while Instant::now() < settle_end {
            arrived += self.receive();
        }
        Ok((sent, arrived))
    }
}

fn open(
    eal: &dataplane::Eal,
    pool: &Mempool,
    name: &str,
    vlans: &[u16],
) -> Result<(Port, Io), String> {
    let fail = |e: dataplane::Error| format!("{name}: {e}");
    let mut port = Port::open(eal, name).map_err(fail)?;
    port.set_vlan_filter(vlans)
        .map_err(|e| format!("--vlan-filter: {e}"))?;
    let (mut rx, mut tx) = port
        .configure(&PortConfig::with_queues(1), pool)
        .map_err(fail)?;
    port.start().map_err(fail)?;
    // A NIC port receives the frames addressed to it (the firewall rewrites destination MACs to the
    // generator's); an interface opened through net_af_packet must take every frame on the veth.
    if !is_pci_address(name) {
        port.set_promiscuous(true).map_err(fail)?;
    }
    Ok((
        port,
        Io {
            rx: rx.remove(0),
            tx: tx.remove(0),
        },
    ))
}

fn run(o: Options) -> Result<(), String> {
    let text = std::fs::read_to_string(&o.rules).map_err(|e| format!("{}: {e}", o.rules))?;
    let rules = parse_rule_file(&text).map_err(|e| format!("{}: {e}", o.rules))?;
    let expected = if is_pci_address(&o.ifaces[0]) {
        expectations_of(&rules, wire_frame_kinds())
    } else {
        expectations(&rules)
    };
    let vlans: Vec<u16> = rules
        .tables
        .keys()
        .filter_map(|key| match key {
            TableKey::Vlan(id) if o.vlan_filter => Some(*id),
            _ => None,
        })
        .collect();
    let mut eal = EalBuilder::new()
        .cores("0")
        .file_prefix(&o.file_prefix)
        .log_level("error");
    let names: Vec<String> = if is_pci_address(&o.ifaces[0]) {
        eal = eal.in_memory();
        for pci in &o.ifaces {
            eal = eal.allow(pci);
        }
        o.ifaces.to_vec()
    } else {
        eal = eal.no_pci().no_huge().no_shconf().memory_mb(128);
        for (i, iface) in o.ifaces.iter().enumerate() {
            eal = eal.vdev(&format!("net_af_packet{i},iface={iface}"));
        }
        vec!["net_af_packet0".into(), "net_af_packet1".into()]
    };
    let eal = eal.init().map_err(|e| e.to_string())?;
    let pool = Mempool::new(&eal, "vlan-traffic", 8191, 256).map_err(|e| e.to_string())?;
    let (port_a, io_a) = open(&eal, &pool, &names[0], &vlans)?;
    let (port_b, io_b) = open(&eal, &pool, &names[1], &vlans)?;
    let tallies = (0..expected.len())
        .map(|index| KindTally {
            index,
            sent: 0,
            arrived: 0,
            unexpected: 0,
        })
        .collect();
    let mut g = Generator {
        io: [io_a, io_b],
        pool: &pool,
        expected,
        tallies,
        batch: MbufBatch::new(),
    };
    g.exact(o.count)?;
    let mut stdout = std::io::stdout().lock();
    for t in &g.tallies {
        writeln!(stdout, "{}", t.line()).map_err(|e| e.to_string())?;
    }
    writeln!(stdout, "exact done")
        .and_then(|_| stdout.flush())
        .map_err(|e| e.to_string())?;
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        let seconds: f64 = match line.strip_prefix("load ").map(str::parse) {
            Some(Ok(s)) => s,
            _ => {
                return Err(format!(
                    "unknown command {line:?} (expected `load <seconds>`)"
                ))
            }
        };
        let (sent, arrived) = g.load(seconds)?;
        writeln!(
            stdout,
            "load seconds {seconds} sent {sent} arrived {arrived}"
        )
        .and_then(|_| stdout.flush())
        .map_err(|e| e.to_string())?;
    }
    drop(g);
    drop((port_a, port_b));
    Ok(())
}

/// Prints every kind with what the rules' reference model makes of it.
fn list_kinds(rules: &str, wire: bool) -> Result<(), String> {
    let text = std::fs::read_to_string(rules).map_err(|e| format!("{rules}: {e}"))?;
    let rules = parse_rule_file(&text).map_err(|e| format!("{rules}: {e}"))?;
    let expected = if wire {
        expectations_of(&rules, wire_frame_kinds())
    } else {
        expectations(&rules)
    };
    for (i, e) in expected.iter().enumerate() {
        println!("kind {i} {:?} {} ({})", e.action, e.kind.name, e.decided_by);
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.iter().any(|a| a == "--list") {
        let wire = args.iter().any(|a| a == "--wire");
        match args.iter().position(|a| a == "--rules") {
            Some(i) if args.len() == 3 + usize::from(wire) && i + 1 < args.len() => {
                list_kinds(&args[i + 1], wire)
            }
            _ => Err(format!(
                "--list takes --rules FILE and maybe --wire\n{USAGE}"
            )),
        }
    } else {
        parse(&args).and_then(run)
    };
    if let Err(e) = result {
        eprintln!("vlan-traffic: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::{is_pci_address, parse};

    #[test]
    fn pci_addresses_are_told_from_interface_names() {
        for pci in ["0000:01:10.0", "01:10.2", "0000:ff:1f.7"] {
            assert!(is_pci_address(pci), "{pci}");
        }
        for name in [
            "eth0",
            "veth-a.210",
            "0000:01:10.8",
            "01:10",
            "0000:01:10.0.1",
            "g0:10.0",
        ] {
            assert!(!is_pci_address(name), "{name}");
        }
    }

    #[test]
    fn ports_must_both_be_interfaces_or_both_pci() {
        let args = |a: &str, b: &str| -> Vec<String> {
            [
                "--rules",
                "r.json",
                "--port-a",
                a,
                "--port-b",
                b,
                "--count",
                "3",
                "--vlan-filter",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        };
        let o = parse(&args("0000:03:10.0", "0000:04:10.0")).unwrap();
        assert!(o.vlan_filter);
        let err = parse(&args("veth-a", "0000:04:10.0")).err().unwrap();
        assert!(err.contains("two interfaces or two PCI addresses"), "{err}");
    }
}
