//! Criterion: what a worker does with each burst, on VLAN-tagged traffic: parse 32 802.1Q frames and
//! judge them with `Firewall::classify_burst` against a VLAN 210 table of 10, 1 000 and 10 000
//! ClassBench-style rules (acl, fw and ipc shapes, ending in catch-alls), the frames aimed at rules
//! all over the table. Reports ns per frame (HTML reports in `target/criterion`). The rte_acl
//! comparison on parsed flows is the `classifier` bench.

use criterion::{black_box, criterion_group, BenchmarkId, Criterion, Throughput};
use dataplane::firewall::classbench::{rules, traffic, Shape, Wildcards};
use dataplane::firewall::synth::Rng;
use dataplane::firewall::{Action, Firewall, Hit, RuleSet, Side, Table, TableKey, Verdict};
use dataplane::packet::{emit_frame, parse_flow, MacAddr};
use dataplane::{Eal, EalBuilder};
use std::collections::BTreeMap;
use std::time::Duration;

/// Rule counts of the table.
const SIZES: [usize; 3] = [10, 1000, 10000];
/// Frames in each trace: enough to touch rules all over the largest table.
const FRAMES: usize = 4096;
/// Frames per parse-and-classify call, as a worker's rx burst.
const BURST: usize = 32;
/// The VLAN whose table holds the rules (the seed's).
const VLAN: u16 = 210;

/// One table of `n` rules of `shape` for VLAN 210 and tagged frames aimed at them.
fn case(eal: &Eal, shape: Shape, n: usize) -> (Firewall, Vec<Vec<u8>>) {
    let list = rules(&mut Rng::new(n as u64), shape, n, Wildcards::LeftOut);
    let (dst, src) = (MacAddr([2, 0, 0, 0, 0, 2]), MacAddr([2, 0, 0, 0, 0, 1]));
    let frames = traffic(&mut Rng::new(7), &list, FRAMES)
        .into_iter()
        .map(|mut flow| {
            flow.vlan = Some(VLAN);
            emit_frame(&flow, None, dst, src, 6)
        })
        .collect();
    let mut table = Table::new(Action::Drop);
    table.rules = list;
    let set = RuleSet {
        default: Action::Drop,
        tables: BTreeMap::from([(TableKey::Vlan(VLAN), table)]),
    };
    (Firewall::compile(eal, set).expect("compile"), frames)
}

/// Parses and judges `frames` burst by burst; returns how many were allowed.
fn judge(firewall: &Firewall, frames: &[Vec<u8>], verdicts: &mut Vec<Verdict>) -> usize {
    let mut allowed = 0;
    let mut flows = Vec::with_capacity(BURST);
    for burst in frames.chunks(BURST) {
        flows.clear();
        flows.extend(burst.iter().map(|f| parse_flow(black_box(f))));
        firewall.classify_burst(Side::A, &flows, verdicts);
        allowed += verdicts
            .iter()
            .filter(|v| v.action == Action::Allow)
            .count();
    }
    allowed
}

fn bench(c: &mut Criterion) {
    let eal = EalBuilder::new()
        .cores("0")
        .no_pci()
        .no_huge()
        .no_shconf()
        .memory_mb(1024)
        .file_prefix(&format!("classify{}", std::process::id()))
        .log_level("error")
        .init()
        .expect("EAL for the classify bench");
    let mut group = c.benchmark_group("classify_vlan_frames");
    group.throughput(Throughput::Elements(FRAMES as u64));
    for shape in Shape::ALL {
        for n in SIZES {
            let (firewall, frames) = case(&eal, shape, n);
            let mut verdicts = Vec::with_capacity(BURST);
            group
                .sample_size(20)
                .measurement_time(Duration::from_secs(2));
            // Every frame is judged in the VLAN table: none may fall to the global default.
            let mut per_frame = Vec::new();
            for f in &frames {
                firewall.classify_burst(Side::A, &[parse_flow(f)], &mut per_frame);
                assert_ne!(
                    per_frame[0].hit,
                    Hit::NoTable,
                    "{} {n}: a frame missed the table",
                    shape.name()
                );
            }
            let id = BenchmarkId::new(shape.name(), n);
            group.bench_function(id, |b| b.iter(|| judge(&firewall, &frames, &mut verdicts)));
        }
    }
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    // Criterion's HTML report plots draw text with plotters, which needs the font registered.
    ::benches::report::register_font().expect("a font for the report plots");
    benches();
    Criterion::default().configure_from_args().final_summary();
}
