//! Pods run by kubelet on the node tier's node: containerd calls the installed `multus` (its cluster
//! network: the node's bridge) for each sandbox, and multus the delegates the pod's annotations select.
//! Interfaces are read inside the sandbox's network namespace, found through containerd's CRI.
//! Runs in `make node` after node_install; needs root.

mod support;

use serde_json::{json, Value};
use support::multus_k8s::status_summary;
use support::node::*;
use support::sriov_tree::VF_DRIVER;
use support::{unique, HostLink, Scratch};

#[test]
fn a_pod_with_two_nads_gets_eth0_net1_net2_and_delete_leaves_nothing() {
    let node = Node::connect();
    let ns = node.cluster.namespace("two");
    let scratch = Scratch::new();
    let ipam = scratch.join("ipam");
    let (bridge, master) = (HostLink::expect("mtb"), HostLink::veth().up());
    nad(
        &node,
        &ns,
        "blue",
        bridge_conf(&bridge.name, "10.241.0.0/24", &ipam),
    );
    nad(
        &node,
        &ns,
        "green",
        json!({"cniVersion": "1.0.0", "type": "macvlan", "master": master.name, "mode": "bridge",
        "ipam": {"type": "host-local", "subnet": "10.242.0.0/24", "dataDir": ipam}}),
    );
    let name = unique("p");
    node.create_pod(
        &ns,
        &node.pod_manifest(&name, json!({"k8s.v1.cni.cncf.io/networks": "blue, green"})),
    );
    let pod = node.wait_ready(&ns, &name);

    let sandbox = node.ready_sandbox(&ns, &name);
    let links = sandbox.links();
    let names: Vec<&str> = links.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["eth0", "net1", "net2"], "{links:?}");
    assert!(
        address_of(&links, "eth0").starts_with("10.240.0."),
        "{links:?}"
    );
    assert!(
        address_of(&links, "net1").starts_with("10.241.0."),
        "{links:?}"
    );
    assert!(
        address_of(&links, "net2").starts_with("10.242.0."),
        "{links:?}"
    );
    // kubelet's pod IP is the cluster network's, as the runtime reported multus's result.
    assert_eq!(
        pod["status"]["podIP"],
        address_of(&links, "eth0"),
        "{}",
        pod["status"]
    );
    let status = node
        .cluster
        .network_status(&ns, &name)
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        status_summary(&status),
        [
            (
                "node-bridge".to_string(),
                "eth0".into(),
                vec![address_of(&links, "eth0")],
                true
            ),
            (
                format!("{ns}/blue"),
                "net1".into(),
                vec![address_of(&links, "net1")],
                false
            ),
            (
                format!("{ns}/green"),
                "net2".into(),
                vec![address_of(&links, "net2")],
                false
            ),
        ]
    );
    // The pod's container sees the same (as `kubectl exec <pod> -- ip addr` would show; busybox's ip).
    let inside = node.crictl(&["exec", &node.container_of(&sandbox), "ip", "-4", "addr"]);
    let mut seen = Links::new();
    for line in inside.lines() {
        if let Some(name) = line.split(": ").nth(1).filter(|_| !line.starts_with(' ')) {
            seen.push((name.split('@').next().unwrap().to_string(), Vec::new()));
        } else if let (Some(last), Some(inet)) =
            (seen.last_mut(), line.trim().strip_prefix("inet "))
        {
            last.1
                .push(inet.split_whitespace().next().unwrap().to_string());
        }
    }
    seen.retain(|(name, _)| name != "lo");
    seen.sort();
    assert_eq!(seen, links, "the container's view: {inside}");
    assert_eq!(bridge.ports().len(), 1, "the pod's veth on {}", bridge.name);
    assert_eq!(
        node.multus_log(&format!("in {}", sandbox.id)).len(),
        3,
        "one ADD per network"
    );

    node.delete_pod(&ns, &name);
    wait_for("the pod's sandbox stopped", || {
        node.sandboxes(&ns, &name).iter().all(|s| !s.ready)
    });
    assert_eq!(
        bridge.ports(),
        Vec::<String>::new(),
        "the pod's veth left on {}",
        bridge.name
    );
    assert!(
        !sandbox.netns.as_ref().unwrap().exists(),
        "the sandbox's netns is gone"
    );
    assert_nothing_left(&sandbox.id, &[&ipam, &node.state.join("ipam")]);
}

