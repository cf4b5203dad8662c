//! The node tier's restart faults: kubelet restarted while pods run, containerd killed while a pod's ADD
//! is under way. They stop the node's daemons, so cni/tests/node/run.sh runs them one at a time, after
//! the other `node_*` tests. Needs root.

mod support;

use std::path::{Path, PathBuf};

use serde_json::json;
use support::node::*;
use support::{unique, Scratch};

#[test]
fn kubelet_restarted_with_pods_running_adds_nothing_again_and_delete_still_works() {
    let node = Node::connect();
    let ns = node.cluster.namespace("kubelet");
    let scratch = Scratch::new();
    let ipam = scratch.join("ipam");
    let (bridge, name) = pod_on_a_bridge_nad(&node, &ns, "10.245.0.0/24", &ipam);
    let before = node.ready_sandbox(&ns, &name);
    let links = before.links();
    let adds = |id: &str| node.multus_log(&format!("in {id}")).len();
    assert_eq!(adds(&before.id), 2, "cluster network and blue");

    node.daemon("stop", "kubelet");
    node.daemon("start", "kubelet");
    // kubelet is back at work once it runs a new pod; by then it has synced the old one too.
    let probe = unique("k");
    node.create_pod(&ns, &node.pod_manifest(&probe, json!({})));
    node.wait_ready(&ns, &probe);
    node.wait_ready(&ns, &name);
    let after = node.sandboxes(&ns, &name);
    assert_eq!(after.len(), 1, "one sandbox, the same: {after:?}");
    assert_eq!(after[0].id, before.id);
    assert!(after[0].ready);
    assert_eq!(adds(&before.id), 2, "no ADD again after kubelet's restart");
    assert_eq!(after[0].links(), links, "the pod's interfaces unchanged");

    node.delete_pod(&ns, &name);
    node.delete_pod(&ns, &probe);
    wait_for("the sandbox stopped", || {
        node.sandboxes(&ns, &name).iter().all(|s| !s.ready)
    });
    assert_eq!(
        bridge.ports(),
        Vec::<String>::new(),
        "the pod's veth left on {}",
        bridge.name
    );
    assert_nothing_left(&before.id, &[&ipam, &node.state.join("ipam")]);
}

/// A delegate for the node's bin dir whose ADD announces itself (a file named after the container in
/// `dir`) and then waits until `dir/release` exists; other commands succeed at once. Removed on drop.
struct HeldDelegate {
    binary: PathBuf,
    dir: PathBuf,
}

impl HeldDelegate {
    fn install(node: &Node, dir: &Path) -> HeldDelegate {
        let binary = node.cni_bin.join(unique("held"));
        let script = format!(
            r#"#!/bin/sh
cat >/dev/null
case "$CNI_COMMAND" in
ADD)
  : > "{dir}/$CNI_CONTAINERID"
  while [ ! -e "{dir}/release" ]; do sleep 0.1; done
  echo '{{"cniVersion": "1.0.0"}}' ;;
VERSION) echo '{{"cniVersion": "1.0.0", "supportedVersions": ["0.4.0", "1.0.0", "1.1.0"]}}' ;;
esac
"#,
            dir = dir.display()
        );
        std::fs::write(&binary, script).unwrap();
        support::sh("chmod", &["755", binary.to_str().unwrap()]);
        HeldDelegate {
            binary,
            dir: dir.to_path_buf(),
        }
    }

    fn name(&self) -> String {
        self.binary
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    /// The containers whose ADD reached this delegate.
    fn reached(&self) -> Vec<String> {
        support::names_in(&self.dir)
            .into_iter()
            .filter(|n| n != "release")
            .collect()
    }

    fn release(&self) {
        std::fs::write(self.dir.join("release"), "").unwrap();
    }
}

impl Drop for HeldDelegate {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.binary);
    }
}

#[test]
fn containerd_killed_during_an_add_leaks_no_vf_and_no_ip_after_recovery() {
    let node = Node::connect();
    let ns = node.cluster.namespace("crash");
    let mut sriov = NodeSriov::new(&node);
    sriov.tree.add_pf(2);
    let tree = &sriov.tree;
    let held_dir = tree.scratch.join("held");
    std::fs::create_dir_all(&held_dir).unwrap();
    let held = HeldDelegate::install(&node, &held_dir);
    nad(
        &node,
        &ns,
        "vf",
        json!({"cniVersion": "1.0.0", "type": "sriov", "if0": tree.pfs[0].name,
        "ipam": {"type": "host-local", "subnet": "10.56.217.0/24", "dataDir": tree.scratch.join("ipam")}}),
    );
    nad(
        &node,
        &ns,
        "held",
        json!({"cniVersion": "1.0.0", "type": held.name()}),
    );
    let name = unique("c");
    node.create_pod(
        &ns,
        &node.pod_manifest(&name, json!({"k8s.v1.cni.cncf.io/networks": "vf, held"})),
    );

    // multus has added the cluster network and the VF and waits in the held delegate: kill containerd.
    wait_for("the pod's ADD reaching the held delegate", || {
        !held.reached().is_empty()
    });
    let first = held.reached()[0].clone();
    node.daemon("kill", "containerd");
    held.release();
    node.daemon("start", "containerd");
    node.wait_ready(&ns, &name);
    let sandbox = node.ready_sandbox(&ns, &name);
    assert_ne!(
        sandbox.id, first,
        "kubelet made a new sandbox after the interrupted one"
    );
    let links = sandbox.links();
    assert!(
        address_of(&links, "net1").starts_with("10.56.217."),
        "{links:?}"
    );

    node.delete_pod(&ns, &name);
    wait_for("the sandbox stopped", || {
        node.sandboxes(&ns, &name).iter().all(|s| !s.ready)
    });
    wait_for("the VF of the interrupted ADD back in the host", || {
        tree.state_files("attachments").is_empty()
    });
    tree.assert_restored();
    for id in [first.as_str(), sandbox.id.as_str()] {
        assert_nothing_left(id, &[&node.state.join("ipam")]);
    }
}
