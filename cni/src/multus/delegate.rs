//! A delegate: one network (a plugin configuration or a configuration list) that multus runs for one
//! pod interface, and the ADD/DEL/CHECK/STATUS/GC calls that run it the way libcni runs a network list.

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::invoke::{exec_add, exec_command, find_plugin};
use crate::spec::{
    field_path, validate_ifname, Attachment, CniError, CniResult, Command, ConfList, Env, NetConf,
    Version, VALID_ATTACHMENTS,
};

/// The multus-only key that marks the master delegate; removed before the delegate runs.
pub const MASTER_KEY: &str = "masterplugin";

/// One delegate network, normalised to a list (a single plugin configuration is a list of one).
#[derive(Debug, Clone, PartialEq)]
pub struct Delegate {
    /// Position in `delegates`, or in the pod's list of networks in Kubernetes mode.
    pub index: usize,
    /// Where the delegate came from, for messages: `delegates[1]`, or `network "ns/name"`.
    pub source: String,
    /// Whether this delegate's result is the one returned to the runtime.
    pub master: bool,
    /// The interface name the delegate asked for (`if0name`, else `interface`), if any.
    pub requested_ifname: Option<String>,
    /// The delegate object as it will run: `name` and `cniVersion` filled in, `masterplugin` removed.
    pub conf: Map<String, Value>,
    /// `conf` read as a configuration list.
    pub network: ConfList,
    /// Extra `CNI_ARGS` for ADD (Multus passes a pod's requested `IP` and `MAC` this way too).
    pub add_args: Vec<(String, String)>,
}

/// Where delegates are run from: plugin directories and the runtime's environment.
#[derive(Debug, Clone)]
pub struct Runner {
    /// Directories searched for plugin binaries, in order (`binDir`, then `CNI_PATH`).
    pub dirs: Vec<PathBuf>,
    /// The runtime's call; each delegate call copies it with its own command and interface name.
    pub env: Env,
}

impl Delegate {
    /// Reads `delegates[index]`: fills in `name` and `cniVersion` from multus's own configuration when
    /// absent and hands `runtimeConfig` entries to the plugins whose `capabilities` ask for them.
    pub fn parse(index: usize, value: &Value, defaults: &NetConf) -> Result<Delegate, CniError> {
        let at = format!("delegates[{index}]");
        let conf = value
            .as_object()
            .cloned()
            .ok_or_else(|| CniError::invalid_config(&at, "expected an object"))?;
        let empty = Map::new();
        let runtime_config = defaults.runtime_config().unwrap_or(&empty);
        Self::from_network(index, at, conf, defaults, runtime_config)
    }

    /// A delegate from a network's configuration `conf` found at `source`: the master key read and
    /// removed, `name` and `cniVersion` filled in from multus's own configuration when absent, and the
    /// `runtime_config` entries handed to the plugins whose `capabilities` ask for them.
    pub fn from_network(
        index: usize,
        source: String,
        mut conf: Map<String, Value>,
        defaults: &NetConf,
        runtime_config: &Map<String, Value>,
    ) -> Result<Delegate, CniError> {
        let at = source.clone();
        let master = match conf.remove(MASTER_KEY) {
            None => false,
            Some(Value::Bool(b)) => b,
            Some(other) => {
                return Err(CniError::invalid_config(
                    &field_path(&at, MASTER_KEY),
                    format!("expected a boolean, found {other}"),
                ))
            }
        };
        conf.entry("name")
            .or_insert_with(|| Value::from(defaults.name.clone()));
        conf.entry("cniVersion")
            .or_insert_with(|| Value::from(defaults.cni_version.as_str()));
        pass_capabilities(&mut conf, runtime_config);
        Self::from_conf(index, source, master, conf)
    }

