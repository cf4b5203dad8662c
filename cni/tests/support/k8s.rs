//! The Kubernetes test tier's side of the tests: the control plane that `cni/tests/k8s/run.sh`
//! started (its admin kubeconfig and state in the environment), a namespace per test, and server-side
//! apply of YAML documents as `kubectl apply --server-side` does it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use kube::{Client, Config};
use serde_json::{json, Value};

/// CNI_ARGS as kubelet's runtime passes them for pod `namespace/name` with `uid`.
pub fn pod_args(namespace: &str, name: &str, uid: &str, container_id: &str) -> String {
    format!("IgnoreUnknown=1;K8S_POD_NAMESPACE={namespace};K8S_POD_NAME={name};K8S_POD_INFRA_CONTAINER_ID={container_id};K8S_POD_UID={uid}")
}

/// The field manager of the tests' server-side applies.
const FIELD_MANAGER: &str = "multiplane-tests";

/// The running control plane.
pub struct Cluster {
    runtime: tokio::runtime::Runtime,
    /// An admin client.
    pub client: Client,
    /// The admin kubeconfig (token auth).
    pub kubeconfig: PathBuf,
    /// The tier's state directory (PKI, token file, logs).
    pub state: PathBuf,
    /// The API server's URL.
    pub server: String,
}

