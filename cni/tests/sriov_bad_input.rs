//! Bad input through the real binary: every case fails with the spec's code and a message
//! naming the field or variable, and leaves the host exactly as it was.

mod support;

use serde_json::{json, Value};
use support::sriov_tree::*;
use support::*;

#[test]
fn bad_input_is_refused_with_a_named_field_and_no_side_effects() {
    let mut tree = FakeTree::new();
    tree.add_pf(2);
    tree.add_pf(1);
    let pf = tree.pfs[0].clone();
    let other_pf = tree.pfs[1].clone();
    let ns = Netns::new();
    let busy_ns = Netns::new();
    // VF 1 is taken by another pod.
    let holder = tree.pod(&busy_ns);
    holder
        .call("ADD", &conf("1.0.0", json!({"if0": pf.name, "vf": 1})))
        .expect_ok("holder ADD");
    let sent_before = tree.sent();

    let base = |extra: Value| conf("1.0.0", extra);
    let pf_name = pf.name.as_str();
    let cases: Vec<(&str, Value, u64, String)> = vec![
        (
            "vlan 4095",
            base(json!({"if0": pf_name, "vlan": 4095})),
            7,
            "vlan: 4095 is out of range 0-4094".into(),
        ),
        (
            "vlanQoS without vlan",
            base(json!({"if0": pf_name, "vlanQoS": 3})),
            7,
            "vlanQoS: requires vlan".into(),
        ),
        (
            "unknown PF",
            base(json!({"if0": "nopf0"})),
            7,
            "if0: no network interface \"nopf0\"".into(),
        ),
        (
            "VF index out of range",
            base(json!({"if0": pf_name, "vf": 9})),
            7,
            format!("vf: 9 is out of range: {pf_name} has 2 VFs (0-1)"),
        ),
        (
            "VF already allocated",
            base(json!({"if0": pf_name, "vf": 1})),
            11,
            format!(
                "vf: VF {} (vf 1) is allocated to container {} interface net1",
                pf.vfs[1].addr, holder.id
            ),
        ),
        (
            "deviceID of a PF",
            base(json!({"deviceID": pf.addr})),
            7,
            format!("deviceID: {} is not an SR-IOV VF", pf.addr),
        ),
        (
            "unknown deviceID",
            base(json!({"deviceID": "0000:7f:00.1"})),
            7,
            "deviceID: no PCI device 0000:7f:00.1".into(),
        ),
        (
            "vf disagreeing with deviceID",
            base(json!({"deviceID": pf.vfs[0].addr, "if0": pf_name, "vf": 1})),
            7,
            format!(
                "vf: 1 does not match deviceID {}, which is VF 0",
                pf.vfs[0].addr
            ),
        ),
        (
            "if0 disagreeing with deviceID",
            base(json!({"deviceID": pf.vfs[0].addr, "if0": other_pf.name})),
            7,
            format!(
                "deviceID: VF {} belongs to PF {}, not to if0 {}",
                pf.vfs[0].addr, pf.addr, other_pf.name
            ),
        ),
        (
            "no device at all",
            base(json!({"vlan": 5})),
            7,
            "deviceID: missing".into(),
        ),
        (
            "bad MAC",
            base(json!({"if0": pf_name, "mac": "02:00:00:00:00"})),
            7,
            "mac: \"02:00:00:00:00\" is not a MAC".into(),
        ),
        (
            "bad cniVersion",
            conf("0.2.0", json!({"if0": pf_name})),
            1,
            "cniVersion: incompatible CNI version".into(),
        ),
    ];
    let pod = tree.pod(&ns);
    for (what, conf, code, msg) in &cases {
        let (got_code, got_msg) = pod.call("ADD", conf).expect_err(what);
        assert_eq!(got_code, *code, "{what}: {got_msg}");
        assert!(
            got_msg.starts_with(msg.as_str()),
            "{what}: {got_msg:?} does not start with {msg:?}"
        );
    }

    // Invalid JSON: code 6.
    let reply = tree
        .pod(&ns)
        .call_bytes("ADD", b"{\"cniVersion\": \"1.0.0\", \"name\": ");
    assert_eq!(reply.expect_err("invalid JSON").0, 6);

    // Missing CNI_NETNS, and a CNI_NETNS that does not exist: code 4 naming the variable.
    let good = base(json!({"if0": pf_name}));
    let no_netns = Pod {
        netns: None,
        ..tree.pod(&ns)
    };
    assert_eq!(
        no_netns.call("ADD", &good).expect_err("no netns"),
        (4, "CNI_NETNS: missing".to_string())
    );
    let ghost = Pod {
        netns: Some("/run/netns/no-such-pod".into()),
        ..tree.pod(&ns)
    };
    let (code, msg) = ghost.call("ADD", &good).expect_err("ghost netns");
    assert_eq!(
        (code, msg.as_str()),
        (4, "CNI_NETNS: netns /run/netns/no-such-pod does not exist")
    );

    // The interface name is taken in the pod: code 4 naming CNI_IFNAME, VF left in the host.
    ns.ip("link add net1 type veth peer name net1p");
    let (code, msg) = pod.call("ADD", &good).expect_err("name taken");
    assert_eq!(code, 4);
    assert!(
        msg.starts_with("CNI_IFNAME: interface net1 already exists in netns"),
        "{msg}"
    );

    // Nothing happened: only the holder's allocation, no new PF requests, VF 0 in the host.
    assert_eq!(tree.state_files("alloc"), vec![pf.vfs[1].addr.clone()]);
    assert_eq!(tree.state_files("attachments").len(), 1);
    assert_eq!(tree.sent(), sent_before);
    assert!(host_links().contains(&pf.vfs[0].netdev));
    holder
        .call("DEL", &conf("1.0.0", json!({"if0": pf.name, "vf": 1})))
        .expect_ok("holder DEL");
    tree.assert_restored();
}
