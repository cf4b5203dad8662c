//! CHECK's precise mismatches, GC against valid-attachments, STATUS, rollback of a failed
//! ADD, and results in every supported version.

mod support;

use serde_json::json;
use support::sriov_tree::*;
use support::*;

use cni::netlink::{PfControl, VfSetting, VlanProto};

#[test]
fn check_names_what_drifted() {
    let mut tree = FakeTree::new();
    tree.add_pf(1);
    let ns = Netns::new();
    let pod = tree.pod(&ns);
    let mut conf = conf(
        "1.0.0",
        json!({"if0": tree.pfs[0].name, "vlan": 12, "mac": "02:00:00:00:0c:01", "ipam": host_local(&tree, "10.81.0.0/24")}),
    );
    conf["prevResult"] = pod.call("ADD", &conf).expect_ok("ADD");
    pod.call("CHECK", &conf).expect_ok("CHECK");
    let where_ = format!("interface net1 in netns {}", ns.path().display());

    ns.ip("addr del 10.81.0.2/24 dev net1");
    assert_eq!(
        pod.call("CHECK", &conf).expect_err("address"),
        (100, format!("{where_}: address 10.81.0.2/24 is missing"))
    );
    ns.ip("addr add 10.81.0.2/24 dev net1");

    ns.ip("link set net1 down");
    assert_eq!(
        pod.call("CHECK", &conf).expect_err("down"),
        (100, format!("{where_}: is down"))
    );
    ns.ip("link set net1 up");

    ns.ip("link set net1 address 02:00:00:00:0c:99");
    let (code, msg) = pod.call("CHECK", &conf).expect_err("MAC");
    assert_eq!(
        (code, msg),
        (
            100,
            format!("{where_}: MAC is 02:00:00:00:0c:99, expected 02:00:00:00:0c:01")
        )
    );
    ns.ip("link set net1 address 02:00:00:00:0c:01");

    let pf = &tree.pfs[0].name;
    tree.journal()
        .set_vf(
            pf,
            0,
            &VfSetting::Vlan {
                vlan: 13,
                qos: 0,
                proto: VlanProto::Dot1Q,
            },
        )
        .unwrap();
    let (code, msg) = pod.call("CHECK", &conf).expect_err("VLAN");
    assert_eq!(code, 100);
    assert_eq!(msg, format!("VF 0 on PF {pf}: expected vlan 12 qos 0 proto Dot1Q, but the PF reports vlan 13 qos 0 proto Dot1Q"));
    tree.journal()
        .set_vf(
            pf,
            0,
            &VfSetting::Vlan {
                vlan: 12,
                qos: 0,
                proto: VlanProto::Dot1Q,
            },
        )
        .unwrap();
    pod.call("CHECK", &conf).expect_ok("CHECK after repair");

    let stranger = Pod {
        id: "nobody".into(),
        ..tree.pod(&ns)
    };
    assert_eq!(
        stranger
            .call("CHECK", &conf)
            .expect_err("unknown attachment"),
        (
            100,
            "no attachment recorded for container nobody interface net1".to_string()
        )
    );
    pod.call("DEL", &conf).expect_ok("DEL");
    tree.assert_restored();
}

#[test]
fn gc_tears_down_attachments_that_are_no_longer_valid() {
    let mut tree = FakeTree::new();
    tree.add_pf(3);
    let namespaces: Vec<Netns> = (0..3).map(|_| Netns::new()).collect();
    let pods: Vec<Pod> = namespaces.iter().map(|ns| tree.pod(ns)).collect();
    let conf = conf(
        "1.1.0",
        json!({"if0": tree.pfs[0].name, "vlan": 30, "ipam": host_local(&tree, "10.82.0.0/24")}),
    );
    for pod in &pods {
        pod.call("ADD", &conf).expect_ok("ADD");
    }
    // Another network's attachment on the same tree is not GC's business.
    let other_ns = Netns::new();
    let other = tree.pod(&other_ns);
    let mut other_conf = conf.clone();
    other_conf["name"] = json!("other-net");
    other_conf.as_object_mut().unwrap().remove("ipam");
    let (code, _) = other
        .call("ADD", &other_conf)
        .expect_err("no VF left for the other network");
    assert_eq!(code, 11);

    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": pods[1].id, "ifname": "net1"}]);
    let gc_call = Pod {
        netns: None,
        ..tree.pod(&namespaces[0])
    };
    gc_call.call("GC", &gc).expect_ok("GC");
    assert!(namespaces[0].links().is_empty());
    assert_eq!(
        namespaces[1].links(),
        vec!["net1".to_string()],
        "the valid attachment stays"
    );
    assert!(namespaces[2].links().is_empty());
    assert_eq!(tree.state_files("attachments").len(), 1);
    assert_eq!(
        tree.scratch.leases("ipam").len(),
        1,
        "IPAM released for the collected ones"
    );
    let vlans: Vec<u16> = (0..3).map(|i| tree.vf_config(0, i).vlan).collect();
    assert_eq!(vlans.iter().filter(|v| **v == 30).count(), 1);
    pods[1].call("DEL", &conf).expect_ok("DEL of the survivor");
    tree.assert_restored();
}

