//! The plugin's log (`logLevel`, `logFile`): one line per event, appended to the file or
//! written to stderr. Never to stdout, which carries the CNI result.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::str::FromStr;

/// Log verbosity, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Failures.
    Error,
    /// Recovered problems (a stale allocation reclaimed, a best-effort undo that failed).
    Warning,
    /// One line per command with its outcome.
    Info,
    /// Every step.
    Debug,
}

impl FromStr for Level {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "error" | "panic" => Ok(Level::Error),
            "warning" | "warn" => Ok(Level::Warning),
            "info" => Ok(Level::Info),
            "debug" => Ok(Level::Debug),
            _ => Err(format!("{s:?} is not error, warning, info or debug")),
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
        })
    }
}

/// Where and how much to log for one plugin call.
#[derive(Debug, Clone)]
pub struct Log {
    level: Level,
    file: Option<PathBuf>,
    prefix: String,
}

impl Log {
    /// Logs at `level` and above to `file` (stderr when `None`), each line starting with `prefix`.
    pub fn new(level: Level, file: Option<PathBuf>, prefix: impl Into<String>) -> Self {
        Log {
            level,
            file,
            prefix: prefix.into(),
        }
    }

    /// Writes one line if `level` is enabled. Logging never fails the call.
    pub fn write(&self, level: Level, msg: impl fmt::Display) {
        if level > self.level {
            return;
        }
        let line = format!(
            "sriov[{}] {level}: {}: {msg}\n",
            std::process::id(),
            self.prefix
        );
        let written = match &self.file {
            Some(path) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(line.as_bytes())),
            None => std::io::stderr().write_all(line.as_bytes()),
        };
        drop(written);
    }

    /// [`Log::write`] at [`Level::Warning`].
    pub fn warn(&self, msg: impl fmt::Display) {
        self.write(Level::Warning, msg)
    }

    /// [`Log::write`] at [`Level::Info`].
    pub fn info(&self, msg: impl fmt::Display) {
        self.write(Level::Info, msg)
    }

    /// [`Log::write`] at [`Level::Debug`].
    pub fn debug(&self, msg: impl fmt::Display) {
        self.write(Level::Debug, msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_by_level_and_appends_to_the_file() {
        let path = std::env::temp_dir().join(format!("sriov-log-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let log = Log::new(Level::Info, Some(path.clone()), "ADD c1/net1");
        log.debug("hidden");
        log.info("shown");
        log.warn("also shown");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("hidden"));
        assert!(text.contains("info: ADD c1/net1: shown"), "{text}");
        assert_eq!(text.lines().count(), 2);
        std::fs::remove_file(path).unwrap();
    }
}
