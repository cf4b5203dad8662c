//! Shared by the firewall's DPDK tests: two `net_pcap` ports over files in a temporary directory, test
//! frames, and polling the running pipeline's stats.
#![allow(dead_code)]

use crossbeam_channel::{bounded, Sender};
use dataplane::packet::{emit_frame, Flow, IpFlow, MacAddr, ETHERTYPE_IPV4, IPPROTO_TCP};
use dataplane::pcap;
use dataplane::pipeline::{Command, Stats};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Ports A (`net_pcap0`) and B (`net_pcap1`) reading `a_in.pcap`/`b_in.pcap` and writing
/// `a_out.pcap`/`b_out.pcap` in a temporary directory.
pub struct PcapPorts {
    dir: tempfile::TempDir,
    loop_a: bool,
}

impl PcapPorts {
    /// Writes the input files; with `loop_a`, port A replays its file forever (`infinite_rx`).
    pub fn new(a_in: &[Vec<u8>], b_in: &[Vec<u8>], loop_a: bool) -> PcapPorts {
        let ports = PcapPorts {
            dir: tempfile::tempdir().unwrap(),
            loop_a,
        };
        pcap::write(
            std::fs::File::create(ports.path("a_in.pcap")).unwrap(),
            a_in,
        )
        .unwrap();
        pcap::write(
            std::fs::File::create(ports.path("b_in.pcap")).unwrap(),
            b_in,
        )
        .unwrap();
        ports
    }

    /// A file in the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The `--vdev` specs of ports A and B.
    pub fn vdevs(&self) -> [String; 2] {
        let spec = |n: u32, side: &str, extra: &str| {
            let (rx, tx) = (
                self.path(&format!("{side}_in.pcap")),
                self.path(&format!("{side}_out.pcap")),
            );
            format!(
                "net_pcap{n},rx_pcap={},tx_pcap={}{extra}",
                rx.display(),
                tx.display()
            )
        };
        [
            spec(0, "a", if self.loop_a { ",infinite_rx=1" } else { "" }),
            spec(1, "b", ""),
        ]
    }

    /// Frames written by port `side` ("a" or "b"); complete once the port is closed.
    pub fn output(&self, side: &str) -> Vec<Vec<u8>> {
        pcap::read(std::fs::File::open(self.path(&format!("{side}_out.pcap"))).unwrap()).unwrap()
    }
}

/// A UDP or TCP (SYN) frame in VLAN 210 from `src` to 10.0.0.1, port 40000 to `dport`.
pub fn frame_210(src: [u8; 4], protocol: u8, sport: u16, dport: u16, payload: usize) -> Vec<u8> {
    let tcp_flags = (protocol == IPPROTO_TCP).then_some(0x02);
    let ip = IpFlow {
        src: src.into(),
        dst: [10, 0, 0, 1].into(),
        protocol,
        ports: Some((sport, dport)),
        tcp_flags,
    };
    let flow = Flow {
        vlan: Some(210),
        ethertype: ETHERTYPE_IPV4,
        ip: Some(ip),
    };
    emit_frame(
        &flow,
        None,
        MacAddr([2, 0, 0, 0, 0, 1]),
        MacAddr([2, 0, 0, 0, 0, 2]),
        payload,
    )
}

/// A stats snapshot of the running pipeline.
pub fn stats(commands: &Sender<Command>) -> Stats {
    let (reply, rx) = bounded(1);
    commands.send(Command::Stats { reply }).unwrap();
    rx.recv().unwrap()
}

/// Polls stats until `done` holds; fails the test after 60 s.
pub fn wait_until(commands: &Sender<Command>, what: &str, done: impl Fn(&Stats) -> bool) -> Stats {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = stats(commands);
        if done(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {s}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}
