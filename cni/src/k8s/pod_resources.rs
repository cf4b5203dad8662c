//! kubelet's PodResources API (`v1.PodResourcesLister/List` over a unix socket): which devices of
//! which resource kubelet gave each pod. Only the messages and fields multus reads are declared; their
//! tags are those of kubelet's `podresources/v1/api.proto`, and prost skips the rest.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Endpoint, Uri};

/// Where kubelet serves the PodResources API.
pub const DEFAULT_POD_RESOURCES_SOCKET: &str = "/var/lib/kubelet/pod-resources/kubelet.sock";

/// How long one List call may take before multus gives up on it.
const TIMEOUT: Duration = Duration::from_secs(5);

/// `v1.ListPodResourcesRequest`.
#[derive(Clone, PartialEq, prost::Message)]
struct ListPodResourcesRequest {}

/// `v1.ListPodResourcesResponse`.
#[derive(Clone, PartialEq, prost::Message)]
struct ListPodResourcesResponse {
    #[prost(message, repeated, tag = "1")]
    pod_resources: Vec<PodResources>,
}

/// `v1.PodResources`.
#[derive(Clone, PartialEq, prost::Message)]
struct PodResources {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    namespace: String,
    #[prost(message, repeated, tag = "3")]
    containers: Vec<ContainerResources>,
}

/// `v1.ContainerResources`.
#[derive(Clone, PartialEq, prost::Message)]
struct ContainerResources {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, repeated, tag = "2")]
    devices: Vec<ContainerDevices>,
}

/// `v1.ContainerDevices`.
#[derive(Clone, PartialEq, prost::Message)]
struct ContainerDevices {
    #[prost(string, tag = "1")]
    resource_name: String,
    #[prost(string, repeated, tag = "2")]
    device_ids: Vec<String>,
}

/// The devices kubelet allocated to the pod `namespace/name`, as (resource name, device IDs) in the
/// order kubelet lists them (containers in order, each container's device groups in order).
pub(super) async fn pod_devices(
    socket: &Path,
    namespace: &str,
    name: &str,
) -> Result<Vec<(String, Vec<String>)>, String> {
    let response = tokio::time::timeout(TIMEOUT, list(socket.to_path_buf()))
        .await
        .map_err(|_| format!("no answer within {}s", TIMEOUT.as_secs()))??;
    Ok(response
        .pod_resources
        .into_iter()
        .filter(|p| p.namespace == namespace && p.name == name)
        .flat_map(|p| p.containers)
        .flat_map(|c| c.devices)
        .map(|d| (d.resource_name, d.device_ids))
        .collect())
}

/// One `List` call.
async fn list(socket: PathBuf) -> Result<ListPodResourcesResponse, String> {
    // The URI is required by the API but unused: the connector always dials the socket.
    let channel = Endpoint::from_static("http://kubelet.sock")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(socket).await?)) }
        }))
        .await
        .map_err(|e| format!("cannot connect: {}", super::client::causes(&e)))?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| format!("not ready: {}", super::client::causes(&e)))?;
    let codec =
        tonic_prost::ProstCodec::<ListPodResourcesRequest, ListPodResourcesResponse>::default();
    grpc.unary(
        tonic::Request::new(ListPodResourcesRequest {}),
        PathAndQuery::from_static("/v1.PodResourcesLister/List"),
        codec,
    )
    .await
    .map(tonic::Response::into_inner)
    .map_err(|status| format!("List failed: {:?}: {}", status.code(), status.message()))
}
