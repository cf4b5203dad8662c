//! Kubernetes mode: the networks of one pod, read from its annotations and the network objects in the
//! API server, turned into delegates; and the `k8s.v1.cni.cncf.io/network-status` written back.
//!
//! Order: the cluster network (the `v1.multus-cni.io/default-network` annotation, else
//! `clusterNetwork`, else the configured `delegates`), then `defaultNetworks` (not in
//! `systemNamespaces`), then the pod's NPWG networks; secondaries are named `net1, net2…`. A pod with
//! the seed's legacy `networks` annotation gets exactly those networks (no cluster network, no
//! defaultNetworks, as in the seed), the first one as master unless another sets `masterplugin`,
//! secondaries named `net0, net1…`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::config::{ifnames, KubernetesConf, MultusConf};
use super::delegate::Delegate;
use super::selection::{
    parse_default_network, parse_legacy_networks, parse_networks, Selection,
    DEFAULT_NETWORK_ANNOTATION, LEGACY_NETWORKS_ANNOTATION, NETWORKS_ANNOTATION,
};
use super::state::DelegateRecord;
use crate::k8s::{Credentials, Kube};
use crate::spec::{CniError, Env, NetConf};

/// The annotation multus writes after ADD.
pub const NETWORK_STATUS_ANNOTATION: &str = "k8s.v1.cni.cncf.io/network-status";
/// The NetworkAttachmentDefinition annotation naming the device-plugin resource its devices come from.
pub const RESOURCE_NAME_ANNOTATION: &str = "k8s.v1.cni.cncf.io/resourceName";

/// The delegates of one ADD and their interface names.
#[derive(Debug)]
pub struct Plan {
    /// The delegates in ADD order; exactly one is the master.
    pub delegates: Vec<Delegate>,
    /// The interface name of each delegate.
    pub ifnames: Vec<String>,
    /// The pod, in Kubernetes mode.
    pub pod: Option<PodNetworks>,
}

/// A pod whose networks came from the API server, and what its network-status needs.
#[derive(Debug)]
pub struct PodNetworks {
    kube: Arc<Kube>,
    namespace: String,
    name: String,
    /// Per delegate: its name in network-status, its device and its `default-route` gateways.
    status: Vec<StatusSource>,
}

/// What network-status says of one delegate beyond its ADD result.
#[derive(Debug)]
struct StatusSource {
    name: String,
    device: Option<String>,
    gateways: Vec<IpAddr>,
}

/// One network of the pod before it becomes a delegate.
struct Network {
    source: String,
    status_name: String,
    conf: Map<String, Value>,
    master: bool,
    selection: Option<Selection>,
    resource: Option<String>,
}

impl Plan {
    /// The delegates for this ADD: from the API server when multus is in Kubernetes mode and the
    /// runtime names the pod (`K8S_POD_NAMESPACE`, `K8S_POD_NAME`), else the configured ones.
    pub fn make(m: &MultusConf, env: &Env) -> Result<Plan, CniError> {
        let master_ifname = env.ifname()?;
        let pod = (env.arg("K8S_POD_NAMESPACE"), env.arg("K8S_POD_NAME"));
        let (Some(k), (Some(namespace), Some(name))) = (&m.kubernetes, pod) else {
            if m.delegates.is_empty() {
                return Err(CniError::invalid_config(
                    "delegates",
                    "none configured, and the runtime named no pod (K8S_POD_NAMESPACE, K8S_POD_NAME in CNI_ARGS) to read networks from",
                ));
            }
            return Ok(Plan {
                delegates: m.delegates.clone(),
                ifnames: m.ifnames(master_ifname)?,
                pod: None,
            });
        };
        let credentials = match &k.kubeconfig {
            Some(file) => Credentials::Kubeconfig(file),
            None => Credentials::InCluster,
        };
        let kube = Kube::for_call(credentials)?;
        let resolver = Resolver {
            m,
            k,
            kube: &kube,
            pod_namespace: namespace,
        };
        let (networks, first_secondary) = resolver.networks(name, env.arg("K8S_POD_UID"))?;
        let devices = resolver.devices(&networks, name)?;
        let mut delegates = Vec::with_capacity(networks.len());
        let mut status = Vec::with_capacity(networks.len());
        for (i, (net, device)) in networks.into_iter().zip(devices).enumerate() {
            let (delegate, status_entry) = net.into_delegate(i, device, &m.conf)?;
            delegates.push(delegate);
            status.push(status_entry);
        }
        if !delegates.iter().any(|d| d.master) {
            delegates[0].master = true;
        }
        let ifnames = ifnames(&delegates, master_ifname, first_secondary)?;
        Ok(Plan {
            delegates,
            ifnames,
            pod: Some(PodNetworks {
                kube,
                namespace: namespace.to_string(),
                name: name.to_string(),
                status,
            }),
        })
    }
}

