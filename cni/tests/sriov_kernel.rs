//! Kernel mode on the fake tree: the VF netdev (a real veth end) goes into a real pod
//! namespace under the pod's name, with IPAM from the reference host-local plugin, and
//! comes back exactly on DEL.

mod support;

use serde_json::json;
use support::sriov_tree::*;
use support::*;

use cni::netlink::{LinkState, VfSetting, VlanProto};

#[test]
fn modern_form_add_check_del_restores_everything() {
    let mut tree = FakeTree::new();
    tree.add_pf(4);
    let vf = tree.pfs[0].vfs[2].clone();
    let pod_ns = Netns::new();
    let rt = tree.pod(&pod_ns);
    let conf = conf(
        "1.1.0",
        json!({"deviceID": vf.addr, "vlan": 210, "vlanQoS": 2, "mac": "02:00:00:aa:bb:cc", "spoofchk": "off",
               "trust": "on", "link_state": "enable", "min_tx_rate": 10, "max_tx_rate": 500,
               "ipam": host_local(&tree, "10.77.0.0/24")}),
    );

    let result = rt.call("ADD", &conf).expect_ok("ADD");
    assert_eq!(result["cniVersion"], "1.1.0");
    assert_eq!(result["interfaces"][0]["name"], "net1");
    assert_eq!(result["interfaces"][0]["mac"], "02:00:00:aa:bb:cc");
    assert_eq!(result["interfaces"][0]["pciID"], vf.addr.as_str());
    assert_eq!(
        result["interfaces"][0]["sandbox"],
        pod_ns.path().display().to_string()
    );
    assert_eq!(result["ips"][0]["address"], "10.77.0.2/24");
    assert_eq!(result["ips"][0]["interface"], 0);

    // The real veth end is in the pod, renamed, re-MACed, addressed, routed.
    assert_eq!(pod_ns.links(), vec!["net1".to_string()]);
    assert_eq!(pod_ns.ipv4_of("net1"), vec!["10.77.0.2/24".to_string()]);
    let link = pod_ns.ip("-o link show net1");
    assert!(
        link.contains("02:00:00:aa:bb:cc") && link.contains(",UP"),
        "{link}"
    );
    let routes = pod_ns.ip("route");
    assert!(
        routes.contains("198.51.100.0/24 via 10.77.0.1 dev net1"),
        "{routes}"
    );
    assert!(!host_links().contains(&vf.netdev));

    // The PF received exactly the requested settings, each once, in order.
    let sent: Vec<VfSetting> = tree.sent();
    assert_eq!(
        sent,
        vec![
            VfSetting::Mac {
                mac: "02:00:00:aa:bb:cc".parse().unwrap()
            },
            VfSetting::Vlan {
                vlan: 210,
                qos: 2,
                proto: VlanProto::Dot1Q
            },
            VfSetting::SpoofCheck { on: false },
            VfSetting::Trust { on: true },
            VfSetting::LinkState {
                state: LinkState::Enable
            },
            VfSetting::Rate { min: 10, max: 500 },
        ]
    );
    assert!(tree
        .journal()
        .entries()
        .unwrap()
        .iter()
        .all(|e| e.pf == tree.pfs[0].name && e.vf == 2));
    assert_eq!(tree.state_files("alloc"), vec![vf.addr.clone()]);

    let mut check_conf = conf.clone();
    check_conf["prevResult"] = result.clone();
    rt.call("CHECK", &check_conf).expect_ok("CHECK");

    rt.call("DEL", &check_conf).expect_ok("DEL");
    assert!(pod_ns.links().is_empty());
    tree.assert_restored();

    // DEL is idempotent.
    rt.call("DEL", &check_conf).expect_ok("second DEL");
    tree.assert_restored();
}

