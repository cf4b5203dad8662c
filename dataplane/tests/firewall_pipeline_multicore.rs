//! Two worker lcores, each owning one queue pair of both `net_pcap` ports (queue `i` of each port reads
//! and writes its own file): every queue's output equals the reference model's, the per-core counters
//! add up to the model's, and the mempool is full afterwards.

mod common;
mod firewall_support;

use common::assert_no_leak;
use dataplane::firewall::synth::{frame_for, overlapping_rule_set, Rng};
use dataplane::firewall::{ReferenceModel, Side};
use dataplane::pipeline::{run, Command, FirewallPorts};
use dataplane::{EalBuilder, Mempool, Port};
use firewall_support::{wait_until, PcapPorts};

const QUEUES: usize = 2;

#[test]
fn two_cores_each_with_a_queue_pair_equal_the_model() {
    let mut rng = Rng::new(7);
    let rules = overlapping_rule_set(&mut rng, 4, 60);
    let mut model = ReferenceModel::new(rules.clone());
    let mut inputs = [vec![vec![]; QUEUES], vec![vec![]; QUEUES]];
    let mut expected = [vec![vec![]; QUEUES], vec![vec![]; QUEUES]];
    for i in 0..3000 {
        let (side, frame) = frame_for(&mut rng, &rules);
        let (_, output) = model.process(side, &frame);
        let (from, to) = if side == Side::A { (0, 1) } else { (1, 0) };
        expected[to][i % QUEUES].extend(output);
        inputs[from][i % QUEUES].push(frame);
    }
    let files = PcapPorts::with_queues(&inputs[0], &inputs[1], false);
    let [a, b] = files.vdevs();
    // Three lcores (main + two workers) on the machine's CPUs 0 and 1.
    let eal = EalBuilder::new()
        .arg("--lcores=0@0,1@1,2@1")
        .no_pci()
        .no_huge()
        .no_shconf()
        .memory_mb(256)
        .file_prefix(&format!("fwmc{}", std::process::id()))
        .log_level("error")
        .vdev(&a)
        .vdev(&b)
        .init()
        .unwrap();
    assert_eq!(eal.worker_lcores().len(), QUEUES);
    let pool = Mempool::with_data_room(&eal, "fw", 8191, 32, 9216 + 128).unwrap();
    let ports = FirewallPorts {
        a: Port::open(&eal, "net_pcap0").unwrap(),
        b: Port::open(&eal, "net_pcap1").unwrap(),
    };

    let total: u64 = inputs.iter().flatten().map(|q| q.len() as u64).sum();
    let (commands, command_rx) = crossbeam_channel::unbounded();
    let stats = std::thread::scope(|scope| {
        scope.spawn(move || {
            wait_until(&commands, "every frame judged", |s| s.judged() >= total);
            commands.send(Command::Shutdown).unwrap();
        });
        run(&eal, ports, &pool, QUEUES, rules.clone(), command_rx).unwrap()
    });
    assert_no_leak(&pool);

    assert_eq!(stats.cores.len(), QUEUES);
    for (q, core) in stats.cores.iter().enumerate() {
        let queue_frames = (inputs[0][q].len() + inputs[1][q].len()) as u64;
        assert_eq!(
            core.rx.packets, queue_frames,
            "core {q} polled exactly its own queues"
        );
    }
    assert_eq!(
        &stats.current,
        model.counters(),
        "per-core rule counters add up to the model's"
    );
    for (name, expected) in ["a", "b"].into_iter().zip(&expected) {
        for (q, frames) in expected.iter().enumerate() {
            assert!(
                &files.queue_output(name, q) == frames,
                "port {name} queue {q} output equals the model's"
            );
        }
    }
}
