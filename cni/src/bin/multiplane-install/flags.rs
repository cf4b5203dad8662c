//! Command-line flags, named like Multus's entrypoint where they mean the same thing. Each flag takes
//! `--flag=VALUE` or `--flag VALUE`; a boolean flag alone means `true`. Every error names its flag.

use std::fmt;
use std::path::{Path, PathBuf};

/// The usage text printed by `--help`.
pub const USAGE: &str = "\
multiplane-install: installs multiplane's CNI plugins and the multus configuration on a node.

Copies the plugins into the host's CNI bin dir (write + rename), writes a kubeconfig from the pod's
service account and the multus configuration (auto: wraps the first CNI config of the conf dir as
the cluster network), then watches both and rewrites what changes until SIGTERM/SIGINT.

  --cni-bin-dir=DIR                  host CNI bin dir as mounted here (/host/opt/cni/bin)
  --cni-conf-dir=DIR                 host CNI conf dir as mounted here (/host/etc/cni/net.d)
  --cni-conf-dir-host=DIR            the same dir as the host sees it (/etc/cni/net.d)
  --multus-conf-file=auto|PATH       generate 00-multus.conf (auto), or copy PATH into the conf dir
  --multus-master-cni-file-name=NAME the cluster network's file in the conf dir (default: the first)
  --multus-kubeconfig-file-host=PATH where the host sees the kubeconfig this writes
                                     (/etc/cni/net.d/multus.d/multus.kubeconfig)
  --multus-bin-file=PATH             the multus binary to install (next to this program;
                                     multus-shim with --thick-plugin)
  --sriov-bin-file=PATH              the sriov binary to install (next to this program)
  --skip-multus-binary-copy[=BOOL]   do not install multus
  --skip-sriov-binary-copy[=BOOL]    do not install sriov
  --thick-plugin[=BOOL]              install multus-shim and make 00-multus.conf call it: multus runs
                                     in multus-daemon, which must serve the node (Multus's thick
                                     plugin; docker/manifests/multus-thick.yaml)
  --cni-version=VERSION              cniVersion of the generated config (default: the cluster network's)
  --namespace-isolation[=BOOL]       namespaceIsolation
  --global-namespaces=NS,NS          globalNamespaces
  --multus-log-level=LEVEL           logLevel: panic, error, verbose or debug
  --multus-log-file=PATH             logFile
  --readiness-indicator-file=PATH    readinessindicatorfile
  --additional-bin-dir=DIR           binDir
  --service-account-dir=DIR          (/var/run/secrets/kubernetes.io/serviceaccount)
  --cleanup-config-on-exit[=BOOL]    remove the config and kubeconfig written here on SIGTERM/SIGINT
  --once[=BOOL]                      install and write once, then exit (no watching)
  -h, --help
";

/// Where the multus configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfSource {
    /// Generated from the cluster network's config file (`--multus-conf-file=auto`).
    Auto,
    /// This file, copied into the conf dir under its own name.
    File(PathBuf),
}

/// The parsed flags.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--cni-bin-dir`.
    pub cni_bin_dir: PathBuf,
    /// `--cni-conf-dir`.
    pub cni_conf_dir: PathBuf,
    /// `--cni-conf-dir-host`.
    pub cni_conf_dir_host: PathBuf,
    /// `--multus-conf-file`.
    pub conf_source: ConfSource,
    /// `--multus-master-cni-file-name`.
    pub master_file_name: Option<String>,
    /// `--multus-kubeconfig-file-host`.
    pub kubeconfig_host: PathBuf,
    /// The plugins to install: (binary name in the bin dir, source file).
    pub plugins: Vec<(&'static str, PathBuf)>,
    /// `--thick-plugin`: the configuration's `type` is `multus-shim`.
    pub thick_plugin: bool,
    /// `--cni-version`.
    pub cni_version: Option<String>,
    /// `--namespace-isolation`.
    pub namespace_isolation: bool,
    /// `--global-namespaces`.
    pub global_namespaces: Option<String>,
    /// `--multus-log-level`.
    pub log_level: Option<String>,
    /// `--multus-log-file`.
    pub log_file: Option<String>,
    /// `--readiness-indicator-file`.
    pub readiness_indicator_file: Option<String>,
    /// `--additional-bin-dir`.
    pub additional_bin_dir: Option<String>,
    /// `--service-account-dir`.
    pub service_account_dir: PathBuf,
    /// `--cleanup-config-on-exit`.
    pub cleanup_config_on_exit: bool,
    /// `--once`.
    pub once: bool,
}

