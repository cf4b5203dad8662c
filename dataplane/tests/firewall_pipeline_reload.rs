//! Hot reload under endless traffic (`net_pcap` with `infinite_rx`): no frame is lost, each is judged by
//! exactly one rule set, the switch happens at one point in the stream, counters of both generations add
//! up, and shutting down mid-traffic leaves the mempool full.

mod common;
mod firewall_support;

use common::{assert_no_leak, eal_with_vdevs};
use crossbeam_channel::bounded;
use dataplane::firewall::{parse_rule_file, RuleSet};
use dataplane::packet::{parse_flow, IPPROTO_UDP};
use dataplane::pipeline::{run, Command, FirewallPorts};
use dataplane::{Mempool, Port};
use firewall_support::{frame_210, stats, wait_until, PcapPorts};

fn rules_translating_to(vlan: u16) -> RuleSet {
    parse_rule_file(&format!(
        r#"{{"default": "drop", "vlans": {{"210": {{"default": "drop",
            "rules": [{{"action": "allow", "proto": "udp", "src": "10.56.217.0/24", "dport": "53"}}],
            "rewrite": {{"a->b": {{"vlan": {vlan}}}}}}}}}}}"#
    ))
    .unwrap()
}

#[test]
fn reload_under_traffic_loses_nothing_and_never_mixes_rule_sets() {
    let input: Vec<Vec<u8>> = (0..500u16)
        .map(|i| {
            frame_210(
                [10, 56, 217, (i % 250) as u8],
                IPPROTO_UDP,
                1024 + i,
                53,
                (i % 40) as usize,
            )
        })
        .collect();
    let files = PcapPorts::new(&input, &[], true);
    let [a, b] = files.vdevs();
    let eal = eal_with_vdevs(&[&a, &b]);
    let pool = Mempool::new(&eal, "fw", 4095, 32).unwrap();
    let ports = FirewallPorts {
        a: Port::open(&eal, "net_pcap0").unwrap(),
        b: Port::open(&eal, "net_pcap1").unwrap(),
    };

    let (commands, command_rx) = crossbeam_channel::unbounded();
    let (final_stats, switched_after) = std::thread::scope(|scope| {
        let control = scope.spawn(move || {
            wait_until(&commands, "traffic under the first rules", |s| {
                s.judged() >= 20_000
            });
            let (reply, generation) = bounded(1);
            commands
                .send(Command::Update {
                    rules: rules_translating_to(302),
                    reply,
                })
                .unwrap();
            assert_eq!(generation.recv().unwrap(), Ok(2));
            let at_switch = stats(&commands);
            let gen1 = at_switch.by_generation[0].1.total().packets;
            wait_until(&commands, "traffic under the second rules", |s| {
                s.current.total().packets >= 20_000
            });
            commands.send(Command::Shutdown).unwrap();
            gen1
        });
        let stats = run(&eal, ports, &pool, 1, rules_translating_to(301), command_rx).unwrap();
        (stats, control.join().unwrap())
    });
    assert_no_leak(&pool);

    let generations: Vec<u64> = final_stats
        .by_generation
        .iter()
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(generations, vec![1, 2]);
    let gen1 = final_stats.by_generation[0].1.total().packets;
    let gen2 = final_stats.by_generation[1].1.total().packets;
    assert_eq!(
        gen1, switched_after,
        "generation 1 counters were final when the update was acknowledged"
    );
    let rx = final_stats.rx().packets;
    assert_eq!(
        gen1 + gen2,
        rx,
        "every received frame was judged by one generation"
    );
    assert_eq!(
        final_stats.tx().packets,
        rx,
        "every frame was allowed and sent: none lost"
    );
    let allowed_by_rule = |g: usize| final_stats.by_generation[g].1.tables[0][0].packets;
    assert_eq!((allowed_by_rule(0), allowed_by_rule(1)), (gen1, gen2));

    let output = files.output("b");
    assert_eq!(output.len() as u64, rx);
    for (i, frame) in output.iter().enumerate() {
        let expected_vlan: u16 = if (i as u64) < gen1 { 301 } else { 302 };
        let mut expected = input[i % input.len()].clone();
        expected[14..16].copy_from_slice(&expected_vlan.to_be_bytes());
        assert!(
            frame == &expected,
            "frame {i}: {:?}, want VLAN {expected_vlan}",
            parse_flow(frame).map(|f| f.vlan)
        );
    }
}

/// The numbers of the `core 0:` line of a stats printout, in order: rx, tx, then every drop reason.
fn core_line_numbers(printed: &str) -> Vec<u64> {
    let line = printed
        .lines()
        .find(|l| l.trim_start().starts_with("core 0:"))
        .unwrap_or_else(|| panic!("no core line in:\n{printed}"));
    line.split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap())
        .skip(1) // the core number
        .collect()
}

#[test]
fn drops_by_reason_stay_cumulative_across_a_reload() {
    // 420 frames, 168 allowed: dns (rule 0), the rest dropped by the telnet rule and by the default.
    let input: Vec<Vec<u8>> = (0..420u16)
        .map(|i| match i % 5 {
            0 | 1 => frame_210([10, 56, 217, 9], IPPROTO_UDP, 40000 + i, 53, 18),
            2 => frame_210(
                [10, 56, 217, 9],
                dataplane::packet::IPPROTO_TCP,
                40000,
                23,
                18,
            ),
            _ => frame_210([10, 56, 218, 9], IPPROTO_UDP, 40000 + i, 53, 18),
        })
        .collect();
    let files = PcapPorts::new(&input, &[], false);
    let [a, b] = files.vdevs();
    let eal = eal_with_vdevs(&[&a, &b]);
    let pool = Mempool::new(&eal, "fw", 4095, 32).unwrap();
    let ports = FirewallPorts {
        a: Port::open(&eal, "net_pcap0").unwrap(),
        b: Port::open(&eal, "net_pcap1").unwrap(),
    };
    let rules = || parse_rule_file(include_str!("firewall_rules_vlan210.json")).unwrap();
    let (commands, command_rx) = crossbeam_channel::unbounded();
    let final_stats = std::thread::scope(|scope| {
        scope.spawn(move || {
            wait_until(&commands, "every frame judged", |s| s.judged() == 420);
            let (reply, generation) = bounded(1);
            commands
                .send(Command::Update {
                    rules: rules(),
                    reply,
                })
                .unwrap();
            assert_eq!(generation.recv().unwrap(), Ok(2));
            commands.send(Command::Shutdown).unwrap();
        });
        run(&eal, ports, &pool, 1, rules(), command_rx).unwrap()
    });
    assert_no_leak(&pool);

    assert_eq!(final_stats.generation, 2);
    let (rx, tx) = (final_stats.rx().packets, final_stats.tx().packets);
    assert_eq!((rx, tx), (420, 168));
    let core = &final_stats.cores[0];
    assert_eq!(core.dropped.by_rule.packets, 84, "telnet");
    assert_eq!(core.dropped.by_default.packets, 168, "other subnet");
    assert_eq!(core.dropped.total().packets, rx - tx);
    assert_eq!(final_stats.dropped(), core.dropped);
    let printed = core_line_numbers(&final_stats.to_string());
    assert_eq!(printed[..2], [420, 168], "{final_stats}");
    assert_eq!(
        printed[2..8].iter().sum::<u64>(),
        252,
        "rx = tx + every drop reason in the printout:\n{final_stats}"
    );
    // Rule counters restart with the new generation; the first one holds the whole traffic.
    assert_eq!(final_stats.by_generation[0].1.total().packets, 420);
    assert_eq!(final_stats.current.total().packets, 0);
}
