//! Running other CNI plugins as a runtime does: find the binary (in the given directories, e.g. `binDir`
//! then `CNI_PATH`), give it its own `CNI_*` environment and the configuration on stdin, and read back a
//! result or a CNI error. [`ipam`] is the same for a plugin delegating to its IPAM plugin.
//!
//! One concession to older plugins, for every call made here: a plugin that refuses `cniVersion` 1.1.0
//! (code 1; Debian 12's reference plugins speak at most 1.0.0) is asked again in 1.0.0 for ADD, DEL and
//! CHECK, which 1.1.0 only extends, with `prevResult` written as 1.0.0; an ADD result is read back in the
//! version asked for. STATUS and GC do not exist before 1.1.0 and are not retried.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};

use serde_json::Value;

use crate::spec::{CniError, CniResult, Command, Env, NetConf, Version};

/// The first executable file called `name` in `dirs`; code 7 (`type` names no plugin) otherwise.
pub fn find_plugin(name: &str, dirs: &[PathBuf]) -> Result<PathBuf, CniError> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(CniError::invalid_config(
            "type",
            format!("{name:?} is not a plugin name"),
        ));
    }
    dirs.iter()
        .map(|dir| dir.join(name))
        .find(|path| {
            path.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| {
            let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            CniError::invalid_config(
                "type",
                format!("plugin {name:?} not found in [{}]", searched.join(", ")),
            )
        })
}

/// What a new pipe always holds without a reader (POSIX `PIPE_BUF`; Linux pipes hold 64 KiB, or one
/// 4 KiB page when the user's pipe quota is spent).
const PIPE_BUF: usize = 4096;

/// Runs `binary` with `env`'s `CNI_*` variables (others inherited) and `stdin`; returns its stdout.
///
/// A plugin that exits non-zero yields the CNI error it printed, or code 999 with its output.
pub fn exec_plugin(binary: &Path, env: &Env, stdin: &[u8]) -> Result<Vec<u8>, CniError> {
    let mut process = Process::new(binary);
    for (var, value) in env.to_vars() {
        match value {
            Some(v) => process.env(var, v),
            None => process.env_remove(var),
        };
    }
    let mut child = process
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| CniError::io(format!("cannot run plugin {}", binary.display()), e))?;
    let mut input = child.stdin.take().expect("stdin was piped");
    // A plugin may exit without reading stdin; the broken pipe then is not our failure. A
    // configuration that fits in an empty pipe is written at once (no thread for the writer to wait
    // on a CPU for while the plugin waits for its input); a larger one from a thread, as the plugin
    // may write its output before reading all of it.
    let output = if stdin.len() <= PIPE_BUF {
        drop(input.write_all(stdin));
        drop(input);
        child.wait_with_output()
    } else {
        std::thread::scope(|s| {
            s.spawn(move || drop(input.write_all(stdin)));
            child.wait_with_output()
        })
    }
    .map_err(|e| {
        CniError::io(
            format!("cannot collect the output of {}", binary.display()),
            e,
        )
    })?;
    if output.status.success() {
        // Diagnostics of a successful plugin still belong on our stderr, as the runtime would show them.
        let _ = std::io::stderr().write_all(&output.stderr);
        return Ok(output.stdout);
    }
    Err(CniError::from_json(&output.stdout).unwrap_or_else(|| {
        CniError::new(
            CniError::INTERNAL,
            format!("plugin {} failed ({})", binary.display(), output.status),
            format!(
                "stdout: {}; stderr: {}",
                String::from_utf8_lossy(&output.stdout).trim(),
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        )
    }))
}

/// Runs ADD of `conf` with `binary` and parses the result, in `conf`'s version (code 6 if the plugin
/// printed no result).
pub fn exec_add(binary: &Path, env: &Env, conf: &NetConf) -> Result<CniResult, CniError> {
    let stdout = exec_conf(binary, env, conf)?;
    CniResult::from_json(&stdout)
        .map(|result| result.convert_to(conf.cni_version))
        .map_err(|e| e.context(format!("result of {}", binary.display())))
}

/// Runs a command without a result (DEL, CHECK, STATUS, GC) of `conf` with `binary`.
pub fn exec_command(binary: &Path, env: &Env, conf: &NetConf) -> Result<(), CniError> {
    exec_conf(binary, env, conf).map(drop)
}

