//! The multus configuration of "auto" mode: the cluster network is the config file a CNI runtime
//! would have used without multus (the first by name in the conf dir), and `00-multus.conf`, which
//! sorts before it, makes the runtime call multus instead.

use std::fs;
use std::io;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::flags::Options;

/// The file name of the generated configuration.
pub const MULTUS_CONF_NAME: &str = "00-multus.conf";

/// The network name of the generated configuration (Multus's).
const NETWORK_NAME: &str = "multus-cni-network";

/// The config files of `dir` as a runtime lists them, by name, without the generated one.
pub fn candidates(dir: &Path) -> io::Result<Vec<String>> {
    Ok(cni::spec::conf_files(dir)?
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n != MULTUS_CONF_NAME)
        .collect())
}

/// The cluster network's file name in `dir`: `named` if given and present, else the first
/// candidate; `None` when there is none (yet).
pub fn cluster_network_file(dir: &Path, named: Option<&str>) -> io::Result<Option<String>> {
    let names = candidates(dir)?;
    Ok(match named {
        Some(name) => names.into_iter().find(|n| n == name),
        None => names.into_iter().next(),
    })
}

/// Reads the cluster network's config: a JSON object (a conf or a conflist).
pub fn read_network(path: &Path) -> Result<Value, String> {
    let text = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    match serde_json::from_slice::<Value>(&text) {
        Ok(conf @ Value::Object(_)) => Ok(conf),
        Ok(_) => Err(format!("{}: not a JSON object", path.display())),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The capabilities the cluster network enables (a conflist's plugins' together), so that the
/// runtime passes multus the runtime config its delegate wants.
fn capabilities(network: &Value) -> Map<String, Value> {
    let plugins = match network.get("plugins").and_then(Value::as_array) {
        Some(list) => list.iter().collect(),
        None => vec![network],
    };
    plugins
        .into_iter()
        .filter_map(|p| p.get("capabilities").and_then(Value::as_object))
        .flatten()
        .filter(|(_, enabled)| **enabled == Value::Bool(true))
        .map(|(name, _)| (name.clone(), Value::Bool(true)))
        .collect()
}

/// The multus configuration wrapping `network`, whose file the host sees at `network_host_path`.
pub fn generate(options: &Options, network_host_path: &Path, network: &Value) -> Value {
    let mut conf = json!({
        "name": NETWORK_NAME,
        "type": if options.thick_plugin { "multus-shim" } else { "multus" },
        "kubeconfig": options.kubeconfig_host,
        "clusterNetwork": network_host_path,
    });
    let version = options.cni_version.clone().or_else(|| {
        network
            .get("cniVersion")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let capabilities = capabilities(network);
    let optional = [
        ("cniVersion", version.map(Value::from)),
        (
            "capabilities",
            (!capabilities.is_empty()).then_some(Value::Object(capabilities)),
        ),
        (
            "namespaceIsolation",
            options.namespace_isolation.then_some(Value::Bool(true)),
        ),
        (
            "globalNamespaces",
            options.global_namespaces.clone().map(Value::from),
        ),
        ("logLevel", options.log_level.clone().map(Value::from)),
        ("logFile", options.log_file.clone().map(Value::from)),
        (
            "readinessindicatorfile",
            options.readiness_indicator_file.clone().map(Value::from),
        ),
        (
            "binDir",
            options.additional_bin_dir.clone().map(Value::from),
        ),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            conf[key] = value;
        }
    }
    conf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_of_a_conflist_are_its_plugins_enabled_ones() {
        let list = json!({"plugins": [
            {"type": "bridge"},
            {"type": "portmap", "capabilities": {"portMappings": true}},
            {"type": "bandwidth", "capabilities": {"bandwidth": true, "ips": false}}]});
        let caps = capabilities(&list);
        assert_eq!(
            Value::Object(caps),
            json!({"portMappings": true, "bandwidth": true})
        );
        let conf = json!({"type": "macvlan", "capabilities": {"ips": true, "mac": "yes"}});
        assert_eq!(Value::Object(capabilities(&conf)), json!({"ips": true}));
    }
}
