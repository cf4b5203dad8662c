//! The API-server client: credentials as kubectl reads them, typed requests with a short bounded
//! retry, and errors that name the server, the user and the verb.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::Config;
use serde_json::json;
use tokio::runtime::Runtime;

use super::cache::Caches;
use super::objects::{LegacyNetwork, NetworkAttachmentDefinition};
use crate::spec::CniError;

/// Error code for a request the API server refused (401, 403, or another 4xx that retrying cannot fix).
pub const ERR_API_REFUSED: u32 = 110;

/// Attempts per request when the server cannot be reached or answers 409/429/5xx.
const TRIES: u32 = 3;
/// The wait before the second attempt; doubled before each further one.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Bound on establishing a connection to the API server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound on one response.
const READ_TIMEOUT: Duration = Duration::from_secs(15);

/// Where the client's credentials come from.
#[derive(Debug, Clone, Copy)]
pub enum Credentials<'a> {
    /// A kubeconfig file (token, client certificate and key, CA; its current context).
    Kubeconfig(&'a Path),
    /// The pod's service account (`KUBERNETES_SERVICE_HOST`/`_PORT` and the mounted token and CA).
    InCluster,
}

/// A connected Kubernetes client: one per plugin call ([`Kube::connect`]), or one per credentials for the
/// life of a daemon ([`Kube::for_call`] after [`share_clients`]).
pub struct Kube {
    runtime: Runtime,
    client: kube::Client,
    /// Watch caches of pods and NADs (shared clients only).
    cache: Option<Caches>,
    /// The API server's URL, for messages.
    server: String,
    /// Who the credentials say we are (`user "multus" of /etc/.../multus.kubeconfig`), for messages.
    identity: String,
}

impl std::fmt::Debug for Kube {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kube")
            .field("server", &self.server)
            .field("identity", &self.identity)
            .finish()
    }
}

/// The clients a daemon keeps, by credentials; unset in a plugin process (one call, one client).
static SHARED: OnceLock<SharedClients> = OnceLock::new();

struct SharedClients {
    /// Watch only the pods of this node (`spec.nodeName`); every pod when `None`.
    node: Option<String>,
    /// By kubeconfig (`None`: the in-cluster service account).
    clients: Mutex<HashMap<Option<PathBuf>, KeptClient>>,
}

/// A daemon's client and the modification time its kubeconfig had when it was made.
struct KeptClient {
    written: Option<SystemTime>,
    kube: Arc<Kube>,
}

/// Makes this process keep one client per credentials, each with watch caches of the pods of `node`
/// and of all NetworkAttachmentDefinitions ([`Kube::for_call`] then returns it). For `multus-daemon`;
/// a second call changes nothing.
pub fn share_clients(node: Option<String>) {
    let _ = SHARED.set(SharedClients {
        node,
        clients: Mutex::new(HashMap::new()),
    });
}

