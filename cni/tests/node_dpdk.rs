//! A DPDK-mode pod on the node tier: the VNF image of `make images`, two VFs of the fake SR-IOV tree bound
//! to vfio-pci by `sriov` (observed in the tree's sysfs), the pod's hugepages and IPC_LOCK accepted by
//! kubelet and runc, and `vlan-firewall` started inside the pod on vdevs (the fake VFs are no devices
//! DPDK could drive). docker/manifests/vnf is used as written except where this node differs: there is
//! no SR-IOV device plugin here, so the NADs name their PF (`if0`, sriov picks a free VF) instead of a
//! device-plugin resource, and the pod asks for less (one core, 128 MiB of hugepages). Needs root.

mod support;

use serde_json::{json, Value};
use support::node::*;
use support::sriov_tree::VF_DRIVER;

#[test]
fn a_dpdk_mode_pod_runs_vlan_firewall_with_vfio_bound_vfs_and_hugepages() {
    let node = Node::connect();
    let ns = node.cluster.namespace("dpdk");
    let mut sriov = NodeSriov::new(&node);
    sriov.tree.add_pf(2);
    let tree = &sriov.tree;
    for mut network in support::k8s::yaml_documents(&manifest("vnf/networks.yaml")) {
        let mut config: Value =
            serde_json::from_str(network["spec"]["config"].as_str().unwrap()).unwrap();
        config["if0"] = json!(tree.pfs[0].name);
        // CNI 1.1.0 results carry the VF's PCI address (pciID), which multus reports as device-info
        // (with a device plugin, multus reports the deviceID it was given instead).
        config["cniVersion"] = json!("1.1.0");
        network["spec"]["config"] = json!(config.to_string());
        network["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("annotations");
        node.cluster.apply(Some(&ns), network);
    }
    let mut objects = support::k8s::yaml_documents(&manifest("vnf/pod.yaml"));
    let mut pod = objects.pop().expect("vnf/pod.yaml ends with the pod");
    for object in objects {
        node.cluster.apply(Some(&ns), object);
    }
    let name = pod["metadata"]["name"].as_str().unwrap().to_string();
    pod["spec"]["nodeName"] = json!(node.name);
    let container = &mut pod["spec"]["containers"][0];
    let image = container["image"].as_str().unwrap().to_string();
    let resources = json!({"cpu": "1", "memory": "256Mi", "hugepages-2Mi": "128Mi"});
    container["resources"] = json!({"requests": resources, "limits": resources});
    container["env"].as_array_mut().unwrap().extend([
        json!({"name": "VNF_PORTS", "value": "net_null0,net_null1"}),
        json!({"name": "VNF_EAL_ARGS", "value": "--in-memory -l 0-1 -m 64 --no-pci --vdev net_null0 --vdev net_null1"}),
    ]);
    node.create_pod(&ns, &pod);
    let pod = node.wait_ready(&ns, &name);
    assert_eq!(pod["status"]["qosClass"], "Guaranteed");

    // sriov bound both VFs to vfio-pci and reported them as device-info.
    let status = node.cluster.network_status(&ns, &name);
    let pci_of = |ifname: &str| {
        status
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["interface"] == ifname)
            .and_then(|e| e["device-info"]["pci"]["pci-address"].as_str())
            .unwrap_or_else(|| panic!("no device-info for {ifname}: {status}"))
            .to_string()
    };
    let (a, b) = (pci_of("net0"), pci_of("north"));
    assert_ne!(a, b);
    for addr in [&a, &b] {
        assert!(
            tree.pfs[0].vfs.iter().any(|vf| &vf.addr == addr),
            "{addr} is a VF of the tree"
        );
        assert_eq!(tree.driver_of(addr).as_deref(), Some("vfio-pci"), "{addr}");
    }

    // The container: the VNF image, IPC_LOCK, the hugepages volume, vlan-firewall running on the vdevs.
    let id = node.container_of(&node.ready_sandbox(&ns, &name));
    let inspect: Value =
        serde_json::from_str(&node.crictl(&["inspect", "-o", "json", &id])).unwrap();
    assert_eq!(inspect["status"]["image"]["image"], image);
    let spec = &inspect["info"]["runtimeSpec"];
    assert!(
        spec["process"]["capabilities"]["effective"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "CAP_IPC_LOCK"),
        "{spec}"
    );
    let mounts = node.crictl(&["exec", &id, "cat", "/proc/mounts"]);
    assert!(
        mounts
            .lines()
            .any(|l| l.contains(" /dev/hugepages hugetlbfs ")),
        "{mounts}"
    );
    wait_for("vlan-firewall forwarding in the pod", || {
        let logs = node.crictl_logs(&id);
        logs.contains("ports net_null0 (A) and net_null1 (B) from VNF_PORTS")
            && logs.contains("vlan-firewall: net_null0 <-> net_null1 on 1 core(s)")
    });
    let pid1 = node.crictl(&["exec", &id, "cat", "/proc/1/comm"]);
    assert_eq!(
        pid1.trim(),
        "vlan-firewall",
        "PID 1 of the container (the entrypoint execs it)"
    );

    node.delete_pod(&ns, &name);
    wait_for("the VFs back on their kernel driver", || {
        [&a, &b]
            .iter()
            .all(|addr| tree.driver_of(addr).as_deref() == Some(VF_DRIVER))
    });
    tree.assert_restored();
}
