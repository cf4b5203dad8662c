//! The firewall on ClassBench-shaped rule sets (acl, fw, ipc; 100 / 1 000 / 10 000 rules ending in
//! catch-alls; wildcards left out or spelled out) agrees with the reference model frame by frame, with
//! rte_acl in DPDK's own 5-tuple layout rule by rule, and with itself between single and burst
//! classification; and an address wildcard's spelling (left out or `0.0.0.0/0`) does not change what
//! is built.

mod common;

use dataplane::firewall::classbench::{rule_set, rules, traffic, Shape, Wildcards};
use dataplane::firewall::synth::Rng;
use dataplane::firewall::{
    Firewall, FiveTupleAcl, FiveTupleKey, Hit, Prefix, ReferenceModel, Rule, Side, Verdict,
};
use dataplane::packet::{emit_frame, parse_flow, Flow, MacAddr};
use dataplane::Eal;
use std::net::Ipv4Addr;

fn eal() -> Eal {
    common::test_eal_builder()
        .arg("--force-max-simd-bitwidth=512")
        .init()
        .expect("EAL for firewall tests")
}

/// Checks `firewall` (compiled from `rules`) against the model, the 5-tuple rte_acl and burst
/// classification on `flows`; returns the deepest rule before the trailing catch-alls that decided
/// some flow.
fn check(eal: &Eal, firewall: &Firewall, rules: &[Rule], flows: &[Flow]) -> usize {
    let mut model = ReferenceModel::new(firewall.rules().clone());
    let peer = FiveTupleAcl::build(eal, rules, None).expect("classbench rules fit a 5-tuple");
    let frames: Vec<Vec<u8>> = flows
        .iter()
        .map(|f| {
            emit_frame(
                f,
                None,
                MacAddr([2, 0, 0, 0, 0, 1]),
                MacAddr([2, 0, 0, 0, 0, 2]),
                0,
            )
        })
        .collect();
    let parsed: Vec<_> = frames.iter().map(|f| parse_flow(f)).collect();
    let mut burst = Vec::new();
    firewall.classify_burst(Side::A, &parsed, &mut burst);
    let ips: Vec<_> = flows.iter().map(|f| f.ip.expect("IPv4 traffic")).collect();
    let mut peer_rules = Vec::new();
    peer.classify(&ips, &mut peer_rules);
    // The same searches on keys built beforehand (the classifier bench's dpdk-test-acl-like pass).
    let keys: Vec<FiveTupleKey> = ips.iter().map(FiveTupleKey::of).collect();
    let mut prebuilt = vec![u32::MAX; keys.len()];
    peer.classify_keys(&keys, &mut prebuilt);
    let prebuilt: Vec<Option<usize>> = prebuilt
        .iter()
        .map(|&r| r.checked_sub(1).map(|r| r as usize))
        .collect();
    assert_eq!(prebuilt, peer_rules, "rte_acl on prebuilt 5-tuple keys");
    let mut deepest = 0;
    let catch_alls = rules
        .iter()
        .rev()
        .take_while(|r| r.src.is_none() && r.dst.is_none())
        .count();
    for (i, frame) in frames.iter().enumerate() {
        let (expected, _) = model.process(Side::A, frame);
        let single = firewall.classify(Side::A, frame);
        assert_eq!(single, expected, "flow {i}: {:?}", flows[i]);
        assert_eq!(burst[i], expected, "flow {i} in a burst");
        let rule = match expected {
            Verdict {
                hit: Hit::Rule { rule, .. },
                ..
            } => Some(rule),
            _ => None,
        };
        assert_eq!(peer_rules[i], rule, "flow {i}: 5-tuple rte_acl disagrees");
        deepest = deepest.max(rule.filter(|&r| r < rules.len() - catch_alls).unwrap_or(0));
    }
    deepest
}

/// `rule` with wildcard addresses written as `0.0.0.0/0`.
fn addresses_spelled_out(rule: &Rule) -> Rule {
    let any = Some(Prefix::covering(Ipv4Addr::UNSPECIFIED.into(), 0));
    Rule {
        src: rule.src.or(any),
        dst: rule.dst.or(any),
        ..rule.clone()
    }
}

