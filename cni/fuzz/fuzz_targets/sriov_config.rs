//! Any stdin: the CNI configuration parser and then sriov's either refuse it or accept it; what ADD
//! accepts, the syntax check of DEL and GC accepts too; nothing panics.
#![no_main]

use cni::spec::{Call, Env, NetConf};
use cni::sriov::config::SriovConf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(conf) = NetConf::parse(data) else {
        return;
    };
    let vars = |var: &str| {
        Some(match var {
            "CNI_COMMAND" => "ADD",
            "CNI_CONTAINERID" => "c1",
            "CNI_NETNS" => "/run/netns/fuzz",
            "CNI_IFNAME" => "net1",
            "CNI_PATH" => "/opt/cni/bin",
            _ => return None,
        })
        .map(str::to_string)
    };
    let env = Env::from_lookup(vars).expect("a complete ADD environment");
    let call = Call { env, conf };
    let add = SriovConf::from_call(&call);
    let syntax = SriovConf::check_syntax(&call);
    if add.is_ok() {
        assert!(syntax.is_ok(), "ADD accepts what DEL refuses: {syntax:?}");
        let _ = add.map(|c| c.vf_settings());
    }
});
