//! The `CNI_*` environment of a plugin call: parsed by a plugin, built by a runtime (see `invoke`).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::CniError;

/// `CNI_COMMAND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// Attach the container to the network.
    Add,
    /// Detach; idempotent and best-effort.
    Del,
    /// Verify an attachment is as ADD left it.
    Check,
    /// Report the supported versions.
    Version,
    /// Report whether the plugin is ready to ADD (1.1.0).
    Status,
    /// Release resources of attachments not listed as valid (1.1.0).
    Gc,
}

impl Command {
    /// The value of `CNI_COMMAND`.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
            Command::Check => "CHECK",
            Command::Version => "VERSION",
            Command::Status => "STATUS",
            Command::Gc => "GC",
        }
    }

    /// Whether the command concerns one attachment (needs `CNI_CONTAINERID` and `CNI_IFNAME`).
    pub fn is_per_attachment(self) -> bool {
        matches!(self, Command::Add | Command::Del | Command::Check)
    }
}

impl FromStr for Command {
    type Err = CniError;

    fn from_str(s: &str) -> Result<Self, CniError> {
        [
            Command::Add,
            Command::Del,
            Command::Check,
            Command::Version,
            Command::Status,
            Command::Gc,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
        .ok_or_else(|| CniError::invalid_env("CNI_COMMAND", format!("unknown command {s:?}")))
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `CNI_*` variables of one call, validated for its command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    /// `CNI_COMMAND`.
    pub command: Command,
    /// `CNI_CONTAINERID` (required for ADD, DEL, CHECK).
    pub container_id: Option<String>,
    /// `CNI_NETNS`: path of the network namespace (required for ADD and CHECK, optional for DEL).
    pub netns: Option<PathBuf>,
    /// `CNI_IFNAME`: interface name inside the container (required for ADD, DEL, CHECK).
    pub ifname: Option<String>,
    /// `CNI_ARGS`: `K=V` pairs separated by `;`, in order.
    pub args: Vec<(String, String)>,
    /// `CNI_PATH`: directories to search for plugin binaries, in order.
    pub path: Vec<PathBuf>,
}

impl Env {
    /// Reads the process environment (see [`Env::from_lookup`]).
    pub fn from_process() -> Result<Self, CniError> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    /// Reads and validates the variables through `lookup` (code 4 naming the variable on error).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, CniError> {
        let get = |var: &str| lookup(var).filter(|v| !v.is_empty());
        let command: Command = get("CNI_COMMAND")
            .ok_or_else(|| CniError::invalid_env("CNI_COMMAND", "missing"))?
            .parse()?;
        let env = Env {
            command,
            container_id: get("CNI_CONTAINERID"),
            netns: get("CNI_NETNS").map(PathBuf::from),
            ifname: get("CNI_IFNAME"),
            args: parse_args(&get("CNI_ARGS").unwrap_or_default())?,
            path: get("CNI_PATH")
                .map(|p| std::env::split_paths(&p).collect())
                .unwrap_or_default(),
        };
        if command.is_per_attachment() {
            validate_container_id(env.container_id()?)?;
            validate_ifname(env.ifname()?)
                .map_err(|problem| CniError::invalid_env("CNI_IFNAME", problem))?;
        }
        if matches!(command, Command::Add | Command::Check) {
            env.netns()?;
        }
        Ok(env)
    }

    /// `CNI_CONTAINERID`, or code 4 if absent.
    pub fn container_id(&self) -> Result<&str, CniError> {
        self.container_id
            .as_deref()
            .ok_or_else(|| CniError::invalid_env("CNI_CONTAINERID", "missing"))
    }

    /// `CNI_IFNAME`, or code 4 if absent.
    pub fn ifname(&self) -> Result<&str, CniError> {
        self.ifname
            .as_deref()
            .ok_or_else(|| CniError::invalid_env("CNI_IFNAME", "missing"))
    }

    /// `CNI_NETNS`, or code 4 if absent.
    pub fn netns(&self) -> Result<&std::path::Path, CniError> {
        self.netns
            .as_deref()
            .ok_or_else(|| CniError::invalid_env("CNI_NETNS", "missing"))
    }

    /// The value of `key` in `CNI_ARGS` (e.g. `MAC`), if given.
    pub fn arg(&self, key: &str) -> Option<&str> {
        self.args
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The variables to set for a child plugin: every `CNI_*` variable with its value, `None` for
    /// the ones to unset.
    pub fn to_vars(&self) -> [(&'static str, Option<String>); 6] {
        let args = self
            .args
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";");
        let path = std::env::join_paths(&self.path)
            .ok()
            .map(|p| p.to_string_lossy().into_owned());
        [
            ("CNI_COMMAND", Some(self.command.as_str().to_string())),
            ("CNI_CONTAINERID", self.container_id.clone()),
            (
                "CNI_NETNS",
                self.netns
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned()),
            ),
            ("CNI_IFNAME", self.ifname.clone()),
            ("CNI_ARGS", Some(args).filter(|a| !a.is_empty())),
            ("CNI_PATH", path.filter(|p| !p.is_empty())),
        ]
    }
}

/// Parses `CNI_ARGS` (`K1=V1;K2=V2`); code 4 for a pair without `=` or with an empty key.
pub fn parse_args(raw: &str) -> Result<Vec<(String, String)>, CniError> {
    raw.split(';')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(CniError::invalid_env(
                "CNI_ARGS",
                format!("{pair:?} is not KEY=VALUE"),
            )),
        })
        .collect()
}