impl PodNetworks {
    /// Gives the pod's default route to the networks selected with `default-route` (after every
    /// delegate's ADD, so that the cluster network's default route is replaced, not doubled).
    pub fn route_defaults(
        &self,
        netns: &Path,
        delegates: &[DelegateRecord],
    ) -> Result<(), CniError> {
        for (d, source) in delegates.iter().zip(&self.status) {
            if source.gateways.is_empty() {
                continue;
            }
            crate::netlink::set_default_route_in(netns, &d.ifname, &source.gateways).map_err(
                |e| {
                    CniError::io(
                        format!("default-route of {} via {}", source.name, d.ifname),
                        e,
                    )
                },
            )?;
        }
        Ok(())
    }

    /// Writes `k8s.v1.cni.cncf.io/network-status` on the pod from the delegates' ADD results. The
    /// networks selected with `default-route` are `default`; without one, the master is.
    pub fn report(&self, delegates: &[DelegateRecord]) -> Result<(), CniError> {
        let routed = self.status.iter().any(|s| !s.gateways.is_empty());
        let entries: Vec<Value> = delegates
            .iter()
            .zip(&self.status)
            .map(|(d, source)| {
                let default = if routed {
                    !source.gateways.is_empty()
                } else {
                    d.master
                };
                status_entry(d, &source.name, source.device.as_deref(), default)
            })
            .collect();
        let text = serde_json::to_string_pretty(&entries).expect("JSON values always serialise");
        self.kube.annotate_pod_status(
            &self.namespace,
            &self.name,
            NETWORK_STATUS_ANNOTATION,
            &text,
        )
    }
}

/// One network-status element: name, interface, ips (without prefix), mac, default, dns, device-info.
fn status_entry(d: &DelegateRecord, name: &str, device: Option<&str>, default: bool) -> Value {
    let result = d.result.as_ref();
    let interfaces = result.map(|r| r.interfaces.as_slice()).unwrap_or_default();
    let own = interfaces
        .iter()
        .position(|i| i.name == d.ifname && i.sandbox.is_some());
    let ips: Vec<String> = result
        .map(|r| r.ips.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|ip| ip.interface.is_none() || ip.interface == own)
        .map(|ip| ip.address.addr.to_string())
        .collect();
    let mut entry = json!({"name": name, "interface": d.ifname, "ips": ips, "default": default,
        "dns": result.map(|r| serde_json::to_value(&r.dns).expect("dns serialises")).unwrap_or(json!({}))});
    if let Some(mac) = own.and_then(|i| interfaces[i].mac.clone()) {
        entry["mac"] = json!(mac);
    }
    let pci = device
        .map(str::to_string)
        .or_else(|| own.and_then(|i| interfaces[i].pci_id.clone()));
    if let Some(pci) = pci {
        entry["device-info"] =
            json!({"type": "pci", "version": "1.1.0", "pci": {"pci-address": pci}});
    }
    entry
}

/// Looks networks up for one pod.
struct Resolver<'a> {
    m: &'a MultusConf,
    k: &'a KubernetesConf,
    kube: &'a Kube,
    pod_namespace: &'a str,
}