impl Cluster {
    /// Connects to the tier's control plane; panics with how to start it when it is not up.
    pub fn connect() -> Cluster {
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!("{name} is not set: the k8s_* tests run against the control plane of `make k8s` (cni/tests/k8s/run.sh)")
            })
        };
        Cluster::open(
            var("KUBECONFIG").into(),
            var("K8S_STATE").into(),
            var("K8S_SERVER"),
        )
    }

    /// Connects to the control plane of `kubeconfig` (state directory `state`, URL `server`).
    pub fn open(kubeconfig: PathBuf, state: PathBuf, server: String) -> Cluster {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = runtime.block_on(async {
            let file = kube::config::Kubeconfig::read_from(&kubeconfig).unwrap();
            let config = Config::from_custom_kubeconfig(file, &Default::default())
                .await
                .unwrap();
            Client::try_from(config).unwrap()
        });
        Cluster {
            runtime,
            client,
            kubeconfig,
            state,
            server,
        }
    }

    /// Runs a future on the tests' runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// Creates a namespace unique to this test (never deleted: there is no namespace controller to
    /// finish the deletion, and every tier run starts from an empty etcd).
    pub fn namespace(&self, prefix: &str) -> String {
        let name = super::unique(prefix).to_lowercase();
        self.create("v1", "Namespace", None, json!({"metadata": {"name": name}}));
        name
    }

    /// Server-side applies every document of `yaml` (into `namespace` when namespaced and the document
    /// names none), waiting for CRDs to be established. Returns the applied objects.
    pub fn apply_yaml(&self, namespace: Option<&str>, yaml: &str) -> Vec<Value> {
        yaml_documents(yaml)
            .into_iter()
            .map(|doc| self.apply(namespace, doc))
            .collect()
    }

    /// Server-side applies one object (`apiVersion`, `kind`, `metadata.name` required).
    pub fn apply(&self, namespace: Option<&str>, doc: Value) -> Value {
        let what = format!("apply {} {}", doc["kind"], doc["metadata"]["name"]);
        self.try_apply(namespace, doc, &PatchParams::apply(FIELD_MANAGER).force())
            .unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    /// Server-side applies one object with strict field validation (an unknown or duplicated field
    /// is refused, as by `kubectl apply --server-side --validate=strict`), waiting for a CRD to be
    /// established. Returns the applied object or the API's refusal.
    pub fn try_apply_strict(
        &self,
        namespace: Option<&str>,
        doc: Value,
    ) -> Result<Value, kube::Error> {
        let params = PatchParams::apply(FIELD_MANAGER)
            .force()
            .validation_strict();
        self.try_apply(namespace, doc, &params)
    }

    fn try_apply(
        &self,
        namespace: Option<&str>,
        mut doc: Value,
        params: &PatchParams,
    ) -> Result<Value, kube::Error> {
        let (api, name) = self.api_for(namespace, &mut doc);
        let applied = self.block_on(api.patch(&name, params, &Patch::Apply(&doc)))?;
        if doc["kind"] == "CustomResourceDefinition" {
            self.wait_established(&name);
        }
        Ok(serde_json::to_value(applied).unwrap())
    }

    /// A token of ServiceAccount `namespace/name`, from the TokenRequest API (`serviceaccounts/token`).
    pub fn service_account_token(&self, namespace: &str, name: &str) -> String {
        use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
        use k8s_openapi::api::core::v1::ServiceAccount;
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        let request = TokenRequest {
            spec: TokenRequestSpec {
                expiration_seconds: Some(3600),
                ..Default::default()
            },
            ..Default::default()
        };
        let issued = self
            .block_on(api.create_token_request(name, &PostParams::default(), &request))
            .unwrap_or_else(|e| panic!("token request for {namespace}/{name}: {e}"));
        issued.status.expect("a token request's status").token
    }

    /// Creates one object and returns it (or the API error).
    pub fn create(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        mut body: Value,
    ) -> Value {
        body["apiVersion"] = json!(api_version);
        body["kind"] = json!(kind);
        self.try_create(namespace, body)
            .unwrap_or_else(|e| panic!("create {kind}: {e}"))
    }

    /// Creates one object (`apiVersion` and `kind` in `body`).
    pub fn try_create(
        &self,
        namespace: Option<&str>,
        mut body: Value,
    ) -> Result<Value, kube::Error> {
        let (api, _) = self.api_for(namespace, &mut body);
        let object: DynamicObject = serde_json::from_value(body).unwrap();
        self.block_on(api.create(&PostParams::default(), &object))
            .map(|o| serde_json::to_value(o).unwrap())
    }

    /// Reads one object, `None` if it does not exist.
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let mut doc = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}});
        let (api, _) = self.api_for(namespace, &mut doc);
        self.block_on(api.get_opt(name))
            .unwrap()
            .map(|o| serde_json::to_value(o).unwrap())
    }

    /// Deletes one object at once (grace period 0: there is no kubelet to finish a graceful delete).
    pub fn delete(&self, api_version: &str, kind: &str, namespace: Option<&str>, name: &str) {
        let mut doc = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}});
        let (api, _) = self.api_for(namespace, &mut doc);
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        };
        self.block_on(api.delete(name, &params))
            .unwrap_or_else(|e| panic!("delete {kind} {name}: {e}"));
    }

    /// Creates pod `namespace/name` bound to a node (it stays Pending: no kubelet runs in this tier)
    /// with `annotations`; returns its UID.
    pub fn create_pod(&self, namespace: &str, name: &str, annotations: Value) -> String {
        let pod = self.create(
            "v1",
            "Pod",
            Some(namespace),
            json!({"metadata": {"name": name, "annotations": annotations},
                   "spec": {"nodeName": "tier-node", "containers": [{"name": "c", "image": "busybox"}]}}),
        );
        pod["metadata"]["uid"].as_str().unwrap().to_string()
    }

    /// The pod's network-status annotation, parsed (`Null` when absent).
    pub fn network_status(&self, namespace: &str, name: &str) -> Value {
        self.pod_annotations(namespace, name)["k8s.v1.cni.cncf.io/network-status"]
            .as_str()
            .map(|text| serde_json::from_str(text).expect("network-status is JSON"))
            .unwrap_or(Value::Null)
    }

    /// The annotations of pod `namespace/name`.
    pub fn pod_annotations(&self, namespace: &str, name: &str) -> Value {
        self.get("v1", "Pod", Some(namespace), name)
            .unwrap_or_else(|| panic!("pod {namespace}/{name} does not exist"))["metadata"]
            ["annotations"]
            .clone()
    }

    /// A bearer token of the static token file for `user` (`admin`, `nobody`).
    pub fn token_of(&self, user: &str) -> String {
        let tokens = std::fs::read_to_string(self.state.join("tokens.csv")).unwrap();
        tokens
            .lines()
            .find(|l| l.split(',').nth(1) == Some(user))
            .and_then(|l| l.split(',').next())
            .unwrap_or_else(|| panic!("no token for {user}"))
            .to_string()
    }

    /// Writes a kubeconfig for `server` with `token` (CA of the tier) and returns its path.
    pub fn kubeconfig_with_token(
        &self,
        path: &std::path::Path,
        server: &str,
        user: &str,
        token: &str,
    ) -> PathBuf {
        let ca = self.state.join("pki/ca.crt");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: tier\n  cluster: {{server: \"{server}\", certificate-authority: \"{}\"}}\nusers:\n- name: {user}\n  user: {{token: \"{token}\"}}\ncontexts:\n- name: tier\n  context: {{cluster: tier, user: {user}}}\ncurrent-context: tier\n",
            ca.display()
        );
        std::fs::write(path, text).unwrap();
        path.to_path_buf()
    }

    /// The API and object name for `doc`, resolved through discovery; fills in `metadata.namespace`.
    fn api_for(&self, namespace: Option<&str>, doc: &mut Value) -> (Api<DynamicObject>, String) {
        let api_version = doc["apiVersion"].as_str().expect("apiVersion").to_string();
        let kind = doc["kind"].as_str().expect("kind").to_string();
        let name = doc["metadata"]["name"]
            .as_str()
            .expect("metadata.name")
            .to_string();
        let (group, version) = api_version.split_once('/').unwrap_or(("", &api_version));
        let gvk = GroupVersionKind::gvk(group, version, &kind);
        let (resource, caps): (ApiResource, ApiCapabilities) = self
            .block_on(kube::discovery::pinned_kind(&self.client, &gvk))
            .unwrap_or_else(|e| panic!("discovery of {api_version} {kind}: {e}"));
        let api = match caps.scope {
            Scope::Cluster => Api::all_with(self.client.clone(), &resource),
            Scope::Namespaced => {
                let ns = doc["metadata"]["namespace"]
                    .as_str()
                    .map(str::to_string)
                    .or_else(|| namespace.map(str::to_string))
                    .unwrap_or_else(|| "default".into());
                doc["metadata"]["namespace"] = json!(ns);
                Api::namespaced_with(self.client.clone(), &ns, &resource)
            }
        };
        (api, name)
    }

    /// Waits (up to 30 s) until the CRD `name` is established and served.
    fn wait_established(&self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let crd = self
                .get(
                    "apiextensions.k8s.io/v1",
                    "CustomResourceDefinition",
                    None,
                    name,
                )
                .unwrap();
            let established = crd["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Established" && c["status"] == "True");
            if established {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "CRD {name} was not established within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The documents of a multi-document YAML text, empty ones left out.
pub fn yaml_documents(yaml: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).expect("YAML document"))
        .filter(|doc| !doc.is_null())
        .collect()
}

/// A control plane of a test's own (`cni/tests/k8s/up.sh` on other ports), for faults that must not
/// touch the shared one: stopped on drop.
pub struct PrivateControlPlane {
    /// Its state directory.
    pub state: PathBuf,
}

impl PrivateControlPlane {
    /// Starts etcd and kube-apiserver on `api_port` and `etcd_port` (and `etcd_port + 1`).
    pub fn start(state: PathBuf, api_port: u16, etcd_port: u16) -> (PrivateControlPlane, Cluster) {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/k8s/up.sh");
        let out = std::process::Command::new(script)
            .arg(&state)
            .env("K8S_APISERVER_PORT", api_port.to_string())
            .env("K8S_ETCD_PORT", etcd_port.to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "up.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let plane = PrivateControlPlane {
            state: state.clone(),
        };
        let cluster = Cluster::open(
            state.join("admin.kubeconfig"),
            state,
            format!("https://127.0.0.1:{api_port}"),
        );
        (plane, cluster)
    }

    /// Stops kube-apiserver and etcd (as when the control plane goes down).
    pub fn stop(&self) {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/k8s/down.sh");
        super::sh(script.to_str().unwrap(), &[self.state.to_str().unwrap()]);
    }
}

impl Drop for PrivateControlPlane {
    fn drop(&mut self) {
        self.stop();
    }
}
