//! Kubernetes access for the plugins: the API server (pods, NetworkAttachmentDefinitions, the seed's
//! legacy `Network` objects, pod annotations) and kubelet's PodResources API. Every call to Kubernetes
//! goes through this module's [`Kube`] handle: one client per process — on a current-thread runtime that
//! lives only for the plugin call, or, in `multus-daemon`, kept with watch caches of pods and NADs.

mod cache;
mod client;
mod objects;
mod pod_resources;

pub use client::{share_clients, Credentials, Kube, ERR_API_REFUSED};
pub use objects::{LegacyNetwork, NetworkAttachmentDefinition, NetworkAttachmentDefinitionSpec};
pub use pod_resources::DEFAULT_POD_RESOURCES_SOCKET;
