//! The seed's section 4.1 networks through the real `multus` binary with `sriov` delegates on
//! the fake tree: a bridge master (standing in for flannel), sriov-conf with host-local, and
//! sriov-vlanid-l2enable-conf (VLAN 210, `north`, no IP).

mod support;

use serde_json::json;
use support::sriov_tree::*;
use support::*;

#[test]
fn seed_multus_networks_with_sriov_delegates() {
    let mut tree = FakeTree::new();
    tree.add_pf(2);
    tree.add_pf(2);
    let (pf0, pf1) = (tree.pfs[0].clone(), tree.pfs[1].clone());
    let bridge = HostLink::expect("mtb");
    let ipam_dir = tree.scratch.join("ipam");
    let conf = json!({
        "cniVersion": "1.0.0", "name": "multus-multi-net-pod", "type": "multus",
        "cniDir": tree.scratch.join("multus"),
        "delegates": [
            {"name": "flannel-conf", "type": "bridge", "bridge": bridge.name, "isDefaultGateway": true,
             "masterplugin": true, "ipam": {"type": "host-local", "subnet": "192.168.42.0/24", "dataDir": ipam_dir}},
            {"name": "sriov-conf", "type": "sriov", "if0": pf0.name,
             "ipam": {"type": "host-local", "subnet": "10.56.217.0/24", "rangeStart": "10.56.217.171",
                      "rangeEnd": "10.56.217.181", "routes": [{"dst": "0.0.0.0/0"}], "gateway": "10.56.217.1",
                      "dataDir": ipam_dir}},
            {"name": "sriov-vlanid-l2enable-conf", "type": "sriov", "if0": pf1.name, "vlan": 210,
             "if0name": "north", "l2enable": true}
        ]
    });
    let ns = Netns::new();
    let pod = Pod {
        binary: multus_bin(),
        ifname: "eth0".into(),
        ..tree.pod(&ns)
    };

    let result = pod.call("ADD", &conf).expect_ok("multus ADD");
    assert!(result["ips"][0]["address"]
        .as_str()
        .unwrap()
        .starts_with("192.168.42."));
    let mut links = ns.links();
    links.sort();
    assert_eq!(links, ["eth0", "net0", "north"]);
    assert_eq!(ns.ipv4_of("net0"), ["10.56.217.171/24"]);
    assert!(ns.ipv4_of("north").is_empty());
    let routes = ns.ip("-4 route show default");
    assert!(
        routes.starts_with("default via 192.168.42.1 dev eth0"),
        "{routes}"
    );
    assert_eq!(tree.vf_config(1, 0).vlan, 210);
    assert_eq!(tree.vf_config(0, 0).vlan, 0);
    assert_eq!(
        tree.state_files("alloc"),
        [pf0.vfs[0].addr.clone(), pf1.vfs[0].addr.clone()]
    );

    let mut with_prev = conf.clone();
    with_prev["prevResult"] = result;
    pod.call("CHECK", &with_prev).expect_ok("multus CHECK");
    pod.call("DEL", &with_prev).expect_ok("multus DEL");
    assert!(ns.links().is_empty());
    tree.assert_restored();
    pod.call("DEL", &conf).expect_ok("second multus DEL");
}
