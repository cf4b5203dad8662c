//! A DPDK-mode pod on the node tier, from docker/manifests/vnf: the NADs as written (each an SR-IOV
//! network in DPDK mode tied to the device plugin's resource), the VNF pod asking for two VFs of that
//! resource. The node tier's device plugin advertises the fake SR-IOV tree's VFs; kubelet allocates two,
//! multus learns them from kubelet's PodResources API and hands them to `sriov` as deviceID, which binds
//! them to vfio-pci (observed in the tree's sysfs). The pod's hugepages and IPC_LOCK are accepted by
//! kubelet and runc and `vlan-firewall` runs inside it on vdevs (the fake VFs are no devices DPDK could
//! drive). The pod asks for less than the manifest (one core, 128 MiB of hugepages). Needs root.

mod support;

use serde_json::{json, Value};
use support::node::*;
use support::sriov_tree::VF_DRIVER;

#[test]
fn a_dpdk_mode_pod_runs_vlan_firewall_on_the_vfs_kubelet_allocated() {
    let node = Node::connect();
    let ns = node.cluster.namespace("dpdk");
    let mut sriov = NodeSriov::new(&node);
    sriov.tree.add_pf(3);
    let tree = &sriov.tree;
    let vfs: Vec<String> = tree.pfs[0].vfs.iter().map(|vf| vf.addr.clone()).collect();
    let networks = support::k8s::yaml_documents(&manifest("vnf/networks.yaml"));
    let resource = networks[0]["metadata"]["annotations"]["k8s.v1.cni.cncf.io/resourceName"]
        .as_str()
        .expect("the NADs name their device plugin resource")
        .to_string();
    let _plugin = DevicePlugin::start(&node, &resource, &vfs);
    for network in networks {
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
    let wanted = &container["resources"]["limits"][&resource];
    assert_eq!(wanted, "2", "the manifest's pod asks for two VFs");
    let resources =
        json!({"cpu": "1", "memory": "256Mi", "hugepages-2Mi": "128Mi", resource.clone(): "2"});
    container["resources"] = json!({"requests": resources, "limits": resources});
    container["env"].as_array_mut().unwrap().extend([
        json!({"name": "VNF_PORTS", "value": "net_null0,net_null1"}),
        json!({"name": "VNF_EAL_ARGS",
               "value": "--in-memory -l 0-1 -m 64 --no-pci --vdev net_null0 --vdev net_null1"}),
    ]);
    node.create_pod(&ns, &pod);
    let pod = node.wait_ready(&ns, &name);
    assert_eq!(pod["status"]["qosClass"], "Guaranteed");
    let id = node.container_of(&node.ready_sandbox(&ns, &name));

    // kubelet allocated two of the VFs; multus gave exactly those to sriov, which bound them to vfio-pci
    // and reported them as device-info.
    let variable = format!(
        "PCIDEVICE_{}=",
        resource
            .to_uppercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    );
    let env = node.crictl(&["exec", &id, "env"]);
    let mut allocated: Vec<String> = env
        .lines()
        .find_map(|l| l.strip_prefix(&variable))
        .unwrap_or_else(|| panic!("{variable} in the container: {env}"))
        .split(',')
        .map(str::to_string)
        .collect();
    allocated.sort();
    assert_eq!(allocated.len(), 2, "{allocated:?}");
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
    let mut attached = vec![pci_of("net0"), pci_of("north")];
    attached.sort();
    assert_eq!(
        attached, allocated,
        "the VFs attached are the ones kubelet allocated"
    );
    for addr in &vfs {
        let driver = tree.driver_of(addr);
        if allocated.contains(addr) {
            assert_eq!(driver.as_deref(), Some("vfio-pci"), "{addr}");
        } else {
            assert_eq!(
                driver.as_deref(),
                Some(VF_DRIVER),
                "{addr} was not allocated"
            );
        }
    }

    // The container: the VNF image, IPC_LOCK, the hugepages volume, vlan-firewall running on the vdevs.
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
        vfs.iter()
            .all(|addr| tree.driver_of(addr).as_deref() == Some(VF_DRIVER))
    });
    tree.assert_restored();
}
