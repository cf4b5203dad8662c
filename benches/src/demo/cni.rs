//! The pod's interfaces through `multus`, called as a container runtime calls a CNI plugin (environment
//! plus the network configuration on stdin) from inside the node namespace: `eth0` from the reference
//! `bridge` plugin (host-local IPAM), `net0` and `north` from `host-device`, which moves two veth ends in.

use super::sys::{checked, Netns};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Where Debian's containernetworking-plugins put the reference plugins.
pub const REFERENCE_PLUGINS: &str = "/usr/lib/cni";

/// The name of the management network's IPAM range (its leases live in `<ipam dir>/<name>`).
pub const MGMT_NETWORK: &str = "demo-mgmt";

/// One pod as the runtime knows it: the container ID, its netns and the config it was added with.
pub struct Pod<'a> {
    /// The multus binary.
    pub multus: PathBuf,
    /// The namespace plugins run in (the node).
    pub node: &'a Netns,
    /// The pod's namespace.
    pub netns: &'a Netns,
    /// CNI_CONTAINERID.
    pub container_id: String,
    /// The network configuration.
    pub conf: Value,
}

/// The multus configuration: a bridge master for `eth0`, and `host-device` delegates moving the node's
/// `devices` into the pod as `net0` and `north`.
pub fn multus_conf(bridge: &str, devices: [&str; 2], state: &Path) -> Value {
    json!({
        "cniVersion": "1.0.0", "name": "multiplane-demo", "type": "multus",
        "binDir": REFERENCE_PLUGINS, "cniDir": state.join("multus"),
        "delegates": [
            {"type": "bridge", "name": MGMT_NETWORK, "bridge": bridge, "isGateway": true,
             "ipam": {"type": "host-local", "subnet": "10.99.0.0/24", "dataDir": state.join("ipam")}},
            {"type": "host-device", "name": "demo-net0", "device": devices[0], "if0name": "net0"},
            {"type": "host-device", "name": "demo-north", "device": devices[1], "if0name": "north"}
        ]
    })
}

impl Pod<'_> {
    /// Runs `command` with `conf` on stdin; returns the plugin's stdout as JSON.
    pub fn call(&self, command: &str, conf: &Value) -> Result<Value, String> {
        let mut child = self
            .node
            .command(&self.multus)
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", &self.container_id)
            .env("CNI_NETNS", self.netns.path())
            .env("CNI_IFNAME", "eth0")
            .env("CNI_PATH", REFERENCE_PLUGINS)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: {e}", self.multus.display()))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(conf.to_string().as_bytes())
                .map_err(|e| format!("multus stdin: {e}"))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| format!("multus: {e}"))?;
        let what = format!("multus {command}");
        let stdout = checked(&what, out.clone())
            .map_err(|e| format!("{e} {}", String::from_utf8_lossy(&out.stdout).trim()))?;
        if stdout.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&stdout)
            .map_err(|e| format!("{what} printed no JSON result ({e}): {stdout}"))
    }

    /// ADD; returns the result the runtime keeps for DEL.
    pub fn add(&self) -> Result<Value, String> {
        self.call("ADD", &self.conf)
    }

    /// The configuration DEL gets: the ADD result as `prevResult`.
    pub fn del_conf(&self, result: &Value) -> Value {
        let mut conf = self.conf.clone();
        conf["prevResult"] = result.clone();
        conf
    }

    /// DEL with the ADD result.
    pub fn del(&self, result: &Value) -> Result<(), String> {
        self.call("DEL", &self.del_conf(result)).map(|_| ())
    }
}

/// Addresses host-local still holds in `ipam_dir` (files named like an IP address).
pub fn leases(ipam_dir: &Path) -> Vec<String> {
    let dir = ipam_dir.join(MGMT_NETWORK);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
        .collect()
}
