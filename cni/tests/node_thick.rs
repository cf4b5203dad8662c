//! Multus's thick plugin on the node tier's node: `docker/manifests/multus-thick.yaml` in place of
//! installer.yaml's DaemonSet. Its install container puts `multus-shim` on the node and makes
//! 00-multus.conf call it; its daemon container runs `multus-daemon` in the host's root; kubelet's pods
//! get their networks through shim and daemon, network-status included, and leave nothing. Then the
//! thin installer comes back. It switches the node's network, so cni/tests/node/run.sh runs it alone.
//! Needs root.

mod support;

use serde_json::Value;
use support::multus_k8s::status_summary;
use support::node::*;
use support::Scratch;

/// Puts the thin installer back in the thick DaemonSet's place when the test ends, passed or failed
/// (the tests after this one, and down.sh's removal of the sandboxes through the node's CNI, need it).
struct BackToThin<'a>(&'a Node);

impl Drop for BackToThin<'_> {
    fn drop(&mut self) {
        multus_daemonset(self.0, thick_objects(self.0), false);
        multus_daemonset(self.0, installer_objects(self.0), true);
    }
}

#[test]
fn the_thick_daemonset_serves_kubelets_pods_through_shim_and_daemon() {
    let node = Node::connect();
    multus_daemonset(&node, installer_objects(&node), false);
    let back_to_thin = BackToThin(&node);
    multus_daemonset(&node, thick_objects(&node), true);

    let conf: Value = serde_json::from_slice(
        &std::fs::read(node.cni_conf.join("00-multus.conf")).expect("00-multus.conf"),
    )
    .unwrap();
    assert_eq!(conf["type"], "multus-shim", "{conf}");
    assert!(node.cni_bin.join("multus-shim").is_file());
    let socket = std::path::Path::new("/run/multus/multus.sock");
    wait_for("the daemon's socket on the host", || socket.exists());

    let ns = node.cluster.namespace("thick");
    let scratch = Scratch::new();
    let ipam = scratch.join("ipam");
    let (bridge, name) = pod_on_a_bridge_nad(&node, &ns, "10.246.0.0/24", &ipam);
    let sandbox = node.ready_sandbox(&ns, &name);
    let links = sandbox.links();
    let names: Vec<&str> = links.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["eth0", "net1"], "{links:?}");
    assert!(
        address_of(&links, "net1").starts_with("10.246.0."),
        "{links:?}"
    );
    let status = node.cluster.network_status(&ns, &name);
    assert_eq!(
        status_summary(status.as_array().expect("network-status")),
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
        ]
    );
    // multus's own log lines (its logFile, which the daemon writes): one ADD per network.
    assert_eq!(
        node.multus_log(&format!("in {}", sandbox.id)).len(),
        2,
        "one ADD per network"
    );

    node.delete_pod(&ns, &name);
    wait_for("the pod's sandbox stopped", || {
        node.sandboxes(&ns, &name).iter().all(|s| !s.ready)
    });
    assert_eq!(bridge.ports(), Vec::<String>::new());
    assert!(!sandbox.netns.as_ref().unwrap().exists());
    assert_nothing_left(&sandbox.id, &[&ipam, &node.state.join("ipam")]);

    drop(back_to_thin);
    assert!(!socket.exists(), "the daemon removed its socket on SIGTERM");
}