/// Runs `env.command` of `conf` with `binary`, asking again in 1.0.0 if the plugin refuses 1.1.0.
fn exec_conf(binary: &Path, env: &Env, conf: &NetConf) -> Result<Vec<u8>, CniError> {
    match exec_plugin(binary, env, &conf_bytes(conf)) {
        Err(e)
            if e.code == CniError::INCOMPATIBLE_VERSION
                && conf.cni_version == Version::V1_1_0
                && matches!(env.command, Command::Add | Command::Del | Command::Check) =>
        {
            exec_plugin(binary, env, &conf_bytes(&as_1_0_0(conf)))
        }
        other => other,
    }
}

/// `conf` in 1.0.0: its `cniVersion`, and its `prevResult` when that parses (a malformed one is left for
/// the plugin to refuse).
fn as_1_0_0(conf: &NetConf) -> NetConf {
    let mut older = conf.clone();
    older.cni_version = Version::V1_0_0;
    older
        .raw
        .insert("cniVersion".into(), Value::from(Version::V1_0_0.as_str()));
    if let Ok(Some(prev)) = conf.prev_result() {
        older.raw.insert(
            "prevResult".into(),
            prev.convert_to(Version::V1_0_0).to_value(),
        );
    }
    older
}

/// The configuration as the plugin reads it on stdin.
pub fn conf_bytes(conf: &NetConf) -> Vec<u8> {
    serde_json::to_vec(&conf.raw).expect("a JSON object always serialises")
}

/// IPAM delegation: run the plugin named by `ipam.type` (found in `CNI_PATH`) with the calling plugin's
/// own environment and configuration, as the spec's "IPAM plugins" section describes.
pub mod ipam {
    use serde_json::Value;

    use super::{exec_add, exec_command, find_plugin};
    use crate::spec::{Call, CniError, CniResult, Command, Env, NetConf};

    /// The IPAM binary, the environment for `command` and the configuration to give it: the
    /// caller's, with `cniVersion` written out when the caller's configuration leaves it implied
    /// (an IPAM plugin given none answers in 0.1.0).
    fn prepare(
        call: &Call,
        command: Command,
    ) -> Result<(std::path::PathBuf, Env, NetConf), CniError> {
        let ipam_type = call
            .conf
            .ipam_type()?
            .ok_or_else(|| CniError::invalid_config("ipam", "missing"))?;
        let binary = find_plugin(ipam_type, &call.env.path).map_err(|e| e.context("ipam"))?;
        let mut conf = call.conf.clone();
        conf.raw
            .entry("cniVersion")
            .or_insert_with(|| Value::from(conf.cni_version.as_str()));
        Ok((
            binary,
            Env {
                command,
                ..call.env.clone()
            },
            conf,
        ))
    }

    /// IPAM ADD: allocates and returns the addresses.
    pub fn add(call: &Call) -> Result<CniResult, CniError> {
        let (binary, env, conf) = prepare(call, Command::Add)?;
        exec_add(&binary, &env, &conf)
    }

    /// IPAM DEL: releases what ADD allocated for this container and interface.
    pub fn del(call: &Call) -> Result<(), CniError> {
        let (binary, env, conf) = prepare(call, Command::Del)?;
        exec_command(&binary, &env, &conf)
    }

