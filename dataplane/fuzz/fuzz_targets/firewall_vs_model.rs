//! Differential: the first 8 bytes seed a random rule set, the rest is a frame; the compiled firewall and
//! the reference model must return the same verdict and output frame.
#![no_main]

use dataplane::firewall::synth::{overlapping_rule_set, Rng};
use dataplane::firewall::{Counters, Firewall, ReferenceModel, Side};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let (seed, frame) = data.split_at(8);
    let seed = u64::from_le_bytes(seed.try_into().unwrap());
    let rules = overlapping_rule_set(&mut Rng::new(seed), 3, 30);
    let side = if seed & 1 == 0 { Side::A } else { Side::B };
    let (expected, expected_out) = ReferenceModel::new(rules.clone()).process(side, frame);
    let mut out = frame.to_vec();
    let verdict = Firewall::compile(rules.clone()).process(&Counters::new(&rules), side, &mut out);
    assert_eq!(verdict, expected);
    if let Some(expected_out) = expected_out {
        assert_eq!(out, expected_out);
    }
});
