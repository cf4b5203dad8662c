//! `run_plugin`: the `main` of a CNI plugin binary — reads env and stdin, calls the [`Plugin`] method for
//! `CNI_COMMAND`, writes the result or error JSON to stdout, and picks the exit code.

use std::any::Any;
use std::io::{Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;

use super::version::version_info_json;
use super::{CniError, CniResult, Command, Env, NetConf, Version};

/// What a CNI plugin does for each command. VERSION is answered by the dispatcher.
pub trait Plugin {
    /// The versions the plugin speaks (all five by default).
    fn supported_versions(&self) -> &[Version] {
        &Version::ALL
    }
    /// ADD: attach and return the result (the dispatcher converts it to the requested version).
    fn add(&self, call: &Call) -> Result<CniResult, CniError>;
    /// DEL: detach; should succeed when there is nothing left to remove.
    fn del(&self, call: &Call) -> Result<(), CniError>;
    /// CHECK: verify the attachment against `call.conf.prev_result()`. Only called for 0.4.0 and later.
    fn check(&self, call: &Call) -> Result<(), CniError>;
    /// STATUS: ready to ADD? Only called for 1.1.0 and later; ready by default.
    fn status(&self, _call: &Call) -> Result<(), CniError> {
        Ok(())
    }
    /// GC: release what belongs to attachments not in `call.conf.valid_attachments()`. Only called for
    /// 1.1.0 and later; nothing to collect by default.
    fn gc(&self, _call: &Call) -> Result<(), CniError> {
        Ok(())
    }
}

/// One invocation: the validated environment and the parsed configuration from stdin.
#[derive(Debug, Clone)]
pub struct Call {
    /// The `CNI_*` variables, checked for the command.
    pub env: Env,
    /// The network configuration on stdin.
    pub conf: NetConf,
}

/// What the binary should print and whether it succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Bytes for stdout: a result, version info, an error JSON, or nothing.
    pub stdout: Vec<u8>,
    /// Exit status 0 when true, 1 otherwise.
    pub success: bool,
}

