//! The pod annotations that pick networks: the NPWG `k8s.v1.cni.cncf.io/networks` (comma form
//! `[namespace/]name[@interface]` or a JSON list of selection elements), the seed's legacy `networks`
//! (a JSON list of `{"name": ...}`), and `v1.multus-cni.io/default-network`.

use serde::Deserialize;
use serde_json::{Map, Value};

/// The NPWG network-selection annotation.
pub const NETWORKS_ANNOTATION: &str = "k8s.v1.cni.cncf.io/networks";
/// The seed's (Multus v1/v2) network-selection annotation.
pub const LEGACY_NETWORKS_ANNOTATION: &str = "networks";
/// The annotation that replaces the cluster network for one pod.
pub const DEFAULT_NETWORK_ANNOTATION: &str = "v1.multus-cni.io/default-network";

/// One network a pod asks for.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    /// The network object's name.
    pub name: String,
    /// Its namespace; the pod's when absent.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The interface name in the pod.
    #[serde(default)]
    pub interface: Option<String>,
    /// Static addresses (`runtimeConfig.ips`, `IP` in CNI_ARGS).
    #[serde(default)]
    pub ips: Vec<String>,
    /// A MAC address (`runtimeConfig.mac`, `MAC` in CNI_ARGS).
    #[serde(default)]
    pub mac: Option<String>,
    /// Gateways: this network takes the pod's default route.
    #[serde(default, rename = "default-route")]
    pub default_route: Vec<String>,
    /// Merged into the delegate's `args.cni`.
    #[serde(default, rename = "cni-args")]
    pub cni_args: Option<Map<String, Value>>,
    /// `runtimeConfig.portMappings`.
    #[serde(default, rename = "portMappings")]
    pub port_mappings: Option<Value>,
    /// `runtimeConfig.bandwidth`.
    #[serde(default)]
    pub bandwidth: Option<Value>,
    /// `runtimeConfig.infinibandGUID`.
    #[serde(default, rename = "infiniband-guid")]
    pub infiniband_guid: Option<String>,
}

impl Selection {
    /// The runtime configuration this selection gives its delegate (libcni capability keys).
    pub fn runtime_config(&self) -> Map<String, Value> {
        let mut rc = Map::new();
        if !self.ips.is_empty() {
            rc.insert("ips".into(), Value::from(self.ips.clone()));
        }
        if let Some(mac) = &self.mac {
            rc.insert("mac".into(), Value::from(mac.clone()));
        }
        if let Some(pm) = &self.port_mappings {
            rc.insert("portMappings".into(), pm.clone());
        }
        if let Some(bw) = &self.bandwidth {
            rc.insert("bandwidth".into(), bw.clone());
        }
        if let Some(guid) = &self.infiniband_guid {
            rc.insert("infinibandGUID".into(), Value::from(guid.clone()));
        }
        rc
    }
}

