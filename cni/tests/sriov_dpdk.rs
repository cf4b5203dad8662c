//! DPDK mode on the fake tree: the VF leaves igbvf for vfio-pci through driver_override +
//! unbind + drivers_probe (answered by the emulated PCI core), and goes back on DEL.

mod support;

use serde_json::json;
use support::sriov_tree::*;
use support::*;

#[test]
fn seed_dpdk_block_binds_vfio_pci_writes_device_info_and_restores() {
    let mut tree = FakeTree::new();
    tree.add_pf(3);
    let pf = tree.pfs[0].clone();
    let vf = pf.vfs[1].clone();
    let ns = Netns::new();
    let mut pod = tree.pod(&ns);
    let devinfo = tree.scratch.join("devinfo/net1.json");
    pod.args = format!("IgnoreUnknown=1;CNIDeviceInfoFile={}", devinfo.display());
    let conf = conf(
        "1.1.0",
        json!({"if0": pf.name, "vf": 1, "if0name": "north0", "vlan": 300, "mac": "02:00:00:00:05:13", "dpdk": {
            "kernel_driver": "igbvf", "dpdk_driver": "vfio-pci", "dpdk_tool": "/root/dpdk/tools/dpdk-devbind.py"}}),
    );

    let result = pod.call("ADD", &conf).expect_ok("ADD");
    assert_eq!(result["interfaces"][0]["name"], "north0");
    assert_eq!(result["interfaces"][0]["pciID"], vf.addr.as_str());
    assert_eq!(tree.driver_of(&vf.addr).as_deref(), Some("vfio-pci"));
    assert_eq!(tree.driver_override(&vf.addr), "vfio-pci");
    assert!(tree.vfio_node(vf.group), "/dev/vfio/<group> is there");
    assert!(
        ns.links().is_empty(),
        "nothing moved into the pod in DPDK mode"
    );
    assert_eq!(tree.vf_config(0, 1).vlan, 300);
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&devinfo).unwrap()).unwrap();
    assert_eq!(
        info,
        json!({"type": "pci", "version": "1.1.0", "pci": {"pci-address": vf.addr, "pf-pci-address": pf.addr}})
    );
    for other in [&pf.vfs[0], &pf.vfs[2]] {
        assert_eq!(
            tree.driver_of(&other.addr).as_deref(),
            Some(VF_DRIVER),
            "other VFs untouched"
        );
    }

    let mut chained = conf.clone();
    chained["prevResult"] = result;
    pod.call("CHECK", &chained).expect_ok("CHECK");

    // Someone rebinds the VF behind our back: CHECK says exactly what is wrong.
    tree.prebind(&vf.addr, "uio_pci_generic");
    let (code, msg) = pod.call("CHECK", &chained).expect_err("CHECK after rebind");
    assert_eq!(code, 100);
    assert_eq!(
        msg,
        format!(
            "VF {} is bound to Some(\"uio_pci_generic\"), expected vfio-pci",
            vf.addr
        )
    );
    tree.prebind(&vf.addr, "vfio-pci");

    pod.call("DEL", &chained).expect_ok("DEL");
    assert_eq!(tree.driver_of(&vf.addr).as_deref(), Some(VF_DRIVER));
    assert_eq!(tree.driver_override(&vf.addr), "", "override cleared");
    assert!(!tree.vfio_node(vf.group));
    assert!(tree
        .sys()
        .join("devices/pci0000:00")
        .join(&vf.addr)
        .join("net")
        .join(&vf.netdev)
        .exists());
    assert!(!devinfo.exists(), "our device-info file is removed");
    // Includes the netdev's own MAC: a rebound igbvf comes up with the PF-imposed or a random one.
    tree.assert_restored();
    pod.call("DEL", &chained).expect_ok("second DEL");
    tree.assert_restored();
}

#[test]
fn a_vf_already_on_vfio_pci_is_dpdk_mode_and_stays_bound() {
    let mut tree = FakeTree::new();
    tree.add_pf(2);
    let vf = tree.pfs[0].vfs[0].clone();
    tree.prebind(&vf.addr, "vfio-pci");
    let ns = Netns::new();
    let pod = tree.pod(&ns);
    let conf = conf(
        "1.0.0",
        json!({"deviceID": vf.addr, "mac": "02:00:00:00:00:42"}),
    );
    let result = pod.call("ADD", &conf).expect_ok("ADD");
    assert_eq!(result["interfaces"][0]["name"], "net1");
    assert_eq!(result["interfaces"][0]["mac"], "02:00:00:00:00:42");
    assert!(
        result["interfaces"][0].get("pciID").is_none(),
        "pciID is 1.1 only"
    );
    assert_eq!(
        tree.vf_config(0, 0).mac.to_string(),
        "02:00:00:00:00:42",
        "VF MAC set through the PF"
    );
    pod.call("DEL", &conf).expect_ok("DEL");
    assert_eq!(
        tree.driver_of(&vf.addr).as_deref(),
        Some("vfio-pci"),
        "restored to what it was"
    );
    assert_eq!(tree.driver_override(&vf.addr), "vfio-pci");
    assert!(tree.vfio_node(vf.group));
    assert_eq!(tree.vf_config(0, 0).mac.to_string(), "00:00:00:00:00:00");
}

#[test]
fn a_driver_that_is_not_loaded_is_refused_before_anything_changes() {
    let mut tree = FakeTree::new();
    tree.add_pf(1);
    let vf = tree.pfs[0].vfs[0].clone();
    let ns = Netns::new();
    let pod = tree.pod(&ns);
    let conf = conf(
        "1.0.0",
        json!({"deviceID": vf.addr, "vlan": 5, "dpdkDriver": "igb_uio"}),
    );
    let (code, msg) = pod.call("ADD", &conf).expect_err("ADD");
    assert_eq!(code, 7);
    assert!(
        msg.starts_with("dpdk.dpdk_driver: driver igb_uio is not loaded"),
        "{msg}"
    );
    assert_eq!(tree.driver_of(&vf.addr).as_deref(), Some(VF_DRIVER));
    assert_eq!(
        tree.vf_config(0, 0).vlan,
        0,
        "the VLAN set before binding was rolled back"
    );
    assert!(tree.state_files("alloc").is_empty());
}
