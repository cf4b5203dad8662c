//! Shared by the firewall's DPDK tests: two `net_pcap` ports over files in a temporary directory, test
//! frames, and polling the running pipeline's stats.
#![allow(dead_code)]

use crossbeam_channel::{bounded, Sender};
use dataplane::packet::{emit_frame, Flow, IpFlow, MacAddr, ETHERTYPE_IPV4, IPPROTO_TCP};
use dataplane::pcap;
use dataplane::pipeline::{Command, Stats};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Ports A (`net_pcap0`) and B (`net_pcap1`) over files in a temporary directory: queue `q` of side `s`
/// reads `{s}{q}_in.pcap` and writes `{s}{q}_out.pcap`.
pub struct PcapPorts {
    dir: tempfile::TempDir,
    queues: usize,
    loop_a: bool,
}

impl PcapPorts {
    /// One queue per port; with `loop_a`, port A replays its file forever (`infinite_rx`).
    pub fn new(a_in: &[Vec<u8>], b_in: &[Vec<u8>], loop_a: bool) -> PcapPorts {
        Self::with_queues(&[a_in.to_vec()], &[b_in.to_vec()], loop_a)
    }

    /// One queue per input list (both sides need as many).
    pub fn with_queues(a_in: &[Vec<Vec<u8>>], b_in: &[Vec<Vec<u8>>], loop_a: bool) -> PcapPorts {
        assert_eq!(a_in.len(), b_in.len());
        let ports = PcapPorts {
            dir: tempfile::tempdir().unwrap(),
            queues: a_in.len(),
            loop_a,
        };
        for (side, inputs) in [("a", a_in), ("b", b_in)] {
            for (q, frames) in inputs.iter().enumerate() {
                let file =
                    std::fs::File::create(ports.path(&format!("{side}{q}_in.pcap"))).unwrap();
                pcap::write(file, frames).unwrap();
            }
        }
        ports
    }

    /// A file in the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The `--vdev` specs of ports A and B.
    pub fn vdevs(&self) -> [String; 2] {
        let spec = |n: u32, side: &str, extra: &str| {
            let mut spec = format!("net_pcap{n}");
            for q in 0..self.queues {
                let (rx, tx) = (
                    self.path(&format!("{side}{q}_in.pcap")),
                    self.path(&format!("{side}{q}_out.pcap")),
                );
                spec += &format!(",rx_pcap={},tx_pcap={}", rx.display(), tx.display());
            }
            spec + extra
        };
        [
            spec(0, "a", if self.loop_a { ",infinite_rx=1" } else { "" }),
            spec(1, "b", ""),
        ]
    }

    /// Frames written by queue 0 of port `side` ("a" or "b"); complete once the port is closed.
    pub fn output(&self, side: &str) -> Vec<Vec<u8>> {
        self.queue_output(side, 0)
    }

    /// Frames written by queue `q` of port `side`.
    pub fn queue_output(&self, side: &str, q: usize) -> Vec<Vec<u8>> {
        pcap::read(std::fs::File::open(self.path(&format!("{side}{q}_out.pcap"))).unwrap()).unwrap()
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
