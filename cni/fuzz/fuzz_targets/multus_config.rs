//! Any stdin: the CNI configuration parser and then multus's own either refuse it with an error or
//! give a configuration whose interface names can be computed; nothing panics.
#![no_main]

use cni::multus::MultusConf;
use cni::spec::NetConf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(conf) = NetConf::parse(data) else {
        return;
    };
    if let Ok(m) = MultusConf::parse(&conf) {
        assert!(
            m.kubernetes.is_some() || m.delegates.iter().filter(|d| d.master).count() == 1,
            "exactly one master delegate outside Kubernetes mode"
        );
        let _ = m.ifnames("eth0");
    }
});
