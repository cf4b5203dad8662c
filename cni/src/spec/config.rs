//! Network configurations (`NetConf`) and configuration lists (`ConfList`) as the runtime passes them.
//!
//! Parsing keeps the whole JSON object, so plugin-specific fields are read with [`NetConf::deserialize`]
//! and delegates can be re-serialised exactly as written.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{CniError, CniResult, Version};

/// One plugin's network configuration (the JSON on a plugin's stdin).
#[derive(Debug, Clone, PartialEq)]
pub struct NetConf {
    /// `cniVersion`; [`Version::IMPLIED`] when absent.
    pub cni_version: Version,
    /// `name` of the network.
    pub name: String,
    /// `type`: the plugin binary's name.
    pub plugin_type: String,
    /// The whole configuration object, including plugin-specific fields.
    pub raw: Map<String, Value>,
}

/// One `{containerID, ifname}` pair of GC's `cni.dev/valid-attachments`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Attachment {
    /// The container ID.
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// The interface name inside the container.
    pub ifname: String,
}

/// The key under which GC passes the attachments to keep.
pub const VALID_ATTACHMENTS: &str = "cni.dev/valid-attachments";

/// `at.field`, or `field` when `at` is empty: the path of a field in error messages.
pub fn field_path(at: &str, field: &str) -> String {
    if at.is_empty() {
        field.to_string()
    } else {
        format!("{at}.{field}")
    }
}

/// The network configuration files of `dir` as a CNI runtime lists them (libcni's `ConfFiles`):
/// `.conf`, `.conflist` and `.json` files, directories skipped, sorted by name.
pub fn conf_files(dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_conf = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("conf" | "conflist" | "json")
        );
        if is_conf && !path.is_dir() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Decodes stdin bytes into a JSON object (code 6 if they are not one).
pub fn parse_object(bytes: &[u8], what: &str) -> Result<Map<String, Value>, CniError> {
    match serde_json::from_slice(bytes).map_err(|e| CniError::decode(what, e))? {
        Value::Object(map) => Ok(map),
        other => Err(CniError::decode(
            what,
            format!("expected a JSON object, found {other}"),
        )),
    }
}

/// The optional string `field` of `map` (code 7 naming `at.field` if it is not a string).
pub fn optional_str<'a>(
    map: &'a Map<String, Value>,
    at: &str,
    field: &str,
) -> Result<Option<&'a str>, CniError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(CniError::invalid_config(
            &field_path(at, field),
            format!("expected a string, found {other}"),
        )),
    }
}

/// The required, non-empty string `field` of `map` (code 7 naming `at.field` otherwise).
pub fn required_str<'a>(
    map: &'a Map<String, Value>,
    at: &str,
    field: &str,
) -> Result<&'a str, CniError> {
    match optional_str(map, at, field)? {
        Some(s) if !s.is_empty() => Ok(s),
        Some(_) => Err(CniError::invalid_config(
            &field_path(at, field),
            "must not be empty",
        )),
        None => Err(CniError::invalid_config(&field_path(at, field), "missing")),
    }
}

/// The `cniVersion` of `map`: [`Version::IMPLIED`] if absent, code 7 if not a string, code 1 if unknown.
fn cni_version(map: &Map<String, Value>, at: &str) -> Result<Version, CniError> {
    match optional_str(map, at, "cniVersion")? {
        None => Ok(Version::IMPLIED),
        Some(s) => Version::parse(s).map_err(|e| CniError {
            msg: format!(
                "{}: incompatible CNI version {s:?}",
                field_path(at, "cniVersion")
            ),
            ..e
        }),
    }
}

/// The network `name`: required, and made of the characters the spec allows.
fn network_name<'a>(map: &'a Map<String, Value>, at: &str) -> Result<&'a str, CniError> {
    let name = required_str(map, at, "name")?;
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !valid {
        return Err(CniError::invalid_config(
            &field_path(at, "name"),
            format!("{name:?} must start with a letter or digit and hold only letters, digits, '_', '.', '-'"),
        ));
    }
    Ok(name)
}

impl NetConf {
    /// Parses a plugin's stdin: code 6 if it is not a JSON object, code 7 naming the field if `name` or
    /// `type` is missing or invalid, code 1 if `cniVersion` is unsupported.
    pub fn parse(bytes: &[u8]) -> Result<Self, CniError> {
        Self::from_map(parse_object(bytes, "network configuration")?, "")
    }

    /// Builds from an object found at path `at` of a larger document (used in error messages).
    pub fn from_map(raw: Map<String, Value>, at: &str) -> Result<Self, CniError> {
        Ok(NetConf {
            cni_version: cni_version(&raw, at)?,
            name: network_name(&raw, at)?.to_string(),
            plugin_type: required_str(&raw, at, "type")?.to_string(),
            raw,
        })
    }

