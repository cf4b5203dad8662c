//! The real runtime library: Debian's libcni (through the Go driver in tests/libcni-driver)
//! runs ADD -> CHECK -> DEL -> DEL against the `sriov` binary, in both modes and both config
//! forms, with the reference host-local IPAM.

mod support;

use std::path::Path;

use serde_json::{json, Value};
use support::sriov_tree::*;
use support::*;

/// Runs the libcni driver's `lifecycle` for `network` (a conf or conflist) in `ns`.
fn lifecycle(tree: &FakeTree, network: &Value, ns: &Netns) -> Reply {
    let file = tree.scratch.join(&format!("{}.json", unique("net")));
    std::fs::write(&file, serde_json::to_vec_pretty(network).unwrap()).unwrap();
    let cache = tree.scratch.join("libcni-cache");
    drive("lifecycle", &file, &tree.pod(ns), &cache)
}

fn setup(vfs: u32) -> (FakeTree, Netns) {
    let mut tree = FakeTree::new();
    tree.add_pf(vfs);
    (tree, Netns::new())
}

fn ipam(tree: &FakeTree) -> Value {
    host_local(tree, "10.80.0.0/24")
}

#[test]
fn libcni_kernel_mode_modern_form() {
    let (tree, ns) = setup(2);
    let vf = &tree.pfs[0].vfs[1];
    let network = conf(
        "1.0.0",
        json!({"deviceID": vf.addr, "vlan": 42, "mac": "02:00:00:00:10:01", "trust": "on", "ipam": ipam(&tree)}),
    );
    let result = lifecycle(&tree, &network, &ns).expect_ok("libcni lifecycle");
    assert_eq!(result["interfaces"][0]["name"], "net1");
    assert_eq!(result["interfaces"][0]["mac"], "02:00:00:00:10:01");
    assert_eq!(result["ips"][0]["address"], "10.80.0.2/24");
    tree.assert_restored();
    assert_eq!(
        tree.sent_text(),
        [
            "mac 02:00:00:00:10:01",
            "vlan 42 qos 0 proto Dot1Q",
            "trust on",
            "trust off",
            "vlan 0 qos 0 proto Dot1Q",
            "mac 00:00:00:00:00:00",
        ],
        "applied in order, restored in reverse"
    );
}

#[test]
fn libcni_kernel_mode_seed_form_chained_with_tuning() {
    let (tree, ns) = setup(2);
    // The seed's sriov-conf, followed by a reference plugin that works on our result.
    let network = json!({"cniVersion": "0.4.0", "name": "sriov-conf", "plugins": [
        {"type": "sriov", "if0": tree.pfs[0].name, "ipam": ipam(&tree)},
        {"type": "tuning", "sysctl": {"net.ipv4.conf.net1.arp_ignore": "1"}}
    ]});
    let result = lifecycle(&tree, &network, &ns).expect_ok("libcni lifecycle");
    assert_eq!(result["cniVersion"], "0.4.0");
    assert_eq!(result["interfaces"][0]["name"], "net1");
    assert_eq!(result["ips"][0]["version"], "4");
    tree.assert_restored();
}

#[test]
fn libcni_kernel_mode_seed_form_vlan_l2enable() {
    let (tree, ns) = setup(2);
    // The seed's sriov-vlanid-l2enable-conf.
    let network = conf(
        "0.4.0",
        json!({"if0": tree.pfs[0].name, "vlan": 210, "if0name": "north", "l2enable": true}),
    );
    let result = lifecycle(&tree, &network, &ns).expect_ok("libcni lifecycle");
    assert_eq!(result["interfaces"][0]["name"], "north");
    assert!(result.get("ips").is_none());
    tree.assert_restored();
    let vlans: Vec<String> = tree.sent_text();
    assert_eq!(
        vlans,
        ["vlan 210 qos 0 proto Dot1Q", "vlan 0 qos 0 proto Dot1Q"]
    );
}

#[test]
fn libcni_dpdk_mode_modern_form() {
    let (tree, ns) = setup(2);
    let vf = &tree.pfs[0].vfs[0];
    let network = conf(
        "1.0.0",
        json!({"deviceID": vf.addr, "dpdkDriver": "vfio-pci", "vlan": 5, "ipam": ipam(&tree)}),
    );
    let result = lifecycle(&tree, &network, &ns).expect_ok("libcni lifecycle");
    assert_eq!(result["interfaces"][0]["name"], "net1");
    assert_eq!(
        result["ips"][0]["address"], "10.80.0.2/24",
        "IPAM reported for the DPDK app to use"
    );
    assert!(ns.links().is_empty());
    tree.assert_restored();
    assert!(!Path::new(&tree.scratch.join("dev/vfio").join(vf.group.to_string())).exists());
}

#[test]
fn libcni_dpdk_mode_seed_form() {
    let (tree, ns) = setup(2);
    let network = conf(
        "0.4.0",
        json!({"if0": tree.pfs[0].name, "if0name": "north0", "dpdk": {"kernel_driver": "igbvf",
            "dpdk_driver": "vfio-pci", "dpdk_tool": "/root/dpdk/tools/dpdk-devbind.py"}}),
    );
    let result = lifecycle(&tree, &network, &ns).expect_ok("libcni lifecycle");
    assert_eq!(result["interfaces"][0]["name"], "north0");
    tree.assert_restored();
}
