//! The node tier's side of the tests: the node that `cni/tests/node/run.sh` brought up (kubelet,
//! containerd, the control plane; its variables in the environment), pods run by kubelet on it, their
//! sandboxes as containerd's CRI reports them (`crictl`), and the node's daemons restarted or killed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod as KubePod;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{json, Value};

use super::k8s::Cluster;
use super::sh;
use super::sriov_tree::FakeTree;

/// The node and its control plane.
pub struct Node {
    /// The control plane (admin client).
    pub cluster: Cluster,
    /// The Node's name (pods name it in `spec.nodeName`).
    pub name: String,
    /// The node tier's state directory.
    pub state: PathBuf,
    /// containerd's CNI bin dir (the node's `/opt/cni/bin`).
    pub cni_bin: PathBuf,
    /// containerd's CNI conf dir (the node's `/etc/cni/net.d`).
    pub cni_conf: PathBuf,
    /// The static busybox image every test pod runs.
    pub test_image: String,
    crictl: PathBuf,
}

/// multus's cache on the node (the installer's configuration leaves `cniDir` at its default).
pub const MULTUS_CACHE: &str = "/var/lib/cni/multus";
/// Where containerd's libcni keeps each attachment's result.
pub const RUNTIME_CACHE: &str = "/var/lib/cni/results";

/// How long a pod may take to become ready, or to go away, on this loaded 2-core machine.
pub const POD_DEADLINE: Duration = Duration::from_secs(120);

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: the node_* tests run on the node of `make node` (cni/tests/node/run.sh)")
    })
}

impl Node {
    /// Connects to the node tier; panics with how to start it when it is not up.
    pub fn connect() -> Node {
        Node {
            cluster: Cluster::connect(),
            name: var("NODE_NAME"),
            state: var("NODE_STATE").into(),
            cni_bin: var("NODE_CNI_BIN").into(),
            cni_conf: var("NODE_CNI_CONF").into(),
            test_image: var("NODE_TEST_IMAGE"),
            crictl: var("CRICTL").into(),
        }
    }

