//! Which process wrote a piece of state, and whether it still runs: an ADD in flight leaves
//! its record to itself, a killed one's record is undone by whoever finds it.

use serde::{Deserialize, Serialize};

/// A process, identified across pid reuse by its start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    /// Its pid.
    pub pid: u32,
    /// Its start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub start: u64,
}

impl Process {
    /// This process.
    pub fn current() -> Option<Process> {
        let pid = std::process::id();
        start_time(pid).map(|start| Process { pid, start })
    }

    /// Whether the process still runs (a pid now used by another process does not count).
    pub fn is_running(&self) -> bool {
        start_time(self.pid) == Some(self.start)
    }
}

/// The start time of `pid`, if it runs (zombies included: they are still exiting).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields 3.. follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_runs_and_a_reused_pid_does_not_count() {
        let me = Process::current().unwrap();
        assert!(me.is_running());
        let other = Process {
            start: me.start + 1,
            ..me
        };
        assert!(!other.is_running());
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let gone = Process { pid, start: 0 };
        assert!(!gone.is_running());
    }
}
