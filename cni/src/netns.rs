//! Network namespaces reached by path (`/var/run/netns/NAME`, `/proc/PID/ns/net`).
//!
//! Work inside a namespace runs on a dedicated thread that `setns(2)`s into it and then
//! exits, so the caller's thread never changes namespace and nothing has to be restored.
//! Netlink sockets opened on that thread talk to that namespace's kernel state.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::sched::{setns, CloneFlags};
use nix::sys::statfs::{fstatfs, NSFS_MAGIC};

/// Why a namespace could not be opened or entered.
#[derive(Debug)]
pub enum Error {
    /// Nothing exists at the path.
    NotFound(PathBuf),
    /// The path exists but could not be opened.
    Open(PathBuf, io::Error),
    /// The path is a file that is not a namespace (not on nsfs).
    NotANetns(PathBuf),
    /// `setns(2)` refused the file (for example it is a namespace of another kind).
    Enter(PathBuf, nix::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound(p) => write!(f, "netns {} does not exist", p.display()),
            Error::Open(p, e) => write!(f, "cannot open netns {}: {e}", p.display()),
            Error::NotANetns(p) => write!(f, "{} is not a network namespace", p.display()),
            Error::Enter(p, e) => write!(f, "cannot enter netns {}: {e}", p.display()),
        }
    }
}

impl std::error::Error for Error {}

/// An open handle on a network namespace; keeps it alive while held.
#[derive(Debug)]
pub struct NetNs {
    file: File,
    path: PathBuf,
}

impl NetNs {
    /// Opens the namespace at `path`, checking that it is a namespace file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NotFound(path.clone()),
            _ => Error::Open(path.clone(), e),
        })?;
        let fs = fstatfs(&file).map_err(|e| Error::Open(path.clone(), e.into()))?;
        if fs.filesystem_type() != NSFS_MAGIC {
            return Err(Error::NotANetns(path));
        }
        Ok(NetNs { file, path })
    }

    /// The namespace of the calling thread.
    pub fn current() -> Result<Self, Error> {
        Self::open(format!("/proc/self/task/{}/ns/net", nix::unistd::gettid()))
    }

    /// The path this handle was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The namespace file descriptor (for `IFLA_NET_NS_FD`).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// Runs `f` on a fresh thread that has entered this namespace and returns its result.
    /// A panic in `f` is propagated to the caller.
    pub fn run<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send,
        F: FnOnce() -> T + Send,
    {
        std::thread::scope(|scope| {
            let worker = scope.spawn(|| {
                setns(self.file.as_fd(), CloneFlags::CLONE_NEWNET)
                    .map_err(|e| Error::Enter(self.path.clone(), e))?;
                Ok(f())
            });
            match worker.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

/// Opens the namespace at `path` and runs `f` inside it (see [`NetNs::run`]).
pub fn run_in<T, F>(path: impl AsRef<Path>, f: F) -> Result<T, Error>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    NetNs::open(path)?.run(f)
}

/// Checks that `path` names an existing network-namespace file.
pub fn check(path: impl AsRef<Path>) -> Result<(), Error> {
    NetNs::open(path).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_path_is_not_found() {
        let err = check("/nonexistent/netns/x").unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{err}");
        assert!(err.to_string().contains("/nonexistent/netns/x"));
    }

    #[test]
    fn regular_file_is_not_a_netns() {
        for path in ["/proc/self/cmdline", "/etc/passwd"] {
            let err = check(path).unwrap_err();
            assert!(matches!(err, Error::NotANetns(_)), "{path}: {err}");
        }
    }

    #[test]
    fn namespace_of_another_kind_is_refused_on_entry() {
        let err = run_in("/proc/self/ns/uts", || ()).unwrap_err();
        assert!(matches!(err, Error::Enter(..)), "{err}");
    }

    #[test]
    fn current_namespace_runs_closure() {
        let ns = NetNs::current().unwrap();
        let out = ns.run(|| 40 + 2).unwrap();
        assert_eq!(out, 42);
    }
}
