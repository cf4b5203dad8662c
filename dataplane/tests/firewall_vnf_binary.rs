//! The `vlan-firewall` program on two `net_pcap` vdevs with the README's VLAN 210 rules: it forwards and
//! counts, keeps its rules on a bad SIGHUP reload, takes a good one, and on SIGINT mid-traffic exits 0
//! with every mbuf back in the pool.

mod firewall_support;

use dataplane::packet::{parse_flow, IPPROTO_TCP, IPPROTO_UDP};
use firewall_support::{frame_210, PcapPorts};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const RULES: &str = r#"{
  "default": "drop",
  "vlans": {
    "210": {
      "default": "drop",
      "rules": [
        {"name": "dns", "action": "allow", "proto": "udp", "src": "10.56.217.0/24", "dport": "53"},
        {"name": "web", "action": "allow", "direction": "a->b", "proto": "tcp", "dport": "80-443"}
      ]
    }
  }
}"#;

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
        frame_210([10, 56, 218, 9], IPPROTO_UDP, 40000, 53, 18), // wrong subnet: dropped
        frame_210([192, 168, 0, 1], IPPROTO_TCP, 40000, 443, 18), // web: allowed
        frame_210([192, 168, 0, 1], IPPROTO_TCP, 40000, 22, 18), // dropped
    ];
    let files = PcapPorts::new(&input, &[], true);
    let [vdev_a, vdev_b] = files.vdevs();
    let rules_file = files.path("rules.json");
    let good = RULES.to_string();
    std::fs::write(&rules_file, &good).unwrap();
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
        good.replace("10.56.217.0/24", "10.56.217.0/33"),
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

    std::fs::write(
        &rules_file,
        good.replace(
            r#""proto": "tcp", "dport": "80-443""#,
            r#""proto": "tcp", "dport": "22""#,
        ),
    )
    .unwrap();
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

    // Generation 1 let frames 0 and 2 through; generation 2 frames 0 and 3. Nothing else left on B.
    let output = files.output("b");
    assert!(!output.is_empty());
    for f in &output {
        assert!(
            f == &input[0] || f == &input[2] || f == &input[3],
            "unexpected frame {:?}",
            parse_flow(f)
        );
    }
    assert!(
        output.contains(&input[2]) && output.contains(&input[3]),
        "both generations forwarded traffic"
    );
    assert!(
        files.output("a").is_empty(),
        "nothing arrived on B, so nothing leaves A"
    );
}