/// A flag that is unknown, lacks its value, or has a value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagError {
    /// The flag as written (`--cni-bin-dir`).
    pub flag: String,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.flag, self.problem)
    }
}

fn error(flag: &str, problem: impl Into<String>) -> FlagError {
    FlagError {
        flag: flag.to_string(),
        problem: problem.into(),
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Print [`USAGE`] and exit.
    Help,
    /// Install with these options.
    Install(Box<Options>),
}

/// Flags that take no value when written alone.
const BOOLEAN_FLAGS: &[&str] = &[
    "--skip-multus-binary-copy",
    "--skip-sriov-binary-copy",
    "--namespace-isolation",
    "--cleanup-config-on-exit",
    "--once",
    "--thick-plugin",
];

/// Multus's log level names.
const LOG_LEVELS: &[&str] = &["panic", "error", "verbose", "debug"];

/// Parses the arguments after the program name. `exe_dir` is where the plugins are looked for by
/// default (the installer ships next to them).
pub fn parse(args: &[String], exe_dir: &Path) -> Result<Command, FlagError> {
    let mut raw = RawFlags::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(Command::Help);
        }
        if !arg.starts_with("--") {
            return Err(error(arg, "unexpected argument (flags start with --)"));
        }
        let (name, inline_value) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (arg.as_str(), None),
        };
        let Some(&flag) = FLAGS.iter().find(|f| **f == name) else {
            return Err(error(name, "unknown flag (see --help)"));
        };
        let value = match inline_value {
            Some(value) => value,
            None if BOOLEAN_FLAGS.contains(&flag) => "true".to_string(),
            None => rest
                .next()
                .ok_or_else(|| error(flag, "needs a value"))?
                .clone(),
        };
        raw.set(flag, value);
    }
    raw.finish(exe_dir).map(|o| Command::Install(Box::new(o)))
}

/// Flag values as given, before defaults and checks.
#[derive(Default)]
struct RawFlags {
    values: Vec<(&'static str, String)>,
}

/// Every flag the installer knows.
const FLAGS: &[&str] = &[
    "--cni-bin-dir",
    "--cni-conf-dir",
    "--cni-conf-dir-host",
    "--multus-conf-file",
    "--multus-master-cni-file-name",
    "--multus-kubeconfig-file-host",
    "--multus-bin-file",
    "--sriov-bin-file",
    "--skip-multus-binary-copy",
    "--skip-sriov-binary-copy",
    "--cni-version",
    "--namespace-isolation",
    "--global-namespaces",
    "--multus-log-level",
    "--multus-log-file",
    "--readiness-indicator-file",
    "--additional-bin-dir",
    "--service-account-dir",
    "--cleanup-config-on-exit",
    "--once",
    "--thick-plugin",
];

impl RawFlags {
    /// Records a known flag's value (the last one given wins).
    fn set(&mut self, flag: &'static str, value: String) {
        self.values.retain(|(f, _)| *f != flag);
        self.values.push((flag, value));
    }

    fn get(&self, flag: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(f, _)| *f == flag)
            .map(|(_, v)| v.as_str())
    }

    fn path(&self, flag: &str, default: &str) -> Result<PathBuf, FlagError> {
        match self.get(flag) {
            Some("") => Err(error(flag, "must not be empty")),
            Some(v) => Ok(PathBuf::from(v)),
            None => Ok(PathBuf::from(default)),
        }
    }

