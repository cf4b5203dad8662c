//! The firewall's classifier against DPDK's rte_acl on ClassBench-shaped rule sets (acl, fw, ipc at
//! 10 / 1 000 / 10 000 rules ending in catch-alls): ns/packet classifying bursts of 32 parsed flows,
//! memory and compile (= SIGHUP reload) time, next to `dpdk-test-acl` on the same rules and trace
//! (every `--alg` this CPU runs, 32 packets per call) and rte_acl's build of the same rules in DPDK's own
//! 5-tuple layout through the FFI. Prints met / not met, for wildcards left out and spelled out, for:
//! ns/packet <= the best `dpdk-test-acl` method, memory <= rte_acl's (DPDK heap taken by the build, both
//! sides measured alike), compile time <= rte_acl's build time.
//!
//! Criterion measures each case's burst classification; the table is measured in alternating rounds
//! (ours and rte_acl alone in this process pass by pass, then each `dpdk-test-acl` method) so both
//! sides see the same machine, and reports medians. A free argument (criterion's filter, e.g.
//! `-- "fw 10000"`) limits the cases.

use benches::eal_memory;
use benches::test_acl::{self, TestAclRun};
use criterion::{black_box, criterion_group, Criterion, Throughput};
use dataplane::firewall::classbench::{rule_set, rules, traffic, Shape, Wildcards};
use dataplane::firewall::synth::Rng;
use dataplane::firewall::{
    AclAlgorithm, Firewall, FiveTupleAcl, FiveTupleKey, Rule, Side, Verdict,
};
use dataplane::packet::{Flow, IpFlow, ParseError};
use dataplane::{Eal, EalBuilder};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Flows in each trace.
const FLOWS: usize = 8192;
/// Flows per classify call, ours and `dpdk-test-acl`'s.
const BURST: usize = 32;
/// Alternating measurement rounds.
const ROUNDS: usize = 3;
/// EAL memory of the bench's process and of each `dpdk-test-acl` run on hugepages (MB): every case's
/// classifiers stay built, the largest about 45 MB.
const BENCH_MB: u32 = 600;
const TEST_ACL_MB: u32 = 200;

struct Case {
    name: String,
    rules: Vec<Rule>,
    /// The same rules with wildcards spelled out (`0.0.0.0/0`, `0-65535`).
    spelled: Vec<Rule>,
    flows: Vec<Result<Flow, ParseError>>,
    firewall: Firewall,
    firewall_spelled: Firewall,
    dir: PathBuf,
}

fn case(eal: &Eal, shape: Shape, n: usize, seed: u64) -> Case {
    let draw = |wildcards| rules(&mut Rng::new(seed), shape, n, wildcards);
    let (rules, spelled) = (draw(Wildcards::LeftOut), draw(Wildcards::SpelledOut));
    let flows = traffic(&mut Rng::new(seed ^ 0xf10), &rules, FLOWS);
    let dir = std::env::temp_dir().join(format!(
        "classifier-bench-{}-{}-{n}",
        std::process::id(),
        shape.name()
    ));
    std::fs::create_dir_all(&dir).expect("bench temp dir");
    let ips: Vec<_> = flows.iter().filter_map(|f| f.ip).collect();
    std::fs::write(dir.join("rules.txt"), test_acl::rules_file(&rules)).expect("rules file");
    std::fs::write(dir.join("trace.txt"), test_acl::trace_file(&ips)).expect("trace file");
    let compile =
        |rules: &[Rule]| Firewall::compile(eal, rule_set(rules.to_vec())).expect("compile");
    Case {
        name: format!("{} {n}", shape.name()),
        firewall: compile(&rules),
        firewall_spelled: compile(&spelled),
        rules,
        spelled,
        flows: flows.into_iter().map(Ok).collect(),
        dir,
    }
}

/// One pass over the trace in bursts; returns the allowed count so nothing is optimised away.
fn pass(
    firewall: &Firewall,
    flows: &[Result<Flow, ParseError>],
    verdicts: &mut Vec<Verdict>,
) -> usize {
    let mut allowed = 0;
    for burst in flows.chunks(BURST) {
        firewall.classify_burst(Side::A, burst, verdicts);
        allowed += verdicts
            .iter()
            .filter(|v| v.action == dataplane::firewall::Action::Allow)
            .count();
    }
    allowed
}

/// One pass of rte_acl alone (DPDK's 5-tuple layout, through the FFI) over the trace in bursts.
fn rte_acl_pass(acl: &FiveTupleAcl, ips: &[IpFlow], rules: &mut Vec<Option<usize>>) -> usize {
    ips.chunks(BURST)
        .map(|burst| {
            acl.classify(burst, rules);
            rules.iter().flatten().count()
        })
        .sum()
}

