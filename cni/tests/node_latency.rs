//! Pod-ready latency on the node tier: kubelet's pods with multus and two delegates (the node's bridge
//! network and a bridge NAD) against the bridge plugin alone as the node's CNI. The installer DaemonSet
//! is moved off the node (its pod removes 00-multus.conf on exit, so containerd falls back to the
//! node's bridge network) and back, in alternating rounds, so that machine noise hits both sides.
//! Prints a table and the ratio of the medians. It switches the node's network, so
//! cni/tests/node/run.sh runs it alone. Needs root.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::node::*;
use support::{unique, HostLink, Scratch};

const ROUNDS: usize = 3;
const PODS_PER_ROUND: usize = 3;

/// The name of the network containerd uses for new sandboxes, from `crictl info`.
fn runtime_network(node: &Node) -> Option<String> {
    let info: Value = serde_json::from_str(&node.crictl(&["info"])).unwrap();
    info["cniconfig"]["Networks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["Config"]["Name"].as_str())
        .find(|n| *n != "cni-loopback")
        .map(str::to_string)
}

/// Puts the installer on the node (`on`) or off it, through the DaemonSet's nodeSelector, and waits until
/// containerd uses the network that leaves.
fn installer(node: &Node, on: bool) {
    let mut daemonset = installer_objects(node)
        .into_iter()
        .find(|d| d["kind"] == "DaemonSet")
        .unwrap();
    if !on {
        // Applied without it again, the field is dropped (the tests' field manager owns it).
        daemonset["spec"]["template"]["spec"]["nodeSelector"] = json!({"multiplane.test/installer": "off"});
    }
    node.cluster.apply(None, daemonset);
    let want = if on { "multus-cni-network" } else { "node-bridge" };
    wait_for(&format!("containerd's network {want}"), || runtime_network(node).as_deref() == Some(want));
    if on {
        wait_for("the installer's pod Running", || installer_pod(node).is_some());
    }
}

/// Creates one pod, waits until Ready (timed), checks its interfaces, deletes it.
fn timed_pod(node: &Node, ns: &str, annotations: Value, interfaces: &[&str]) -> Duration {
    let name = unique("l");
    let started = std::time::Instant::now();
    node.create_pod(ns, &node.pod_manifest(&name, annotations));
    node.wait_ready(ns, &name);
    let took = started.elapsed();
    let links = node.ready_sandbox(ns, &name).links();
    assert_eq!(links.iter().map(|l| l.0.as_str()).collect::<Vec<_>>(), interfaces, "{links:?}");
    node.delete_pod(ns, &name);
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
fn pod_ready_latency_multus_with_two_delegates_against_bridge_alone() {
    let node = Node::connect();
    let ns = node.cluster.namespace("latency");
    let scratch = Scratch::new();
    let bridge = HostLink::expect("mtb");
    nad(&node, &ns, "blue", bridge_conf(&bridge.name, "10.246.0.0/24", &scratch.join("ipam")));
    let (mut multus, mut alone) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        installer(&node, false);
        for _ in 0..PODS_PER_ROUND {
            alone.push(timed_pod(&node, &ns, json!({"k8s.v1.cni.cncf.io/networks": "blue"}), &["eth0"]));
        }
        installer(&node, true);
        for _ in 0..PODS_PER_ROUND {
            multus.push(timed_pod(&node, &ns, json!({"k8s.v1.cni.cncf.io/networks": "blue"}), &["eth0", "net1"]));
        }
    }
    let ms = |d: &Duration| format!("{:.0}", d.as_secs_f64() * 1000.0);
    let row = |label: &str, v: &[Duration]| {
        let mut sorted = v.to_vec();
        sorted.sort();
        println!("| {label} | {} | {} | {} |", ms(&median(v.to_vec())), ms(&sorted[0]), ms(sorted.last().unwrap()));
    };
    println!("pod create -> Ready on the node, {ROUNDS} rounds of {PODS_PER_ROUND} pods per side");
    println!("| node CNI | median ms | min ms | max ms |\n|---|---|---|---|");
    row("bridge alone", &alone);
    row("multus + 2 delegates (bridge, bridge NAD)", &multus);
    let ratio = median(multus.clone()).as_secs_f64() / median(alone.clone()).as_secs_f64();
    println!("ratio of medians (multus / bridge alone): {ratio:.2}");
    assert!(ratio.is_finite() && ratio > 0.0, "{multus:?} vs {alone:?}");
}