fn shape_agrees(shape: Shape, n: usize, seed: u64) {
    let eal = eal();
    let heap_before = eal.heap_allocated();
    let mut memory = Vec::new();
    for wildcards in [Wildcards::LeftOut, Wildcards::SpelledOut] {
        let mut rng = Rng::new(seed);
        let rules = rules(&mut rng, shape, n, wildcards);
        let flows = traffic(&mut rng, &rules, 4000.max(n));
        let firewall = Firewall::compile(&eal, rule_set(rules.clone())).unwrap();
        let deepest = check(&eal, &firewall, &rules, &flows);
        assert!(
            deepest >= n / 2,
            "{} {n}: traffic never reached the end of the list (deepest rule {deepest})",
            shape.name()
        );
        memory.push(firewall.memory().ipv4);
        if wildcards == Wildcards::LeftOut {
            let spelled = rules.iter().map(addresses_spelled_out).collect();
            let firewall = Firewall::compile(&eal, rule_set(spelled)).unwrap();
            assert_eq!(
                firewall.memory().ipv4,
                memory[0],
                "{} {n}: 0.0.0.0/0 built other IPv4 tables than a left-out address",
                shape.name()
            );
        }
    }
    // A spelled-out port range still requires ports (a TCP non-first fragment has none), so the
    // spellings differ in meaning there and the tries differ somewhat; they must not differ in kind.
    let (left_out, spelled) = (memory[0] as f64, memory[1] as f64);
    assert!(
        (left_out / spelled - 1.0).abs() < 0.5,
        "{} {n}: IPv4 tables of {left_out} bytes with wildcards left out, {spelled} spelled out",
        shape.name()
    );
    assert_eq!(eal.heap_allocated(), heap_before, "DPDK memory leaked");
}

#[test]
fn acl_100() {
    shape_agrees(Shape::Acl, 100, 11);
}

#[test]
fn acl_1000() {
    shape_agrees(Shape::Acl, 1000, 12);
}

#[test]
fn acl_10000() {
    shape_agrees(Shape::Acl, 10_000, 13);
}

#[test]
fn fw_100() {
    shape_agrees(Shape::Fw, 100, 21);
}

#[test]
fn fw_1000() {
    shape_agrees(Shape::Fw, 1000, 22);
}

#[test]
fn fw_10000() {
    shape_agrees(Shape::Fw, 10_000, 23);
}

#[test]
fn ipc_100() {
    shape_agrees(Shape::Ipc, 100, 31);
}

#[test]
fn ipc_1000() {
    shape_agrees(Shape::Ipc, 1000, 32);
}

#[test]
fn ipc_10000() {
    shape_agrees(Shape::Ipc, 10_000, 33);
}

#[test]
fn every_algorithm_this_cpu_runs_gives_the_same_verdicts() {
    use dataplane::firewall::AclAlgorithm;
    let eal = eal();
    let mut rng = Rng::new(41);
    let rules = rules(&mut rng, Shape::Fw, 1000, Wildcards::LeftOut);
    let flows = traffic(&mut rng, &rules, 3000);
    let parsed: Vec<_> = flows.iter().map(|f| Ok(*f)).collect();
    let reference =
        Firewall::compile_with(&eal, rule_set(rules.clone()), Some(AclAlgorithm::Scalar)).unwrap();
    let mut expected = Vec::new();
    reference.classify_burst(Side::B, &parsed, &mut expected);
    let mut ran = 0;
    for alg in AclAlgorithm::ALL {
        let Ok(firewall) = Firewall::compile_with(&eal, rule_set(rules.clone()), Some(alg)) else {
            continue;
        };
        assert_eq!(firewall.algorithm(), Some(alg));
        let mut got = Vec::new();
        firewall.classify_burst(Side::B, &parsed, &mut got);
        assert_eq!(got, expected, "{alg:?}");
        ran += 1;
    }
    assert!(ran >= 2, "only {ran} algorithms ran");
}