    /// Rebuilds a delegate from its stored `conf` (as written to the cache by ADD).
    pub fn from_conf(
        index: usize,
        source: String,
        master: bool,
        conf: Map<String, Value>,
    ) -> Result<Delegate, CniError> {
        let at = source.clone();
        let network = if conf.contains_key("plugins") {
            ConfList::from_map(&conf, &at)?
        } else {
            let single = NetConf::from_map(conf.clone(), &at)?;
            ConfList {
                cni_version: single.cni_version,
                name: single.name,
                plugins: vec![single.raw],
                disable_check: false,
                disable_gc: false,
            }
        };
        let requested_ifname = ["if0name", "interface"]
            .iter()
            .find_map(|field| conf.get(*field).map(|v| (*field, v)))
            .map(|(field, v)| {
                let name = v.as_str().ok_or_else(|| {
                    CniError::invalid_config(
                        &field_path(&at, field),
                        format!("expected a string, found {v}"),
                    )
                })?;
                validate_ifname(name)
                    .map_err(|p| CniError::invalid_config(&field_path(&at, field), p))?;
                Ok::<_, CniError>(name.to_string())
            })
            .transpose()?;
        Ok(Delegate {
            index,
            source,
            master,
            requested_ifname,
            conf,
            network,
            add_args: Vec::new(),
        })
    }

    /// `delegates[1] ("sriov" in network "x")`: how errors and logs name this delegate.
    pub fn label(&self) -> String {
        let types: Vec<&str> = self
            .network
            .plugins
            .iter()
            .filter_map(|p| p.get("type")?.as_str())
            .collect();
        format!(
            "{} ({:?} in network {:?})",
            self.source,
            types.join(","),
            self.network.name
        )
    }

    /// The delegate's `cniVersion` (its own, or multus's when it had none).
    pub fn version(&self) -> Version {
        self.network.cni_version
    }

    /// ADD: runs the plugins in order, each with the previous one's result; returns the last result.
    pub fn add(&self, runner: &Runner, ifname: &str) -> Result<CniResult, CniError> {
        let mut env = runner.env_for(Command::Add, Some(ifname));
        if !self.add_args.is_empty() {
            if env.arg("IgnoreUnknown").is_none() {
                env.args.push(("IgnoreUnknown".into(), "true".into()));
            }
            env.args.extend(self.add_args.iter().cloned());
        }
        let mut prev: Option<CniResult> = None;
        for i in 0..self.network.plugins.len() {
            let conf = self.network.plugin_conf(i, prev.as_ref());
            prev = Some(exec_add(&runner.find(&conf)?, &env, &conf)?);
        }
        Ok(prev.expect("a configuration list has at least one plugin"))
    }

    /// DEL: runs every plugin's DEL in reverse, past errors, with the cached result as `prevResult`
    /// (0.4.0 and later); returns the first error.
    pub fn del(
        &self,
        runner: &Runner,
        ifname: &str,
        cached: Option<&CniResult>,
    ) -> Result<(), CniError> {
        let env = runner.env_for(Command::Del, Some(ifname));
        let prev = cached.filter(|_| self.version() >= Version::V0_4_0);
        let confs = (0..self.network.plugins.len())
            .rev()
            .map(|i| self.network.plugin_conf(i, prev));
        runner.exec_each(&env, confs, Errors::Collect)
    }

    /// CHECK: runs every plugin's CHECK in order against the cached result. A delegate whose version
    /// predates CHECK, or whose list sets `disableCheck`, passes without being called.
    pub fn check(&self, runner: &Runner, ifname: &str, cached: &CniResult) -> Result<(), CniError> {
        if !self.version().has_check() || self.network.disable_check {
            return Ok(());
        }
        let env = runner.env_for(Command::Check, Some(ifname));
        let confs =
            (0..self.network.plugins.len()).map(|i| self.network.plugin_conf(i, Some(cached)));
        runner.exec_each(&env, confs, Errors::Stop)
    }

    /// STATUS: asks every plugin; a delegate older than 1.1.0 is taken as ready (as libcni does).
    pub fn status(&self, runner: &Runner) -> Result<(), CniError> {
        if !self.version().has_status_and_gc() {
            return Ok(());
        }
        let env = runner.env_for(Command::Status, None);
        let confs = (0..self.network.plugins.len()).map(|i| self.network.plugin_conf(i, None));
        runner.exec_each(&env, confs, Errors::Stop)
    }