impl Resolver<'_> {
    /// The pod's networks in ADD order, and the number its first unnamed secondary gets (`net<N>`).
    fn networks(
        &self,
        pod_name: &str,
        uid: Option<&str>,
    ) -> Result<(Vec<Network>, usize), CniError> {
        let ns = self.pod_namespace;
        let pod = self.kube.pod(ns, pod_name, uid)?.ok_or_else(|| {
            CniError::new(
                CniError::UNKNOWN_CONTAINER,
                format!("pod {ns}/{pod_name} not found in the API server"),
                "",
            )
        })?;
        if let (Some(wanted), Some(actual)) = (uid, pod.metadata.uid.as_deref()) {
            if wanted != actual {
                return Err(CniError::new(
                    CniError::UNKNOWN_CONTAINER,
                    format!("K8S_POD_UID: pod {ns}/{pod_name} has UID {actual}, not {wanted}: it was deleted and recreated"),
                    "",
                ));
            }
        }
        let annotations = pod.metadata.annotations.unwrap_or_default();
        let annotation = |key: &str, parse: fn(&str) -> Result<Vec<Selection>, String>| {
            annotations
                .get(key)
                .map(|text| {
                    parse(text).map_err(|e| {
                        CniError::invalid_config(
                            &format!("pod {ns}/{pod_name} annotation {key}"),
                            e,
                        )
                    })
                })
                .transpose()
        };
        let npwg = annotation(NETWORKS_ANNOTATION, parse_networks)?;
        let legacy = annotation(LEGACY_NETWORKS_ANNOTATION, parse_legacy_networks)?;
        if npwg.is_some() && legacy.is_some() {
            return Err(CniError::invalid_config(
                &format!("pod {ns}/{pod_name} annotations"),
                format!("{NETWORKS_ANNOTATION} and the legacy {LEGACY_NETWORKS_ANNOTATION} cannot both be used"),
            ));
        }

        if let Some(legacy) = &legacy {
            // The seed's form: the list is the pod's whole set of networks, the first (or the one
            // with `masterplugin`) its primary; clusterNetwork and defaultNetworks do not apply.
            let networks = legacy
                .iter()
                .enumerate()
                .map(|(i, selection)| {
                    let at =
                        format!("pod {ns}/{pod_name} annotation {LEGACY_NETWORKS_ANNOTATION}[{i}]");
                    self.legacy(selection, &at)
                })
                .collect::<Result<Vec<_>, _>>()?;
            return Ok((networks, 0));
        }
        let mut networks = Vec::new();
        let mut first_secondary = 1;
        if let Some(text) = annotations.get(DEFAULT_NETWORK_ANNOTATION) {
            let at = format!("pod {ns}/{pod_name} annotation {DEFAULT_NETWORK_ANNOTATION}");
            let selection =
                parse_default_network(text).map_err(|e| CniError::invalid_config(&at, e))?;
            let mut net = self.attachment(&selection, &at)?;
            net.master = true;
            net.selection = None;
            networks.push(net);
        } else if let Some(cluster) = &self.k.cluster_network {
            let mut net = self.named(cluster, "clusterNetwork")?;
            net.master = true;
            networks.push(net);
        } else {
            networks.extend(self.m.delegates.iter().map(|d| Network {
                source: d.source.clone(),
                status_name: d.network.name.clone(),
                conf: d.conf.clone(),
                master: d.master,
                selection: None,
                resource: None,
            }));
            if npwg.is_none() {
                first_secondary = 0;
            }
        }
        if !networks.is_empty() && !self.k.system_namespaces.iter().any(|s| s == ns) {
            for (i, name) in self.k.default_networks.iter().enumerate() {
                networks.push(self.named(name, &format!("defaultNetworks[{i}]"))?);
            }
        }
        for (i, selection) in npwg.iter().flatten().enumerate() {
            let at = format!("pod {ns}/{pod_name} annotation {NETWORKS_ANNOTATION}[{i}]");
            networks.push(self.attachment(selection, &at)?);
        }
        if networks.is_empty() {
            return Err(CniError::invalid_config(
                "delegates",
                format!("pod {ns}/{pod_name} selects no network, and multus has no clusterNetwork or delegates"),
            ));
        }
        Ok((networks, first_secondary))
    }

    /// A NetworkAttachmentDefinition the pod selected (namespace isolation applied).
    fn attachment(&self, selection: &Selection, at: &str) -> Result<Network, CniError> {
        let namespace = selection.namespace.as_deref().unwrap_or(self.pod_namespace);
        if self.k.namespace_isolation
            && namespace != self.pod_namespace
            && !self.k.global_namespaces.iter().any(|g| g == namespace)
        {
            return Err(CniError::invalid_config(
                at,
                format!(
                    "namespace isolation: a pod in namespace {:?} may not use network \"{namespace}/{}\" (allowed: its own namespace and {})",
                    self.pod_namespace,
                    selection.name,
                    self.k.global_namespaces.join(", ")
                ),
            ));
        }
        let mut net = self.nad(namespace, &selection.name, at)?.ok_or_else(|| {
            CniError::invalid_config(
                at,
                format!(
                    "network {:?} not found in namespace {namespace:?}",
                    selection.name
                ),
            )
        })?;
        net.selection = Some(selection.clone());
        Ok(net)
    }

    /// The NetworkAttachmentDefinition `namespace/name`, if it exists.
    fn nad(&self, namespace: &str, name: &str, at: &str) -> Result<Option<Network>, CniError> {
        let Some(nad) = self.kube.network_attachment(namespace, name)? else {
            return Ok(None);
        };
        let object = format!("network-attachment-definition {namespace}/{name}");
        let mut conf = if nad.spec.config.trim().is_empty() {
            self.conf_file_named(name)?.ok_or_else(|| {
                CniError::invalid_config(
                    &format!("{object} spec.config"),
                    format!(
                        "empty, and no file in {} has a network named {name:?}",
                        self.m.conf_dir.display()
                    ),
                )
            })?
        } else {
            parse_conf_object(nad.spec.config.as_bytes(), &format!("{object} spec.config"))?
        };
        conf.entry("name").or_insert_with(|| Value::from(name));
        let resource = nad
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(RESOURCE_NAME_ANNOTATION))
            .cloned();
        Ok(Some(Network {
            source: format!("{at} (network \"{namespace}/{name}\")"),
            status_name: format!("{namespace}/{name}"),
            conf,
            master: false,
            selection: None,
            resource,
        }))
    }

    /// `clusterNetwork` or a `defaultNetworks` entry: a NetworkAttachmentDefinition in
    /// `multusNamespace`, else a file in `confDir` whose network has that name, else a file or directory path.
    fn named(&self, name: &str, at: &str) -> Result<Network, CniError> {
        let from_file = |conf: Map<String, Value>| {
            let status_name = conf
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(name)
                .to_string();
            Network {
                source: format!("{at} ({name:?})"),
                status_name,
                conf,
                master: false,
                selection: None,
                resource: None,
            }
        };
        if name.starts_with('/') {
            let path = Path::new(name);
            let file = if path.is_dir() {
                conf_files(path)?.into_iter().next()
            } else {
                Some(path.to_path_buf())
            };
            let file = file.ok_or_else(|| {
                CniError::invalid_config(at, format!("{name}: no network configuration file in it"))
            })?;
            return Ok(from_file(read_conf_file(&file, at)?));
        }
        if let Some(net) = self.nad(&self.k.multus_namespace, name, at)? {
            return Ok(net);
        }
        self.conf_file_named(name)?.map(from_file).ok_or_else(|| {
            CniError::invalid_config(
                at,
                format!(
                    "network {name:?} is neither a network-attachment-definition in namespace {:?} nor a network in {}",
                    self.k.multus_namespace,
                    self.m.conf_dir.display()
                ),
            )
        })
    }

    /// The seed's `Network` object: `plugin` becomes the delegate's `type`, `args` (a one-element
    /// JSON list) its configuration.
    fn legacy(&self, selection: &Selection, at: &str) -> Result<Network, CniError> {
        let ns = self.pod_namespace;
        let name = &selection.name;
        let object = self.kube.legacy_network(ns, name)?.ok_or_else(|| {
            CniError::invalid_config(
                at,
                format!("network {name:?} not found in namespace {ns:?}"),
            )
        })?;
        let field = format!("network {ns}/{name} (kubernetes.com/v1) args");
        let args: Value = serde_json::from_str(&object.args)
            .map_err(|e| CniError::invalid_config(&field, format!("invalid JSON: {e}")))?;
        let mut conf = match args {
            Value::Array(mut list) if list.len() == 1 => match list.remove(0) {
                Value::Object(conf) => conf,
                other => {
                    return Err(CniError::invalid_config(
                        &field,
                        format!("expected an object in the list, found {other}"),
                    ))
                }
            },
            other => {
                return Err(CniError::invalid_config(
                    &field,
                    format!("expected a list of one configuration object, found {other}"),
                ))
            }
        };
        if object.plugin.is_empty() {
            return Err(CniError::invalid_config(
                &format!("network {ns}/{name} (kubernetes.com/v1) plugin"),
                "missing",
            ));
        }
        conf.insert("type".into(), Value::from(object.plugin));
        conf.entry("name")
            .or_insert_with(|| Value::from(name.as_str()));
        Ok(Network {
            source: format!("{at} (network \"{ns}/{name}\")"),
            status_name: format!("{ns}/{name}"),
            conf,
            master: false,
            selection: None,
            resource: None,
        })
    }

    /// The device each network gets from kubelet's allocation to the pod: networks of the same
    /// resource take its devices in order. Asks kubelet only when some network names a resource.
    fn devices(
        &self,
        networks: &[Network],
        pod_name: &str,
    ) -> Result<Vec<Option<String>>, CniError> {
        if networks.iter().all(|n| n.resource.is_none()) {
            return Ok(vec![None; networks.len()]);
        }
        let allocated =
            self.kube
                .pod_devices(&self.k.pod_resources_socket, self.pod_namespace, pod_name)?;
        let mut pools: HashMap<&str, Vec<&str>> = HashMap::new();
        for (resource, ids) in &allocated {
            pools
                .entry(resource)
                .or_default()
                .extend(ids.iter().map(String::as_str));
        }
        let mut taken: HashMap<&str, usize> = HashMap::new();
        networks
            .iter()
            .map(|net| {
                let Some(resource) = net.resource.as_deref() else { return Ok(None) };
                let pool = pools.get(resource).map(Vec::as_slice).unwrap_or_default();
                let next = taken.entry(resource).or_default();
                let device = pool.get(*next).ok_or_else(|| {
                    CniError::invalid_config(
                        &format!("{} {RESOURCE_NAME_ANNOTATION}", net.source),
                        format!(
                            "kubelet allocated {} device(s) of {resource} to pod {}/{pod_name}, and network number {} of that resource needs one",
                            pool.len(),
                            self.pod_namespace,
                            *next + 1
                        ),
                    )
                })?;
                *next += 1;
                Ok(Some(device.to_string()))
            })
            .collect()
    }

    /// The configuration in `confDir` whose network is named `name` (files in lexical order).
    fn conf_file_named(&self, name: &str) -> Result<Option<Map<String, Value>>, CniError> {
        for file in conf_files(&self.m.conf_dir)? {
            let conf = read_conf_file(&file, "confDir")?;
            if conf.get("name").and_then(Value::as_str) == Some(name) {
                return Ok(Some(conf));
            }
        }
        Ok(None)
    }
}