    /// An optional text value; empty means unset, as in Multus.
    fn text(&self, flag: &str) -> Option<String> {
        self.get(flag)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    fn boolean(&self, flag: &str) -> Result<bool, FlagError> {
        match self.get(flag) {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(error(flag, format!("expected true or false, found {v:?}"))),
        }
    }

    fn finish(self, exe_dir: &Path) -> Result<Options, FlagError> {
        let thick_plugin = self.boolean("--thick-plugin")?;
        let multus = if thick_plugin { "multus-shim" } else { "multus" };
        let plugin = |name: &'static str, file_flag: &str, skip_flag: &str| {
            let default = exe_dir.join(name);
            let source = self.path(file_flag, &default.to_string_lossy())?;
            Ok::<_, FlagError>((!self.boolean(skip_flag)?).then_some((name, source)))
        };
        let plugins: Vec<_> = [
            plugin(multus, "--multus-bin-file", "--skip-multus-binary-copy")?,
            plugin("sriov", "--sriov-bin-file", "--skip-sriov-binary-copy")?,
        ]
        .into_iter()
        .flatten()
        .collect();
        let conf_source = match self.get("--multus-conf-file") {
            None | Some("auto") => ConfSource::Auto,
            Some("") => return Err(error("--multus-conf-file", "must be auto or a file")),
            Some(path) => ConfSource::File(PathBuf::from(path)),
        };
        let master_file_name = self.text("--multus-master-cni-file-name");
        if let Some(name) = &master_file_name {
            if name.contains('/') {
                return Err(error(
                    "--multus-master-cni-file-name",
                    format!("{name:?} must be a file name in --cni-conf-dir, not a path"),
                ));
            }
        }
        let log_level = self.text("--multus-log-level").map(|l| l.to_lowercase());
        if let Some(level) = &log_level {
            if !LOG_LEVELS.contains(&level.as_str()) {
                return Err(error(
                    "--multus-log-level",
                    format!("{level:?} is not one of {}", LOG_LEVELS.join(", ")),
                ));
            }
        }
        let options = Options {
            cni_bin_dir: self.path("--cni-bin-dir", "/host/opt/cni/bin")?,
            cni_conf_dir: self.path("--cni-conf-dir", "/host/etc/cni/net.d")?,
            cni_conf_dir_host: self.path("--cni-conf-dir-host", "/etc/cni/net.d")?,
            conf_source,
            master_file_name,
            kubeconfig_host: self.path(
                "--multus-kubeconfig-file-host",
                "/etc/cni/net.d/multus.d/multus.kubeconfig",
            )?,
            plugins,
            thick_plugin,
            cni_version: self.text("--cni-version"),
            namespace_isolation: self.boolean("--namespace-isolation")?,
            global_namespaces: self.text("--global-namespaces"),
            log_level,
            log_file: self.text("--multus-log-file"),
            readiness_indicator_file: self.text("--readiness-indicator-file"),
            additional_bin_dir: self.text("--additional-bin-dir"),
            service_account_dir: self.path(
                "--service-account-dir",
                "/var/run/secrets/kubernetes.io/serviceaccount",
            )?,
            cleanup_config_on_exit: self.boolean("--cleanup-config-on-exit")?,
            once: self.boolean("--once")?,
        };
        options.check_paths()?;
        Ok(options)
    }
}

