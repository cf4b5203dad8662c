//! The `vlan-firewall` program on two `net_pcap` vdevs with the README's VLAN 210 rules: it forwards and
//! counts, keeps its rules on a bad SIGHUP reload, takes a good one, and on SIGINT mid-traffic exits 0
//! with every mbuf back in the pool.

mod firewall_support;

use dataplane::firewall::{parse_rule_file, ReferenceModel, Side};
use dataplane::packet::{parse_flow, IPPROTO_TCP, IPPROTO_UDP};
use firewall_support::{frame_210, PcapPorts};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The README's example for the seed's scenario.
const RULES: &str = include_str!("firewall_rules_vlan210.json");

/// What `rules` makes of `frame` arriving on port A: the frame leaving B, if any.
fn judged(rules: &str, frame: &[u8]) -> Option<Vec<u8>> {
    ReferenceModel::new(parse_rule_file(rules).unwrap())
        .process(Side::A, frame)
        .1
}

/// Collects the child's stderr and stdout lines on one channel.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let out = BufReader::new(child.stdout.take().unwrap());
    let err = BufReader::new(child.stderr.take().unwrap());
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        out.lines()
            .map_while(Result::ok)
            .for_each(|l| drop(tx.send(l)))
    });
    std::thread::spawn(move || {
        err.lines()
            .map_while(Result::ok)
            .for_each(|l| drop(tx2.send(l)))
    });
    rx
}

/// Reads lines until one contains `needle`; returns everything read.
fn expect_line(lines: &mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(100)) {
            let found = line.contains(needle);
            seen.push(line);
            if found {
                return;
            }
        }
    }
    panic!(
        "no line containing {needle:?}; output so far:\n{}",
        seen.join("\n")
    );
}

fn signal(child: &Child, signal: Signal) {
    kill(Pid::from_raw(child.id() as i32), signal).unwrap();
}

#[test]
fn runs_reloads_and_shuts_down_cleanly() {
    let input = vec![
        frame_210([10, 56, 217, 9], IPPROTO_UDP, 40000, 53, 18), // dns: allowed
        frame_210([10, 56, 218, 9], IPPROTO_UDP, 40000, 53, 18), // other subnet: dropped
        frame_210([10, 56, 217, 1], IPPROTO_TCP, 40000, 443, 18), // web out: allowed
        frame_210([10, 56, 217, 1], IPPROTO_TCP, 40000, 22, 18), // dropped, until the reload
    ];
    let files = PcapPorts::new(&input, &[], true);
    let [vdev_a, vdev_b] = files.vdevs();
    let rules_file = files.path("rules.json");
    std::fs::write(&rules_file, RULES).unwrap();
    let prefix = format!("fwbin{}", std::process::id());
    let mut child = Command::new(env!("CARGO_BIN_EXE_vlan-firewall"))
        .args([
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
        .args([
            "--file-prefix",
            &prefix,
            "--vdev",
            &vdev_a,
            "--vdev",
            &vdev_b,
            "--",
        ])
        .args([
            "--rules",
            rules_file.to_str().unwrap(),
            "--port-a",
            "net_pcap0",
            "--port-b",
            "net_pcap1",
        ])
        .args(["--stats-interval", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = lines(&mut child);
    let mut seen = Vec::new();
    expect_line(&out, "rules gen 1: rx", &mut seen);
    expect_line(&out, "rule 0 dns Allow", &mut seen);

    std::fs::write(
        &rules_file,
        RULES.replacen("10.56.217.0/24", "10.56.217.0/33", 1),
    )
    .unwrap();
    signal(&child, Signal::SIGHUP);
    expect_line(
        &out,
        r#"reload failed, keeping the running rules: "#,
        &mut seen,
    );
    assert!(
        seen.last()
            .unwrap()
            .contains(r#"vlans."210".rules[0].src: prefix length /33 is out of range"#),
        "{seen:?}"
    );

    // Web out now means ssh out.
    let reloaded = RULES.replacen(r#""dport": "443""#, r#""dport": "22""#, 1);
    std::fs::write(&rules_file, &reloaded).unwrap();
    signal(&child, Signal::SIGHUP);
    expect_line(&out, "rules generation 2", &mut seen);
    expect_line(&out, "rules gen 2: rx", &mut seen);

    signal(&child, Signal::SIGINT);
    expect_line(&out, "mbufs in use after shutdown: 0 of", &mut seen);
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "exit {status:?}; output:\n{}",
        seen.join("\n")
    );
    assert!(seen.iter().any(|l| l.starts_with("final:")), "{seen:?}");

    // Generation 1 let frames 0 and 2 through, generation 2 frames 0 and 3, each rewritten as the
    // model says (the table's a->b destination MAC); nothing else leaves B.
    let before: Vec<Vec<u8>> = input.iter().filter_map(|f| judged(RULES, f)).collect();
    let after: Vec<Vec<u8>> = input.iter().filter_map(|f| judged(&reloaded, f)).collect();
    assert_eq!((before.len(), after.len()), (2, 2));
    let output = files.output("b");
    for f in &output {
        assert!(
            before.contains(f) || after.contains(f),
            "unexpected frame {:?}",
            parse_flow(f)
        );
    }
    assert!(
        output.contains(&before[1]) && output.contains(&after[1]),
        "both generations forwarded traffic"
    );
    assert!(
        files.output("a").is_empty(),
        "nothing arrived on B, so nothing leaves A"
    );
}