    /// Deserialises the whole configuration into a plugin's own type; code 7 naming the failing field.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, CniError> {
        serde_path_to_error::deserialize(Value::Object(self.raw.clone())).map_err(|e| {
            let path = e.path().to_string();
            CniError::invalid_config(if path == "." { "config" } else { &path }, e.into_inner())
        })
    }

    /// `prevResult`, if present (chained plugins, CHECK and DEL); code 6 if it is malformed.
    pub fn prev_result(&self) -> Result<Option<CniResult>, CniError> {
        match self.raw.get("prevResult") {
            None | Some(Value::Null) => Ok(None),
            Some(v) => CniResult::from_value(v.clone())
                .map(Some)
                .map_err(|e| e.context("prevResult")),
        }
    }

    /// `runtimeConfig`, if present.
    pub fn runtime_config(&self) -> Option<&Map<String, Value>> {
        self.raw.get("runtimeConfig").and_then(Value::as_object)
    }

    /// `ipam.type`, if the configuration has an `ipam` section (code 7 if it has one without a type).
    pub fn ipam_type(&self) -> Result<Option<&str>, CniError> {
        match self.raw.get("ipam") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(ipam)) => required_str(ipam, "ipam", "type").map(Some),
            Some(other) => Err(CniError::invalid_config(
                "ipam",
                format!("expected an object, found {other}"),
            )),
        }
    }

    /// GC's `cni.dev/valid-attachments` (empty if absent; code 7 if malformed).
    pub fn valid_attachments(&self) -> Result<Vec<Attachment>, CniError> {
        match self.raw.get(VALID_ATTACHMENTS) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(v) => serde_path_to_error::deserialize(v.clone()).map_err(|e| {
                CniError::invalid_config(
                    &format!("{VALID_ATTACHMENTS}{}", e.path()),
                    e.into_inner(),
                )
            }),
        }
    }
}

/// A configuration list: several plugins run in order for one network.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfList {
    /// `cniVersion` of the list (given to every plugin).
    pub cni_version: Version,
    /// `name` of the network (given to every plugin).
    pub name: String,
    /// The `plugins` objects as written (each has at least a `type`).
    pub plugins: Vec<Map<String, Value>>,
    /// `disableCheck`: CHECK is a no-op for this network.
    pub disable_check: bool,
    /// `disableGC`: GC is a no-op for this network.
    pub disable_gc: bool,
}