impl Options {
    /// The directories and files the flags name must exist before anything is written.
    fn check_paths(&self) -> Result<(), FlagError> {
        let must_exist = |flag: &str, path: &Path, dir: bool| match std::fs::metadata(path) {
            Ok(m) if m.is_dir() == dir => Ok(()),
            Ok(_) if dir => Err(error(
                flag,
                format!("{} is not a directory", path.display()),
            )),
            Ok(_) => Err(error(flag, format!("{} is a directory", path.display()))),
            Err(e) => Err(error(flag, format!("{}: {e}", path.display()))),
        };
        if !self.plugins.is_empty() {
            must_exist("--cni-bin-dir", &self.cni_bin_dir, true)?;
        }
        for (name, source) in &self.plugins {
            let flag = match *name {
                "sriov" => "--sriov-bin-file",
                _ => "--multus-bin-file",
            };
            must_exist(flag, source, false)?;
        }
        must_exist("--cni-conf-dir", &self.cni_conf_dir, true)?;
        if let ConfSource::File(path) = &self.conf_source {
            must_exist("--multus-conf-file", path, false)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str]) -> Result<Command, FlagError> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        parse(&args, Path::new("/nonexistent-exe-dir"))
    }

    fn flag_error(args: &[&str]) -> FlagError {
        parse_args(args).expect_err("flags should be refused")
    }

    #[test]
    fn unknown_flags_and_bad_values_name_the_flag() {
        assert_eq!(
            flag_error(&["--cni-bin"]).to_string(),
            "--cni-bin: unknown flag (see --help)"
        );
        assert_eq!(flag_error(&["--cni-bin=/x"]).flag, "--cni-bin");
        assert_eq!(flag_error(&["--cni-bin-dir"]).problem, "needs a value");
        let e = flag_error(&["--namespace-isolation=yes"]);
        assert_eq!(
            e.to_string(),
            "--namespace-isolation: expected true or false, found \"yes\""
        );
        let e = flag_error(&["--multus-log-level=warning"]);
        assert_eq!(e.flag, "--multus-log-level");
        let e = flag_error(&["--multus-master-cni-file-name=/etc/cni/net.d/10.conf"]);
        assert_eq!(e.flag, "--multus-master-cni-file-name");
        assert_eq!(flag_error(&["plain"]).flag, "plain");
    }

    #[test]
    fn missing_paths_name_the_flag() {
        let e = flag_error(&[
            "--skip-multus-binary-copy",
            "--skip-sriov-binary-copy",
            "--cni-conf-dir=/nonexistent-dir",
        ]);
        assert_eq!(e.flag, "--cni-conf-dir");
        assert!(e.problem.starts_with("/nonexistent-dir: "), "{e}");
        let e = flag_error(&["--cni-bin-dir=/", "--cni-conf-dir=/"]);
        assert_eq!(e.flag, "--multus-bin-file", "{e}");
        let e = flag_error(&["--cni-bin-dir=/", "--cni-conf-dir=/", "--thick-plugin"]);
        assert_eq!(e.flag, "--multus-bin-file", "{e}");
        assert!(e.problem.starts_with("/nonexistent-exe-dir/multus-shim: "), "{e}");
        let e = flag_error(&[
            "--skip-multus-binary-copy",
            "--skip-sriov-binary-copy",
            "--cni-conf-dir=/",
            "--multus-conf-file=/",
        ]);
        assert_eq!(e.to_string(), "--multus-conf-file: / is a directory");
    }

    #[test]
    fn both_value_forms_and_defaults() {
        let Command::Install(o) = parse_args(&[
            "--skip-multus-binary-copy",
            "--skip-sriov-binary-copy=TRUE",
            "--cni-conf-dir",
            "/",
            "--multus-log-level=Debug",
            "--global-namespaces=",
        ])
        .unwrap() else {
            panic!("expected an install")
        };
        assert!(o.plugins.is_empty());
        assert_eq!(o.cni_conf_dir, PathBuf::from("/"));
        assert_eq!(o.log_level.as_deref(), Some("debug"));
        assert_eq!(o.global_namespaces, None);
        assert_eq!(o.conf_source, ConfSource::Auto);
        assert_eq!(o.cni_conf_dir_host, PathBuf::from("/etc/cni/net.d"));
        assert!(!o.cleanup_config_on_exit && !o.once && !o.namespace_isolation);
        assert!(matches!(parse_args(&["--once", "-h"]), Ok(Command::Help)));
    }
}