/// Runs one call of `plugin` over the process environment, stdin and stdout.
pub fn run_plugin(plugin: &impl Plugin) -> ExitCode {
    let mut stdin = Vec::new();
    let outcome = match std::io::stdin().read_to_end(&mut stdin) {
        Ok(_) => dispatch(plugin, |var| std::env::var(var).ok(), &stdin),
        Err(e) => error_outcome(&CniError::io("cannot read stdin", e), Version::LATEST),
    };
    let mut out = std::io::stdout().lock();
    // A runtime that closed our stdout cannot be told anything more; the exit code still reports.
    let _ = out.write_all(&outcome.stdout).and_then(|()| out.flush());
    if outcome.success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The testable core of [`run_plugin`]: variables through `lookup`, stdin as bytes.
///
/// A panic anywhere in the call is a bug, yet the runtime still gets CNI error JSON (code 999)
/// rather than a bare exit status and a backtrace.
pub fn dispatch(
    plugin: &impl Plugin,
    lookup: impl Fn(&str) -> Option<String>,
    stdin: &[u8],
) -> Outcome {
    panic::catch_unwind(AssertUnwindSafe(|| dispatch_call(plugin, lookup, stdin)))
        .unwrap_or_else(|payload| error_outcome(&panicked(payload.as_ref()), asked_version(stdin)))
}

/// Code 999 carrying a panic's message.
fn panicked(payload: &(dyn Any + Send)) -> CniError {
    let what = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message");
    CniError::new(
        CniError::INTERNAL,
        format!("internal error: {what}"),
        "the plugin panicked (a bug); what it did before the panic is not undone",
    )
}

fn dispatch_call(
    plugin: &impl Plugin,
    lookup: impl Fn(&str) -> Option<String>,
    stdin: &[u8],
) -> Outcome {
    let asked = asked_version(stdin);
    let env = match Env::from_lookup(lookup) {
        Ok(env) => env,
        Err(e) => return error_outcome(&e, asked),
    };
    if env.command == Command::Version {
        let shown = if plugin.supported_versions().contains(&asked) {
            asked
        } else {
            Version::LATEST
        };
        return Outcome {
            stdout: version_info_json(shown, plugin.supported_versions()),
            success: true,
        };
    }
    let call = match NetConf::parse(stdin) {
        Ok(conf) => Call { env, conf },
        Err(e) => return error_outcome(&e, asked),
    };
    let version = call.conf.cni_version;
    match run_command(plugin, &call) {
        Ok(Some(result)) => Outcome {
            stdout: result.convert_to(version).to_json(),
            success: true,
        },
        Ok(None) => Outcome {
            stdout: Vec::new(),
            success: true,
        },
        Err(e) => error_outcome(&e, version),
    }
}

/// Checks that the command exists in the configuration's version, then calls the plugin.
fn run_command(plugin: &impl Plugin, call: &Call) -> Result<Option<CniResult>, CniError> {
    let version = call.conf.cni_version;
    if !plugin.supported_versions().contains(&version) {
        return Err(CniError::incompatible_version(
            version.as_str(),
            plugin.supported_versions(),
        ));
    }
    let command = call.env.command;
    let available = match command {
        Command::Check => version.has_check(),
        Command::Status | Command::Gc => version.has_status_and_gc(),
        _ => true,
    };
    if !available {
        return Err(CniError::new(
            CniError::INCOMPATIBLE_VERSION,
            format!("cniVersion: {command} is not defined for version {version}"),
            "",
        ));
    }
    match command {
        Command::Add => plugin.add(call).map(Some),
        Command::Del => plugin.del(call).map(|()| None),
        Command::Check => plugin.check(call).map(|()| None),
        Command::Status => plugin.status(call).map(|()| None),
        Command::Gc => plugin.gc(call).map(|()| None),
        Command::Version => unreachable!("VERSION is answered before the configuration is read"),
    }
}

/// The version to answer errors and VERSION in: stdin's `cniVersion` if readable, else the latest.
fn asked_version(stdin: &[u8]) -> Version {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "cniVersion")]
        cni_version: Option<String>,
    }
    serde_json::from_slice::<Probe>(stdin)
        .ok()
        .and_then(|p| p.cni_version)
        .and_then(|v| Version::parse(&v).ok())
        .unwrap_or(Version::LATEST)
}

