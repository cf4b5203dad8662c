//! The multus configuration (`"type": "multus"`): delegates, directories, logging, readiness and the
//! Kubernetes-mode settings (`kubeconfig`, `clusterNetwork`, `defaultNetworks`, namespace rules).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::delegate::Delegate;
use crate::log::{Level, Logger};
use crate::spec::{optional_str, validate_ifname, CniError, NetConf};

/// Default `binDir`: where delegate plugins are looked for before `CNI_PATH`.
pub const DEFAULT_BIN_DIR: &str = "/opt/cni/bin";
/// Default `cniDir`: where the per-attachment caches live.
pub const DEFAULT_CNI_DIR: &str = "/var/lib/cni/multus";
/// Default `logLevel`: Multus's own default, `panic`.
pub const DEFAULT_LOG_LEVEL: Level = Level::Panic;
/// Default bound on the wait for `readinessindicatorfile`.
pub const DEFAULT_READINESS_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `confDir`: where network files named by `clusterNetwork`, `defaultNetworks` and
/// NetworkAttachmentDefinitions without a config are looked up.
pub const DEFAULT_CONF_DIR: &str = "/etc/cni/multus/net.d";
/// Default `multusNamespace`: where `clusterNetwork` and `defaultNetworks` objects live.
pub const DEFAULT_MULTUS_NAMESPACE: &str = "kube-system";

/// A parsed multus configuration.
#[derive(Debug, Clone)]
pub struct MultusConf {
    /// The configuration as the runtime passed it.
    pub conf: NetConf,
    /// The configured delegates in order; exactly one has `master` set. Empty only in Kubernetes
    /// mode, where the networks may all come from the pod.
    pub delegates: Vec<Delegate>,
    /// Kubernetes mode: set when `kubeconfig` or `clusterNetwork` is.
    pub kubernetes: Option<KubernetesConf>,
    /// `confDir`.
    pub conf_dir: PathBuf,
    /// `binDir`.
    pub bin_dir: PathBuf,
    /// `cniDir`.
    pub cni_dir: PathBuf,
    /// Where `logFile`/`logLevel` send diagnostics.
    pub log: Logger,
    /// `readinessindicatorfile`: ADD waits for this file to exist.
    pub readiness_file: Option<PathBuf>,
    /// `readinessindicatortimeout` (seconds): how long ADD waits for the readiness file.
    pub readiness_timeout: Duration,
}