#[test]
fn seed_form_picks_the_first_free_vf_and_keeps_l2_only() {
    let mut tree = FakeTree::new();
    tree.add_pf(2);
    let pf = tree.pfs[0].clone();
    let (ns_a, ns_b, ns_c) = (Netns::new(), Netns::new(), Netns::new());
    let seed = conf(
        "0.3.1",
        json!({"if0": pf.name, "vlan": 210, "if0name": "north", "l2enable": true,
               "ipam": host_local(&tree, "10.78.0.0/24")}),
    );
    let a = tree.pod(&ns_a);
    let b = tree.pod(&ns_b);
    let c = tree.pod(&ns_c);
    let res_a = a.call("ADD", &seed).expect_ok("ADD a");
    assert_eq!(res_a["cniVersion"], "0.3.1");
    assert_eq!(res_a["interfaces"][0]["name"], "north");
    assert!(
        res_a["interfaces"][0].get("pciID").is_none(),
        "pciID is 1.1 only"
    );
    assert!(res_a.get("ips").is_none(), "l2enable: no IP");
    b.call("ADD", &seed).expect_ok("ADD b");
    assert_eq!(ns_a.links(), vec!["north".to_string()]);
    assert_eq!(ns_b.links(), vec!["north".to_string()]);
    assert!(ns_a.ipv4_of("north").is_empty());
    assert_eq!(tree.vf_config(0, 0).vlan, 210);
    assert_eq!(tree.vf_config(0, 1).vlan, 210);

    let (code, msg) = c.call("ADD", &seed).expect_err("third ADD");
    assert_eq!(code, 11);
    assert!(
        msg.starts_with("if0: no free VF (2 VFs, all allocated)"),
        "{msg}"
    );
    assert!(ns_c.links().is_empty());

    a.call("DEL", &seed).expect_ok("DEL a");
    assert_eq!(tree.vf_config(0, 0).vlan, 0);
    assert_eq!(tree.vf_config(0, 1).vlan, 210, "b's VF untouched");
    let res_c = c.call("ADD", &seed).expect_ok("ADD c reuses VF 0");
    assert_eq!(res_c["interfaces"][0]["name"], "north");
    assert_eq!(
        tree.state_files("alloc"),
        vec![pf.vfs[0].addr.clone(), pf.vfs[1].addr.clone()]
    );
    b.call("DEL", &seed).expect_ok("DEL b");
    c.call("DEL", &seed).expect_ok("DEL c");
    tree.assert_restored();
}

#[test]
fn a_dead_pods_allocation_is_reclaimed_and_its_settings_undone() {
    let mut tree = FakeTree::new();
    tree.add_pf(1);
    let vf = tree.pfs[0].vfs[0].clone();
    let conf = conf(
        "1.0.0",
        json!({"if0": tree.pfs[0].name, "vf": 0, "vlan": 7}),
    );

    // Pod 1 dies without DEL: its netns vanishes, and with it the veth stand-in.
    let ns1 = Netns::new();
    tree.pod(&ns1).call("ADD", &conf).expect_ok("ADD 1");
    ns1.delete();

    // Pod 2 asks for the same VF: the stale allocation is reclaimed and its VLAN undone; the
    // ADD then fails cleanly because this stand-in has no netdev left (a real VF would).
    let ns2 = Netns::new();
    let (code, msg) = tree.pod(&ns2).call("ADD", &conf).expect_err("ADD 2");
    assert_eq!(code, 5, "{msg}");
    assert!(
        msg.contains(&format!(
            "VF {} has no network interface in the host",
            vf.addr
        )),
        "{msg}"
    );
    let vlans: Vec<u16> = tree
        .sent()
        .into_iter()
        .map(|setting| match setting {
            VfSetting::Vlan { vlan, .. } => vlan,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        vlans,
        vec![7, 0],
        "set by pod 1, undone by the reclaim; pod 2 failed before touching the PF"
    );
    assert!(tree.state_files("attachments").is_empty());
    assert!(
        tree.state_files("alloc").is_empty(),
        "the failed ADD released its claim"
    );
    assert!(ns2.links().is_empty());
}

#[test]
fn del_succeeds_when_the_netns_and_the_netdev_are_gone() {
    let mut tree = FakeTree::new();
    tree.add_pf(1);
    let conf = conf("0.4.0", json!({"if0": tree.pfs[0].name, "vlan": 9}));
    let ns = Netns::new();
    let pod = tree.pod(&ns);
    pod.call("ADD", &conf).expect_ok("ADD");
    // The stand-in veth dies with its namespace (a real VF would come back to the host).
    ns.delete();
    let gone = Pod {
        netns: None,
        id: pod.id.clone(),
        ..tree.pod(&ns)
    };
    gone.call("DEL", &conf).expect_ok("DEL");
    gone.call("DEL", &conf).expect_ok("DEL again");
    assert_eq!(tree.vf_config(0, 0).vlan, 0);
    assert!(tree.state_files("alloc").is_empty());
    assert!(tree.state_files("attachments").is_empty());
}