fn error_outcome(err: &CniError, version: Version) -> Outcome {
    Outcome {
        stdout: err.to_json(version),
        success: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use std::cell::RefCell;

    /// Records which method ran; ADD answers with one IP, DEL fails when the config says so.
    #[derive(Default)]
    struct Recorder {
        calls: RefCell<Vec<Command>>,
    }

    impl Plugin for Recorder {
        fn add(&self, call: &Call) -> Result<CniResult, CniError> {
            self.calls.borrow_mut().push(Command::Add);
            CniResult::from_value(
                json!({"cniVersion": "1.1.0", "interfaces": [{"name": call.env.ifname()?}],
                "ips": [{"address": "10.9.0.2/24", "interface": 0}]}),
            )
        }
        fn del(&self, call: &Call) -> Result<(), CniError> {
            self.calls.borrow_mut().push(Command::Del);
            match call.conf.raw.get("failDel") {
                Some(_) => Err(CniError::new(120, "del failed", "")),
                None => Ok(()),
            }
        }
        fn check(&self, _call: &Call) -> Result<(), CniError> {
            self.calls.borrow_mut().push(Command::Check);
            Ok(())
        }
    }

    fn run(plugin: &Recorder, command: &str, stdin: Value) -> (Outcome, Value) {
        let vars = [
            ("CNI_COMMAND", command),
            ("CNI_CONTAINERID", "c1"),
            ("CNI_NETNS", "/run/netns/t"),
            ("CNI_IFNAME", "eth0"),
        ];
        let lookup = |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        let outcome = dispatch(plugin, lookup, &serde_json::to_vec(&stdin).unwrap());
        let json = if outcome.stdout.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&outcome.stdout).unwrap()
        };
        (outcome, json)
    }

    #[test]
    fn add_result_is_written_in_the_requested_version() {
        let plugin = Recorder::default();
        let (outcome, json) = run(
            &plugin,
            "ADD",
            json!({"cniVersion": "0.3.1", "name": "n", "type": "t"}),
        );
        assert!(outcome.success);
        assert_eq!(json["cniVersion"], "0.3.1");
        assert_eq!(json["ips"][0]["version"], "4");
        assert_eq!(*plugin.calls.borrow(), vec![Command::Add]);
    }

    #[test]
    fn version_lists_all_five_without_a_config() {
        let (outcome, json) = run(
            &Recorder::default(),
            "VERSION",
            json!({"cniVersion": "0.4.0"}),
        );
        assert!(outcome.success);
        assert_eq!(json["cniVersion"], "0.4.0");
        assert_eq!(json["supportedVersions"].as_array().unwrap().len(), 5);
    }

    #[test]
    fn plugin_errors_become_error_json_in_the_config_version() {
        let (outcome, json) = run(
            &Recorder::default(),
            "DEL",
            json!({"cniVersion": "0.4.0", "name": "n", "type": "t", "failDel": 1}),
        );
        assert!(!outcome.success);
        assert_eq!(
            json,
            json!({"cniVersion": "0.4.0", "code": 120, "msg": "del failed"})
        );
    }

    #[test]
    fn commands_missing_from_the_version_are_refused_with_code_1() {
        let plugin = Recorder::default();
        for (command, version) in [("CHECK", "0.3.1"), ("STATUS", "1.0.0"), ("GC", "0.4.0")] {
            let (outcome, json) = run(
                &plugin,
                command,
                json!({"cniVersion": version, "name": "n", "type": "t"}),
            );
            assert!(!outcome.success);
            assert_eq!(json["code"], 1, "{command} {version}");
        }
        assert!(plugin.calls.borrow().is_empty());
        let (outcome, _) = run(
            &plugin,
            "STATUS",
            json!({"cniVersion": "1.1.0", "name": "n", "type": "t"}),
        );
        assert!(outcome.success);
    }

    /// Panics in ADD, the way a bug would.
    struct Panicker;

    impl Plugin for Panicker {
        fn add(&self, call: &Call) -> Result<CniResult, CniError> {
            let index = call.conf.raw.len() + 2;
            Ok(CniResult::new(Version::ALL[index]))
        }
        fn del(&self, _call: &Call) -> Result<(), CniError> {
            panic!("DEL of {} failed", "c1")
        }
        fn check(&self, _call: &Call) -> Result<(), CniError> {
            Ok(())
        }
    }

    #[test]
    fn a_panic_is_code_999_error_json_not_a_crash() {
        for (command, msg) in [
            (
                "ADD",
                "internal error: index out of bounds: the len is 5 but the index is 5",
            ),
            ("DEL", "internal error: DEL of c1 failed"),
        ] {
            let lookup = |k: &str| match k {
                "CNI_COMMAND" => Some(command.to_string()),
                "CNI_CONTAINERID" => Some("c1".into()),
                "CNI_IFNAME" => Some("eth0".into()),
                "CNI_NETNS" => Some("/run/netns/t".into()),
                _ => None,
            };
            let outcome = dispatch(
                &Panicker,
                lookup,
                br#"{"cniVersion": "0.4.0", "name": "n", "type": "t"}"#,
            );
            assert!(!outcome.success);
            let json: Value = serde_json::from_slice(&outcome.stdout).unwrap();
            assert_eq!(
                (
                    json["cniVersion"].as_str(),
                    json["code"].as_u64(),
                    json["msg"].as_str()
                ),
                (Some("0.4.0"), Some(999), Some(msg))
            );
        }
    }

    #[test]
    fn bad_stdin_is_code_6_and_bad_config_is_code_7() {
        let plugin = Recorder::default();
        let lookup = |k: &str| (k == "CNI_COMMAND").then(|| "STATUS".to_string());
        let outcome = dispatch(&plugin, lookup, b"{oops");
        let json: Value = serde_json::from_slice(&outcome.stdout).unwrap();
        assert_eq!(json["code"], 6);
        let (_, json) = run(&plugin, "ADD", json!({"cniVersion": "1.0.0", "type": "t"}));
        assert_eq!(
            (json["code"].as_u64(), json["msg"].as_str()),
            (Some(7), Some("name: missing"))
        );
    }
}