impl Network {
    /// The delegate, with the selection's runtime configuration, CNI args and device; and its
    /// network-status name and device.
    fn into_delegate(
        mut self,
        index: usize,
        device: Option<String>,
        multus: &NetConf,
    ) -> Result<(Delegate, StatusSource), CniError> {
        let gateways = self
            .selection
            .iter()
            .flat_map(|s| &s.default_route)
            .map(|gw| {
                gw.parse::<IpAddr>().map_err(|_| {
                    CniError::invalid_config(
                        &format!("{} default-route", self.source),
                        format!("{gw:?} is not an IP address"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(device) = &device {
            first_plugin(&mut self.conf).insert("deviceID".into(), Value::from(device.clone()));
        }
        let empty = Map::new();
        let runtime_config = match &self.selection {
            Some(s) => s.runtime_config(),
            None => multus.runtime_config().unwrap_or(&empty).clone(),
        };
        if let Some(args) = self.selection.as_ref().and_then(|s| s.cni_args.as_ref()) {
            for plugin in plugins(&mut self.conf) {
                let slot = plugin.entry("args").or_insert_with(|| json!({}));
                if let Some(slot) = slot.as_object_mut() {
                    let cni = slot.entry("cni").or_insert_with(|| json!({}));
                    if let Some(cni) = cni.as_object_mut() {
                        cni.extend(args.clone());
                    }
                }
            }
        }
        if self.master {
            self.conf
                .insert(super::delegate::MASTER_KEY.into(), Value::Bool(true));
        }
        let mut delegate =
            Delegate::from_network(index, self.source, self.conf, multus, &runtime_config)?;
        if let Some(s) = &self.selection {
            if let Some(iface) = &s.interface {
                delegate.requested_ifname = Some(iface.clone());
            }
            if !s.ips.is_empty() {
                delegate.add_args.push(("IP".into(), s.ips.join(",")));
            }
            if let Some(mac) = &s.mac {
                delegate.add_args.push(("MAC".into(), mac.clone()));
            }
        }
        Ok((
            delegate,
            StatusSource {
                name: self.status_name,
                device,
                gateways,
            },
        ))
    }
}

/// The plugin objects of a configuration (itself, or each of its `plugins`).
fn plugins(conf: &mut Map<String, Value>) -> Vec<&mut Map<String, Value>> {
    if conf.get("plugins").is_some_and(Value::is_array) {
        conf.get_mut("plugins")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object_mut)
            .collect()
    } else {
        vec![conf]
    }
}

/// The first plugin of a configuration (where Multus puts `deviceID`).
fn first_plugin(conf: &mut Map<String, Value>) -> &mut Map<String, Value> {
    if conf
        .get("plugins")
        .and_then(Value::as_array)
        .is_some_and(|p| p.first().is_some_and(Value::is_object))
    {
        return conf["plugins"][0].as_object_mut().expect("checked above");
    }
    conf
}

/// Parses a network configuration (conf or conflist) object; code 7 naming `at`.
fn parse_conf_object(bytes: &[u8], at: &str) -> Result<Map<String, Value>, CniError> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(conf)) => Ok(conf),
        Ok(other) => Err(CniError::invalid_config(
            at,
            format!("expected a JSON object, found {other}"),
        )),
        Err(e) => Err(CniError::invalid_config(at, format!("invalid JSON: {e}"))),
    }
}

/// Reads a network configuration file.
fn read_conf_file(file: &Path, at: &str) -> Result<Map<String, Value>, CniError> {
    let bytes = std::fs::read(file)
        .map_err(|e| CniError::invalid_config(at, format!("{}: {e}", file.display())))?;
    parse_conf_object(&bytes, &format!("{at} ({})", file.display()))
}

/// The network configuration files of `dir` (none if it does not exist).
fn conf_files(dir: &Path) -> Result<Vec<PathBuf>, CniError> {
    match crate::spec::conf_files(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        other => other.map_err(|e| CniError::io(format!("cannot list {}", dir.display()), e)),
    }
}
