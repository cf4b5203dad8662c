//! The compiled firewall must agree exactly with the reference model: verdict, matched rule, output frame
//! after rewrites, and every counter, over random rule sets and random (partly hostile) traffic.

use dataplane::firewall::synth::{acl_rule_set, frame_for, overlapping_rule_set, Rng};
use dataplane::firewall::{Action, Counters, Firewall, Hit, ReferenceModel, RuleSet};

/// Runs `frames` random frames through both and compares everything; returns how many were allowed.
fn agree(rules: RuleSet, rng: &mut Rng, frames: usize) -> usize {
    let firewall = Firewall::compile(rules.clone());
    let counters = Counters::new(&rules);
    let mut model = ReferenceModel::new(rules.clone());
    let mut allowed = 0;
    for i in 0..frames {
        let (side, frame) = frame_for(rng, &rules);
        let (expected, expected_out) = model.process(side, &frame);
        let mut out = frame.clone();
        let verdict = firewall.process(&counters, side, &mut out);
        assert_eq!(verdict, expected, "frame {i} from {side:?}: {frame:02x?}\nrules: {rules:#?}");
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
    let mut rng = Rng::new(1);
    let (mut allowed, mut total) = (0, 0);
    for _ in 0..300 {
        let rules = overlapping_rule_set(&mut rng, 4, 40);
        allowed += agree(rules, &mut rng, 300);
        total += 300;
    }
    // The generator must exercise both outcomes, or the comparison proves little.
    assert!(allowed > total / 5 && allowed < total * 4 / 5, "allowed {allowed} of {total}");
}

#[test]
fn large_overlapping_tables_agree_with_model() {
    let mut rng = Rng::new(2);
    for _ in 0..4 {
        let rules = overlapping_rule_set(&mut rng, 3, 2000);
        agree(rules, &mut rng, 5000);
    }
}

#[test]
fn large_acl_agrees_with_model_and_hits_deep_rules() {
    let mut rng = Rng::new(3);
    let rules = acl_rule_set(&mut rng, 10_000);
    let firewall = Firewall::compile(rules.clone());
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
    assert!(deepest > 9_000, "traffic never reached the end of the list (deepest rule {deepest})");
}