#[test]
fn status_reports_an_unusable_pf() {
    let mut tree = FakeTree::new();
    tree.add_pf(1);
    let ns = Netns::new();
    let probe = Pod {
        netns: None,
        ..tree.pod(&ns)
    };
    probe
        .call("STATUS", &conf("1.1.0", json!({"if0": tree.pfs[0].name})))
        .expect_ok("STATUS");
    let (code, msg) = probe
        .call("STATUS", &conf("1.1.0", json!({"if0": "ghost0"})))
        .expect_err("STATUS");
    assert_eq!(code, 50);
    assert!(
        msg.starts_with("if0: no network interface \"ghost0\""),
        "{msg}"
    );
}

#[test]
fn a_failing_ipam_rolls_everything_back() {
    let mut tree = FakeTree::new();
    tree.add_pf(1);
    let ns = Netns::new();
    let pod = tree.pod(&ns);
    // host-local refuses a range outside its subnet: IPAM fails after the VF is in the pod.
    let ipam = json!({"type": "host-local", "dataDir": tree.scratch.join("ipam"),
        "ranges": [[{"subnet": "10.83.0.0/24", "rangeStart": "10.84.0.5"}]]});
    let conf = conf(
        "1.0.0",
        json!({"if0": tree.pfs[0].name, "vlan": 77, "mac": "02:00:00:00:4d:01", "ipam": ipam}),
    );
    let (code, msg) = pod.call("ADD", &conf).expect_err("ADD");
    assert_eq!(code, 999, "{msg}");
    assert!(
        msg.contains("RangeStart 10.84.0.5 not in network"),
        "host-local's error: {msg}"
    );
    assert!(ns.links().is_empty(), "VF left the pod");
    tree.assert_restored();
    let journal: Vec<String> = tree.sent_text();
    assert_eq!(
        journal,
        [
            "mac 02:00:00:00:4d:01",
            "vlan 77 qos 0 proto Dot1Q",
            "vlan 0 qos 0 proto Dot1Q",
            "mac 00:00:00:00:00:00"
        ]
    );
}

#[test]
fn results_come_in_every_supported_version() {
    let mut tree = FakeTree::new();
    tree.add_pf(1);
    let ns = Netns::new();
    for version in ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] {
        let pod = tree.pod(&ns);
        let conf = conf(
            version,
            json!({"if0": tree.pfs[0].name, "ipam": host_local(&tree, "10.85.0.0/24")}),
        );
        let result = pod.call("ADD", &conf).expect_ok(version);
        assert_eq!(result["cniVersion"], version);
        assert_eq!(
            result["ips"][0]["version"].as_str(),
            (version < "1.0.0").then_some("4"),
            "{version}"
        );
        assert_eq!(
            result["interfaces"][0]["pciID"].is_string(),
            version == "1.1.0",
            "{version}"
        );
        pod.call("DEL", &conf).expect_ok(version);
    }
    let version = Pod {
        netns: None,
        ..tree.pod(&ns)
    }
    .call("VERSION", &json!({"cniVersion": "1.1.0"}));
    let supported = version.expect_ok("VERSION")["supportedVersions"].clone();
    assert_eq!(
        supported,
        json!(["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"])
    );
}

#[test]
fn a_route_the_pod_already_has_is_kept() {
    let mut tree = FakeTree::new();
    tree.add_pf(1);
    let ns = Netns::new();
    // The primary network came first and owns the default route.
    ns.ip("link add eth0 type veth peer name eth0p");
    ns.ip("addr add 192.168.50.2/24 dev eth0");
    ns.ip("link set eth0 up");
    ns.ip("route add default via 192.168.50.1");
    let ipam = json!({"type": "host-local", "subnet": "10.86.0.0/24", "dataDir": tree.scratch.join("ipam"),
        "routes": [{"dst": "0.0.0.0/0"}, {"dst": "203.0.113.0/24"}]});
    let conf = conf("1.0.0", json!({"if0": tree.pfs[0].name, "ipam": ipam}));
    let pod = tree.pod(&ns);
    pod.call("ADD", &conf).expect_ok("ADD");
    let routes = ns.ip("-4 route");
    assert!(
        routes.contains("default via 192.168.50.1 dev eth0"),
        "{routes}"
    );
    assert!(!routes.contains("default via 10.86.0.1"), "{routes}");
    assert!(
        routes.contains("203.0.113.0/24 via 10.86.0.1 dev net1"),
        "{routes}"
    );
    pod.call("DEL", &conf).expect_ok("DEL");
    tree.assert_restored();
}
