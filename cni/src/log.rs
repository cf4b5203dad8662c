//! The plugins' `logLevel` / `logFile`: one line per event, appended to the file or written to stderr,
//! never to stdout (which carries the CNI result). Logging never fails a call.
//!
//! Level names are Multus's (`panic`, `error`, `verbose`, `debug`, any case); the names sriov-cni's
//! users write are accepted too: `info` is `verbose`, `warning` (or `warn`) is `error`.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::spec::{optional_str, CniError, NetConf};

/// How much is logged, least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// The quietest (Multus's default): nothing is logged; a crash of the plugin still reaches stderr.
    Panic,
    /// Failures, including ones the plugin continues past (a failed undo step, a failed delegate DEL).
    Error,
    /// One line per step that changes the host (a delegate run, a VF claimed or released).
    Verbose,
    /// Everything, including every rollback step.
    Debug,
}

impl FromStr for Level {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "debug" => Ok(Level::Debug),
            "verbose" | "info" => Ok(Level::Verbose),
            "error" | "warning" | "warn" => Ok(Level::Error),
            "panic" => Ok(Level::Panic),
            _ => Err(format!("{s:?} is not one of debug, verbose, error, panic")),
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Panic => "panic",
            Level::Error => "error",
            Level::Verbose => "verbose",
            Level::Debug => "debug",
        })
    }
}

/// Where and how much one plugin call logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logger {
    plugin: &'static str,
    level: Level,
    file: Option<PathBuf>,
    context: Option<String>,
}

impl Logger {
    /// Logs up to `level` to `file` (stderr when `None`); lines name `plugin` and the process.
    pub fn new(plugin: &'static str, level: Level, file: Option<PathBuf>) -> Self {
        Logger {
            plugin,
            level,
            file,
            context: None,
        }
    }

    /// Reads `logLevel` (`default` when absent) and `logFile` (stderr when absent or empty) from `conf`;
    /// code 7 naming the field if either is malformed.
    pub fn from_conf(
        plugin: &'static str,
        conf: &NetConf,
        default: Level,
    ) -> Result<Self, CniError> {
        let level = match optional_str(&conf.raw, "", "logLevel")? {
            None => default,
            Some(s) => s
                .parse()
                .map_err(|e| CniError::invalid_config("logLevel", e))?,
        };
        let file = optional_str(&conf.raw, "", "logFile")?
            .filter(|f| !f.is_empty())
            .map(PathBuf::from);
        Ok(Logger::new(plugin, level, file))
    }

    /// The same logger with every line prefixed by `context` (e.g. `ADD <container>/<ifname>`).
    pub fn with_context(&self, context: impl Into<String>) -> Logger {
        Logger {
            context: Some(context.into()),
            ..self.clone()
        }
    }

    /// The configured level.
    pub fn level(&self) -> Level {
        self.level
    }

    /// Writes `message` if `level` is enabled; a log file that cannot be opened sends the line to stderr.
    pub fn log(&self, level: Level, message: impl fmt::Display) {
        if level > self.level {
            return;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let context = self
            .context
            .as_ref()
            .map(|c| format!("{c}: "))
            .unwrap_or_default();
        let line = format!(
            "{}.{:03} {}[{}] {level}: {context}{message}\n",
            now.as_secs(),
            now.subsec_millis(),
            self.plugin,
            std::process::id()
        );
        let to_file = self.file.as_ref().and_then(|path| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .ok()?
                .write_all(line.as_bytes())
                .ok()
        });
        if to_file.is_none() {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }

    /// [`Logger::log`] at [`Level::Error`].
    pub fn error(&self, message: impl fmt::Display) {
        self.log(Level::Error, message)
    }

    /// [`Logger::log`] at [`Level::Verbose`].
    pub fn verbose(&self, message: impl fmt::Display) {
        self.log(Level::Verbose, message)
    }

    /// [`Logger::log`] at [`Level::Debug`].
    pub fn debug(&self, message: impl fmt::Display) {
        self.log(Level::Debug, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A configuration named `n` of type `x` with the fields of `extra`.
    fn conf(extra: serde_json::Value) -> NetConf {
        let mut raw = extra.as_object().unwrap().clone();
        raw.extend([("name".into(), json!("n")), ("type".into(), json!("x"))]);
        NetConf::from_map(raw, "").unwrap()
    }

    #[test]
    fn writes_enabled_levels_to_the_file_with_the_context() {
        let path = std::env::temp_dir().join(format!("cni-log-test-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let log = Logger::new("multus", Level::Verbose, Some(path.clone()));
        log.verbose("delegate ran");
        log.debug("too detailed");
        log.with_context("ADD c1/net1").error("delegate failed");
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        let pid = format!(" multus[{}] ", std::process::id());
        assert!(lines.iter().all(|l| l.contains(&pid)), "{text}");
        assert!(lines[0].ends_with("verbose: delegate ran"), "{text}");
        assert!(
            lines[1].ends_with("error: ADD c1/net1: delegate failed"),
            "{text}"
        );
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn panic_logs_nothing_and_debug_everything() {
        let path = std::env::temp_dir().join(format!("cni-log-levels-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        Logger::new("sriov", Level::Panic, Some(path.clone())).error("hidden");
        assert!(!path.exists(), "panic writes nothing");
        let log = Logger::new("sriov", Level::Debug, Some(path.clone()));
        log.debug("a");
        log.verbose("b");
        log.error("c");
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn reads_multus_and_sriov_cni_level_names() {
        for (name, level) in [
            ("panic", Level::Panic),
            ("error", Level::Error),
            ("Error", Level::Error),
            ("warning", Level::Error),
            ("warn", Level::Error),
            ("verbose", Level::Verbose),
            ("info", Level::Verbose),
            ("debug", Level::Debug),
            ("DEBUG", Level::Debug),
        ] {
            assert_eq!(name.parse::<Level>(), Ok(level), "{name}");
        }
        assert_eq!(
            "loud".parse::<Level>(),
            Err("\"loud\" is not one of debug, verbose, error, panic".to_string())
        );
    }

    #[test]
    fn from_conf_applies_the_default_and_names_bad_fields() {
        let log = Logger::from_conf("sriov", &conf(json!({})), Level::Verbose).unwrap();
        assert_eq!(log, Logger::new("sriov", Level::Verbose, None));
        let log = Logger::from_conf(
            "multus",
            &conf(json!({"logLevel": "debug", "logFile": "/var/log/m.log"})),
            Level::Panic,
        )
        .unwrap();
        assert_eq!(
            log,
            Logger::new("multus", Level::Debug, Some("/var/log/m.log".into()))
        );
        let empty_file = Logger::from_conf("m", &conf(json!({"logFile": ""})), Level::Panic);
        assert_eq!(empty_file.unwrap(), Logger::new("m", Level::Panic, None));
        for (extra, msg) in [
            (
                json!({"logLevel": "loud"}),
                "logLevel: \"loud\" is not one of debug, verbose, error, panic",
            ),
            (
                json!({"logLevel": 3}),
                "logLevel: expected a string, found 3",
            ),
            (
                json!({"logFile": true}),
                "logFile: expected a string, found true",
            ),
        ] {
            let err = Logger::from_conf("m", &conf(extra), Level::Panic).unwrap_err();
            assert_eq!(
                (err.code, err.msg.as_str()),
                (CniError::INVALID_CONFIG, msg)
            );
        }
    }
}
