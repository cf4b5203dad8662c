//! Any annotation text: the network-selection parsers refuse it or give selections whose names are
//! valid object names; nothing panics.
#![no_main]

use cni::multus::selection::{parse_default_network, parse_legacy_networks, parse_networks};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let named = |name: &str| !name.is_empty() && name.len() <= 253;
    if let Ok(selections) = parse_networks(text) {
        for s in &selections {
            assert!(named(&s.name), "{s:?}");
            let _ = s.runtime_config();
        }
    }
    if let Ok(selections) = parse_legacy_networks(text) {
        assert!(selections.iter().all(|s| named(&s.name)));
    }
    if let Ok(s) = parse_default_network(text) {
        assert!(named(&s.name) && s.interface.is_none(), "{s:?}");
    }
});