    /// IPAM CHECK: verifies the allocation still exists.
    pub fn check(call: &Call) -> Result<(), CniError> {
        let (binary, env, conf) = prepare(call, Command::Check)?;
        exec_command(&binary, &env, &conf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// A scratch directory with a shell-script "plugin" in it.
    fn script_dir(name: &str, script: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("cni-invoke-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fake");
        fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(dir.join("not-executable"), "").unwrap();
        dir
    }

    fn env(command: Command) -> Env {
        Env {
            command,
            container_id: Some("c1".into()),
            netns: None,
            ifname: Some("net1".into()),
            args: vec![("K".into(), "V".into())],
            path: vec![],
        }
    }

    fn conf() -> NetConf {
        NetConf::parse(br#"{"cniVersion":"1.0.0","name":"n","type":"fake"}"#).unwrap()
    }

    #[test]
    fn finds_the_first_executable_in_order() {
        let dir = script_dir("find", "exit 0");
        let found = find_plugin("fake", &[PathBuf::from("/nonexistent"), dir.clone()]).unwrap();
        assert_eq!(found, dir.join("fake"));
        let err = find_plugin("not-executable", std::slice::from_ref(&dir)).unwrap_err();
        assert_eq!(err.code, CniError::INVALID_CONFIG);
        assert!(
            err.msg
                .starts_with("type: plugin \"not-executable\" not found in ["),
            "{}",
            err.msg
        );
        assert_eq!(
            find_plugin("../fake", std::slice::from_ref(&dir))
                .unwrap_err()
                .code,
            CniError::INVALID_CONFIG
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn passes_env_and_stdin_and_reads_the_result() {
        // Echoes its env into a result: proves CNI_* vars reach the child and stdin is readable.
        let dir = script_dir(
            "add",
            r#"read -r conf
[ "$conf" = '{"cniVersion":"1.0.0","name":"n","type":"fake"}' ] || exit 3
[ -z "${CNI_NETNS+set}" ] || exit 4
echo "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"$CNI_IFNAME-$CNI_COMMAND-$CNI_CONTAINERID-$CNI_ARGS\"}]}""#,
        );
        std::env::set_var("CNI_NETNS", "/leaked/from/parent");
        let result = exec_add(&dir.join("fake"), &env(Command::Add), &conf()).unwrap();
        assert_eq!(result.interfaces[0].name, "net1-ADD-c1-K=V");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn returns_the_plugins_cni_error() {
        let dir = script_dir(
            "err",
            r#"echo '{"cniVersion":"1.0.0","code":7,"msg":"bridge: bad"}'; exit 1"#,
        );
        let err = exec_command(&dir.join("fake"), &env(Command::Del), &conf()).unwrap_err();
        assert_eq!((err.code, err.msg.as_str()), (7, "bridge: bad"));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_crash_without_error_json_is_code_999_with_its_output() {
        let dir = script_dir("crash", "echo boom >&2; exit 2");
        let err = exec_command(&dir.join("fake"), &env(Command::Check), &conf()).unwrap_err();
        assert_eq!(err.code, CniError::INTERNAL);
        assert!(err.details.contains("stderr: boom"), "{}", err.details);
        fs::remove_dir_all(dir).unwrap();
    }

    /// The reference host-local IPAM plugin, through [`ipam`], with its store in a scratch directory.
    #[test]
    fn delegates_to_host_local_ipam() {
        let data_dir =
            std::env::temp_dir().join(format!("cni-invoke-test-ipam-{}", std::process::id()));
        let _ = fs::remove_dir_all(&data_dir);
        let raw = serde_json::json!({"cniVersion": "0.4.0", "name": "ipamtest", "type": "sriov",
            "ipam": {"type": "host-local", "subnet": "10.77.0.0/24", "dataDir": data_dir}});
        let conf = NetConf::parse(&serde_json::to_vec(&raw).unwrap()).unwrap();
        let call = |command| crate::spec::Call {
            env: Env {
                netns: Some("/proc/self/ns/net".into()),
                path: vec![PathBuf::from("/usr/lib/cni")],
                args: vec![
                    ("IgnoreUnknown".into(), "1".into()),
                    ("K".into(), "V".into()),
                ],
                ..env(command)
            },
            conf: conf.clone(),
        };
        let result = ipam::add(&call(Command::Add)).unwrap();
        assert_eq!(result.ips[0].address.to_string(), "10.77.0.2/24");
        let lease = data_dir.join("ipamtest/10.77.0.2");
        assert!(lease.exists());
        let with_prev = |command| {
            let mut c = call(command);
            c.conf.raw.insert("prevResult".into(), result.to_value());
            c
        };
        ipam::check(&with_prev(Command::Check)).unwrap();
        ipam::del(&with_prev(Command::Del)).unwrap();
        assert!(!lease.exists(), "DEL released the address");
        fs::remove_dir_all(data_dir).unwrap();
    }

    /// A configuration without `cniVersion` is read as 1.0.0: IPAM must get 1.0.0 too, not
    /// nothing (host-local then answers in 0.1.0, which cannot be read).
    #[test]
    fn ipam_gets_the_implied_version_of_a_configuration_without_one() {
        let data_dir =
            std::env::temp_dir().join(format!("cni-invoke-test-implied-{}", std::process::id()));
        let _ = fs::remove_dir_all(&data_dir);
        let raw = serde_json::json!({"name": "implied", "type": "sriov",
            "ipam": {"type": "host-local", "subnet": "10.78.0.0/24", "dataDir": data_dir}});
        let conf = NetConf::parse(&serde_json::to_vec(&raw).unwrap()).unwrap();
        let call = |command| crate::spec::Call {
            env: Env {
                netns: Some("/proc/self/ns/net".into()),
                path: vec![PathBuf::from("/usr/lib/cni")],
                args: vec![],
                ..env(command)
            },
            conf: conf.clone(),
        };
        let result = ipam::add(&call(Command::Add)).unwrap();
        assert_eq!(result.ips[0].address.to_string(), "10.78.0.2/24");
        ipam::del(&call(Command::Del)).unwrap();
        assert!(!data_dir.join("implied/10.78.0.2").exists());
        fs::remove_dir_all(data_dir).unwrap();
    }

    /// A plugin that, like Debian 12's, refuses any configuration mentioning 1.1.0 (so a `prevResult`
    /// left in 1.1.0 is refused too) and records each call's command and stdin.
    const REFUSES_1_1_0: &str = r#"read -r conf
echo "$CNI_COMMAND $conf" >> "$(dirname "$0")/calls"
case "$conf" in *'"1.1.0"'*) echo '{"code":1,"msg":"incompatible CNI versions"}'; exit 1;; esac
echo '{"cniVersion":"1.0.0","interfaces":[{"name":"net1"}]}'"#;

    #[test]
    fn a_plugin_refusing_1_1_0_is_asked_again_in_1_0_0_for_add_check_and_del() {
        let dir = script_dir("fallback", REFUSES_1_1_0);
        let fake = dir.join("fake");
        let conf = NetConf::parse(br#"{"cniVersion":"1.1.0","name":"n","type":"fake"}"#).unwrap();
        let result = exec_add(&fake, &env(Command::Add), &conf).unwrap();
        assert_eq!(result.cni_version, Version::V1_1_0, "read back as asked");
        assert_eq!(result.interfaces[0].name, "net1");
        let mut prev = result.clone();
        prev.interfaces[0].pci_id = Some("0000:03:10.1".into());
        let mut chained = conf.clone();
        chained.raw.insert("prevResult".into(), prev.to_value());
        exec_command(&fake, &env(Command::Check), &chained).unwrap();
        exec_command(&fake, &env(Command::Del), &chained).unwrap();
        let gc = exec_command(&fake, &env(Command::Gc), &conf).unwrap_err();
        assert_eq!(gc.code, CniError::INCOMPATIBLE_VERSION, "GC has no 1.0.0");

        let calls = fs::read_to_string(dir.join("calls")).unwrap();
        let commands: Vec<&str> = calls.lines().map(|l| &l[..l.find(' ').unwrap()]).collect();
        assert_eq!(
            commands,
            ["ADD", "ADD", "CHECK", "CHECK", "DEL", "DEL", "GC"],
            "{calls}"
        );
        let retried_check = calls.lines().nth(3).unwrap();
        assert!(
            retried_check.contains(r#""cniVersion":"1.0.0""#) && !retried_check.contains("pciID"),
            "prevResult rewritten as 1.0.0: {retried_check}"
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn only_a_version_refusal_of_1_1_0_is_retried() {
        let dir = script_dir(
            "noretry",
            r#"read -r conf
echo "$conf" >> "$(dirname "$0")/calls"
echo "{\"code\":${CNI_ARGS#CODE=},\"msg\":\"refused\"}"; exit 1"#,
        );
        let fake = dir.join("fake");
        let refusing = |code: &str| Env {
            args: vec![("CODE".into(), code.into())],
            ..env(Command::Add)
        };
        let calls = || {
            fs::read_to_string(dir.join("calls"))
                .unwrap()
                .lines()
                .count()
        };
        let v1_0 = conf();
        assert_eq!(exec_add(&fake, &refusing("1"), &v1_0).unwrap_err().code, 1);
        assert_eq!(calls(), 1, "1.0.0 refused: nothing older to try");
        let v1_1 = NetConf::parse(br#"{"cniVersion":"1.1.0","name":"n","type":"fake"}"#).unwrap();
        assert_eq!(exec_add(&fake, &refusing("7"), &v1_1).unwrap_err().code, 7);
        assert_eq!(calls(), 2, "another error is the plugin's answer");
        let err = exec_add(&fake, &refusing("1"), &v1_1).unwrap_err();
        assert_eq!(
            (err.code, calls()),
            (1, 4),
            "one retry, whose refusal is returned"
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_success_without_a_result_is_a_decode_error() {
        let dir = script_dir("noresult", "exit 0");
        assert_eq!(
            exec_add(&dir.join("fake"), &env(Command::Add), &conf())
                .unwrap_err()
                .code,
            CniError::DECODE
        );
        fs::remove_dir_all(dir).unwrap();
    }
}
