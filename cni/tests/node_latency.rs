//! Pod-ready latency on the node tier: kubelet's pods with multus and two delegates (the node's bridge
//! network and a bridge NAD) against the bridge plugin alone as the node's CNI. The installer DaemonSet
//! is moved off the node (its pod removes 00-multus.conf on exit, so containerd falls back to the
//! node's bridge network) and back, in alternating rounds, so that machine noise hits both sides.
//! Prints a table and the ratios: pod create -> Ready as a user sees it (paced by kubelet's once-a-second
//! relist of containers), and kubelet's own RunPodSandbox duration, which holds the CNI ADD. It switches
//! the node's network, so cni/tests/node/run.sh runs it alone. Needs root.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::node::*;
use support::{unique, HostLink, Scratch};

const ROUNDS: usize = 3;
const PODS_PER_ROUND: usize = 3;

/// Creates one pod, waits until Ready (timed), checks its interfaces, deletes it.
fn timed_pod(node: &Node, ns: &str, annotations: Value, interfaces: &[&str]) -> Duration {
    let name = unique("l");
    let started = std::time::Instant::now();
    node.create_pod(ns, &node.pod_manifest(&name, annotations));
    node.wait_ready(ns, &name);
    let took = started.elapsed();
    let links = node.ready_sandbox(ns, &name).links();
    assert_eq!(
        links.iter().map(|l| l.0.as_str()).collect::<Vec<_>>(),
        interfaces,
        "{links:?}"
    );
    node.delete_pod(ns, &name);
    took
}

/// kubelet's RunPodSandbox calls so far: (total seconds, count). The CRI call that includes the CNI ADD.
fn run_sandbox(node: &Node) -> (f64, f64) {
    let series = |s: &str| {
        node.kubelet_metric(&format!(
            "kubelet_runtime_operations_duration_seconds_{s}{{operation_type=\"run_podsandbox\"}}"
        ))
    };
    (series("sum"), series("count"))
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
    nad(
        &node,
        &ns,
        "blue",
        bridge_conf(&bridge.name, "10.246.0.0/24", &scratch.join("ipam")),
    );
    let (mut multus, mut alone) = (Vec::new(), Vec::new());
    // RunPodSandbox (seconds, calls) per side, from kubelet's metrics around each side's pods.
    let (mut multus_sandbox, mut alone_sandbox) = ((0.0, 0.0), (0.0, 0.0));
    let add = |total: &mut (f64, f64), before: (f64, f64), after: (f64, f64)| {
        total.0 += after.0 - before.0;
        total.1 += after.1 - before.1;
    };
    for _ in 0..ROUNDS {
        multus_daemonset(&node, installer_objects(&node), false);
        let before = run_sandbox(&node);
        for _ in 0..PODS_PER_ROUND {
            alone.push(timed_pod(
                &node,
                &ns,
                json!({"k8s.v1.cni.cncf.io/networks": "blue"}),
                &["eth0"],
            ));
        }
        add(&mut alone_sandbox, before, run_sandbox(&node));
        multus_daemonset(&node, installer_objects(&node), true);
        let before = run_sandbox(&node);
        for _ in 0..PODS_PER_ROUND {
            multus.push(timed_pod(
                &node,
                &ns,
                json!({"k8s.v1.cni.cncf.io/networks": "blue"}),
                &["eth0", "net1"],
            ));
        }
        add(&mut multus_sandbox, before, run_sandbox(&node));
    }
    let pods = (ROUNDS * PODS_PER_ROUND) as f64;
    assert_eq!(
        (alone_sandbox.1, multus_sandbox.1),
        (pods, pods),
        "one RunPodSandbox per pod"
    );
    let ms = |d: &Duration| format!("{:.0}", d.as_secs_f64() * 1000.0);
    let row = |label: &str, v: &[Duration], sandbox: (f64, f64)| {
        let mut sorted = v.to_vec();
        sorted.sort();
        println!(
            "| {label} | {} | {} | {} | {:.0} |",
            ms(&median(v.to_vec())),
            ms(&sorted[0]),
            ms(sorted.last().unwrap()),
            sandbox.0 / sandbox.1 * 1000.0
        );
    };
    println!("pod create -> Ready on the node, {ROUNDS} rounds of {PODS_PER_ROUND} pods per side, and kubelet's");
    println!("RunPodSandbox (the CRI call that runs the CNI ADD) from its metrics");
    println!("| node CNI | Ready median ms | min ms | max ms | RunPodSandbox mean ms |\n|---|---|---|---|---|");
    row("bridge alone", &alone, alone_sandbox);
    row(
        "multus + 2 delegates (bridge, bridge NAD)",
        &multus,
        multus_sandbox,
    );
    let ratio = median(multus.clone()).as_secs_f64() / median(alone.clone()).as_secs_f64();
    let sandbox_ratio = (multus_sandbox.0 / multus_sandbox.1) / (alone_sandbox.0 / alone_sandbox.1);
    println!("ratio multus / bridge alone: pod Ready (medians) {ratio:.2}, RunPodSandbox (means) {sandbox_ratio:.2}");
    assert!(ratio.is_finite() && ratio > 0.0, "{multus:?} vs {alone:?}");
    assert!(
        sandbox_ratio.is_finite() && sandbox_ratio > 0.0,
        "{multus_sandbox:?} vs {alone_sandbox:?}"
    );
}
