//! CNI results (`interfaces`, `ips`, `routes`, `dns`) and their conversion between versions.
//!
//! One in-memory shape (the 1.1.0 one, a superset of the others) is read from any supported version and
//! written in any: 0.3.x/0.4.0 add `ips[].version`, versions before 1.1.0 drop the 1.1-only fields.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Cidr, CniError, Version};

/// A CNI ADD result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniResult {
    /// The version this result is (to be) written in.
    #[serde(rename = "cniVersion")]
    pub cni_version: Version,
    /// Interfaces created or used by the plugin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    /// Addresses assigned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpConfig>,
    /// Routes added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// DNS settings.
    #[serde(default, skip_serializing_if = "Dns::is_empty")]
    pub dns: Dns,
}

/// One entry of `interfaces`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// Interface name.
    pub name: String,
    /// Hardware address, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// MTU (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// The netns path for interfaces inside a container; absent for host interfaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    /// A socket path for userspace interfaces (1.1.0).
    #[serde(
        default,
        rename = "socketPath",
        skip_serializing_if = "Option::is_none"
    )]
    pub socket_path: Option<String>,
    /// The PCI address of a device handed to the container, e.g. a VF bound to vfio-pci (1.1.0).
    #[serde(default, rename = "pciID", skip_serializing_if = "Option::is_none")]
    pub pci_id: Option<String>,
}

/// One entry of `ips`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig {
    /// Address with prefix length.
    pub address: Cidr,
    /// Default gateway for this subnet, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// Index into `interfaces` of the interface holding the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

/// One entry of `routes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Destination.
    pub dst: Cidr,
    /// Next hop; absent means the interface's default gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
    /// Route MTU (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Advertised MSS (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advmss: Option<u32>,
    /// Route priority/metric (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// Routing table (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
    /// Route scope (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<u8>,
}

/// The `dns` object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    /// Name servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    /// Local domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Search domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    /// Resolver options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl Dns {
    /// Whether no DNS setting is present (the object is then omitted).
    pub fn is_empty(&self) -> bool {
        self.nameservers.is_empty()
            && self.domain.is_none()
            && self.search.is_empty()
            && self.options.is_empty()
    }
}

/// Interface fields that exist only from 1.1.0 on.
const INTERFACE_FIELDS_1_1: [&str; 3] = ["mtu", "socketPath", "pciID"];
/// Route fields that exist only from 1.1.0 on.
const ROUTE_FIELDS_1_1: [&str; 5] = ["mtu", "advmss", "priority", "table", "scope"];

impl CniResult {
    /// An empty result in `version`.
    pub fn new(version: Version) -> Self {
        CniResult {
            cni_version: version,
            interfaces: Vec::new(),
            ips: Vec::new(),
            routes: Vec::new(),
            dns: Dns::default(),
        }
    }

    /// Reads a result of any supported version (code 6 if it is not one).
    pub fn from_json(bytes: &[u8]) -> Result<Self, CniError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| CniError::decode("CNI result", e))?;
        Self::from_value(value)
    }

    /// Reads a result from an already-parsed JSON value (e.g. a `prevResult`).
    pub fn from_value(value: Value) -> Result<Self, CniError> {
        serde_path_to_error::deserialize(value).map_err(|e| CniError::decode("CNI result", e))
    }

    /// The same result, to be written as `version`.
    pub fn convert_to(&self, version: Version) -> CniResult {
        CniResult {
            cni_version: version,
            ..self.clone()
        }
    }

    /// The result as JSON in its `cni_version`'s shape.
    pub fn to_value(&self) -> Value {
        let mut value = serde_json::to_value(self).expect("a CniResult always serialises");
        let version = self.cni_version;
        if version < Version::V1_0_0 {
            for ip in array_entries(&mut value, "ips") {
                let is_v4 = ip
                    .get("address")
                    .and_then(Value::as_str)
                    .is_some_and(|a| !a.contains(':'));
                ip.insert("version".into(), Value::from(if is_v4 { "4" } else { "6" }));
            }
        }
        if version < Version::V1_1_0 {
            for iface in array_entries(&mut value, "interfaces") {
                INTERFACE_FIELDS_1_1
                    .iter()
                    .for_each(|f| drop(iface.remove(*f)));
            }
            for route in array_entries(&mut value, "routes") {
                ROUTE_FIELDS_1_1.iter().for_each(|f| drop(route.remove(*f)));
            }
        }
        value
    }

    /// The result as JSON bytes in its `cni_version`'s shape.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.to_value()).expect("a JSON value always serialises")
    }
}

