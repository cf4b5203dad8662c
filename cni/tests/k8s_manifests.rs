//! Every manifest under `docker/manifests` against the Kubernetes tier's real kube-apiserver:
//! server-side applied with strict field validation, the CRDs established, the example objects
//! accepted as written; and the installer's RBAC: the ServiceAccount's token, in the kubeconfig that
//! `multiplane-install` writes from it, can do what multus needs and is refused everything else.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Secret};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::Client;
use serde_json::{json, Value};
use support::k8s::{yaml_documents, Cluster};
use support::Scratch;

/// The repository's `docker/manifests`.
fn manifests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docker/manifests")
}

/// Every manifest file (`*.yaml`, recursively), `crds.yaml` first (the other files use its types).
fn manifest_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&manifests_dir(), &mut files);
    files.sort_by_key(|f| (f.file_name().unwrap() != "crds.yaml", f.clone()));
    files
}

fn manifest(relative: &str) -> String {
    fs::read_to_string(manifests_dir().join(relative)).unwrap()
}

/// Applies every document of `relative` strictly into `namespace` (where a document names none).
fn apply_strict(cluster: &Cluster, namespace: &str, relative: &str) -> Vec<Value> {
    yaml_documents(&manifest(relative))
        .into_iter()
        .map(|doc| {
            let what = format!("{relative}: {} {}", doc["kind"], doc["metadata"]["name"]);
            cluster
                .try_apply_strict(Some(namespace), doc)
                .unwrap_or_else(|e| panic!("{what} refused: {e}"))
        })
        .collect()
}

/// The documents of `relative` of kind `kind`.
fn documents_of(relative: &str, kind: &str) -> Vec<Value> {
    yaml_documents(&manifest(relative))
        .into_iter()
        .filter(|d| d["kind"] == kind)
        .collect()
}

/// The NetworkAttachmentDefinition `ns/name` as the API server stores it.
fn stored_nad(cluster: &Cluster, ns: &str, name: &str) -> Value {
    let kind = "NetworkAttachmentDefinition";
    let nad = cluster.get("k8s.cni.cncf.io/v1", kind, Some(ns), name);
    nad.unwrap_or_else(|| panic!("NAD {ns}/{name} does not exist"))
}

/// The JSON text at `pointer` in `object`, parsed.
fn json_text(object: &Value, pointer: &str) -> Value {
    let text = object.pointer(pointer).and_then(Value::as_str);
    let text = text.unwrap_or_else(|| panic!("{pointer} is not a string in {object}"));
    serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{pointer} of {}: {e}", object["metadata"]["name"]))
}

#[test]
fn every_manifest_is_accepted_by_strict_server_side_apply() {
    let cluster = Cluster::connect();
    let ns = cluster.namespace("mani");
    let files = manifest_files();
    assert!(files.len() >= 7, "manifests found: {files:?}");
    for file in &files {
        let relative = file
            .strip_prefix(manifests_dir())
            .unwrap()
            .to_str()
            .unwrap();
        let applied = apply_strict(&cluster, &ns, relative);
        assert!(!applied.is_empty(), "{relative} has no objects");
    }
    for crd in [
        "network-attachment-definitions.k8s.cni.cncf.io",
        "networks.kubernetes.com",
    ] {
        let crd = cluster
            .get(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                None,
                crd,
            )
            .unwrap();
        let accepted = crd["status"]["acceptedNames"].clone();
        assert_eq!(accepted["kind"], crd["spec"]["names"]["kind"], "{accepted}");
    }
    // The seed's Network objects keep `plugin` and `args` (not pruned), args a one-element list.
    for net in documents_of("seed/networks.yaml", "Network") {
        let name = net["metadata"]["name"].as_str().unwrap();
        let stored = cluster
            .get("kubernetes.com/v1", "Network", Some(&ns), name)
            .unwrap();
        assert_eq!(stored["plugin"], net["plugin"], "{name}");
        assert_eq!(stored["args"], net["args"], "{name}");
        let args = json_text(&stored, "/args");
        assert_eq!(args.as_array().map(Vec::len), Some(1), "{name}: {args}");
    }
    let stored = cluster
        .get("kubernetes.com/v1", "Network", Some(&ns), "sriov-conf")
        .unwrap();
    assert_eq!(
        json_text(&stored, "/args")[0]["ipam"]["rangeStart"],
        "10.56.217.171"
    );
    // Each NAD's config is a CNI config named like its object; the seed's NADs say what its Networks say.
    let seed_networks = documents_of("seed/networks.yaml", "Network");
    for file in [
        "seed/network-attachment-definitions.yaml",
        "vnf/networks.yaml",
    ] {
        for nad in documents_of(file, "NetworkAttachmentDefinition") {
            let name = nad["metadata"]["name"].as_str().unwrap();
            let stored = stored_nad(&cluster, &ns, name);
            let config = json_text(&stored, "/spec/config");
            assert_eq!(config["name"], name, "{file}");
            assert!(
                config["cniVersion"].is_string() && config["type"].is_string(),
                "{file}: {config}"
            );
            if let Some(net) = seed_networks.iter().find(|n| n["metadata"]["name"] == name) {
                let mut args = json_text(net, "/args")[0].clone();
                args["name"] = json!(name);
                args["type"] = net["plugin"].clone();
                args["cniVersion"] = config["cniVersion"].clone();
                assert_eq!(
                    config, args,
                    "the NAD {name} differs from the seed's Network"
                );
            }
        }
    }
}

