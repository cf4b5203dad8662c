//! Watch caches for a long-lived client (`multus-daemon`): the pods of this node and every
//! NetworkAttachmentDefinition, kept current by kube's reflectors, so that an ADD reads them without a
//! request. A miss (an object created a moment ago, or a watch not yet synced) is not an answer: the
//! caller then asks the API server.

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::reflector::{self, reflector, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use tokio::runtime::Runtime;

use super::objects::NetworkAttachmentDefinition;

/// The reflector stores of one client.
pub(super) struct Caches {
    pods: Store<Pod>,
    nads: Store<NetworkAttachmentDefinition>,
}

impl Caches {
    /// Starts watching on `runtime`: pods of `node` (every pod without one) and all NADs.
    pub(super) fn start(runtime: &Runtime, client: &kube::Client, node: Option<&str>) -> Caches {
        let _in_runtime = runtime.enter();
        let mut pod_watch = watcher::Config::default();
        if let Some(node) = node {
            pod_watch = pod_watch.fields(&format!("spec.nodeName={node}"));
        }
        let pods = reflect(runtime, Api::all(client.clone()), pod_watch);
        let nads = reflect(
            runtime,
            Api::all(client.clone()),
            watcher::Config::default(),
        );
        Caches { pods, nads }
    }

    /// Resolves once both watches have listed everything once.
    pub(super) async fn synced(&self) {
        // An error means the reflector is gone, which only happens with its runtime.
        let _ = self.pods.wait_until_ready().await;
        let _ = self.nads.wait_until_ready().await;
    }

    /// The cached pod `namespace/name`, if the cache holds it with UID `uid` (any UID when `None`).
    pub(super) fn pod(&self, namespace: &str, name: &str, uid: Option<&str>) -> Option<Pod> {
        let pod = self.pods.get(&ObjectRef::new(name).within(namespace))?;
        let fresh = uid.is_none() || pod.metadata.uid.as_deref() == uid;
        fresh.then(|| (*pod).clone())
    }

    /// The cached NetworkAttachmentDefinition `namespace/name`.
    pub(super) fn nad(&self, namespace: &str, name: &str) -> Option<NetworkAttachmentDefinition> {
        let nad = self.nads.get(&ObjectRef::new(name).within(namespace))?;
        Some((*nad).clone())
    }
}

/// A store fed by a watch of `api` that restarts with backoff after errors (a refused list leaves the
/// store empty, and every lookup then goes to the API server).
fn reflect<K>(runtime: &Runtime, api: Api<K>, config: watcher::Config) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let stream = reflector(writer, watcher(api, config)).default_backoff();
    runtime.spawn(stream.for_each(|_| async {}));
    store
}