/// The objects of the array `key` in a result object.
fn array_entries<'a>(
    value: &'a mut Value,
    key: &str,
) -> impl Iterator<Item = &'a mut serde_json::Map<String, Value>> {
    value
        .get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample_1_1() -> Value {
        json!({
            "cniVersion": "1.1.0",
            "interfaces": [
                {"name": "cni0", "mac": "aa:bb:cc:dd:ee:01"},
                {"name": "eth0", "mac": "aa:bb:cc:dd:ee:02", "mtu": 1400, "sandbox": "/run/netns/x",
                 "pciID": "0000:04:10.0"}
            ],
            "ips": [
                {"address": "10.1.0.5/24", "gateway": "10.1.0.1", "interface": 1},
                {"address": "fd00::5/64", "interface": 1}
            ],
            "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1", "mtu": 1300, "table": 100}],
            "dns": {"nameservers": ["10.1.0.53"], "search": ["svc.local"]}
        })
    }

    #[test]
    fn round_trips_1_1_0_unchanged() {
        let result = CniResult::from_value(sample_1_1()).unwrap();
        assert_eq!(result.to_value(), sample_1_1());
    }

    #[test]
    fn writes_0_3_1_with_ip_versions_and_without_1_1_fields() {
        let old = CniResult::from_value(sample_1_1())
            .unwrap()
            .convert_to(Version::V0_3_1)
            .to_value();
        assert_eq!(
            old,
            json!({
                "cniVersion": "0.3.1",
                "interfaces": [
                    {"name": "cni0", "mac": "aa:bb:cc:dd:ee:01"},
                    {"name": "eth0", "mac": "aa:bb:cc:dd:ee:02", "sandbox": "/run/netns/x"}
                ],
                "ips": [
                    {"version": "4", "address": "10.1.0.5/24", "gateway": "10.1.0.1", "interface": 1},
                    {"version": "6", "address": "fd00::5/64", "interface": 1}
                ],
                "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}],
                "dns": {"nameservers": ["10.1.0.53"], "search": ["svc.local"]}
            })
        );
    }

    #[test]
    fn reads_0_4_0_and_writes_1_0_0() {
        let old = json!({
            "cniVersion": "0.4.0",
            "interfaces": [{"name": "eth0", "sandbox": "/run/netns/x"}],
            "ips": [{"version": "4", "address": "10.2.0.9/16", "interface": 0}]
        });
        let new = CniResult::from_value(old)
            .unwrap()
            .convert_to(Version::V1_0_0)
            .to_value();
        assert_eq!(
            new,
            json!({
                "cniVersion": "1.0.0",
                "interfaces": [{"name": "eth0", "sandbox": "/run/netns/x"}],
                "ips": [{"address": "10.2.0.9/16", "interface": 0}]
            })
        );
    }

    #[test]
    fn every_version_pair_converts_losslessly_for_common_fields() {
        let base = json!({
            "cniVersion": "0.3.0",
            "interfaces": [{"name": "net1", "mac": "02:00:00:00:00:01", "sandbox": "/proc/1/ns/net"}],
            "ips": [{"version": "4", "address": "192.168.7.2/24", "gateway": "192.168.7.1", "interface": 0}],
            "routes": [{"dst": "10.0.0.0/8", "gw": "192.168.7.254"}]
        });
        let base = CniResult::from_value(base).unwrap();
        for from in Version::ALL {
            for to in Version::ALL {
                let there = CniResult::from_json(&base.convert_to(from).to_json()).unwrap();
                let back = CniResult::from_json(&there.convert_to(to).to_json()).unwrap();
                assert_eq!(back, base.convert_to(to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn decode_errors_name_the_field() {
        let err =
            CniResult::from_value(json!({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.1"}]}))
                .unwrap_err();
        assert_eq!(err.code, CniError::DECODE);
        assert!(err.details.contains("ips[0].address"), "{}", err.details);
        let err = CniResult::from_value(json!({"cniVersion": "0.2.0"})).unwrap_err();
        assert!(err.details.contains("cniVersion"), "{}", err.details);
    }
}
