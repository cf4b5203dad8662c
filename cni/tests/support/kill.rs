//! Kill -9 fault injection without test hooks in the plugins: a plugin runs under `strace`,
//! which delivers SIGKILL on entry to one chosen state-changing system call. `-f -b execve`
//! follows the plugin's threads (it works in other namespaces from threads) but lets go of the
//! delegates and IPAM plugins it runs at their `execve`: only the plugin itself is killed.
//!
//! A clean run is traced first ([`Tracer::steps`]). strace counts calls per syscall and per
//! thread, so a kill point is "the first time any thread makes its `n`th call of syscall `s`"
//! (`--inject=s:signal=KILL:when=n`): the steps are the distinct such points, in the order the
//! clean run reached them. (A later thread's `n`th call is reached only through the first one,
//! so it adds no point of its own; the plugin's main thread is covered call by call.)
//! The plugin is wrapped by a small script, so a [`Pod`] runs it as a runtime would.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::Pod;

/// System calls that change state (files, links, namespaces, drivers, child processes), the
/// points a plugin is killed at.
pub const STATE_CHANGING: &str = "openat,write,pwrite64,rename,renameat,renameat2,unlink,unlinkat,\
mkdir,mkdirat,symlink,symlinkat,sendto,sendmsg,setns,unshare,ioctl,flock,clone,clone3,vfork,wait4";

/// One kill point: the `nth` (from 1) call of `syscall`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The system call's name.
    pub syscall: String,
    /// Its invocation number among calls of the same name.
    pub nth: usize,
}

/// Wraps a plugin binary in strace scripts under a scratch directory.
pub struct Tracer {
    plugin: PathBuf,
    dir: PathBuf,
}

impl Tracer {
    /// A tracer for `plugin`, writing its scripts and traces into `dir`.
    pub fn new(plugin: &Path, dir: &Path) -> Tracer {
        let found = Command::new("strace").arg("-V").output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "strace is needed for the kill tier (.ci/install-deps installs it)"
        );
        fs::create_dir_all(dir).unwrap();
        Tracer {
            plugin: plugin.to_path_buf(),
            dir: dir.to_path_buf(),
        }
    }

    fn script(&self, name: &str, strace_args: &str) -> PathBuf {
        let path = self.dir.join(name);
        fs::write(
            &path,
            format!(
                "#!/bin/sh\nexec strace -qq -f -b execve {strace_args} -- {} \"$@\"\n",
                self.plugin.display()
            ),
        )
        .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// `pod` calling the plugin through a script that records its state-changing calls.
    pub fn recording(&self, pod: &Pod) -> Pod {
        let trace = self.dir.join("trace");
        let _ = fs::remove_file(&trace);
        let script = self.script(
            "record.sh",
            &format!(
                "-e trace={STATE_CHANGING} -e signal=none -o {}",
                trace.display()
            ),
        );
        Pod {
            binary: script,
            ..pod.clone()
        }
    }

    /// The kill points of the last [`Tracer::recording`] run, in the order it reached them.
    pub fn steps(&self) -> Vec<Step> {
        let trace = fs::read_to_string(self.dir.join("trace")).unwrap();
        // Calls so far per (thread, syscall).
        let mut counts: HashMap<(String, String), usize> = HashMap::new();
        let mut steps: Vec<Step> = Vec::new();
        for line in trace.lines() {
            // `<tid> <syscall>(...`; a `<... syscall resumed>` line continues an earlier one.
            let Some((tid, call)) = line.split_once(' ') else {
                continue;
            };
            let call = call.trim_start();
            let Some(name) = call.split('(').next().filter(|n| {
                !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            }) else {
                continue;
            };
            let nth = counts
                .entry((tid.to_string(), name.to_string()))
                .or_default();
            *nth += 1;
            let step = Step {
                syscall: name.to_string(),
                nth: *nth,
            };
            if !steps.contains(&step) {
                steps.push(step);
            }
        }
        steps
    }

    /// `pod` calling the plugin through a script that kills it with SIGKILL at `step`.
    pub fn killing_at(&self, pod: &Pod, step: &Step) -> Pod {
        let script = self.script(
            "kill.sh",
            &format!(
                "-o /dev/null -e trace={0} -e signal=none -e inject={0}:signal=KILL:when={1}",
                step.syscall, step.nth
            ),
        );
        Pod {
            binary: script,
            ..pod.clone()
        }
    }
}

/// Waits (up to 10 s) until no process runs for container `id` any more: the delegates and
/// IPAM plugins a killed plugin had started finish on their own, and what they leave must be
/// judged after they are done.
pub fn wait_for_orphans(id: &str) {
    let needle = format!("CNI_CONTAINERID={id}\0");
    let start = Instant::now();
    loop {
        let running = fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
            .any(|e| {
                fs::read(e.path().join("environ"))
                    .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle.as_bytes()))
            });
        if !running {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "processes of container {id} still running after 10 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Files whose name marks an in-flight atomic write (`.<name>.tmp`) under `dir`, recursively.
pub fn tmp_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(tmp_files(&path));
        } else if entry.file_name().to_string_lossy().ends_with(".tmp") {
            found.push(path);
        }
    }
    found
}
