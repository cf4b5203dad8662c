//! STATUS and GC forwarding. The 1.1.0 delegate that receives them is a nested multus (the reference
//! plugins in Debian 12 predate STATUS and GC), itself over a bridge. Needs root.

mod support;

use serde_json::{json, Value};
use support::*;

/// An inner multus network (1.1.0) over a bridge; its own cache is `inner-cache`.
fn inner(scratch: &Scratch, bridge: &HostLink) -> Value {
    let mut delegate = bridge_delegate(bridge, "10.240.0.0/24", &scratch.join("ipam"));
    delegate["cniVersion"] = json!("1.0.0");
    json!({"cniVersion": "1.1.0", "name": "inner", "type": "multus", "binDir": REFERENCE_PLUGINS,
        "cniDir": scratch.join("inner-cache"), "delegates": [delegate]})
}

fn outer(scratch: &Scratch, inner: Value) -> Value {
    json!({"cniVersion": "1.1.0", "name": "outer", "type": "multus", "binDir": REFERENCE_PLUGINS,
        "cniDir": scratch.join("outer-cache"), "delegates": [inner]})
}

fn gc(conf: &Value, valid: Value) -> Reply {
    let mut conf = conf.clone();
    conf["cni.dev/valid-attachments"] = valid;
    call_plugin(&multus_bin(), "GC", &conf, None, None, None)
}

#[test]
fn gc_deletes_stale_attachments_and_forwards_the_valid_ones() {
    let (scratch, bridge) = (Scratch::new(), HostLink::expect("mtb"));
    let conf = outer(&scratch, inner(&scratch, &bridge));
    let (ns_a, ns_b, ns_c) = (Netns::new(), Netns::new(), Netns::new());
    let (a, b) = (Pod::new(&ns_a), Pod::new(&ns_b));
    a.call("ADD", &conf).expect_ok("ADD a");
    b.call("ADD", &conf).expect_ok("ADD b");
    // c is attached to the inner network directly: outer multus does not know it.
    let c = Pod::new(&ns_c);
    c.call("ADD", &inner(&scratch, &bridge))
        .expect_ok("ADD c on inner");
    assert_eq!(scratch.leases("ipam").len(), 3);

    gc(&conf, json!([{"containerID": a.id, "ifname": "eth0"}])).expect_ok("GC");

    assert_eq!(ns_a.links(), vec!["eth0"], "a is valid and kept");
    assert_eq!(
        ns_b.links(),
        Vec::<String>::new(),
        "b was stale in outer's cache and deleted"
    );
    assert_eq!(
        ns_c.links(),
        Vec::<String>::new(),
        "c was stale in inner's cache: GC was forwarded"
    );
    assert_eq!(scratch.leases("ipam").len(), 1);
    assert_eq!(scratch.files("outer-cache"), vec![format!("{}:eth0", a.id)]);
    assert_eq!(scratch.files("inner-cache"), vec![format!("{}:eth0", a.id)]);

    a.call("DEL", &conf).expect_ok("DEL a");
    assert_eq!(scratch.leases("ipam"), Vec::<String>::new());
    gc(&conf, json!([])).expect_ok("GC with nothing left");
}

#[test]
fn status_is_ready_only_when_the_master_is() {
    let (scratch, bridge) = (Scratch::new(), HostLink::expect("mtb"));
    let mut nested = inner(&scratch, &bridge);
    nested["readinessindicatorfile"] = json!(scratch.join("inner-ready"));
    let conf = outer(&scratch, nested.clone());
    let (code, msg) =
        call_plugin(&multus_bin(), "STATUS", &conf, None, None, None).expect_err("STATUS");
    assert_eq!(code, 50);
    assert!(
        msg.starts_with("delegates[0] (\"multus\" in network \"inner\"): readinessindicatorfile:"),
        "{msg}"
    );

    // A secondary delegate that is not ready does not make multus unready.
    let mut secondary = nested.clone();
    secondary["name"] = json!("inner2");
    let mut ready_master = inner(&scratch, &bridge);
    ready_master["masterplugin"] = json!(true);
    let mixed = json!({"cniVersion": "1.1.0", "name": "outer", "type": "multus", "binDir": REFERENCE_PLUGINS,
        "cniDir": scratch.join("outer-cache"), "delegates": [secondary, ready_master]});
    call_plugin(&multus_bin(), "STATUS", &mixed, None, None, None)
        .expect_ok("STATUS with a ready master");

    std::fs::write(scratch.join("inner-ready"), "").unwrap();
    call_plugin(&multus_bin(), "STATUS", &conf, None, None, None).expect_ok("STATUS when ready");
}