/// The settings of Kubernetes mode, named as in Multus.
#[derive(Debug, Clone, PartialEq)]
pub struct KubernetesConf {
    /// `kubeconfig`: the credentials for the API server; without it, the in-cluster service account
    /// (multus running in a pod), as kubectl falls back to it.
    pub kubeconfig: Option<PathBuf>,
    /// `clusterNetwork`: the pod's primary network (a NetworkAttachmentDefinition in
    /// `multusNamespace`, a file name in `confDir` without extension, or a file or directory path).
    pub cluster_network: Option<String>,
    /// `defaultNetworks`: attached to every pod outside `systemNamespaces`, after the cluster network.
    pub default_networks: Vec<String>,
    /// `multusNamespace`.
    pub multus_namespace: String,
    /// `namespaceIsolation`: pods may use only their own namespace's networks and `globalNamespaces`'.
    pub namespace_isolation: bool,
    /// `globalNamespaces` (comma-separated in the file; `default` when unset).
    pub global_namespaces: Vec<String>,
    /// `systemNamespaces`: pods there get no `defaultNetworks` (`["kube-system"]` when unset).
    pub system_namespaces: Vec<String>,
    /// `podResourcesSocket`: kubelet's PodResources API, asked for `deviceID`s.
    pub pod_resources_socket: PathBuf,
}
impl MultusConf {
    /// Reads and validates the configuration; code 7 naming the field on any error.
    pub fn parse(conf: &NetConf) -> Result<MultusConf, CniError> {
        let raw = &conf.raw;
        let kubernetes = KubernetesConf::parse(raw)?;
        let no_delegates = Vec::new();
        let list = match raw.get("delegates") {
            None if kubernetes.is_some() => &no_delegates,
            Some(Value::Array(list)) if !list.is_empty() => list,
            Some(Value::Array(_)) => {
                return Err(CniError::invalid_config("delegates", "must not be empty"))
            }
            Some(other) => {
                return Err(CniError::invalid_config(
                    "delegates",
                    format!("expected a list, found {other}"),
                ))
            }
            None => return Err(CniError::invalid_config("delegates", "missing")),
        };
        let mut delegates = list
            .iter()
            .enumerate()
            .map(|(i, d)| Delegate::parse(i, d, conf))
            .collect::<Result<Vec<_>, _>>()?;
        let mut masters = delegates.iter().filter(|d| d.master).map(|d| d.index);
        match (masters.next(), masters.next()) {
            (Some(first), Some(second)) => {
                return Err(CniError::invalid_config(
                    &format!("delegates[{second}].masterplugin"),
                    format!("only one delegate may be the master (delegates[{first}] already is)"),
                ))
            }
            (None, _) => {
                if let Some(first) = delegates.first_mut() {
                    first.master = true;
                }
            }
            _ => {}
        }
        let dir = |field: &str, default: &str| {
            optional_str(raw, "", field).map(|v| PathBuf::from(v.unwrap_or(default)))
        };
        let log = Logger::from_conf("multus", conf, DEFAULT_LOG_LEVEL)?;
        let readiness_timeout = match raw.get("readinessindicatortimeout") {
            None => DEFAULT_READINESS_TIMEOUT,
            // Any number of seconds >= 0; one too large for a Duration means no deadline.
            Some(v) => v
                .as_f64()
                .filter(|s| *s >= 0.0 && s.is_finite())
                .map(|s| Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX))
                .ok_or_else(|| {
                    CniError::invalid_config(
                        "readinessindicatortimeout",
                        format!("expected seconds (a number >= 0), found {v}"),
                    )
                })?,
        };
        Ok(MultusConf {
            delegates,
            kubernetes,
            conf_dir: dir("confDir", DEFAULT_CONF_DIR)?,
            bin_dir: dir("binDir", DEFAULT_BIN_DIR)?,
            cni_dir: dir("cniDir", DEFAULT_CNI_DIR)?,
            log,
            // As in Multus, an empty name means "no readiness indicator".
            readiness_file: optional_str(raw, "", "readinessindicatorfile")?
                .filter(|f| !f.is_empty())
                .map(PathBuf::from),
            readiness_timeout,
            conf: conf.clone(),
        })
    }

    /// The interface name of every configured delegate, as in the seed ([`ifnames`] from `net0`).
    pub fn ifnames(&self, master_ifname: &str) -> Result<Vec<String>, CniError> {
        ifnames(&self.delegates, master_ifname, 0)
    }
}

/// The interface name of every delegate: the master gets `master_ifname` (CNI_IFNAME), the others
/// their requested name or `net<N>`, N counting the non-master delegates from `first` (0 in the seed,
/// where the first secondary interface is `net0`; 1 for NPWG networks, as Multus names them). Code 7
/// if two delegates would share a name.
pub fn ifnames(
    delegates: &[Delegate],
    master_ifname: &str,
    first: usize,
) -> Result<Vec<String>, CniError> {
    let mut names: Vec<String> = Vec::with_capacity(delegates.len());
    let mut secondary = first;
    for d in delegates {
        let name = if d.master {
            master_ifname.to_string()
        } else {
            secondary += 1;
            d.requested_ifname
                .clone()
                .unwrap_or_else(|| format!("net{}", secondary - 1))
        };
        validate_ifname(&name).map_err(|p| CniError::invalid_config(&d.source, p))?;
        if let Some(other) = names.iter().position(|n| *n == name) {
            return Err(CniError::invalid_config(
                &d.source,
                format!(
                    "interface name {name:?} is already used by {}",
                    delegates[other].source
                ),
            ));
        }
        names.push(name);
    }
    Ok(names)
}

