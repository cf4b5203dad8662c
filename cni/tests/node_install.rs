//! The node tier's first step (cni/tests/node/run.sh runs it before the other `node_*` tests, which need
//! what it installs): the installer DaemonSet of docker/manifests, applied to the API server, is run by
//! the DaemonSet controller and kubelet on the node, and puts `multus` and `sriov` into the node's CNI
//! bin dir and the multus configuration (wrapping the node's bridge network) into its conf dir, which
//! containerd then loads. Needs root and the node tier.

mod support;

use std::process::Command;

use serde_json::Value;
use support::node::*;

#[test]
fn installer_daemonset_puts_multiplane_on_the_node() {
    let node = Node::connect();
    node.cluster.apply_yaml(None, &manifest("crds.yaml"));
    for object in installer_objects(&node) {
        node.cluster.apply(None, object);
    }
    wait_for("the installer's pod Running on the node", || {
        installer_pod(&node).is_some()
    });
    let multus_conf = node.cni_conf.join("00-multus.conf");
    wait_for("00-multus.conf in the node's conf dir", || {
        multus_conf.exists()
    });

    // The plugins are the installer image's, whole and runnable.
    for plugin in ["multus", "sriov"] {
        let out = Command::new(node.cni_bin.join(plugin))
            .env_clear()
            .env("CNI_COMMAND", "VERSION")
            .output()
            .unwrap_or_else(|e| panic!("{plugin} in the node's bin dir: {e}"));
        let version: Value = serde_json::from_slice(&out.stdout).expect("VERSION answers JSON");
        assert!(
            version["supportedVersions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v == "1.1.0"),
            "{plugin}: {version}"
        );
    }

    // Auto mode: the node's first (only) configuration is the cluster network, by its host path; the
    // kubeconfig is the ServiceAccount's, where the configuration says.
    let conf: Value = serde_json::from_slice(&std::fs::read(&multus_conf).unwrap()).unwrap();
    assert_eq!(conf["type"], "multus", "{conf}");
    assert_eq!(
        conf["clusterNetwork"].as_str(),
        Some(
            node.cni_conf
                .join("10-node-bridge.conflist")
                .to_str()
                .unwrap()
        ),
        "{conf}"
    );
    let kubeconfig = std::fs::read_to_string(conf["kubeconfig"].as_str().unwrap())
        .expect("the kubeconfig multus is given");
    assert!(kubeconfig.contains(&node.cluster.server), "{kubeconfig}");
    assert!(
        kubeconfig.contains("token"),
        "a ServiceAccount token: {kubeconfig}"
    );
    assert_eq!(
        conf["binDir"].as_str(),
        Some(node.cni_bin.to_str().unwrap())
    );

    // containerd loads it (the first file of its conf dir) and the node turns Ready.
    wait_for("containerd's CNI configuration is multus's", || {
        let info: Value = serde_json::from_str(&node.crictl(&["info"])).unwrap();
        info["cniconfig"]["Networks"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|n| n["Config"]["Name"] == "multus-cni-network")
    });
    wait_for("the Node Ready", || {
        let n = node
            .cluster
            .get("v1", "Node", None, &node.name)
            .expect("the Node");
        condition(&n, "Ready")
    });
}