/// Median ns/packet of `passes` runs of `pass` over `packets` packets.
fn ns_per_packet(packets: usize, passes: usize, mut pass: impl FnMut() -> usize) -> f64 {
    let mut samples: Vec<f64> = (0..passes)
        .map(|_| {
            let start = Instant::now();
            black_box(pass());
            start.elapsed().as_nanos() as f64 / packets as f64
        })
        .collect();
    median(&mut samples)
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Minimum of `times` runs of `f`.
fn fastest<T>(times: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..times)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .min()
        .expect("at least one run")
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT MET"
    }
}

/// The comparison table for one case; `dpdk-test-acl` runs with the EAL memory arguments `memory`.
fn compare(eal: &Eal, memory: &[String], case: &Case) {
    let ours_alg = case.firewall.algorithm().map_or("-", AclAlgorithm::name);
    let mut verdicts = Vec::with_capacity(BURST);
    let mut classify = |firewall: &Firewall, passes| {
        ns_per_packet(case.flows.len(), passes, || {
            pass(firewall, &case.flows, &mut verdicts)
        })
    };
    let ours_once = classify(&case.firewall, 5);
    let iterations = ((0.25e9 / (ours_once * FLOWS as f64)) as usize).clamp(20, 5000);
    let five_tuple = FiveTupleAcl::build(eal, &case.rules, None).expect("5-tuple rte_acl");
    let ips: Vec<IpFlow> = case
        .flows
        .iter()
        .filter_map(|f| f.as_ref().ok()?.ip)
        .collect();
    let mut matched = Vec::with_capacity(BURST);
    // dpdk-test-acl's way: keys built before the clock starts, 16 bytes each, back to back.
    let keys: Vec<FiveTupleKey> = ips.iter().map(FiveTupleKey::of).collect();
    let mut results = vec![0u32; keys.len()];
    let (mut ours, mut spelled, mut in_process) = (Vec::new(), Vec::new(), Vec::new());
    let mut prebuilt = Vec::new();
    let mut theirs: Vec<(AclAlgorithm, Vec<TestAclRun>)> = Vec::new();
    for _ in 0..ROUNDS {
        for _ in 0..10 {
            ours.push(classify(&case.firewall, 3));
            in_process.push(ns_per_packet(ips.len(), 3, || {
                rte_acl_pass(&five_tuple, &ips, &mut matched)
            }));
            prebuilt.push(ns_per_packet(keys.len(), 3, || {
                five_tuple.classify_keys(&keys, &mut results);
                black_box(&results);
                results.len()
            }));
        }
        spelled.push(classify(&case.firewall_spelled, 30));
        for alg in AclAlgorithm::ALL {
            if let Some(run) = test_acl::run(&case.dir, memory, alg, BURST, iterations) {
                match theirs.iter_mut().find(|(a, _)| *a == alg) {
                    Some((_, runs)) => runs.push(run),
                    None => theirs.push((alg, vec![run])),
                }
            }
        }
    }
    let ours = median(&mut ours);
    let spelled = median(&mut spelled);
    let in_process = median(&mut in_process);
    let prebuilt = median(&mut prebuilt);
    let compile_ours = fastest(3, || Firewall::compile(eal, rule_set(case.rules.clone())));
    let compile_spelled = fastest(3, || Firewall::compile(eal, rule_set(case.spelled.clone())));
    let compile_theirs = fastest(3, || FiveTupleAcl::build(eal, &case.rules, None));
    let memory_ours = case.firewall.memory();
    println!();
    println!("{} rules ({} flows, bursts of {BURST})", case.name, FLOWS);
    let mut best: Option<(AclAlgorithm, f64, usize)> = None;
    for (alg, runs) in &mut theirs {
        let mut ns: Vec<f64> = runs.iter().map(|r| r.ns_per_packet).collect();
        let ns = median(&mut ns);
        println!(
            "  dpdk-test-acl --alg={:<10} {ns:>8.1} ns/packet  memory {:>10} B",
            alg.name(),
            runs[0].memory
        );
        if best.is_none_or(|(_, b, _)| ns < b) {
            best = Some((*alg, ns, runs[0].memory));
        }
    }
    println!(
        "  multiplane ({ours_alg:<9})          {ours:>8.1} ns/packet  memory {:>10} B IPv4 ({} B with the IPv6 copy of wildcard rules)",
        memory_ours.ipv4,
        memory_ours.total()
    );
    println!(
        "  rte_acl 5-tuple in this process ({}) {in_process:>8.1} ns/packet (alternating with ours: overhead of the firewall's semantics {:+.1} ns)",
        five_tuple.algorithm().name(),
        ours - in_process
    );
    println!(
        "  rte_acl 5-tuple in this process, keys built beforehand as dpdk-test-acl's  {prebuilt:>8.1} ns/packet (key building from flows costs {:+.1} ns)",
        in_process - prebuilt
    );
    println!(
        "  multiplane, wildcards spelled out    {spelled:>8.1} ns/packet  memory {:>10} B IPv4",
        case.firewall_spelled.memory().ipv4
    );
    let Some((best_alg, best_ns, logged_memory)) = best else {
        println!("  dpdk-test-acl did not run: no baseline");
        return;
    };
    let verdict = |what: &str, left_out: f64, spelled: f64, baseline: f64, unit: &str| {
        println!(
            "  {what}: ours {left_out:.2} {unit} ({:.2}x, {}), wildcards spelled out {spelled:.2} {unit} ({:.2}x, {}) vs rte_acl {baseline:.2} {unit}",
            left_out / baseline,
            met(left_out <= baseline),
            spelled / baseline,
            met(spelled <= baseline)
        )
    };
    println!(
        "  rte_acl baseline: ns/packet of dpdk-test-acl --alg={}",
        best_alg.name()
    );
    verdict("ns/packet", ours, spelled, best_ns, "ns");
    // Both sides measured alike (DPDK heap taken by the build); dpdk-test-acl's own log agrees to within
    // the heap's element header.
    println!(
        "  rte_acl memory: {} B through the FFI, {logged_memory} B in dpdk-test-acl's build log",
        five_tuple.memory()
    );
    let kib = |bytes: usize| bytes as f64 / 1024.0;
    verdict(
        "memory",
        kib(memory_ours.ipv4),
        kib(case.firewall_spelled.memory().ipv4),
        kib(five_tuple.memory()),
        "KiB",
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    verdict(
        "compile",
        ms(compile_ours),
        ms(compile_spelled),
        ms(compile_theirs),
        "ms",
    );
}

fn bench(c: &mut Criterion) {
    // Both sides on hugepages when the machine has them free (as DPDK runs in production; 4 KB pages
    // add TLB misses that grow with the tries), else both on 4 KB pages.
    let memory = eal_memory::args(BENCH_MB, BENCH_MB + TEST_ACL_MB, 1024);
    let test_acl_memory = match eal_memory::on_hugepages(&memory) {
        // Its pages were counted in the bench's reserve.
        true => eal_memory::args(TEST_ACL_MB, 0, 1024),
        false => memory.clone(),
    };
    println!(
        "EAL memory: {} (dpdk-test-acl: {})",
        memory.join(" "),
        test_acl_memory.join(" ")
    );
    let eal = memory
        .iter()
        .fold(EalBuilder::new().cores("0").no_pci(), |b, a| b.arg(a))
        .file_prefix(&format!("clsbench{}", std::process::id()))
        .log_level("error")
        .arg("--force-max-simd-bitwidth=512")
        .init()
        .expect("EAL for the classifier bench");
    // The first free argument is criterion's filter; the comparison table honours it too.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut cases = Vec::new();
    for (i, shape) in Shape::ALL.into_iter().enumerate() {
        for (j, n) in [10, 1000, 10_000].into_iter().enumerate() {
            let name = format!("{} {n}", shape.name());
            if filter.as_ref().is_none_or(|f| name.contains(f.as_str())) {
                cases.push(case(&eal, shape, n, 100 + (i * 10 + j) as u64));
            }
        }
    }
    for case in &cases {
        let mut group = c.benchmark_group(format!("classifier/{}", case.name));
        group.throughput(Throughput::Elements(case.flows.len() as u64));
        group
            .sample_size(20)
            .measurement_time(Duration::from_secs(2));
        let mut verdicts = Vec::with_capacity(BURST);
        group.bench_function("classify_burst", |b| {
            b.iter(|| pass(&case.firewall, &case.flows, &mut verdicts))
        });
        group.finish();
    }
    for case in &cases {
        compare(&eal, &test_acl_memory, case);
        let _ = std::fs::remove_dir_all(&case.dir);
    }
}

criterion_group!(benches, bench);

fn main() {
    // Criterion's HTML report plots draw text with plotters, which needs the font registered.
    ::benches::report::register_font().expect("a font for the report plots");
    benches();
    Criterion::default().configure_from_args().final_summary();
}