impl KubernetesConf {
    /// Kubernetes mode's fields; `None` without `kubeconfig` and `clusterNetwork`.
    fn parse(raw: &serde_json::Map<String, Value>) -> Result<Option<KubernetesConf>, CniError> {
        let kubeconfig = optional_str(raw, "", "kubeconfig")?.filter(|k| !k.is_empty());
        let cluster_network = optional_str(raw, "", "clusterNetwork")?
            .filter(|c| !c.is_empty())
            .map(str::to_string);
        if kubeconfig.is_none() && cluster_network.is_none() {
            return Ok(None);
        }
        let strings = |field: &str| -> Result<Option<Vec<String>>, CniError> {
            match raw.get(field) {
                None => Ok(None),
                Some(Value::Array(items)) => items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        v.as_str().map(str::to_string).ok_or_else(|| {
                            CniError::invalid_config(
                                &format!("{field}[{i}]"),
                                format!("expected a string, found {v}"),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some),
                Some(other) => Err(CniError::invalid_config(
                    field,
                    format!("expected a list of strings, found {other}"),
                )),
            }
        };
        let namespace_isolation = match raw.get("namespaceIsolation") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(CniError::invalid_config(
                    "namespaceIsolation",
                    format!("expected a boolean, found {other}"),
                ))
            }
        };
        let global_namespaces = optional_str(raw, "", "globalNamespaces")?
            .map(|list| {
                list.split(',')
                    .map(|n| n.trim().to_string())
                    .filter(|n| !n.is_empty())
                    .collect()
            })
            .unwrap_or_else(|| vec!["default".to_string()]);
        Ok(Some(KubernetesConf {
            kubeconfig: kubeconfig.map(PathBuf::from),
            cluster_network,
            default_networks: strings("defaultNetworks")?.unwrap_or_default(),
            multus_namespace: optional_str(raw, "", "multusNamespace")?
                .unwrap_or(DEFAULT_MULTUS_NAMESPACE)
                .to_string(),
            namespace_isolation,
            global_namespaces,
            system_namespaces: strings("systemNamespaces")?
                .unwrap_or_else(|| vec!["kube-system".to_string()]),
            pod_resources_socket: PathBuf::from(
                optional_str(raw, "", "podResourcesSocket")?
                    .unwrap_or(crate::k8s::DEFAULT_POD_RESOURCES_SOCKET),
            ),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<MultusConf, CniError> {
        MultusConf::parse(&NetConf::parse(&serde_json::to_vec(&value).unwrap()).unwrap())
    }

    /// Section 5.1.3 of the seed, verbatim apart from `bridge` standing in for flannel.
    const SEED_5_1_3: &str = r#"{
      "name": "minion1-multus-demo-network",
      "type": "multus",
      "delegates": [
        {
          "type": "sriov",
          "if0": "enp4s0f3",
          "if0name": "north0",
          "dpdk": {
            "kernel_driver": "ixgbevf",
            "dpdk_driver": "igb_uio",
            "dpdk_tool": "/root/dpdk/                                tools/dpdk-devbind.py"
          }
        },
        {
          "type": "bridge",
          "masterplugin": true,
          "delegate": {
            "isDefaultGateway": true
          }
        }
      ]
    }"#;

    #[test]
    fn parses_the_seed_config_as_written() {
        let m = MultusConf::parse(&NetConf::parse(SEED_5_1_3.as_bytes()).unwrap()).unwrap();
        assert_eq!(m.delegates.len(), 2);
        assert!(!m.delegates[0].master && m.delegates[1].master);
        assert_eq!(m.ifnames("eth0").unwrap(), vec!["north0", "eth0"]);
        assert_eq!(m.bin_dir, PathBuf::from(DEFAULT_BIN_DIR));
        assert_eq!(m.cni_dir, PathBuf::from(DEFAULT_CNI_DIR));
        assert_eq!(m.delegates[0].network.name, "minion1-multus-demo-network");
        assert_eq!(m.readiness_file, None);
    }

    #[test]
    fn an_empty_readiness_file_name_disables_the_wait() {
        let m = parse(json!({"name": "m", "type": "multus", "readinessindicatorfile": "", "delegates": [{"type": "a"}]})).unwrap();
        assert_eq!(m.readiness_file, None);
        let m = parse(json!({"name": "m", "type": "multus", "readinessindicatorfile": "/run/ready", "delegates": [{"type": "a"}]})).unwrap();
        assert_eq!(m.readiness_file, Some(PathBuf::from("/run/ready")));
    }

    #[test]
    fn first_delegate_is_master_by_default_and_others_are_net_n() {
        let m = parse(json!({"name": "m", "type": "multus", "binDir": "/b", "cniDir": "/c",
            "delegates": [{"type": "bridge"}, {"type": "macvlan"}, {"type": "sriov", "if0name": "north"}, {"type": "x"}]}))
        .unwrap();
        assert!(m.delegates[0].master);
        assert_eq!(
            m.ifnames("eth0").unwrap(),
            vec!["eth0", "net0", "north", "net2"]
        );
        assert_eq!(
            (m.bin_dir, m.cni_dir),
            (PathBuf::from("/b"), PathBuf::from("/c"))
        );
    }

    #[test]
    fn malformed_configs_name_the_field() {
        let cases = [
            (json!({"name": "m", "type": "multus"}), "delegates: missing"),
            (json!({"name": "m", "type": "multus", "delegates": []}), "delegates: must not be empty"),
            (json!({"name": "m", "type": "multus", "delegates": {}}), "delegates: expected a list, found {}"),
            (
                json!({"name": "m", "type": "multus", "delegates": [{"type": "a", "masterplugin": true}, {"type": "b", "masterplugin": true}]}),
                "delegates[1].masterplugin: only one delegate may be the master (delegates[0] already is)",
            ),
            (json!({"name": "m", "type": "multus", "binDir": 3, "delegates": [{"type": "a"}]}), "binDir: expected a string, found 3"),
            (json!({"name": "m", "type": "multus", "logLevel": "loud", "delegates": [{"type": "a"}]}), "logLevel: \"loud\" is not one of debug, verbose, error, panic"),
            (
                json!({"name": "m", "type": "multus", "readinessindicatortimeout": "soon", "delegates": [{"type": "a"}]}),
                "readinessindicatortimeout: expected seconds (a number >= 0), found \"soon\"",
            ),
            (
                json!({"name": "m", "type": "multus", "readinessindicatortimeout": -1e300, "delegates": [{"type": "a"}]}),
                "readinessindicatortimeout: expected seconds (a number >= 0), found -1e+300",
            ),
        ];
        for (value, msg) in cases {
            let err = parse(value).unwrap_err();
            assert_eq!(
                (err.code, err.msg.as_str()),
                (CniError::INVALID_CONFIG, msg)
            );
        }
    }

    #[test]
    fn huge_readiness_timeouts_are_read_as_no_deadline() {
        for (text, expected) in [
            ("0", Duration::ZERO),
            ("2.5", Duration::from_millis(2500)),
            ("9.3e18", Duration::from_secs(9_300_000_000_000_000_000)),
            ("18446744073709551616", Duration::MAX),
            ("1e300", Duration::MAX),
        ] {
            let conf = format!(
                r#"{{"name": "m", "type": "multus", "readinessindicatortimeout": {text}, "delegates": [{{"type": "a"}}]}}"#
            );
            let m = MultusConf::parse(&NetConf::parse(conf.as_bytes()).unwrap()).unwrap();
            assert_eq!(m.readiness_timeout, expected, "{text}");
        }
    }

    #[test]
    fn duplicate_interface_names_are_refused() {
        let m = parse(json!({"name": "m", "type": "multus",
            "delegates": [{"type": "a"}, {"type": "b", "if0name": "eth0"}]}))
        .unwrap();
        assert_eq!(
            m.ifnames("eth0").unwrap_err().msg,
            "delegates[1]: interface name \"eth0\" is already used by delegates[0]"
        );
    }
}
