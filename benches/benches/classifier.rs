//! Classifier scaling: per-packet cost of the compiled firewall with 10 and with 10 000 rules in a VLAN
//! (the target is a ratio of at most 2), against the reference model's linear scan as the baseline.
//!
//! Criterion measures each case; afterwards the same cases are timed again in alternating rounds and the
//! medians are printed with their ratios, so the numbers compared come from one run on one machine.

use criterion::{black_box, criterion_group, Criterion, Throughput};
use dataplane::firewall::synth::{acl_rule_set, frame_for, Rng};
use dataplane::firewall::{Firewall, ReferenceModel, RuleSet, Side};
use dataplane::packet::{parse_flow, Flow};
use std::time::Instant;

const FRAMES: usize = 4096;

struct Case {
    name: String,
    firewall: Firewall,
    rules: RuleSet,
    frames: Vec<(Side, Vec<u8>)>,
    flows: Vec<(Side, Flow)>,
}

fn case(rules: usize, seed: u64) -> Case {
    let mut rng = Rng::new(seed);
    let set = acl_rule_set(&mut rng, rules);
    let frames: Vec<_> = (0..FRAMES).map(|_| frame_for(&mut rng, &set)).collect();
    let flows = frames
        .iter()
        .filter_map(|(side, f)| parse_flow(f).ok().map(|flow| (*side, flow)))
        .collect();
    Case {
        name: format!("{rules} rules"),
        firewall: Firewall::compile(set.clone()),
        rules: set,
        frames,
        flows,
    }
}

fn lookup_pass(c: &Case) -> usize {
    c.flows
        .iter()
        .filter(|(side, flow)| {
            c.firewall.classify_flow(*side, flow).action == dataplane::firewall::Action::Allow
        })
        .count()
}

fn classify_pass(c: &Case) -> usize {
    c.frames
        .iter()
        .filter(|(side, f)| {
            c.firewall.classify(*side, f).action == dataplane::firewall::Action::Allow
        })
        .count()
}

fn model_pass(c: &Case, model: &mut ReferenceModel) -> usize {
    c.frames
        .iter()
        .filter(|(side, f)| model.process(*side, f).1.is_some())
        .count()
}

/// Median nanoseconds per packet of `pass` over `rounds` runs.
fn ns_per_packet(rounds: usize, packets: usize, mut pass: impl FnMut() -> usize) -> f64 {
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            black_box(pass());
            start.elapsed().as_nanos() as f64 / packets as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[rounds / 2]
}

fn bench(c: &mut Criterion) {
    let small = case(10, 7);
    let large = case(10_000, 7);
    for case in [&small, &large] {
        let stats = case.firewall.tree_stats()[0];
        eprintln!(
            "{}: cut nodes {}, leaf refs {}, depth {}, largest leaf {}",
            case.name, stats.cuts, stats.leaf_refs, stats.depth, stats.max_leaf
        );
        let mut group = c.benchmark_group(format!("firewall/{}", case.name));
        group.throughput(Throughput::Elements(case.flows.len() as u64));
        group.bench_function("lookup", |b| b.iter(|| lookup_pass(case)));
        group.throughput(Throughput::Elements(case.frames.len() as u64));
        group.bench_function("parse+lookup", |b| b.iter(|| classify_pass(case)));
        group.finish();
    }
    let mut group = c.benchmark_group("firewall/10000 rules");
    group.throughput(Throughput::Elements(large.frames.len() as u64));
    group.sample_size(10);
    let mut model = ReferenceModel::new(large.rules.clone());
    group.bench_function("reference linear scan", |b| {
        b.iter(|| model_pass(&large, &mut model))
    });
    group.finish();

    // The comparison the claim rests on: alternate the cases round by round and take medians.
    let rounds = 31;
    let (mut lookup, mut classify) = ([0.0; 2], [0.0; 2]);
    for _ in 0..3 {
        for (i, case) in [&small, &large].iter().enumerate() {
            lookup[i] = ns_per_packet(rounds, case.flows.len(), || lookup_pass(case));
            classify[i] = ns_per_packet(rounds, case.frames.len(), || classify_pass(case));
        }
    }
    let mut model_small = ReferenceModel::new(small.rules.clone());
    let mut model_large = ReferenceModel::new(large.rules.clone());
    let linear_small = ns_per_packet(5, small.frames.len(), || {
        model_pass(&small, &mut model_small)
    });
    let linear_large = ns_per_packet(5, large.frames.len(), || {
        model_pass(&large, &mut model_large)
    });
    println!();
    println!("classifier scaling (median ns/packet, same run)       10 rules   10000 rules   ratio (target <= 2.0)");
    println!(
        "  compiled lookup (parsed flow)                     {:>9.1}   {:>11.1}   {:>5.2}",
        lookup[0],
        lookup[1],
        lookup[1] / lookup[0]
    );
    println!(
        "  compiled parse + lookup (raw frame)               {:>9.1}   {:>11.1}   {:>5.2}",
        classify[0],
        classify[1],
        classify[1] / classify[0]
    );
    println!(
        "  reference model linear scan (baseline)            {:>9.1}   {:>11.1}   {:>5.2}",
        linear_small,
        linear_large,
        linear_large / linear_small
    );
    println!(
        "  speedup of compiled over linear at 10000 rules: {:.0}x",
        linear_large / classify[1]
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
