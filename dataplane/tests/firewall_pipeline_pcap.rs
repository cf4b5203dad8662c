//! Random rule sets and random (partly hostile, QinQ, jumbo) traffic through the real pipeline on two
//! `net_pcap` ports: the frames written out, and every counter, equal the reference model's; the mempool
//! is full again afterwards.

mod common;

use common::{assert_no_leak, eal_with_vdevs};
use crossbeam_channel::bounded;
use dataplane::firewall::synth::{frame_for, overlapping_rule_set, Rng};
use dataplane::firewall::{ReferenceModel, Side};
use dataplane::pipeline::{run, Command, FirewallPorts, Stats};
use dataplane::{pcap, Mempool, Port};
use std::time::{Duration, Instant};

/// Asks for stats until `done` holds or 60 s pass.
fn wait_for(commands: &crossbeam_channel::Sender<Command>, done: impl Fn(&Stats) -> bool) -> Stats {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (reply, rx) = bounded(1);
        commands.send(Command::Stats { reply }).unwrap();
        let stats = rx.recv().unwrap();
        if done(&stats) || Instant::now() > deadline {
            return stats;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn pcap_through_the_pipeline_equals_the_model() {
    let mut rng = Rng::new(42);
    let rules = overlapping_rule_set(&mut rng, 4, 60);
    let mut model = ReferenceModel::new(rules.clone());
    let (mut in_a, mut in_b, mut out_a, mut out_b) = (vec![], vec![], vec![], vec![]);
    for _ in 0..4000 {
        let (side, frame) = frame_for(&mut rng, &rules);
        let (_, output) = model.process(side, &frame);
        let (input, other_side_output) = match side {
            Side::A => (&mut in_a, &mut out_b),
            Side::B => (&mut in_b, &mut out_a),
        };
        input.push(frame);
        other_side_output.extend(output);
    }
    assert!(in_a.iter().chain(&in_b).any(|f| f.len() == 9000), "traffic includes jumbo frames");

    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    pcap::write(std::fs::File::create(path("a_in.pcap")).unwrap(), &in_a).unwrap();
    pcap::write(std::fs::File::create(path("b_in.pcap")).unwrap(), &in_b).unwrap();
    let vdev = |n: u32, side: &str| {
        format!(
            "net_pcap{n},rx_pcap={},tx_pcap={}",
            path(&format!("{side}_in.pcap")).display(),
            path(&format!("{side}_out.pcap")).display()
        )
    };
    let eal = eal_with_vdevs(&[&vdev(0, "a"), &vdev(1, "b")]);
    let pool = Mempool::with_data_room(&eal, "fw", 4095, 32, 9216 + 128).unwrap();
    let ports = FirewallPorts { a: Port::open(&eal, "net_pcap0").unwrap(), b: Port::open(&eal, "net_pcap1").unwrap() };

    let (commands, command_rx) = crossbeam_channel::unbounded();
    let total = (in_a.len() + in_b.len()) as u64;
    let stats = std::thread::scope(|scope| {
        let commands = commands;
        scope.spawn(move || {
            let seen = wait_for(&commands, |s| s.judged() >= total);
            assert_eq!(seen.judged(), total, "every frame is judged");
            commands.send(Command::Shutdown).unwrap();
        });
        run(&eal, ports, &pool, 1, rules.clone(), command_rx).unwrap()
    });
    assert_no_leak(&pool);

    assert_eq!(stats.by_generation.len(), 1);
    assert_eq!(&stats.current, model.counters(), "rule counters equal the model's");
    assert_eq!(stats.rx().packets, total);
    assert_eq!(stats.tx().packets, (out_a.len() + out_b.len()) as u64);
    let written_a = pcap::read(std::fs::File::open(path("a_out.pcap")).unwrap()).unwrap();
    let written_b = pcap::read(std::fs::File::open(path("b_out.pcap")).unwrap()).unwrap();
    assert_eq!(written_b.len(), out_b.len());
    assert_eq!(written_a.len(), out_a.len());
    assert!(written_b == out_b, "frames leaving B equal the model's outputs for frames from A");
    assert!(written_a == out_a, "frames leaving A equal the model's outputs for frames from B");
}