/// Parses the NPWG annotation; the error names the element and what is wrong with it.
pub fn parse_networks(text: &str) -> Result<Vec<Selection>, String> {
    let text = text.trim();
    let selections = if text.starts_with('[') {
        let list: Vec<Value> =
            serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
        list.into_iter()
            .enumerate()
            .map(|(i, v)| {
                let s = serde_json::from_value::<Selection>(v).map_err(|e| e.to_string());
                s.and_then(|s| check_names(&s).map(|()| s))
                    .map_err(|e| format!("element {i}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        text.split(',')
            .map(str::trim)
            .enumerate()
            .map(|(i, item)| {
                let s = parse_short(item);
                check_names(&s)
                    .map(|()| s)
                    .map_err(|e| format!("element {i} ({item:?}): {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    Ok(selections)
}

/// Parses the seed's `networks` annotation: a JSON list of objects with a `name`.
pub fn parse_legacy_networks(text: &str) -> Result<Vec<Selection>, String> {
    #[derive(Deserialize)]
    struct Legacy {
        name: String,
    }
    let list: Vec<Value> = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    list.into_iter()
        .enumerate()
        .map(|(i, v)| {
            let legacy: Legacy =
                serde_json::from_value(v).map_err(|e| format!("element {i}: {e}"))?;
            let s = Selection {
                name: legacy.name,
                ..Selection::default()
            };
            check_names(&s).map_err(|e| format!("element {i}: {e}"))?;
            Ok(s)
        })
        .collect()
}

/// Parses `v1.multus-cni.io/default-network`: `[namespace/]name`.
pub fn parse_default_network(text: &str) -> Result<Selection, String> {
    let s = parse_short(text.trim());
    if s.interface.is_some() {
        return Err("an interface name (@...) cannot be given for the default network".into());
    }
    check_names(&s)?;
    Ok(s)
}

/// `[namespace/]name[@interface]`.
fn parse_short(item: &str) -> Selection {
    let (reference, interface) = match item.split_once('@') {
        Some((r, i)) => (r, Some(i.to_string())),
        None => (item, None),
    };
    let (namespace, name) = match reference.split_once('/') {
        Some((ns, name)) => (Some(ns.to_string()), name),
        None => (None, reference),
    };
    Selection {
        name: name.to_string(),
        namespace,
        interface,
        ..Selection::default()
    }
}

/// Names must be DNS-1123 names (objects) and valid interface names.
fn check_names(s: &Selection) -> Result<(), String> {
    let dns_name = |what: &str, v: &str| {
        let ok = !v.is_empty()
            && v.len() <= 253
            && v.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && v.as_bytes()[0].is_ascii_alphanumeric()
            && v.as_bytes()[v.len() - 1].is_ascii_alphanumeric();
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{what} {v:?} is not a valid object name (lowercase letters, digits, '-', '.')"
            ))
        }
    };
    dns_name("name", &s.name)?;
    if let Some(ns) = &s.namespace {
        dns_name("namespace", ns)?;
    }
    if let Some(ifname) = &s.interface {
        crate::spec::validate_ifname(ifname).map_err(|e| format!("interface: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn comma_form_with_namespaces_and_interfaces() {
        let got = parse_networks(" a, other/b@data0 ,c@net7").unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(
            (
                got[0].name.as_str(),
                got[0].namespace.as_deref(),
                got[0].interface.as_deref()
            ),
            ("a", None, None)
        );
        assert_eq!(
            (got[1].namespace.as_deref(), got[1].name.as_str()),
            (Some("other"), "b")
        );
        assert_eq!(got[1].interface.as_deref(), Some("data0"));
        assert_eq!(
            (got[2].namespace.as_deref(), got[2].interface.as_deref()),
            (None, Some("net7"))
        );
    }

    #[test]
    fn json_form_carries_runtime_config() {
        let got = parse_networks(
            r#"[{"name": "sr", "namespace": "n", "interface": "north", "ips": ["10.1.1.5/24"],
                "mac": "02:00:00:00:00:01", "default-route": ["10.1.1.1"], "cni-args": {"foo": "bar"},
                "portMappings": [{"hostPort": 80, "containerPort": 8080}], "bandwidth": {"ingressRate": 1000}}]"#,
        )
        .unwrap();
        let s = &got[0];
        assert_eq!(s.default_route, vec!["10.1.1.1"]);
        assert_eq!(s.cni_args.as_ref().unwrap()["foo"], "bar");
        assert_eq!(
            Value::Object(s.runtime_config()),
            json!({"ips": ["10.1.1.5/24"], "mac": "02:00:00:00:00:01",
                   "portMappings": [{"hostPort": 80, "containerPort": 8080}], "bandwidth": {"ingressRate": 1000}})
        );
    }

    #[test]
    fn malformed_annotations_name_the_element() {
        let cases = [
            ("a,,b", "element 1 (\"\"): name \"\" is not a valid object name (lowercase letters, digits, '-', '.')"),
            ("a,B", "element 1 (\"B\"): name \"B\" is not a valid object name (lowercase letters, digits, '-', '.')"),
            ("a@this-name-is-too-long", "element 0 (\"a@this-name-is-too-long\"): interface: \"this-name-is-too-long\" must be 1 to 15 bytes long"),
            ("[{\"name\": \"a\"}, {\"nme\": \"b\"}]", "element 1: unknown field `nme`, expected one of `name`, `namespace`, `interface`, `ips`, `mac`, `default-route`, `cni-args`, `portMappings`, `bandwidth`, `infiniband-guid`"),
            ("[{\"name\": \"a\"", "invalid JSON: EOF while parsing an object at line 1 column 13"),
        ];
        for (text, msg) in cases {
            assert_eq!(parse_networks(text).unwrap_err(), msg, "{text}");
        }
    }

    #[test]
    fn the_seeds_legacy_annotation() {
        let text = r#"[
      { "name": "flannel-conf" },
      { "name": "sriov-conf"},
      { "name": "sriov-vlanid-l2enable-conf" }
    ]"#;
        let names: Vec<String> = parse_legacy_networks(text)
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(
            names,
            ["flannel-conf", "sriov-conf", "sriov-vlanid-l2enable-conf"]
        );
        assert_eq!(
            parse_legacy_networks("[{}]").unwrap_err(),
            "element 0: missing field `name`"
        );
    }

    #[test]
    fn default_network_override() {
        let s = parse_default_network("kube-system/calico").unwrap();
        assert_eq!(
            (s.namespace.as_deref(), s.name.as_str()),
            (Some("kube-system"), "calico")
        );
        assert!(parse_default_network("a@eth1").is_err());
    }
}
