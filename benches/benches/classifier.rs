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

/// Nanoseconds per packet of one run of `pass` over `packets` packets.
fn ns_per_packet(packets: usize, pass: impl FnOnce() -> usize) -> f64 {
    let start = Instant::now();
    black_box(pass());
    start.elapsed().as_nanos() as f64 / packets as f64
}

/// Minimum and median of the samples.
fn min_median(samples: &mut [f64]) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    (samples[0], samples[samples.len() / 2])
}

fn print_row(label: &str, small: &mut [f64], large: &mut [f64]) {
    let ((small_min, small_median), (large_min, large_median)) =
        (min_median(small), min_median(large));
    println!(
        "  {label:<38} {small_min:>7.1} {large_min:>8.1} {:>6.2}   {small_median:>7.1} {large_median:>8.1} {:>6.2}",
        large_min / small_min,
        large_median / small_median
    );
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
    let mut group = c.benchmark_group("firewall/compile");
    group.sample_size(10);
    for case in [&small, &large] {
        group.bench_function(&case.name, |b| {
            b.iter(|| Firewall::compile(case.rules.clone()))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("firewall/10000 rules");
    group.throughput(Throughput::Elements(large.frames.len() as u64));
    group.sample_size(10);
    let mut model = ReferenceModel::new(large.rules.clone());
    group.bench_function("reference linear scan", |b| {
        b.iter(|| model_pass(&large, &mut model))
    });
    group.finish();

    // The comparison the claim rests on: the two cases alternate pass by pass, so both see the same
    // machine; the minimum is the cost without interference, the median the typical one.
    let rounds = 201;
    let mut lookup = [Vec::new(), Vec::new()];
    let mut classify = [Vec::new(), Vec::new()];
    for _ in 0..rounds {
        for (i, case) in [&small, &large].into_iter().enumerate() {
            lookup[i].push(ns_per_packet(case.flows.len(), || lookup_pass(case)));
            classify[i].push(ns_per_packet(case.frames.len(), || classify_pass(case)));
        }
    }
    let mut linear = [Vec::new(), Vec::new()];
    for (i, case) in [&small, &large].into_iter().enumerate() {
        let mut model = ReferenceModel::new(case.rules.clone());
        for _ in 0..5 {
            linear[i].push(ns_per_packet(case.frames.len(), || {
                model_pass(case, &mut model)
            }));
        }
    }
    let [lookup_small, lookup_large] = &mut lookup;
    let [classify_small, classify_large] = &mut classify;
    let [linear_small, linear_large] = &mut linear;
    println!();
    println!("classifier scaling, ns/packet, one run     ---------- min ----------   -------- median ---------");
    println!("  (target: 10000-rule cost <= 2x 10-rule)   10 rules  10000  ratio   10 rules  10000  ratio");
    print_row("compiled lookup (parsed flow)", lookup_small, lookup_large);
    print_row(
        "compiled parse + lookup (raw frame)",
        classify_small,
        classify_large,
    );
    print_row(
        "reference linear scan (baseline)",
        linear_small,
        linear_large,
    );
    println!(
        "  median speedup of compiled parse + lookup over the linear scan at 10000 rules: {:.0}x",
        min_median(linear_large).1 / min_median(classify_large).1
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
