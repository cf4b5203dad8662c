//! Differential: the first 8 bytes seed a random rule set, the rest is a frame; the compiled firewall and
//! the reference model must return the same verdict and output frame.
//!
//! The firewall's rte_acl tables live in DPDK's heap, so the EAL is initialised once for the whole fuzz
//! run (no hugepages, no PCI); every compiled firewall is freed again after its input.
#![no_main]

use dataplane::firewall::synth::{overlapping_rule_set, Rng};
use dataplane::firewall::{Counters, Firewall, ReferenceModel, Side};
use dataplane::{Eal, EalBuilder};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn eal() -> &'static Eal {
    static EAL: OnceLock<Eal> = OnceLock::new();
    EAL.get_or_init(|| {
        EalBuilder::new()
            .cores("0")
            .no_pci()
            .no_huge()
            .no_shconf()
            .memory_mb(512)
            .file_prefix(&format!("fuzzfw{}", std::process::id()))
            .log_level("error")
            .init()
            .expect("EAL for the firewall fuzz target")
    })
}

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
    let firewall = Firewall::compile(eal(), rules.clone()).expect("compile");
    let verdict = firewall.process(&Counters::new(&rules), side, &mut out);
    assert_eq!(verdict, expected);
    if let Some(expected_out) = expected_out {
        assert_eq!(out, expected_out);
    }
});