impl ConfList {
    /// Builds from an object at path `at`; code 7 naming the field if `name`, `plugins` or a plugin's
    /// `type` is missing or invalid.
    pub fn from_map(raw: &Map<String, Value>, at: &str) -> Result<Self, CniError> {
        let plugins_at = field_path(at, "plugins");
        let plugins = match raw.get("plugins") {
            Some(Value::Array(list)) if !list.is_empty() => list,
            Some(Value::Array(_)) => {
                return Err(CniError::invalid_config(&plugins_at, "must not be empty"))
            }
            _ => {
                return Err(CniError::invalid_config(
                    &plugins_at,
                    "missing or not a list",
                ))
            }
        };
        let plugins = plugins
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let at = format!("{plugins_at}[{i}]");
                let obj = p
                    .as_object()
                    .ok_or_else(|| CniError::invalid_config(&at, "expected an object"))?;
                required_str(obj, &at, "type")?;
                Ok(obj.clone())
            })
            .collect::<Result<Vec<_>, CniError>>()?;
        let flag = |field: &str| match raw.get(field) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(CniError::invalid_config(
                &field_path(at, field),
                format!("expected a boolean, found {other}"),
            )),
        };
        Ok(ConfList {
            cni_version: cni_version(raw, at)?,
            name: network_name(raw, at)?.to_string(),
            plugins,
            disable_check: flag("disableCheck")?,
            disable_gc: flag("disableGC")?,
        })
    }

    /// The configuration plugin `index` receives: its object with the list's `name` and `cniVersion`
    /// injected, and `prevResult` (converted to the list's version) when given.
    pub fn plugin_conf(&self, index: usize, prev_result: Option<&CniResult>) -> NetConf {
        let mut raw = self.plugins[index].clone();
        raw.insert("name".into(), Value::from(self.name.clone()));
        raw.insert("cniVersion".into(), Value::from(self.cni_version.as_str()));
        if let Some(prev) = prev_result {
            raw.insert(
                "prevResult".into(),
                prev.convert_to(self.cni_version).to_value(),
            );
        }
        let plugin_type = raw["type"].as_str().unwrap_or_default().to_string();
        NetConf {
            cni_version: self.cni_version,
            name: self.name.clone(),
            plugin_type,
            raw,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn parses_common_fields_and_keeps_the_rest() {
        let conf =
            NetConf::parse(br#"{"cniVersion":"0.4.0","name":"n1","type":"bridge","bridge":"br0"}"#)
                .unwrap();
        assert_eq!(conf.cni_version, Version::V0_4_0);
        assert_eq!(
            (conf.name.as_str(), conf.plugin_type.as_str()),
            ("n1", "bridge")
        );
        assert_eq!(conf.raw["bridge"], "br0");
    }

    #[test]
    fn missing_cni_version_is_implied() {
        let conf = NetConf::parse(br#"{"name":"n","type":"multus"}"#).unwrap();
        assert_eq!(conf.cni_version, Version::IMPLIED);
    }

    #[test]
    fn bad_input_names_the_field() {
        let cases: &[(&[u8], u32, &str)] = &[
            (
                b"not json",
                CniError::DECODE,
                "cannot decode network configuration",
            ),
            (
                b"[1]",
                CniError::DECODE,
                "cannot decode network configuration",
            ),
            (
                br#"{"type":"x"}"#,
                CniError::INVALID_CONFIG,
                "name: missing",
            ),
            (
                br#"{"name":"n"}"#,
                CniError::INVALID_CONFIG,
                "type: missing",
            ),
            (
                br#"{"name":"n","type":7}"#,
                CniError::INVALID_CONFIG,
                "type: expected a string",
            ),
            (
                br#"{"name":"-n","type":"x"}"#,
                CniError::INVALID_CONFIG,
                "name: \"-n\" must start",
            ),
            (
                br#"{"name":"n","type":"x","cniVersion":"0.2.0"}"#,
                CniError::INCOMPATIBLE_VERSION,
                "cniVersion:",
            ),
            (
                br#"{"name":"n","type":"x","cniVersion":1}"#,
                CniError::INVALID_CONFIG,
                "cniVersion: expected",
            ),
        ];
        for (input, code, msg) in cases {
            let err = NetConf::parse(input).unwrap_err();
            assert_eq!(err.code, *code, "{}", String::from_utf8_lossy(input));
            assert!(
                err.msg.starts_with(msg),
                "{:?} does not start with {msg:?}",
                err.msg
            );
        }
    }

    #[test]
    fn deserialize_names_the_failing_field() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Own {
            vlan: u16,
        }
        let conf = NetConf::parse(br#"{"name":"n","type":"x","vlan":"ten"}"#).unwrap();
        let err = conf.deserialize::<Own>().unwrap_err();
        assert_eq!(err.code, CniError::INVALID_CONFIG);
        assert!(err.msg.starts_with("vlan: invalid type"), "{}", err.msg);
        let conf = NetConf::parse(br#"{"name":"n","type":"x"}"#).unwrap();
        assert!(conf
            .deserialize::<Own>()
            .unwrap_err()
            .msg
            .contains("missing field `vlan`"));
    }

    #[test]
    fn reads_prev_result_ipam_and_valid_attachments() {
        let conf = NetConf::from_map(
            map(json!({"name": "n", "type": "x", "ipam": {"type": "host-local"},
                "prevResult": {"cniVersion": "0.3.1", "ips": [{"version": "4", "address": "10.0.0.2/24"}]},
                "cni.dev/valid-attachments": [{"containerID": "c1", "ifname": "eth0"}]})),
            "",
        )
        .unwrap();
        assert_eq!(conf.ipam_type().unwrap(), Some("host-local"));
        assert_eq!(
            conf.prev_result().unwrap().unwrap().ips[0]
                .address
                .to_string(),
            "10.0.0.2/24"
        );
        assert_eq!(
            conf.valid_attachments().unwrap(),
            vec![Attachment {
                container_id: "c1".into(),
                ifname: "eth0".into()
            }]
        );
        let bad = NetConf::from_map(
            map(json!({"name": "n", "type": "x", "ipam": {},
            "cni.dev/valid-attachments": [{"containerID": "c1"}]})),
            "",
        )
        .unwrap();
        assert_eq!(bad.ipam_type().unwrap_err().msg, "ipam.type: missing");
        assert!(bad
            .valid_attachments()
            .unwrap_err()
            .msg
            .starts_with("cni.dev/valid-attachments[0]"));
    }

    #[test]
    fn conf_list_injects_name_version_and_prev_result() {
        let list = ConfList::from_map(
            &map(json!({"cniVersion": "1.0.0", "name": "chain",
                "plugins": [{"type": "bridge"}, {"type": "tuning", "sysctl": {}}]})),
            "",
        )
        .unwrap();
        let prev = CniResult::new(Version::V0_3_1);
        let second = list.plugin_conf(1, Some(&prev));
        assert_eq!(second.plugin_type, "tuning");
        assert_eq!(second.raw["name"], "chain");
        assert_eq!(second.raw["cniVersion"], "1.0.0");
        assert_eq!(second.raw["prevResult"]["cniVersion"], "1.0.0");
        assert!(list.plugin_conf(0, None).raw.get("prevResult").is_none());
    }

    #[test]
    fn conf_list_errors_name_the_field() {
        let cases = [
            (json!({"name": "l"}), "d[0].plugins: missing or not a list"),
            (
                json!({"name": "l", "plugins": []}),
                "d[0].plugins: must not be empty",
            ),
            (
                json!({"name": "l", "plugins": [{"type": "a"}, {}]}),
                "d[0].plugins[1].type: missing",
            ),
            (
                json!({"name": "l", "plugins": [{"type": "a"}], "disableCheck": "yes"}),
                "d[0].disableCheck: expected a boolean, found \"yes\"",
            ),
            (json!({"plugins": [{"type": "a"}]}), "d[0].name: missing"),
        ];
        for (input, msg) in cases {
            assert_eq!(
                ConfList::from_map(&map(input), "d[0]").unwrap_err().msg,
                msg
            );
        }
    }
}