#[test]
fn the_vnf_pod_is_accepted_with_hugepages_ipc_lock_and_vfs() {
    let cluster = Cluster::connect();
    let ns = cluster.namespace("vnf");
    cluster.apply_yaml(None, &manifest("crds.yaml"));
    apply_strict(&cluster, &ns, "vnf/networks.yaml");
    apply_strict(&cluster, &ns, "vnf/pod.yaml");
    let pod = cluster
        .get("v1", "Pod", Some(&ns), "vlan-firewall")
        .unwrap();
    let container = &pod["spec"]["containers"][0];
    let limits = &container["resources"]["limits"];
    assert_eq!(limits["hugepages-2Mi"], "1Gi");
    assert_eq!(
        container["securityContext"]["capabilities"]["add"],
        json!(["IPC_LOCK"])
    );
    // The resource the pod asks for is the one both its networks are annotated with.
    let networks = pod["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"]
        .as_str()
        .unwrap();
    let names: Vec<&str> = networks
        .split(',')
        .map(|n| n.trim().split('@').next().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{networks}");
    for name in names {
        let nad = stored_nad(&cluster, &ns, name);
        let resource = nad["metadata"]["annotations"]["k8s.v1.cni.cncf.io/resourceName"]
            .as_str()
            .unwrap();
        assert_eq!(
            limits[resource], "2",
            "{name}: the pod does not request {resource}"
        );
        assert_eq!(json_text(&nad, "/spec/config")["dpdkDriver"], "vfio-pci");
    }
    // The ConfigMap carries the README's rule file (dataplane/tests/firewall_rules_vlan210.json).
    let rules_file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../dataplane/tests/firewall_rules_vlan210.json");
    let readme_rules: Value = serde_json::from_slice(&fs::read(rules_file).unwrap()).unwrap();
    let configmap = cluster
        .get("v1", "ConfigMap", Some(&ns), "vlan-firewall-rules")
        .unwrap();
    assert_eq!(json_text(&configmap, "/data/rules.json"), readme_rules);
}

#[test]
fn strict_validation_refuses_what_the_manifests_must_not_contain() {
    // The checks above mean something only if the server refuses mistakes: a misspelt field in a
    // NAD and a wrongly typed `args` in a seed Network.
    let cluster = Cluster::connect();
    let ns = cluster.namespace("strict");
    cluster.apply_yaml(None, &manifest("crds.yaml"));
    let typo = json!({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                      "metadata": {"name": "typo"}, "spec": {"confg": "{}"}});
    let e = cluster.try_apply_strict(Some(&ns), typo).unwrap_err();
    assert!(e.to_string().contains("confg"), "{e}");
    let list_args = json!({"apiVersion": "kubernetes.com/v1", "kind": "Network", "metadata": {"name": "bad"},
                           "plugin": "sriov", "args": [{"if0": "enp2s0"}]});
    let e = cluster.try_apply_strict(Some(&ns), list_args).unwrap_err();
    assert!(e.to_string().contains("args"), "{e}");
}

#[test]
fn the_manifests_name_the_images_make_images_builds() {
    let daemonset = &documents_of("installer.yaml", "DaemonSet")[0];
    let image = daemonset
        .pointer("/spec/template/spec/containers/0/image")
        .unwrap();
    assert_eq!(
        image,
        &json!(format!(
            "localhost/multiplane-installer:{}",
            env!("CARGO_PKG_VERSION")
        ))
    );
    let dataplane =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../dataplane/Cargo.toml"))
            .unwrap();
    let version = dataplane
        .lines()
        .find_map(|l| l.strip_prefix("version = "))
        .unwrap()
        .trim_matches('"');
    let pod = &documents_of("vnf/pod.yaml", "Pod")[0];
    assert_eq!(
        pod.pointer("/spec/containers/0/image").unwrap(),
        &json!(format!("localhost/multiplane-vnf:{version}"))
    );
}

/// The HTTP status of a refused request (panics on any other outcome).
fn refused<T: std::fmt::Debug>(what: &str, result: Result<T, kube::Error>) -> u16 {
    match result {
        Err(kube::Error::Api(status)) => status.code,
        other => panic!("{what}: expected a refusal, got {other:?}"),
    }
}

/// An API for a custom resource of the manifests, as `client` sees it.
fn custom_api(
    client: &Client,
    ns: &str,
    group: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(group, "v1", kind);
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, plural),
    )
}