    /// GC: tells every plugin which of its attachments are valid; skipped before 1.1.0 or with `disableGC`.
    pub fn gc(&self, runner: &Runner, valid: &[Attachment]) -> Result<(), CniError> {
        if !self.version().has_status_and_gc() || self.network.disable_gc {
            return Ok(());
        }
        let env = runner.env_for(Command::Gc, None);
        let valid = serde_json::to_value(valid).expect("attachments always serialise");
        let confs = (0..self.network.plugins.len()).map(|i| {
            let mut conf = self.network.plugin_conf(i, None);
            conf.raw.insert(VALID_ATTACHMENTS.into(), valid.clone());
            conf
        });
        runner.exec_each(&env, confs, Errors::Collect)
    }
}

impl Runner {
    /// The runtime's environment with `command` and `ifname` (none for STATUS and GC) for a delegate.
    fn env_for(&self, command: Command, ifname: Option<&str>) -> Env {
        let per_attachment = command.is_per_attachment();
        Env {
            command,
            ifname: ifname.map(str::to_string),
            container_id: self.env.container_id.clone().filter(|_| per_attachment),
            netns: self.env.netns.clone().filter(|_| per_attachment),
            args: self.env.args.clone(),
            path: self.dirs.clone(),
        }
    }

    /// The binary for `conf`'s `type`.
    fn find(&self, conf: &NetConf) -> Result<PathBuf, CniError> {
        find_plugin(&conf.plugin_type, &self.dirs)
    }

