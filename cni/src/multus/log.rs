//! `logFile` / `logLevel`: diagnostics appended to a file, or written to stderr when no file is set.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

/// How much is logged, least to most (Multus's level names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Only failures that abort the call.
    Panic,
    /// Failures, including ones multus continues past (the default).
    Error,
    /// Each delegate call.
    Verbose,
    /// Everything, including configurations.
    Debug,
}

impl FromStr for Level {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "debug" => Ok(Level::Debug),
            "verbose" => Ok(Level::Verbose),
            "error" => Ok(Level::Error),
            "panic" => Ok(Level::Panic),
            _ => Err(format!("{s:?} is not one of debug, verbose, error, panic")),
        }
    }
}

/// Where and how much to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logger {
    file: Option<PathBuf>,
    level: Level,
}

impl Logger {
    /// Logs messages up to `level` to `file` (or stderr).
    pub fn new(file: Option<PathBuf>, level: Level) -> Self {
        Logger { file, level }
    }

    /// Writes `message` if `level` is enabled. Logging never fails the call: a log file that cannot be
    /// opened sends the line to stderr instead.
    pub fn log(&self, level: Level, message: impl fmt::Display) {
        if level > self.level {
            return;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let line = format!(
            "{}.{:03} multus[{}] {level:?}: {message}\n",
            now.as_secs(),
            now.subsec_millis(),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_enabled_levels_to_the_file() {
        let path = std::env::temp_dir().join(format!("multus-log-test-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let log = Logger::new(Some(path.clone()), Level::Verbose);
        log.verbose("delegate ran");
        log.log(Level::Debug, "too detailed");
        log.error("delegate failed");
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].ends_with("Verbose: delegate ran")
                && lines[1].ends_with("Error: delegate failed")
        );
        std::fs::remove_file(path).unwrap();
    }
}