#[test]
fn the_seed_pod_gets_its_sriov_vfs_on_the_fake_tree() {
    let node = Node::connect();
    let ns = node.cluster.namespace("seed");
    let mut sriov = NodeSriov::new(&node);
    sriov.tree.add_pf(2);
    sriov.tree.add_pf(2);
    let tree = &sriov.tree;
    let (pf0, pf1) = (tree.pfs[0].name.clone(), tree.pfs[1].name.clone());
    let flannel = HostLink::expect("mtb");
    let ipam = tree.scratch.join("ipam");
    // The seed's section 4.1.3 objects from docker/manifests/seed/networks.yaml, with this machine's
    // names: a bridge stands in for flannel, the PFs are the tree's, IPAM keeps leases in the tree.
    for mut network in support::k8s::yaml_documents(&manifest("seed/networks.yaml")) {
        let mut args: Vec<Value> = serde_json::from_str(network["args"].as_str().unwrap()).unwrap();
        match network["metadata"]["name"].as_str().unwrap() {
            "flannel-conf" => {
                network["plugin"] = json!("bridge");
                args[0] = json!({"bridge": flannel.name, "isDefaultGateway": true,
                    "ipam": {"type": "host-local", "subnet": "10.243.0.0/24", "dataDir": ipam}});
            }
            "sriov-conf" => {
                args[0]["if0"] = json!(pf0);
                args[0]["ipam"]["dataDir"] = json!(ipam);
            }
            "sriov-vlanid-l2enable-conf" => args[0]["if0"] = json!(pf1),
            other => panic!("seed/networks.yaml: unexpected network {other}"),
        }
        network["args"] = json!(Value::Array(args).to_string());
        node.cluster.apply(Some(&ns), network);
    }
    let seed_pod = support::k8s::yaml_documents(&manifest("seed/pod.yaml")).remove(0);
    let name = seed_pod["metadata"]["name"].as_str().unwrap().to_string();
    let mut pod = node.pod_manifest(&name, seed_pod["metadata"]["annotations"].clone());
    pod["spec"]["containers"][0]["command"] = seed_pod["spec"]["containers"][0]["command"].clone();
    node.create_pod(&ns, &pod);
    node.wait_ready(&ns, &name);

    // Section 4.3: flannel-conf's stand-in is eth0, sriov-conf's VF net0 with 10.56.217.171/24, north
    // with no address and VLAN 210 on its PF. The seed's networks replace the cluster network that the
    // installer's auto mode configures, as they replaced the delegates in the seed.
    let sandbox = node.ready_sandbox(&ns, &name);
    let links = sandbox.links();
    let status = node
        .cluster
        .network_status(&ns, &name)
        .as_array()
        .cloned()
        .unwrap_or_default();
    let address = |ifname: &str| {
        links
            .iter()
            .find(|l| l.0 == ifname)
            .map(|l| l.1.clone())
            .unwrap_or_default()
    };
    let ip = |ifname: &str| {
        address(ifname)
            .iter()
            .map(|a| a.split('/').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        status_summary(&status),
        [
            (
                format!("{ns}/flannel-conf"),
                "eth0".into(),
                ip("eth0"),
                true
            ),
            (
                format!("{ns}/sriov-conf"),
                "net0".into(),
                vec!["10.56.217.171".to_string()],
                false
            ),
            (
                format!("{ns}/sriov-vlanid-l2enable-conf"),
                "north".into(),
                vec![],
                false
            ),
        ]
    );
    assert_eq!(links.len(), 3, "{links:?}");
    assert_eq!(address("net0"), ["10.56.217.171/24"]);
    assert!(address("north").is_empty(), "{links:?}");
    assert!(address("eth0")[0].starts_with("10.243.0."), "{links:?}");
    assert_eq!(tree.vf_config(1, 0).vlan, 210);
    assert_eq!(
        status[1]["mac"],
        sandbox
            .ip("-o link show net0")
            .split("link/ether ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
    );

    node.delete_pod(&ns, &name);
    wait_for("the VFs back in the host", || {
        tree.pfs
            .iter()
            .all(|pf| tree.driver_of(&pf.vfs[0].addr).as_deref() == Some(VF_DRIVER))
            && tree.state_files("attachments").is_empty()
    });
    tree.assert_restored();
    assert_nothing_left(&sandbox.id, &[&node.state.join("ipam")]);
}

#[test]
fn twenty_pods_created_at_once_all_get_their_networks_and_leave_nothing() {
    let node = Node::connect();
    let ns = node.cluster.namespace("twenty");
    let scratch = Scratch::new();
    let ipam = scratch.join("ipam");
    let bridge = HostLink::expect("mtb");
    nad(
        &node,
        &ns,
        "blue",
        bridge_conf(&bridge.name, "10.244.0.0/24", &ipam),
    );
    let names: Vec<String> = (0..20).map(|_| unique("m")).collect();
    for name in &names {
        node.create_pod(
            &ns,
            &node.pod_manifest(name, json!({"k8s.v1.cni.cncf.io/networks": "blue"})),
        );
    }
    let mut sandboxes = Vec::new();
    let mut addresses = Vec::new();
    for name in &names {
        node.wait_ready(&ns, name);
        let sandbox = node.ready_sandbox(&ns, name);
        let links = sandbox.links();
        assert_eq!(
            links.iter().map(|l| l.0.as_str()).collect::<Vec<_>>(),
            ["eth0", "net1"],
            "{name}: {links:?}"
        );
        let status = node.cluster.network_status(&ns, name);
        assert_eq!(
            status_summary(status.as_array().unwrap()),
            [
                (
                    "node-bridge".to_string(),
                    "eth0".into(),
                    vec![address_of(&links, "eth0")],
                    true
                ),
                (
                    format!("{ns}/blue"),
                    "net1".into(),
                    vec![address_of(&links, "net1")],
                    false
                ),
            ],
            "{name}"
        );
        addresses.push(address_of(&links, "net1"));
        sandboxes.push(sandbox);
    }
    addresses.sort();
    addresses.dedup();
    assert_eq!(
        addresses.len(),
        20,
        "20 distinct addresses on blue: {addresses:?}"
    );
    assert_eq!(bridge.ports().len(), 20);

    for name in &names {
        node.delete_pod_nowait(&ns, name);
    }
    for name in &names {
        node.wait_gone(&ns, name);
    }
    wait_for("every sandbox stopped", || {
        names
            .iter()
            .all(|n| node.sandboxes(&ns, n).iter().all(|s| !s.ready))
    });
    assert_eq!(
        bridge.ports(),
        Vec::<String>::new(),
        "veths left on {}",
        bridge.name
    );
    for sandbox in &sandboxes {
        assert_nothing_left(&sandbox.id, &[&ipam, &node.state.join("ipam")]);
    }
}
