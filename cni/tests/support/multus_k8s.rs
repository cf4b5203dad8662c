//! What the multus Kubernetes-mode tests share: the CRDs, a per-test world (cluster, namespace,
//! scratch, multus configuration files, NADs, pods), network-status summaries and the PodResources stub.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use serde_json::{json, Value};

use super::k8s::{pod_args, Cluster};
use super::sriov_tree::wait_until;
use super::{unique, Netns, Pod, Scratch};

/// The CRDs multus reads, as the project ships them: NPWG's NetworkAttachmentDefinition and the seed's
/// `networks.kubernetes.com`.
pub const CRDS: &str = include_str!("../../../docker/manifests/crds.yaml");

/// The seed's section 4.1.4 pod annotation, verbatim.
pub const SEED_ANNOTATION: &str = r#"[
      { "name": "flannel-conf" },
      { "name": "sriov-conf"},
      { "name": "sriov-vlanid-l2enable-conf" }
    ]"#;

/// One test's world: the cluster, its namespace, a scratch dir and the multus configuration file.
pub struct World {
    /// The control plane.
    pub cluster: Cluster,
    /// This test's namespace.
    pub ns: String,
    /// Scratch space: multus cache, confDir, IPAM leases, libcni cache.
    pub scratch: Scratch,
}

impl World {
    /// A namespace of its own on the tier's cluster, with the CRDs applied.
    pub fn new(prefix: &str) -> World {
        World::on(Cluster::connect(), prefix)
    }

    /// The same on another cluster.
    pub fn on(cluster: Cluster, prefix: &str) -> World {
        cluster.apply_yaml(None, CRDS);
        let ns = cluster.namespace(prefix);
        World {
            cluster,
            ns,
            scratch: Scratch::new(),
        }
    }

    /// A multus configuration in Kubernetes mode (`extra` merged in), written to a file.
    pub fn multus_conf(&self, extra: Value) -> (Value, PathBuf) {
        let mut conf = json!({"cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus",
            "kubeconfig": self.cluster.kubeconfig, "cniDir": self.scratch.join("multus"),
            "confDir": self.scratch.join("net.d"), "multusNamespace": self.ns,
            "logLevel": "verbose", "logFile": self.scratch.join("multus.log")});
        for (k, v) in extra.as_object().unwrap() {
            conf[k] = v.clone();
        }
        let file = self.scratch.join(&format!("{}.conf", unique("mc")));
        std::fs::write(&file, serde_json::to_vec_pretty(&conf).unwrap()).unwrap();
        (conf, file)
    }

    /// A NetworkAttachmentDefinition in this test's namespace.
    pub fn nad(&self, name: &str, config: Value, annotations: Value) {
        let config = if config.is_null() {
            String::new()
        } else {
            config.to_string()
        };
        self.cluster.apply(
            Some(&self.ns),
            json!({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                   "metadata": {"name": name, "annotations": annotations}, "spec": {"config": config}}),
        );
    }

    /// Creates a pod with `annotations` and the runtime call for its sandbox in a fresh netns.
    pub fn pod(&self, name: &str, annotations: Value, netns: &Netns) -> Pod {
        let uid = self.cluster.create_pod(&self.ns, name, annotations);
        let mut pod = Pod::new(netns);
        pod.args = pod_args(&self.ns, name, &uid, &pod.id);
        pod
    }

    /// The cache directory libcni keeps for this test.
    pub fn libcni_cache(&self) -> PathBuf {
        self.scratch.join("libcni")
    }

    /// The pod's network-status entries.
    pub fn network_status(&self, pod: &str) -> Vec<Value> {
        self.cluster
            .network_status(&self.ns, pod)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Asserts that multus kept no cache and the host-local data dir holds no lease.
    pub fn assert_nothing_left(&self) {
        assert_eq!(
            self.scratch.files("multus"),
            Vec::<String>::new(),
            "multus cache"
        );
        assert_eq!(
            self.scratch.leases("ipam"),
            Vec::<String>::new(),
            "IP leases"
        );
    }
}

/// (name, interface, ips, default) of each network-status entry.
pub fn status_summary(status: &[Value]) -> Vec<(String, String, Vec<String>, bool)> {
    status
        .iter()
        .map(|e| {
            let ips = e["ips"]
                .as_array()
                .unwrap()
                .iter()
                .map(|ip| ip.as_str().unwrap().to_string())
                .collect();
            (
                e["name"].as_str().unwrap().to_string(),
                e["interface"].as_str().unwrap().to_string(),
                ips,
                e["default"] == true,
            )
        })
        .collect()
}

/// `v` sorted.
pub fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// kubelet's PodResources API served by the stub on a socket in `dir`, answering from `allocations`.
pub struct PodResourcesStub {
    child: Child,
    /// The socket it serves on.
    pub socket: PathBuf,
}

impl PodResourcesStub {
    /// Starts the stub on a socket in `dir`.
    pub fn start(dir: &Path, allocations: &Value) -> PodResourcesStub {
        let (socket, file) = (dir.join("kubelet.sock"), dir.join("allocations.json"));
        std::fs::write(&file, allocations.to_string()).unwrap();
        let bin = PathBuf::from(std::env::var("K8S_BIN").expect("K8S_BIN from the tier"))
            .join("podresources-stub");
        let child = Command::new(bin)
            .arg("-socket")
            .arg(&socket)
            .arg("-allocations")
            .arg(&file)
            .spawn()
            .unwrap();
        wait_until(|| socket.exists());
        PodResourcesStub { child, socket }
    }
}

impl Drop for PodResourcesStub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