    /// Runs `env`'s command (one without a result) on each configuration in turn.
    fn exec_each(
        &self,
        env: &Env,
        confs: impl Iterator<Item = NetConf>,
        errors: Errors,
    ) -> Result<(), CniError> {
        let mut first_error = None;
        for conf in confs {
            let outcome = self
                .find(&conf)
                .and_then(|bin| exec_command(&bin, env, &conf));
            match (outcome, errors) {
                (Err(e), Errors::Stop) => return Err(e),
                (Err(e), Errors::Collect) => {
                    first_error.get_or_insert(e);
                }
                (Ok(()), _) => {}
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// What a command run over a list of plugins does when one fails.
#[derive(Debug, Clone, Copy)]
enum Errors {
    /// Stop and return the error (CHECK, STATUS).
    Stop,
    /// Run the others too and return the first error (DEL and GC are best-effort).
    Collect,
}

/// libcni's capability passing: each plugin whose `capabilities` enables a key present in the runtime's
/// `runtimeConfig` gets that entry in its own `runtimeConfig`.
fn pass_capabilities(conf: &mut Map<String, Value>, runtime_config: &Map<String, Value>) {
    let plugins: Vec<&mut Map<String, Value>> =
        match conf.get_mut("plugins").and_then(Value::as_array_mut) {
            Some(list) => list.iter_mut().filter_map(Value::as_object_mut).collect(),
            None => vec![conf],
        };
    for plugin in plugins {
        let wanted: Map<String, Value> = plugin
            .get("capabilities")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(cap, enabled)| {
                enabled.as_bool() == Some(true) && runtime_config.contains_key(*cap)
            })
            .map(|(cap, _)| (cap.clone(), runtime_config[cap].clone()))
            .collect();
        if !wanted.is_empty() {
            plugin.insert("runtimeConfig".into(), Value::Object(wanted));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn multus(extra: Value) -> NetConf {
        let mut raw = json!({"cniVersion": "0.4.0", "name": "multus-net", "type": "multus"});
        raw.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        NetConf::parse(&serde_json::to_vec(&raw).unwrap()).unwrap()
    }

    #[test]
    fn fills_in_name_and_version_and_drops_the_master_key() {
        let d = Delegate::parse(
            2,
            &json!({"type": "bridge", "masterplugin": true, "bridge": "b0"}),
            &multus(json!({})),
        )
        .unwrap();
        assert!(d.master);
        assert_eq!(
            d.conf,
            *json!({"type": "bridge", "bridge": "b0", "name": "multus-net", "cniVersion": "0.4.0"})
                .as_object()
                .unwrap()
        );
        assert_eq!(d.network.plugins.len(), 1);
        assert_eq!(
            d.label(),
            "delegates[2] (\"bridge\" in network \"multus-net\")"
        );
    }

    #[test]
    fn keeps_the_delegates_own_name_and_version() {
        let d = Delegate::parse(
            0,
            &json!({"type": "macvlan", "name": "mv", "cniVersion": "1.0.0"}),
            &multus(json!({})),
        )
        .unwrap();
        assert_eq!(
            (d.network.name.as_str(), d.version()),
            ("mv", Version::V1_0_0)
        );
        assert!(!d.master);
    }

    #[test]
    fn reads_a_conf_list_and_the_requested_ifname() {
        let d = Delegate::parse(
            1,
            &json!({"name": "chain", "interface": "data0", "plugins": [{"type": "bridge"}, {"type": "tuning"}]}),
            &multus(json!({})),
        )
        .unwrap();
        assert_eq!(d.network.plugins.len(), 2);
        assert_eq!(d.requested_ifname.as_deref(), Some("data0"));
        assert_eq!(
            d.label(),
            "delegates[1] (\"bridge,tuning\" in network \"chain\")"
        );
    }

    #[test]
    fn parses_the_seeds_sriov_delegate() {
        let d = Delegate::parse(
            0,
            &json!({"type": "sriov", "if0": "enp4s0f3", "if0name": "north0",
                "dpdk": {"kernel_driver": "ixgbevf", "dpdk_driver": "igb_uio", "dpdk_tool": "/root/dpdk/tools/dpdk-devbind.py"}}),
            &multus(json!({})),
        )
        .unwrap();
        assert_eq!(d.requested_ifname.as_deref(), Some("north0"));
        assert_eq!(d.conf["dpdk"]["dpdk_driver"], "igb_uio");
    }

    #[test]
    fn errors_name_the_delegate_field() {
        let cases = [
            (json!("bridge"), "delegates[3]: expected an object"),
            (
                json!({"type": "bridge", "masterplugin": "yes"}),
                "delegates[3].masterplugin: expected a boolean, found \"yes\"",
            ),
            (json!({"bridge": "b"}), "delegates[3].type: missing"),
            (
                json!({"type": "x", "if0name": 5}),
                "delegates[3].if0name: expected a string, found 5",
            ),
            (
                json!({"type": "x", "if0name": "way-too-long-name0"}),
                "delegates[3].if0name: \"way-too-long-name0\" must be 1 to 15 bytes long",
            ),
            (
                json!({"type": "x", "cniVersion": "0.2.0"}),
                "delegates[3].cniVersion: incompatible CNI version \"0.2.0\"",
            ),
            (
                json!({"plugins": [{"type": "x"}, {}]}),
                "delegates[3].plugins[1].type: missing",
            ),
        ];
        for (value, msg) in cases {
            assert_eq!(
                Delegate::parse(3, &value, &multus(json!({})))
                    .unwrap_err()
                    .msg,
                msg
            );
        }
    }

    #[test]
    fn passes_runtime_config_by_capability() {
        let conf = multus(
            json!({"runtimeConfig": {"portMappings": [{"hostPort": 80}], "mac": "02:00:00:00:00:09"}}),
        );
        let d = Delegate::parse(
            0,
            &json!({"plugins": [{"type": "bridge", "capabilities": {"mac": true}},
                {"type": "portmap", "capabilities": {"portMappings": true, "bandwidth": true}}, {"type": "tuning"}]}),
            &conf,
        )
        .unwrap();
        assert_eq!(
            d.network.plugins[0]["runtimeConfig"],
            json!({"mac": "02:00:00:00:00:09"})
        );
        assert_eq!(
            d.network.plugins[1]["runtimeConfig"],
            json!({"portMappings": [{"hostPort": 80}]})
        );
        assert!(d.network.plugins[2].get("runtimeConfig").is_none());
    }
}