impl Kube {
    /// The client for one call: this process's shared client for `credentials` after
    /// [`share_clients`] (connected and watching on first use), else a new one ([`Kube::connect`]).
    pub fn for_call(credentials: Credentials<'_>) -> Result<Arc<Kube>, CniError> {
        let Some(shared) = SHARED.get() else {
            return Kube::connect(credentials).map(Arc::new);
        };
        let (key, written) = match credentials {
            Credentials::Kubeconfig(path) => (
                Some(path.to_path_buf()),
                std::fs::metadata(path).and_then(|m| m.modified()).ok(),
            ),
            Credentials::InCluster => (None, None),
        };
        let mut clients = shared.clients.lock().unwrap_or_else(|e| e.into_inner());
        // A kubeconfig rewritten since (the installer renews its token) gets a new client; calls
        // still using the old one finish with it.
        if let Some(kept) = clients.get(&key).filter(|kept| kept.written == written) {
            return Ok(Arc::clone(&kept.kube));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("kube")
            .enable_all()
            .build()
            .map_err(|e| CniError::io("cannot start the Kubernetes client runtime", e))?;
        let mut kube = Kube::with_runtime(runtime, credentials)?;
        kube.cache = Some(Caches::start(
            &kube.runtime,
            &kube.client,
            shared.node.as_deref(),
        ));
        let kube = Arc::new(kube);
        clients.insert(
            key,
            KeptClient {
                written,
                kube: Arc::clone(&kube),
            },
        );
        Ok(kube)
    }

    /// Waits until the watch caches hold their first full list (at most `timeout`); false when they do
    /// not (then lookups go to the API server until they do), or when this client has none.
    pub fn caches_synced(&self, timeout: Duration) -> bool {
        let Some(cache) = &self.cache else {
            return false;
        };
        self.runtime
            .block_on(async { tokio::time::timeout(timeout, cache.synced()).await })
            .is_ok()
    }

    /// Reads the credentials and builds a client for one call (no request is made yet). A kubeconfig
    /// that cannot be read or used is code 7 naming `kubeconfig` and the file.
    pub fn connect(credentials: Credentials<'_>) -> Result<Kube, CniError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CniError::io("cannot start the Kubernetes client runtime", e))?;
        Kube::with_runtime(runtime, credentials)
    }

    fn with_runtime(runtime: Runtime, credentials: Credentials<'_>) -> Result<Kube, CniError> {
        let (mut config, identity) = match credentials {
            Credentials::Kubeconfig(path) => {
                let bad = |e: &(dyn StdError + 'static)| {
                    CniError::invalid_config(
                        "kubeconfig",
                        format!("{}: {}", path.display(), causes(e)),
                    )
                };
                let file = Kubeconfig::read_from(path).map_err(|e| bad(&e))?;
                let user = current_user(&file).unwrap_or_else(|| "(none)".into());
                let options = KubeConfigOptions::default();
                let config = runtime
                    .block_on(Config::from_custom_kubeconfig(file, &options))
                    .map_err(|e| bad(&e))?;
                (config, format!("user {user:?} of {}", path.display()))
            }
            Credentials::InCluster => {
                let config = Config::incluster().map_err(|e| {
                    CniError::invalid_config(
                        "kubeconfig",
                        format!(
                            "none given and no in-cluster service account: {}",
                            causes(&e)
                        ),
                    )
                })?;
                (config, "the pod's service account".to_string())
            }
        };
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        config.read_timeout = Some(READ_TIMEOUT);
        let server = config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_string();
        let client = {
            let _in_runtime = runtime.enter();
            kube::Client::try_from(config).map_err(|e| {
                CniError::invalid_config(
                    "kubeconfig",
                    format!("cannot build a client for {server}: {}", causes(&e)),
                )
            })?
        };
        Ok(Kube {
            runtime,
            client,
            cache: None,
            server,
            identity,
        })
    }

    /// The pod `namespace/name`; from the watch cache when it holds the pod with UID `uid` (any UID
    /// when `None`), else from the API server.
    pub fn pod(
        &self,
        namespace: &str,
        name: &str,
        uid: Option<&str>,
    ) -> Result<Option<Pod>, CniError> {
        if let Some(pod) = self
            .cache
            .as_ref()
            .and_then(|c| c.pod(namespace, name, uid))
        {
            return Ok(Some(pod));
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        self.request(&format!("get pod {namespace}/{name}"), || api.get_opt(name))
    }

    /// The NetworkAttachmentDefinition `namespace/name`, if it exists (from the watch cache when it
    /// holds it).
    pub fn network_attachment(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<NetworkAttachmentDefinition>, CniError> {
        if let Some(nad) = self.cache.as_ref().and_then(|c| c.nad(namespace, name)) {
            return Ok(Some(nad));
        }
        let api: Api<NetworkAttachmentDefinition> = Api::namespaced(self.client.clone(), namespace);
        self.request(
            &format!("get network-attachment-definition {namespace}/{name}"),
            || api.get_opt(name),
        )
    }

    /// The seed's `Network` object `namespace/name`, if it exists.
    pub fn legacy_network(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<LegacyNetwork>, CniError> {
        let api: Api<LegacyNetwork> = Api::namespaced(self.client.clone(), namespace);
        self.request(
            &format!("get network {namespace}/{name} (kubernetes.com/v1)"),
            || api.get_opt(name),
        )
    }

    /// Sets one annotation on the pod through its `status` subresource (as Multus writes
    /// network-status), retrying on conflicts.
    pub fn annotate_pod_status(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
        value: &str,
    ) -> Result<(), CniError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let patch = Patch::Merge(json!({"metadata": {"annotations": {key: value}}}));
        let params = PatchParams::default();
        self.request(
            &format!("patch pod {namespace}/{name} status ({key})"),
            || api.patch_status(name, &params, &patch),
        )
        .map(drop)
    }

    /// The devices kubelet's PodResources API (on `socket`) lists for the pod, as (resource, device
    /// IDs). Code 11 when kubelet cannot be asked (it may be restarting).
    pub fn pod_devices(
        &self,
        socket: &Path,
        namespace: &str,
        name: &str,
    ) -> Result<Vec<(String, Vec<String>)>, CniError> {
        self.runtime
            .block_on(super::pod_resources::pod_devices(socket, namespace, name))
            .map_err(|e| {
                CniError::try_again_later(format!(
                    "kubelet PodResources API at {}: {e}",
                    socket.display()
                ))
            })
    }

    /// Runs one request; retries what a retry can fix, maps the rest to a CNI error naming `what`.
    fn request<T, F, Fut>(&self, what: &str, send: F) -> Result<T, CniError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let mut backoff = FIRST_BACKOFF;
        let mut tries = 0;
        loop {
            tries += 1;
            let err = match self.runtime.block_on(send()) {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            if !transient(&err) || tries == TRIES {
                return Err(self.failure(what, &err, tries));
            }
            std::thread::sleep(backoff);
            backoff *= 2;
        }
    }

    /// The CNI error for a failed request.
    fn failure(&self, what: &str, err: &kube::Error, tries: u32) -> CniError {
        let (server, identity) = (&self.server, &self.identity);
        match err {
            kube::Error::Api(status) if status.code == 401 => CniError::new(
                ERR_API_REFUSED,
                format!("{what}: the API server {server} refused the credentials of {identity} (401 Unauthorized)"),
                status.message.clone(),
            ),
            kube::Error::Api(status) if status.code == 403 => CniError::new(
                ERR_API_REFUSED,
                format!("{what}: 403 Forbidden for {identity}: {}", status.message),
                "",
            ),
            kube::Error::Api(status) if transient(err) => CniError::try_again_later(format!(
                "{what}: the API server {server} answered {} {} after {tries} tries: {}",
                status.code, status.reason, status.message
            )),
            kube::Error::Api(status) => CniError::new(
                ERR_API_REFUSED,
                format!("{what}: the API server {server} answered {} {}: {}", status.code, status.reason, status.message),
                "",
            ),
            other => CniError::try_again_later(format!(
                "{what}: cannot reach the API server {server} ({tries} tries): {}",
                causes(other)
            )),
        }
    }
}

/// Whether a retry may succeed: no answer at all, a conflict, throttling or a server-side error.
fn transient(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(status) => matches!(status.code, 409 | 429 | 500..=599),
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// The user of the kubeconfig's current context.
fn current_user(file: &Kubeconfig) -> Option<String> {
    let current = file.current_context.as_deref()?;
    let context = file.contexts.iter().find(|c| c.name == current)?;
    context.context.as_ref()?.user.clone()
}

/// An error and its sources, joined with `: ` (the innermost cause is usually the useful one).
pub(super) fn causes(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