    /// A pod on this node running the test image (a shell that sleeps and exits at once on SIGTERM),
    /// with `annotations`.
    pub fn pod_manifest(&self, name: &str, annotations: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "annotations": annotations},
            "spec": {"nodeName": self.name, "terminationGracePeriodSeconds": 5,
                "containers": [{"name": "c", "image": self.test_image, "imagePullPolicy": "Never",
                    "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]}]}})
    }

    fn pods(&self, namespace: &str) -> Api<KubePod> {
        Api::namespaced(self.cluster.client.clone(), namespace)
    }

    /// Creates `pod` (a manifest) in `namespace`; returns its UID.
    pub fn create_pod(&self, namespace: &str, pod: &Value) -> String {
        let pod: KubePod = serde_json::from_value(pod.clone()).expect("a pod manifest");
        let created = self
            .cluster
            .block_on(self.pods(namespace).create(&PostParams::default(), &pod))
            .unwrap_or_else(|e| panic!("create pod {namespace}/{:?}: {e}", pod.metadata.name));
        created.metadata.uid.expect("a created pod's UID")
    }

    /// The pod as the API server has it (`None` once it is gone).
    pub fn pod(&self, namespace: &str, name: &str) -> Option<Value> {
        self.cluster
            .block_on(self.pods(namespace).get_opt(name))
            .unwrap_or_else(|e| panic!("get pod {namespace}/{name}: {e}"))
            .map(|p| serde_json::to_value(p).unwrap())
    }

    /// Waits until kubelet reports the pod Ready and returns it. Panics with the pod's status and the
    /// events about it (kubelet's sandbox and CNI errors) when it is not Ready within [`POD_DEADLINE`].
    pub fn wait_ready(&self, namespace: &str, name: &str) -> Value {
        let started = Instant::now();
        loop {
            let pod = self.pod(namespace, name);
            if let Some(pod) = &pod {
                if condition(pod, "Ready") {
                    return pod.clone();
                }
            }
            if started.elapsed() > POD_DEADLINE {
                panic!(
                    "pod {namespace}/{name} not Ready after {POD_DEADLINE:?}: {}\nevents: {}",
                    pod.map(|p| p["status"].to_string())
                        .unwrap_or_else(|| "gone".into()),
                    self.events(namespace, name)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The messages of the events about pod `namespace/name` (kubelet's sandbox and CNI errors).
    pub fn events(&self, namespace: &str, name: &str) -> String {
        use k8s_openapi::api::core::v1::Event;
        let api: Api<Event> = Api::namespaced(self.cluster.client.clone(), namespace);
        let params =
            kube::api::ListParams::default().fields(&format!("involvedObject.name={name}"));
        match self.cluster.block_on(api.list(&params)) {
            Ok(list) => list
                .items
                .iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e.reason.clone().unwrap_or_default(),
                        e.message.clone().unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
            Err(e) => format!("(events not listed: {e})"),
        }
    }

    /// Deletes the pod gracefully (kubelet stops it, containerd runs the CNI DEL) and waits until it
    /// is gone from the API server, which kubelet confirms only after the sandbox was stopped.
    pub fn delete_pod(&self, namespace: &str, name: &str) {
        self.delete_pod_nowait(namespace, name);
        self.wait_gone(namespace, name);
    }

    /// Asks for the pod's graceful deletion and returns at once.
    pub fn delete_pod_nowait(&self, namespace: &str, name: &str) {
        self.cluster
            .block_on(self.pods(namespace).delete(name, &DeleteParams::default()))
            .unwrap_or_else(|e| panic!("delete pod {namespace}/{name}: {e}"));
    }

    /// Waits until the pod is gone from the API server.
    pub fn wait_gone(&self, namespace: &str, name: &str) {
        let started = Instant::now();
        while self.pod(namespace, name).is_some() {
            assert!(
                started.elapsed() < POD_DEADLINE,
                "pod {namespace}/{name} still exists {POD_DEADLINE:?} after its deletion: {}",
                self.events(namespace, name)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `crictl` against the node's containerd and returns its stdout.
    pub fn crictl(&self, args: &[&str]) -> String {
        sh(self.crictl.to_str().unwrap(), args)
    }

    /// The ID of the (one) running container in `sandbox`.
    pub fn container_of(&self, sandbox: &Sandbox) -> String {
        let ids = self.crictl(&["ps", "-q", "--pod", &sandbox.id, "--state", "running"]);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        assert_eq!(
            ids.len(),
            1,
            "running containers of sandbox {}: {ids:?}",
            sandbox.id
        );
        ids[0].to_string()
    }

    /// What container `id` wrote to its stdout and stderr so far (`crictl logs`).
    pub fn crictl_logs(&self, id: &str) -> String {
        let out = Command::new(&self.crictl)
            .args(["logs", id])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "crictl logs {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// Every sandbox containerd has for pod `namespace/name`, any state, oldest first.
    pub fn sandboxes(&self, namespace: &str, name: &str) -> Vec<Sandbox> {
        let list: Value =
            serde_json::from_str(&self.crictl(&["pods", "--namespace", namespace, "-o", "json"]))
                .expect("crictl pods -o json");
        let mut found: Vec<(u64, Sandbox)> = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["metadata"]["name"] == name && p["metadata"]["namespace"] == namespace)
            .map(|p| {
                let created = p["createdAt"]
                    .as_str()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                (created, self.sandbox(p["id"].as_str().unwrap()))
            })
            .collect();
        found.sort_by_key(|(created, _)| *created);
        found.into_iter().map(|(_, s)| s).collect()
    }

    /// The one ready sandbox of pod `namespace/name`; panics unless there is exactly one.
    pub fn ready_sandbox(&self, namespace: &str, name: &str) -> Sandbox {
        let all = self.sandboxes(namespace, name);
        let ready: Vec<&Sandbox> = all.iter().filter(|s| s.ready).collect();
        assert_eq!(
            ready.len(),
            1,
            "ready sandboxes of {namespace}/{name}: {all:?}"
        );
        ready[0].clone()
    }

    /// Sandbox `id` as `crictl inspectp` reports it.
    pub fn sandbox(&self, id: &str) -> Sandbox {
        let info: Value = serde_json::from_str(&self.crictl(&["inspectp", "-o", "json", id]))
            .expect("crictl inspectp");
        let netns = info["info"]["runtimeSpec"]["linux"]["namespaces"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["type"] == "network")
            .and_then(|n| n["path"].as_str())
            .map(PathBuf::from);
        Sandbox {
            id: id.to_string(),
            ready: info["status"]["state"] == "SANDBOX_READY",
            netns,
        }
    }

    /// Runs `daemon.sh STATE <action> <daemon>`: restarts, stops or kills containerd or kubelet.
    pub fn daemon(&self, action: &str, daemon: &str) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node/daemon.sh");
        sh(
            script.to_str().unwrap(),
            &[self.state.to_str().unwrap(), action, daemon],
        );
    }

    /// The value of one series of kubelet's `/metrics` (e.g. `name_sum{label="value"}`), read with the
    /// control plane's admin client certificate; 0 while kubelet has not exported it yet.
    pub fn kubelet_metric(&self, series: &str) -> f64 {
        let pki = self.cluster.state.join("pki");
        let text = sh(
            "curl",
            &[
                "-fsSk",
                "--cert",
                pki.join("admin.crt").to_str().unwrap(),
                "--key",
                pki.join("admin.key").to_str().unwrap(),
                &format!("{}/metrics", var("NODE_KUBELET_URL")),
            ],
        );
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
            .map(|v| {
                v.trim()
                    .parse()
                    .unwrap_or_else(|e| panic!("{series}: {v}: {e}"))
            })
            .unwrap_or(0.0)
    }

    /// The lines of multus's log (the node's multus configuration logs there) that name `needle`.
    pub fn multus_log(&self, needle: &str) -> Vec<String> {
        std::fs::read_to_string(self.state.join("log/multus.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }
}

/// Whether the pod's status has condition `kind` True.
pub fn condition(pod: &Value, kind: &str) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == kind && c["status"] == "True")
}

/// A pod sandbox on the node.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// Its ID (CNI_CONTAINERID of its CNI calls).
    pub id: String,
    /// Whether it is SANDBOX_READY.
    pub ready: bool,
    /// Its network namespace (CNI_NETNS), while it has one.
    pub netns: Option<PathBuf>,
}

impl Sandbox {
    /// Runs `ip <args>` inside the sandbox's network namespace (`nsenter --net`) and returns stdout.
    pub fn ip(&self, args: &str) -> String {
        let netns = self
            .netns
            .as_ref()
            .unwrap_or_else(|| panic!("sandbox {} has no netns", self.id));
        let mut argv = vec![format!("--net={}", netns.display()), "ip".into()];
        argv.extend(args.split_whitespace().map(str::to_string));
        let out = Command::new("nsenter").args(&argv).output().unwrap();
        assert!(
            out.status.success(),
            "nsenter {argv:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// (name, IPv4 addresses with prefix) of each link in the sandbox, loopback left out, sorted.
    pub fn links(&self) -> Links {
        let mut links: Links = self
            .ip("-o link show")
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_string())
            .filter(|n| n != "lo")
            .map(|n| {
                let v4 = super::inet_addresses(&self.ip(&format!("-o -4 addr show dev {n}")));
                (n, v4)
            })
            .collect();
        links.sort();
        links
    }
}

/// Files under `dir` (recursively, as paths relative to it) whose name contains `needle`: what a CNI
/// plugin or the runtime kept about an attachment (multus's cache, libcni's results, host-local leases
/// name the container).
pub fn files_naming(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            let content_names = path.is_file()
                && std::fs::read_to_string(&path)
                    .map(|c| c.contains(needle))
                    .unwrap_or(false);
            if entry.file_name().to_string_lossy().contains(needle) || content_names {
                found.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

/// `docker/manifests/<name>` of this repository.
pub fn manifest(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docker/manifests")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The installer's objects of `docker/manifests/installer.yaml`, made to fit this node
/// ([`daemonset_objects`]).
pub fn installer_objects(node: &Node) -> Vec<Value> {
    daemonset_objects(node, "installer.yaml")
}

/// The objects of `docker/manifests/multus-thick.yaml` (the thick plugin), made to fit this node
/// ([`daemonset_objects`]; its daemon container needs nothing: it changes its root to the host's).
pub fn thick_objects(node: &Node) -> Vec<Value> {
    daemonset_objects(node, "multus-thick.yaml")
}

/// The objects of a manifest under `docker/manifests` whose DaemonSet's first container is the
/// installer, that DaemonSet made to fit this node:
/// - its hostPath volumes and the host paths in its arguments name the node's private CNI dirs (the
///   manifest's `/opt/cni/bin` and `/etc/cni/net.d` are the machine's own, which the tier never touches);
/// - multus logs at `verbose` into the tier's log directory and looks for delegates in the node's bin dir;
/// - the pod gets its ServiceAccount token volume as the ServiceAccount admission plugin would mount it
///   (the tier's API server runs without that plugin);
/// - it reaches the API server directly (`KUBERNETES_SERVICE_HOST`/`_PORT` in its spec, which win over
///   kubelet's service variables): there is no kube-proxy on this node to serve the `kubernetes`
///   Service's cluster IP, which the installer would otherwise write into multus's kubeconfig.
pub fn daemonset_objects(node: &Node, file: &str) -> Vec<Value> {
    let (bin, conf) = (
        node.cni_bin.display().to_string(),
        node.cni_conf.display().to_string(),
    );
    let mut docs = super::k8s::yaml_documents(&manifest(file));
    let daemonset = docs
        .iter_mut()
        .find(|d| d["kind"] == "DaemonSet")
        .unwrap_or_else(|| panic!("{file} has a DaemonSet"));
    let pod = &mut daemonset["spec"]["template"]["spec"];
    for volume in pod["volumes"]
        .as_array_mut()
        .expect("the DaemonSet's volumes")
    {
        let path = &mut volume["hostPath"]["path"];
        match path.as_str() {
            Some("/opt/cni/bin") => *path = json!(bin),
            Some("/etc/cni/net.d") => *path = json!(conf),
            // The host's root (the thick daemon's): the node's dirs are in it.
            Some("/") => {}
            other => panic!("{file}: unexpected hostPath volume {other:?}"),
        }
    }
    pod["volumes"].as_array_mut().unwrap().push(json!({"name": "kube-api-access", "projected": {
        "defaultMode": 420, "sources": [
            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}));
    let container = &mut pod["containers"][0];
    container["volumeMounts"].as_array_mut().expect("the installer's volumeMounts").push(json!({
        "name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}));
    let (host, port) = node
        .cluster
        .server
        .trim_start_matches("https://")
        .rsplit_once(':')
        .expect("the API server's URL has a port");
    container["env"] = json!([{"name": "KUBERNETES_SERVICE_HOST", "value": host},
        {"name": "KUBERNETES_SERVICE_PORT", "value": port}]);
    let args = container["args"]
        .as_array_mut()
        .expect("the installer's args");
    for arg in args.iter_mut() {
        let text = arg
            .as_str()
            .unwrap()
            .replace("=/etc/cni/net.d", &format!("={conf}"));
        *arg = json!(text);
    }
    let log = node.state.join("log/multus.log");
    args.extend([
        json!("--multus-log-level=verbose"),
        json!(format!("--multus-log-file={}", log.display())),
        json!(format!("--additional-bin-dir={bin}")),
    ]);
    docs
}

/// The name of the network containerd uses for new sandboxes, from `crictl info`.
pub fn runtime_network(node: &Node) -> Option<String> {
    let info: Value = serde_json::from_str(&node.crictl(&["info"])).unwrap();
    info["cniconfig"]["Networks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["Config"]["Name"].as_str())
        .find(|n| *n != "cni-loopback")
        .map(str::to_string)
}

/// Puts the DaemonSet of `objects` ([`installer_objects`] or [`thick_objects`]) on the node (`on`) or
/// off it, through its nodeSelector, and waits until containerd uses the network that arrives
/// (multus's) or the one that is left when its pod removed 00-multus.conf on exit (the node's bridge).
pub fn multus_daemonset(node: &Node, objects: Vec<Value>, on: bool) {
    let mut daemonset = None;
    for object in objects {
        if object["kind"] == "DaemonSet" {
            daemonset = Some(object);
        } else if on {
            node.cluster.apply(None, object);
        }
    }
    let mut daemonset = daemonset.expect("the objects hold a DaemonSet");
    let app = format!(
        "app={}",
        daemonset["spec"]["selector"]["matchLabels"]["app"]
            .as_str()
            .expect("the DaemonSet selects by app")
    );
    if !on {
        // Applied without it again, the field is dropped (the tests' field manager owns it).
        daemonset["spec"]["template"]["spec"]["nodeSelector"] =
            json!({"multiplane.test/installer": "off"});
    }
    node.cluster.apply(None, daemonset);
    let want = if on {
        "multus-cni-network"
    } else {
        "node-bridge"
    };
    wait_for(&format!("containerd's network {want}"), || {
        runtime_network(node).as_deref() == Some(want)
    });
    if on {
        wait_for(&format!("the pod of {app} Running"), || {
            running_pod(node, &app).is_some()
        });
    } else {
        wait_for(&format!("no pod of {app} on the node"), || {
            system_pods(node, &app).is_empty()
        });
    }
}

/// The installer DaemonSet's pod on this node, once it is Running (`None` while there is none).
pub fn installer_pod(node: &Node) -> Option<Value> {
    running_pod(node, "app=multiplane-install")
}

/// The kube-system pod with `label` on this node, once it is Running (`None` while there is none).
pub fn running_pod(node: &Node, label: &str) -> Option<Value> {
    system_pods(node, label)
        .into_iter()
        .find(|p| p["status"]["phase"] == "Running")
}

/// The kube-system pods with `label` on this node, in any phase.
fn system_pods(node: &Node, label: &str) -> Vec<Value> {
    let api: Api<KubePod> = Api::namespaced(node.cluster.client.clone(), "kube-system");
    let params = kube::api::ListParams::default().labels(label);
    let pods = node
        .cluster
        .block_on(api.list(&params))
        .unwrap_or_else(|e| panic!("list the pods of {label}: {e}"));
    pods.items
        .into_iter()
        .map(|p| serde_json::to_value(p).unwrap())
        .filter(|p| p["spec"]["nodeName"] == node.name.as_str())
        .collect()
}

/// Waits up to [`POD_DEADLINE`] for `what` to hold; panics naming it.
pub fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(
            started.elapsed() < POD_DEADLINE,
            "{what}: not within {POD_DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The node's SR-IOV host for one test at a time: a fake tree (see [`FakeTree`]) that containerd's
/// `sriov` calls see, because with-node.sh pointed their seams into `STATE/sriov`, which links to it
/// while this lives. A lock on `STATE/sriov.lock` keeps other tests' trees out meanwhile.
pub struct NodeSriov {
    /// The tree.
    pub tree: FakeTree,
    link: PathBuf,
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl NodeSriov {
    /// Waits for the lock, then makes an empty tree and links it.
    pub fn new(node: &Node) -> NodeSriov {
        let file = std::fs::File::create(node.state.join("sriov.lock")).unwrap();
        let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .unwrap_or_else(|(_, e)| panic!("lock STATE/sriov.lock: {e}"));
        let tree = FakeTree::new();
        let link = node.state.join("sriov");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&tree.scratch.dir, &link).unwrap();
        NodeSriov {
            tree,
            link,
            _lock: lock,
        }
    }
}

impl Drop for NodeSriov {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.link);
    }
}

/// Applies a NetworkAttachmentDefinition `name` with `config` in `namespace`.
pub fn nad(node: &Node, namespace: &str, name: &str, config: Value) {
    node.cluster.apply(
        Some(namespace),
        json!({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name}, "spec": {"config": config.to_string()}}),
    );
}

/// A bridge NAD's configuration on `bridge` with host-local IPAM in `subnet`, leases under `data_dir`.
pub fn bridge_conf(bridge: &str, subnet: &str, data_dir: &Path) -> Value {
    json!({"cniVersion": "1.0.0", "type": "bridge", "bridge": bridge,
        "ipam": {"type": "host-local", "subnet": subnet, "dataDir": data_dir}})
}

/// A pod of `namespace`, Ready, whose one network is the NAD `blue`: a bridge on a host link of its
/// own, addresses from `subnet`, leases under `ipam`. Returns the bridge and the pod's name.
pub fn pod_on_a_bridge_nad(
    node: &Node,
    namespace: &str,
    subnet: &str,
    ipam: &Path,
) -> (super::HostLink, String) {
    let bridge = super::HostLink::expect("mtb");
    nad(
        node,
        namespace,
        "blue",
        bridge_conf(&bridge.name, subnet, ipam),
    );
    let name = super::unique("p");
    node.create_pod(
        namespace,
        &node.pod_manifest(&name, json!({"k8s.v1.cni.cncf.io/networks": "blue"})),
    );
    node.wait_ready(namespace, &name);
    (bridge, name)
}

/// (name, IPv4 addresses with prefix) of the sandbox's links, as [`Sandbox::links`] lists them.
pub type Links = Vec<(String, Vec<String>)>;

/// The first IPv4 address of `ifname` in `links`, without its prefix length.
pub fn address_of(links: &Links, ifname: &str) -> String {
    let (_, v4) = links
        .iter()
        .find(|(n, _)| n == ifname)
        .unwrap_or_else(|| panic!("no {ifname}: {links:?}"));
    v4.first()
        .unwrap_or_else(|| panic!("{ifname} has no IPv4 address: {links:?}"))
        .split('/')
        .next()
        .unwrap()
        .to_string()
}

/// Asserts that nothing names sandbox `id` any more: multus's cache, containerd's result cache and the
/// host-local stores in `ipam_dirs`.
pub fn assert_nothing_left(id: &str, ipam_dirs: &[&Path]) {
    assert_eq!(
        files_naming(MULTUS_CACHE.as_ref(), id),
        Vec::<String>::new(),
        "multus cache of {id}"
    );
    assert_eq!(
        files_naming(RUNTIME_CACHE.as_ref(), id),
        Vec::<String>::new(),
        "containerd's CNI results of {id}"
    );
    for dir in ipam_dirs {
        assert_eq!(
            files_naming(dir, id),
            Vec::<String>::new(),
            "IP leases of {id} in {}",
            dir.display()
        );
    }
}

/// The node tier's device plugin (cni/tests/node/device-plugin) advertising `devices` as `resource` to
/// kubelet, as the SR-IOV network device plugin does with VFs; stopped on drop.
pub struct DevicePlugin {
    child: std::process::Child,
}

impl DevicePlugin {
    /// Starts it and waits until the Node's allocatable has every device.
    pub fn start(node: &Node, resource: &str, devices: &[String]) -> DevicePlugin {
        let child = Command::new(var("NODE_DEVICE_PLUGIN"))
            .args([
                "-dir",
                &var("NODE_DEVICE_PLUGINS_DIR"),
                "-resource",
                resource,
            ])
            .args(["-devices", &devices.join(",")])
            .spawn()
            .expect("the node tier's device plugin");
        let plugin = DevicePlugin { child };
        wait_for(
            &format!("{resource}: {} allocatable on the Node", devices.len()),
            || {
                let n = node
                    .cluster
                    .get("v1", "Node", None, &node.name)
                    .expect("the Node");
                n["status"]["allocatable"][resource].as_str()
                    == Some(devices.len().to_string().as_str())
            },
        );
        plugin
    }
}

impl Drop for DevicePlugin {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}