/// Checks a container ID: letters, digits and `_.-`, starting with a letter or digit (spec 1.1).
fn validate_container_id(id: &str) -> Result<(), CniError> {
    let valid = id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(())
    } else {
        Err(CniError::invalid_env(
            "CNI_CONTAINERID",
            format!("{id:?} may hold only letters, digits, '_', '.', '-'"),
        ))
    }
}

/// Checks a Linux interface name: 1 to 15 bytes, not `.` or `..`, no `/`, `:` or whitespace.
pub fn validate_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 15 {
        return Err(format!("{name:?} must be 1 to 15 bytes long"));
    }
    if name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        return Err(format!("{name:?} is not a valid interface name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> Result<Env, CniError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn parses_a_full_add() {
        let e = env(&[
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "abc-1"),
            ("CNI_NETNS", "/run/netns/x"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_ARGS", "IgnoreUnknown=1;MAC=02:00:00:00:00:01"),
            ("CNI_PATH", "/opt/cni/bin:/usr/lib/cni"),
        ])
        .unwrap();
        assert_eq!(e.command, Command::Add);
        assert_eq!(e.arg("MAC"), Some("02:00:00:00:00:01"));
        assert_eq!(
            e.path,
            vec![PathBuf::from("/opt/cni/bin"), PathBuf::from("/usr/lib/cni")]
        );
        let vars = e.to_vars();
        assert_eq!(
            vars[4],
            (
                "CNI_ARGS",
                Some("IgnoreUnknown=1;MAC=02:00:00:00:00:01".to_string())
            )
        );
        assert_eq!(
            vars[5],
            ("CNI_PATH", Some("/opt/cni/bin:/usr/lib/cni".to_string()))
        );
    }

    #[test]
    fn del_needs_no_netns_and_version_needs_nothing() {
        let del = env(&[
            ("CNI_COMMAND", "DEL"),
            ("CNI_CONTAINERID", "c"),
            ("CNI_IFNAME", "eth0"),
        ])
        .unwrap();
        assert_eq!(del.netns, None);
        assert_eq!(del.to_vars()[2], ("CNI_NETNS", None));
        assert_eq!(
            env(&[("CNI_COMMAND", "VERSION")]).unwrap().command,
            Command::Version
        );
        assert_eq!(env(&[("CNI_COMMAND", "GC")]).unwrap().command, Command::Gc);
    }

    #[test]
    fn invalid_env_gets_code_4_naming_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "CNI_COMMAND: missing"),
            (&[("CNI_COMMAND", "FROB")], "CNI_COMMAND: unknown command"),
            (
                &[
                    ("CNI_COMMAND", "ADD"),
                    ("CNI_IFNAME", "eth0"),
                    ("CNI_NETNS", "/x"),
                ],
                "CNI_CONTAINERID: missing",
            ),
            (
                &[
                    ("CNI_COMMAND", "ADD"),
                    ("CNI_CONTAINERID", "c"),
                    ("CNI_NETNS", "/x"),
                ],
                "CNI_IFNAME: missing",
            ),
            (
                &[
                    ("CNI_COMMAND", "ADD"),
                    ("CNI_CONTAINERID", "c"),
                    ("CNI_IFNAME", "eth0"),
                ],
                "CNI_NETNS: missing",
            ),
            (
                &[
                    ("CNI_COMMAND", "DEL"),
                    ("CNI_CONTAINERID", "a/b"),
                    ("CNI_IFNAME", "eth0"),
                ],
                "CNI_CONTAINERID: \"a/b\"",
            ),
            (
                &[
                    ("CNI_COMMAND", "DEL"),
                    ("CNI_CONTAINERID", "c"),
                    ("CNI_IFNAME", "averyveryverylongname"),
                ],
                "CNI_IFNAME: ",
            ),
            (
                &[
                    ("CNI_COMMAND", "DEL"),
                    ("CNI_CONTAINERID", "c"),
                    ("CNI_IFNAME", "e"),
                    ("CNI_ARGS", "A=1;B"),
                ],
                "CNI_ARGS: \"B\"",
            ),
        ];
        for (vars, msg) in cases {
            let err = env(vars).unwrap_err();
            assert_eq!(err.code, CniError::INVALID_ENV);
            assert!(
                err.msg.starts_with(msg),
                "{:?} does not start with {msg:?}",
                err.msg
            );
        }
    }

    #[test]
    fn ifname_rules() {
        for ok in ["eth0", "net1", "north0", "a", "fifteen_chars_x"] {
            assert!(validate_ifname(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a:b", "a b", "sixteen_chars_xx"] {
            assert!(validate_ifname(bad).is_err(), "{bad}");
        }
    }
}
