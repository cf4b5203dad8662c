//! The compiled firewall must agree exactly with the reference model: verdict, matched rule, output frame
//! after rewrites, and every counter, over random rule sets and random (partly hostile) traffic.

//!
//! The compiled firewall lives in DPDK's heap: each test initialises the EAL (one test per process,
//! as cargo-nextest runs them) and checks that dropping the firewall gives every byte back.

mod common;

use dataplane::firewall::synth::{acl_rule_set, frame_for, overlapping_rule_set, Rng};
use dataplane::firewall::{Action, Counters, Firewall, Hit, ReferenceModel, RuleSet};
use dataplane::Eal;

fn eal() -> Eal {
    common::test_eal_builder().init().expect("EAL for firewall tests")
}

/// Runs `frames` random frames through both and compares everything; returns how many were allowed.
/// The firewall's DPDK memory must be free again afterwards.
fn agree(eal: &Eal, rules: RuleSet, rng: &mut Rng, frames: usize) -> usize {
    let heap_before = eal.heap_allocated();
    let allowed = agree_with(&Firewall::compile(eal, rules.clone()).unwrap(), rng, frames);
    assert_eq!(eal.heap_allocated(), heap_before, "the firewall leaked DPDK memory");
    allowed
}

fn agree_with(firewall: &Firewall, rng: &mut Rng, frames: usize) -> usize {
    let rules = firewall.rules().clone();
    let counters = Counters::new(&rules);
    let mut model = ReferenceModel::new(rules.clone());
    let mut allowed = 0;
    for i in 0..frames {
        let (side, frame) = frame_for(rng, &rules);
        let (expected, expected_out) = model.process(side, &frame);
        let mut out = frame.clone();
        let verdict = firewall.process(&counters, side, &mut out);
        assert_eq!(
            verdict, expected,
            "frame {i} from {side:?}: {frame:02x?}\nrules: {rules:#?}"
        );
        match expected_out {
            Some(expected_out) => {
                assert_eq!(out, expected_out, "output of frame {i}");
                allowed += 1;
            }
            None => assert_eq!(verdict.action, Action::Drop),
        }
    }
    assert_eq!(&counters.snapshot(), model.counters());
    allowed
}

#[test]
fn overlapping_rule_sets_agree_with_model() {
    let eal = eal();
    let mut rng = Rng::new(1);
    let (mut allowed, mut total) = (0, 0);
    for _ in 0..300 {
        let rules = overlapping_rule_set(&mut rng, 4, 40);
        allowed += agree(&eal, rules, &mut rng, 300);
        total += 300;
    }
    // The generator must exercise both outcomes, or the comparison proves little.
    assert!(
        allowed > total / 5 && allowed < total * 4 / 5,
        "allowed {allowed} of {total}"
    );
}

#[test]
fn large_overlapping_tables_agree_with_model() {
    let eal = eal();
    let mut rng = Rng::new(2);
    for _ in 0..4 {
        let rules = overlapping_rule_set(&mut rng, 3, 2000);
        agree(&eal, rules, &mut rng, 5000);
    }
}

#[test]
fn large_acl_agrees_with_model_and_hits_deep_rules() {
    let eal = eal();
    let mut rng = Rng::new(3);
    let rules = acl_rule_set(&mut rng, 10_000);
    let firewall = Firewall::compile(&eal, rules.clone()).unwrap();
    let mut model = ReferenceModel::new(rules.clone());
    let mut deepest = 0;
    for _ in 0..20_000 {
        let (side, frame) = frame_for(&mut rng, &rules);
        let (expected, _) = model.process(side, &frame);
        assert_eq!(firewall.classify(side, &frame), expected);
        if let Hit::Rule { rule, .. } = expected.hit {
            deepest = deepest.max(rule);
        }
    }
    assert!(
        deepest > 9_000,
        "traffic never reached the end of the list (deepest rule {deepest})"
    );
}

#[test]
fn hostile_frames_are_dropped_and_counted_by_reason() {
    use dataplane::firewall::parse_rule_file;
    use dataplane::packet::{ParseError, EXT_DESTINATION};
    let rules =
        parse_rule_file(r#"{"default": "allow", "vlans": {"untagged": {"default": "allow"}}}"#)
            .unwrap();
    let firewall = Firewall::compile(&eal(), rules.clone()).unwrap();
    let counters = Counters::new(&rules);
    let mut ipv4 = vec![0u8; 12];
    ipv4.extend_from_slice(&[0x08, 0x00, 0x43, 0, 0, 20]);
    ipv4.resize(34, 0);
    let mut loop6 = vec![0u8; 12];
    loop6.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 80, EXT_DESTINATION, 64]);
    loop6.resize(14 + 40, 0);
    for _ in 0..10 {
        loop6.extend_from_slice(&[EXT_DESTINATION, 0, 0, 0, 0, 0, 0, 0]);
    }
    let frames: Vec<(Vec<u8>, ParseError)> = vec![
        (vec![0; 9], ParseError::TruncatedEthernet),
        (ipv4, ParseError::BadIpv4Ihl),
        (loop6, ParseError::Ipv6ExtChainTooLong),
    ];
    for (frame, reason) in &frames {
        let mut f = frame.clone();
        let v = firewall.process(&counters, dataplane::firewall::Side::A, &mut f);
        assert_eq!((v.action, v.hit), (Action::Drop, Hit::Malformed(*reason)));
        assert_eq!(&f, frame, "dropped frames are not rewritten");
    }
    let snap = counters.snapshot();
    for (frame, reason) in &frames {
        assert_eq!(
            (
                snap.malformed[reason.index()].packets,
                snap.malformed[reason.index()].bytes
            ),
            (1, frame.len() as u64)
        );
    }
    assert_eq!(snap.total().packets, 3);
}
