//! The network objects multus reads: NPWG NetworkAttachmentDefinitions and the seed's `Network`s.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::NamespaceResourceScope;
use serde::{Deserialize, Serialize};

/// `k8s.cni.cncf.io/v1` NetworkAttachmentDefinition (the NPWG network object).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkAttachmentDefinition {
    /// Name, namespace and annotations (`k8s.v1.cni.cncf.io/resourceName`).
    pub metadata: ObjectMeta,
    /// The network's CNI configuration.
    #[serde(default)]
    pub spec: NetworkAttachmentDefinitionSpec,
}

/// The spec of a [`NetworkAttachmentDefinition`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkAttachmentDefinitionSpec {
    /// A CNI configuration or configuration list as JSON text; empty means "the file of this name in
    /// multus's `confDir`".
    #[serde(default)]
    pub config: String,
}

/// The seed's `kubernetes.com/v1` `Network` (section 4.1): a plugin type and its arguments, stored
/// at the top level of the object rather than under `spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LegacyNetwork {
    /// Name and namespace.
    pub metadata: ObjectMeta,
    /// The CNI plugin type (`"sriov"`, `"flannel"`).
    #[serde(default)]
    pub plugin: String,
    /// JSON text of a one-element list holding the plugin's configuration.
    #[serde(default)]
    pub args: String,
}

macro_rules! namespaced_resource {
    ($ty:ty, $group:literal, $version:literal, $kind:literal, $plural:literal) => {
        impl kube::Resource for $ty {
            type DynamicType = ();
            type Scope = NamespaceResourceScope;

            fn kind(_: &()) -> Cow<'_, str> {
                $kind.into()
            }
            fn group(_: &()) -> Cow<'_, str> {
                $group.into()
            }
            fn version(_: &()) -> Cow<'_, str> {
                $version.into()
            }
            fn plural(_: &()) -> Cow<'_, str> {
                $plural.into()
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

namespaced_resource!(
    NetworkAttachmentDefinition,
    "k8s.cni.cncf.io",
    "v1",
    "NetworkAttachmentDefinition",
    "network-attachment-definitions"
);
namespaced_resource!(LegacyNetwork, "kubernetes.com", "v1", "Network", "networks");