/// Runs `multiplane-install --once` as the installer pod would with the service account `token`
/// mounted, and returns a client made from the kubeconfig it wrote.
fn client_from_installer(cluster: &Cluster, scratch: &Scratch, token: &str) -> Client {
    let (sa, conf) = (scratch.join("serviceaccount"), scratch.join("net.d"));
    fs::create_dir_all(&sa).unwrap();
    fs::create_dir_all(&conf).unwrap();
    fs::write(sa.join("token"), token).unwrap();
    fs::copy(cluster.state.join("pki/ca.crt"), sa.join("ca.crt")).unwrap();
    fs::write(
        conf.join("10-bridge.conf"),
        r#"{"cniVersion": "1.0.0", "name": "cbr0", "type": "bridge"}"#,
    )
    .unwrap();
    let (host, port) = cluster
        .server
        .trim_start_matches("https://")
        .rsplit_once(':')
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_multiplane-install"))
        .args([
            "--once",
            "--skip-multus-binary-copy",
            "--skip-sriov-binary-copy",
        ])
        .arg(format!("--cni-conf-dir={}", conf.display()))
        .arg(format!("--service-account-dir={}", sa.display()))
        .env("KUBERNETES_SERVICE_HOST", host)
        .env("KUBERNETES_SERVICE_PORT", port)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "installer: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kubeconfig =
        kube::config::Kubeconfig::read_from(conf.join("multus.d/multus.kubeconfig")).unwrap();
    cluster.block_on(async {
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap();
        Client::try_from(config).unwrap()
    })
}

#[test]
fn the_installer_service_account_can_do_what_multus_needs_and_nothing_more() {
    let cluster = Cluster::connect();
    let scratch = Scratch::new();
    let ns = cluster.namespace("rbac");
    cluster.apply_yaml(None, &manifest("crds.yaml"));
    apply_strict(&cluster, &ns, "installer.yaml");
    apply_strict(&cluster, &ns, "seed/networks.yaml");
    apply_strict(&cluster, &ns, "seed/network-attachment-definitions.yaml");
    cluster.create_pod(&ns, "pod-a", json!({}));

    let token = cluster.service_account_token("kube-system", "multiplane");
    let client = client_from_installer(&cluster, &scratch, &token);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let nads = custom_api(
        &client,
        &ns,
        "k8s.cni.cncf.io",
        "NetworkAttachmentDefinition",
        "network-attachment-definitions",
    );
    let networks = custom_api(&client, &ns, "kubernetes.com", "Network", "networks");

    // What multus does: read pods and network objects, record network-status through pods/status.
    cluster.block_on(async {
        pods.get("pod-a").await.expect("get pod");
        assert_eq!(
            pods.list(&ListParams::default())
                .await
                .expect("list pods")
                .items
                .len(),
            1
        );
        nads.get("sriov-conf").await.expect("get NAD");
        assert_eq!(
            nads.list(&ListParams::default())
                .await
                .expect("list NADs")
                .items
                .len(),
            3
        );
        networks
            .get("sriov-vlanid-l2enable-conf")
            .await
            .expect("get Network");
        let status =
            json!({"metadata": {"annotations": {"k8s.v1.cni.cncf.io/network-status": "[]"}}});
        pods.patch_status("pod-a", &PatchParams::default(), &Patch::Merge(&status))
            .await
            .expect("patch pods/status");
        let label = json!({"metadata": {"labels": {"multiplane": "seen"}}});
        pods.patch("pod-a", &PatchParams::default(), &Patch::Merge(&label))
            .await
            .expect("patch pod");
    });
    let annotations = cluster.pod_annotations(&ns, "pod-a");
    assert_eq!(annotations["k8s.v1.cni.cncf.io/network-status"], "[]");

    // Everything else is refused.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let nodes: Api<Node> = Api::all(client.clone());
    let new_nad: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": "intruder"}, "spec": {"config": "{}"}}))
    .unwrap();
    let new_pod: Pod = serde_json::from_value(json!({"metadata": {"name": "pod-b"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
    .unwrap();
    let codes = cluster.block_on(async {
        let post = PostParams::default();
        let change = Patch::Merge(json!({"spec": {"config": "{}"}}));
        vec![
            refused("list secrets", secrets.list(&ListParams::default()).await),
            refused("get configmap", configmaps.get("any").await),
            refused("list nodes", nodes.list(&ListParams::default()).await),
            refused("create pod", pods.create(&post, &new_pod).await),
            refused(
                "delete pod",
                pods.delete("pod-a", &DeleteParams::default()).await,
            ),
            refused("create NAD", nads.create(&post, &new_nad).await),
            refused(
                "patch NAD",
                nads.patch("sriov-conf", &PatchParams::default(), &change)
                    .await,
            ),
            refused(
                "delete Network",
                networks
                    .delete("sriov-conf", &DeleteParams::default())
                    .await,
            ),
        ]
    });
    assert_eq!(codes, vec![403; codes.len()]);
    assert!(
        cluster.get("v1", "Pod", Some(&ns), "pod-a").is_some(),
        "pod-a was deleted"
    );
}
