//! Random rule sets and random (partly hostile, QinQ, jumbo) traffic through the real pipeline on two
//! `net_pcap` ports: the frames written out, and every counter, equal the reference model's; the mempool
//! is full again afterwards.

mod common;
mod firewall_support;

use common::{assert_no_leak, eal_with_vdevs};
use dataplane::firewall::synth::{frame_for, overlapping_rule_set, Rng};
use dataplane::firewall::{ReferenceModel, Side};
use dataplane::pipeline::{run, Command, FirewallPorts};
use dataplane::{Mempool, Port};
use firewall_support::{wait_until, PcapPorts};

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
    assert!(
        in_a.iter().chain(&in_b).any(|f| f.len() == 9000),
        "traffic includes jumbo frames"
    );

    let files = PcapPorts::new(&in_a, &in_b, false);
    let [a, b] = files.vdevs();
    let eal = eal_with_vdevs(&[&a, &b]);
    let pool = Mempool::with_data_room(&eal, "fw", 4095, 32, 9216 + 128).unwrap();
    let ports = FirewallPorts {
        a: Port::open(&eal, "net_pcap0").unwrap(),
        b: Port::open(&eal, "net_pcap1").unwrap(),
    };

    let (commands, command_rx) = crossbeam_channel::unbounded();
    let total = (in_a.len() + in_b.len()) as u64;
    let stats = std::thread::scope(|scope| {
        let commands = commands;
        scope.spawn(move || {
            let seen = wait_until(&commands, "every frame judged", |s| s.judged() >= total);
            assert_eq!(seen.judged(), total, "every frame is judged");
            commands.send(Command::Shutdown).unwrap();
        });
        run(&eal, ports, &pool, 1, rules.clone(), command_rx).unwrap()
    });
    assert_no_leak(&pool);

    assert_eq!(stats.by_generation.len(), 1);
    assert_eq!(
        &stats.current,
        model.counters(),
        "rule counters equal the model's"
    );
    assert_eq!(stats.rx().packets, total);
    assert_eq!(stats.tx().packets, (out_a.len() + out_b.len()) as u64);
    let (written_a, written_b) = (files.output("a"), files.output("b"));
    assert_eq!(written_b.len(), out_b.len());
    assert_eq!(written_a.len(), out_a.len());
    assert!(
        written_b == out_b,
        "frames leaving B equal the model's outputs for frames from A"
    );
    assert!(
        written_a == out_a,
        "frames leaving A equal the model's outputs for frames from B"
    );
}

/// A frame larger than an mbuf's data room arrives as a chain of segments; the pipeline drops it unjudged,
/// counts it, and frees the whole chain.
#[test]
fn frames_spanning_several_mbufs_are_dropped_and_counted() {
    let rules = dataplane::firewall::parse_rule_file(r#"{"default": "allow"}"#).unwrap();
    let input = vec![
        firewall_support::frame_210(
            [10, 56, 217, 1],
            dataplane::packet::IPPROTO_UDP,
            1,
            53,
            1400,
        ),
        firewall_support::frame_210(
            [10, 56, 217, 2],
            dataplane::packet::IPPROTO_UDP,
            1,
            53,
            4000,
        ),
    ];
    let files = PcapPorts::new(&input, &[], false);
    let [a, b] = files.vdevs();
    let eal = eal_with_vdevs(&[&a, &b]);
    let pool = Mempool::new(&eal, "fw", 2047, 32).unwrap(); // 2048-byte data room
    let ports = FirewallPorts {
        a: Port::open(&eal, "net_pcap0").unwrap(),
        b: Port::open(&eal, "net_pcap1").unwrap(),
    };
    let (commands, command_rx) = crossbeam_channel::unbounded();
    let stats = std::thread::scope(|scope| {
        scope.spawn(move || {
            wait_until(&commands, "both frames received", |s| s.rx().packets >= 2);
            commands.send(Command::Shutdown).unwrap();
        });
        run(&eal, ports, &pool, 1, rules, command_rx).unwrap()
    });
    assert_no_leak(&pool);
    assert_eq!(stats.cores[0].multi_segment.packets, 1);
    assert_eq!(stats.cores[0].multi_segment.bytes, input[1].len() as u64);
    assert_eq!(stats.judged(), 1);
    assert_eq!(files.output("b"), vec![input[0].clone()]);
}
