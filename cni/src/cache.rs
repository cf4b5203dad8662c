//! `StateDir`: a directory of small state files, each written atomically with mode 0600, and over it
//! `AttachmentRecords`: one JSON record per attachment, as both plugins keep what DEL, CHECK and GC need.
//!
//! A write goes to a temporary file in the same directory and is renamed over the target, so a reader
//! (or a plugin killed mid-write) sees either the old file or the new one, never a torn one.
//!
//! A temporary file whose writer was killed is never renamed into place: the next write or removal of
//! the same key removes it, and [`StateDir::sweep`] removes every one left (only those whose writer's pid is
//! gone). [`StateDir::lock`] serialises the calls that work on one key, across processes.
//!
//! Files are not fsync'd: CNI state describes attachments of the current boot (after a power loss the
//! pods and their namespaces are gone too), libcni's own cache is written the same way, and two syncs
//! per ADD cost more than the whole rest of multus's own work (measured by `benches/multus_libcni.rs`).

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::marker::PhantomData;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::kill;
use nix::unistd::Pid;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A directory holding one file per key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    root: PathBuf,
}

/// Suffix of in-flight temporary files; [`StateDir::keys`] skips them.
const TMP_SUFFIX: &str = ".tmp";

/// Suffix of lock files (`.<key>.lock`); [`StateDir::keys`] skips them.
const LOCK_SUFFIX: &str = ".lock";

/// Makes temporary names unique between threads of one process.
static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// The key and writer's pid of a temporary file's name (`.<key>.<pid>.<n>.tmp`), if `name` is one.
fn tmp_writer(name: &str) -> Option<(&str, u32)> {
    let inner = name.strip_prefix('.')?.strip_suffix(TMP_SUFFIX)?;
    let mut parts = inner.rsplitn(3, '.');
    parts.next()?.parse::<u64>().ok()?;
    let pid = parts.next()?.parse().ok()?;
    let key = parts.next().filter(|key| !key.is_empty())?;
    Some((key, pid))
}

/// Whether process `pid` is gone (a pid that cannot name a process counts as running: its file stays).
fn writer_gone(pid: u32) -> bool {
    match i32::try_from(pid) {
        Ok(raw) if raw > 0 => kill(Pid::from_raw(raw), None) == Err(Errno::ESRCH),
        _ => false,
    }
}

impl StateDir {
    /// A state directory at `root` (created, mode 0700, on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        StateDir { root: root.into() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file holding `key`; `InvalidInput` unless the key is a plain file name.
    pub fn path(&self, key: &str) -> io::Result<PathBuf> {
        let plain = !key.is_empty()
            && !key.starts_with('.')
            && !key.contains('/')
            && !key.ends_with(TMP_SUFFIX);
        if !plain {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid state key {key:?}"),
            ));
        }
        Ok(self.root.join(key))
    }

    /// Atomically replaces `key`'s content with `bytes` (file mode 0600).
    pub fn write(&self, key: &str, bytes: &[u8]) -> io::Result<()> {
        let target = self.path(key)?;
        self.create()?;
        self.remove_stale_tmp(|k| k == key)?;
        let tmp = self.root.join(format!(
            ".{key}.{}.{}{TMP_SUFFIX}",
            std::process::id(),
            TMP_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let written = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(bytes))
            .and_then(|()| fs::rename(&tmp, &target));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }

    /// Creates the directory (mode 0700) if it does not exist.
    fn create(&self) -> io::Result<()> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
    }

    /// Removes the temporary files of the keys `of` picks whose writer is gone; returns their paths.
    fn remove_stale_tmp(&self, of: impl Fn(&str) -> bool) -> io::Result<Vec<PathBuf>> {
        let mut removed = Vec::new();
        for name in self.names()? {
            let Some((key, pid)) = tmp_writer(&name) else {
                continue;
            };
            if of(key) && writer_gone(pid) {
                let path = self.root.join(&name);
                match fs::remove_file(&path) {
                    Ok(()) => removed.push(path),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(removed)
    }

    /// Removes what killed calls left: temporary files whose writer is gone and lock files no call
    /// holds. Returns the paths removed.
    pub fn sweep(&self) -> io::Result<Vec<PathBuf>> {
        let mut removed = self.remove_stale_tmp(|_| true)?;
        for name in self.names()? {
            let Some(key) = name
                .strip_prefix('.')
                .and_then(|n| n.strip_suffix(LOCK_SUFFIX))
            else {
                continue;
            };
            if self.path(key).is_err() {
                continue;
            }
            let path = self.root.join(&name);
            // Taken and dropped at once: the lock file goes with it.
            if self.try_lock(key)?.is_some() {
                removed.push(path);
            }
        }
        Ok(removed)
    }

    /// Every name in the directory (none if it does not exist yet).
    fn names(&self) -> io::Result<Vec<String>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        entries
            .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect()
    }

    /// Takes the exclusive lock of `key` (waiting for the call holding it), released when the
    /// [`KeyLock`] is dropped. A lock held by an ancestor of this process (a call that runs this one,
    /// as a nested plugin over the same directory) would never be released: that is an error
    /// (`WouldBlock`) instead of a wait.
    pub fn lock(&self, key: &str) -> io::Result<KeyLock> {
        loop {
            let (file, path) = self.open_lock(key)?;
            let file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(file) => file,
                Err((mut file, Errno::EWOULDBLOCK)) => {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    if let Some(pid) = holder.trim().parse().ok().filter(|p| is_ancestor(*p)) {
                        return Err(io::Error::new(
                            io::ErrorKind::WouldBlock,
                            format!(
                                "{} is held by process {pid}, which runs this one: nested calls \
                                 must not share the directory",
                                path.display()
                            ),
                        ));
                    }
                    Flock::lock(file, FlockArg::LockExclusive)
                        .map_err(|(_, e)| io::Error::from(e))?
                }
                Err((_, e)) => return Err(e.into()),
            };
            if let Some(lock) = KeyLock::holding(file, path)? {
                return Ok(lock);
            }
        }
    }

    /// [`StateDir::lock`] without waiting: `None` if another call holds it.
    fn try_lock(&self, key: &str) -> io::Result<Option<KeyLock>> {
        let (file, path) = self.open_lock(key)?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(file) => KeyLock::holding(file, path),
            Err((_, Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(e.into()),
        }
    }

    fn open_lock(&self, key: &str) -> io::Result<(File, PathBuf)> {
        self.path(key)?;
        self.create()?;
        let path = self.root.join(format!(".{key}{LOCK_SUFFIX}"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)?;
        Ok((file, path))
    }

    /// `key`'s content, or `None` if there is none.
    pub fn read(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.path(key)?) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes `key`, and the temporary files of dead writers of it; removing a key that does not
    /// exist succeeds.
    pub fn remove(&self, key: &str) -> io::Result<()> {
        match fs::remove_file(self.path(key)?) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        self.remove_stale_tmp(|k| k == key).map(drop)
    }

    /// Every key present (empty if the directory does not exist yet), sorted: the regular files
    /// whose names are keys (subdirectories and whatever else someone put there are not).
    pub fn keys(&self) -> io::Result<Vec<String>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut keys = Vec::new();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if self.path(&name).is_ok() && entry.file_type()?.is_file() {
                keys.push(name);
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// [`StateDir::write`] of `value` as JSON.
    pub fn write_json<T: Serialize>(&self, key: &str, value: &T) -> io::Result<()> {
        self.write(
            key,
            &serde_json::to_vec_pretty(value).map_err(io::Error::other)?,
        )
    }

    /// [`StateDir::read`] parsed as JSON; `InvalidData` if the file is not a `T`.
    pub fn read_json<T: DeserializeOwned>(&self, key: &str) -> io::Result<Option<T>> {
        match self.read(key)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidData, format!("state file {key}: {e}"))
            }),
        }
    }
}

/// The lock of one key of a [`StateDir`]; dropping it removes the lock file and releases the lock.
#[derive(Debug)]
pub struct KeyLock {
    /// Held open: closing it releases the lock.
    _file: Flock<File>,
    path: PathBuf,
}

impl KeyLock {
    /// The lock if `file`, now locked, is still the one at `path`: the call that held it before
    /// may have removed it (on drop), and a lock on a removed file locks nothing.
    fn holding(mut file: Flock<File>, path: PathBuf) -> io::Result<Option<KeyLock>> {
        let locked = file.metadata()?;
        match fs::metadata(&path) {
            Ok(linked) if (linked.dev(), linked.ino()) == (locked.dev(), locked.ino()) => {}
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
        // The holder's pid, for a nested call that would otherwise wait for its own parent.
        file.set_len(0)?;
        file.write_all(std::process::id().to_string().as_bytes())?;
        Ok(Some(KeyLock { _file: file, path }))
    }
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        // Removed while still locked (the lock goes when `_file` closes, after this), so a waiter
        // that then gets the lock of the removed file sees it is gone and opens the new one.
        let _ = fs::remove_file(&self.path);
    }
}

/// Whether `pid` is this process's parent, grandparent, ... (read from /proc).
fn is_ancestor(pid: u32) -> bool {
    let mut current = std::os::unix::process::parent_id();
    for _ in 0..256 {
        if current == pid {
            return true;
        }
        if current <= 1 {
            return false;
        }
        let Ok(stat) = fs::read_to_string(format!("/proc/{current}/stat")) else {
            return false;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok());
        match ppid {
            Some(ppid) => current = ppid,
            None => return false,
        }
    }
    false
}

/// Records of type `T`, one JSON file per attachment (container ID and interface name) in a [`StateDir`].
#[derive(Debug, Clone)]
pub struct AttachmentRecords<T> {
    dir: StateDir,
    record: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> AttachmentRecords<T> {
    /// The records kept in `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        AttachmentRecords {
            dir: StateDir::new(root),
            record: PhantomData,
        }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        self.dir.root()
    }

    /// The file name of an attachment: `<containerID>:<ifname>` (':' appears in neither).
    pub fn key(container_id: &str, ifname: &str) -> String {
        format!("{container_id}:{ifname}")
    }

    /// The record of an attachment, if one was written.
    pub fn get(&self, container_id: &str, ifname: &str) -> io::Result<Option<T>> {
        self.dir.read_json(&Self::key(container_id, ifname))
    }

    /// Writes (atomically, mode 0600) the record of an attachment.
    pub fn put(&self, container_id: &str, ifname: &str, record: &T) -> io::Result<()> {
        self.dir
            .write_json(&Self::key(container_id, ifname), record)
    }

    /// Removes the record of an attachment (succeeds if there is none).
    pub fn remove(&self, container_id: &str, ifname: &str) -> io::Result<()> {
        self.dir.remove(&Self::key(container_id, ifname))
    }

    /// The lock of an attachment's record ([`StateDir::lock`]).
    pub fn lock(&self, container_id: &str, ifname: &str) -> io::Result<KeyLock> {
        self.dir.lock(&Self::key(container_id, ifname))
    }

    /// The directory of records, for what works on every file ([`StateDir::keys`],
    /// [`StateDir::sweep`]).
    pub fn dir(&self) -> &StateDir {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> StateDir {
        let dir =
            std::env::temp_dir().join(format!("cni-cache-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        StateDir::new(dir.join("nested"))
    }

    #[test]
    fn writes_atomically_with_private_modes() {
        let dir = scratch("modes");
        dir.write("c1-eth0", b"one").unwrap();
        dir.write("c1-eth0", b"two").unwrap();
        assert_eq!(dir.read("c1-eth0").unwrap().as_deref(), Some(&b"two"[..]));
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path("c1-eth0").unwrap()), 0o600);
        assert_eq!(mode(dir.root()), 0o700);
        assert_eq!(
            fs::read_dir(dir.root()).unwrap().count(),
            1,
            "no temporary file left"
        );
        fs::remove_dir_all(dir.root().parent().unwrap()).unwrap();
    }

    #[test]
    fn missing_keys_read_as_none_and_remove_is_idempotent() {
        let dir = scratch("missing");
        assert_eq!(dir.read("nope").unwrap(), None);
        assert_eq!(dir.keys().unwrap(), Vec::<String>::new());
        dir.remove("nope").unwrap();
        dir.write_json("b", &vec![1, 2]).unwrap();
        dir.write_json("a", &"x").unwrap();
        assert_eq!(dir.keys().unwrap(), vec!["a".to_string(), "b".to_string()]);
        assert_eq!(dir.read_json::<Vec<u8>>("b").unwrap(), Some(vec![1, 2]));
        assert_eq!(
            dir.read_json::<Vec<u8>>("a").unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        dir.remove("b").unwrap();
        dir.remove("b").unwrap();
        assert_eq!(dir.keys().unwrap(), vec!["a".to_string()]);
        fs::remove_dir_all(dir.root().parent().unwrap()).unwrap();
    }

    #[test]
    fn attachment_records_are_files_named_by_container_and_interface() {
        let dir = scratch("records");
        let records = AttachmentRecords::<Vec<u8>>::new(dir.root());
        records.put("c1", "eth0", &vec![1]).unwrap();
        records.put("c2", "net1", &vec![2]).unwrap();
        records.put("c1", "eth0", &vec![3]).unwrap();
        assert_eq!(
            dir.keys().unwrap(),
            vec!["c1:eth0".to_string(), "c2:net1".to_string()]
        );
        assert_eq!(records.get("c1", "eth0").unwrap(), Some(vec![3]));
        assert_eq!(records.get("c2", "net1").unwrap(), Some(vec![2]));
        records.remove("c1", "eth0").unwrap();
        records.remove("c1", "eth0").unwrap();
        assert_eq!(records.get("c1", "eth0").unwrap(), None);
        dir.write("c3:eth0", b"not a record").unwrap();
        assert_eq!(
            records.get("c3", "eth0").unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        fs::remove_dir_all(dir.root().parent().unwrap()).unwrap();
    }

    #[test]
    fn keys_are_regular_files_only() {
        let dir = scratch("kinds");
        dir.write("c1:eth0", b"x").unwrap();
        fs::create_dir(dir.root().join("c2:eth0")).unwrap();
        std::os::unix::fs::symlink("c1:eth0", dir.root().join("c3:eth0")).unwrap();
        assert_eq!(dir.keys().unwrap(), vec!["c1:eth0".to_string()]);
        fs::remove_dir_all(dir.root().parent().unwrap()).unwrap();
    }

    /// A pid that just exited.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn temporary_files_of_dead_writers_go_with_the_next_write_and_the_sweep() {
        let dir = scratch("tmp");
        dir.write("a.b:eth0.1", b"old").unwrap();
        let dead = dead_pid();
        let names = [
            format!(".a.b:eth0.1.{dead}.4.tmp"),
            format!(".a.b:eth0.1.{}.5.tmp", std::process::id()),
            format!(".other.{dead}.0.tmp"),
            ".not.a.tmp".to_string(),
        ];
        for name in &names {
            fs::write(dir.root().join(name), b"{").unwrap();
        }
        let left = |dir: &StateDir| {
            let mut names: Vec<String> = fs::read_dir(dir.root())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        dir.write("a.b:eth0.1", b"new").unwrap();
        let mut expected = vec![
            names[1].clone(),
            names[2].clone(),
            names[3].clone(),
            "a.b:eth0.1".to_string(),
        ];
        expected.sort();
        assert_eq!(left(&dir), expected);
        fs::write(dir.root().join(&names[0]), b"{").unwrap();
        dir.remove("a.b:eth0.1").unwrap();
        assert!(
            !dir.root().join(&names[0]).exists() && dir.root().join(&names[1]).exists(),
            "a remove takes the key's dead writers' files too"
        );
        assert_eq!(
            dir.sweep().unwrap(),
            vec![dir.root().join(&names[2])],
            "only the dead writer's file of the other key"
        );
        assert_eq!(tmp_writer(".x.4294967295.1.tmp"), Some(("x", u32::MAX)));
        assert!(!writer_gone(u32::MAX), "a pid that is no pid is left alone");
        fs::remove_dir_all(dir.root().parent().unwrap()).unwrap();
    }

    #[test]
    fn a_key_lock_serialises_holders_and_leaves_no_file() {
        let dir = scratch("lock");
        let lock_file = dir.root().join(".c1:eth0.lock");
        let first = dir.lock("c1:eth0").unwrap();
        assert_eq!(
            fs::read_to_string(&lock_file).unwrap(),
            std::process::id().to_string()
        );
        assert!(dir.try_lock("c1:eth0").unwrap().is_none(), "held");
        let order = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            let waiters: Vec<_> = (0..4)
                .map(|i| {
                    let (dir, order) = (&dir, &order);
                    s.spawn(move || {
                        let _held = dir.lock("c1:eth0").unwrap();
                        order.lock().unwrap().push(format!("in {i}"));
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        order.lock().unwrap().push(format!("out {i}"));
                    })
                })
                .collect();
            std::thread::sleep(std::time::Duration::from_millis(100));
            assert!(order.lock().unwrap().is_empty(), "every waiter waits");
            drop(first);
            for w in waiters {
                w.join().unwrap();
            }
        });
        let order = order.into_inner().unwrap();
        for pair in order.chunks(2) {
            assert_eq!(pair[0].replace("in", "out"), pair[1], "{order:?}");
        }
        assert!(!lock_file.exists(), "the last holder removed the lock file");
        // A lock file left by a killed call is reused, then swept.
        fs::write(&lock_file, "12345").unwrap();
        drop(dir.lock("c1:eth0").unwrap());
        fs::write(&lock_file, "").unwrap();
        assert_eq!(dir.sweep().unwrap(), vec![lock_file.clone()]);
        assert!(!lock_file.exists());
        fs::remove_dir_all(dir.root().parent().unwrap()).unwrap();
    }

    #[test]
    fn a_lock_held_by_an_ancestor_is_an_error_not_a_wait() {
        let dir = scratch("ancestor");
        let held = dir.lock("c1:eth0").unwrap();
        // The lock file names its holder; this process plays the child of one that holds it.
        let lock_file = dir.root().join(".c1:eth0.lock");
        fs::write(&lock_file, std::os::unix::process::parent_id().to_string()).unwrap();
        let err = dir.lock("c1:eth0").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(err.to_string().contains("nested calls"), "{err}");
        drop(held);
        fs::remove_dir_all(dir.root().parent().unwrap()).unwrap();
    }

    #[test]
    fn rejects_keys_that_escape_the_directory() {
        let dir = scratch("keys");
        for key in ["", "../x", "a/b", ".hidden", "x.tmp"] {
            assert_eq!(
                dir.write(key, b"x").unwrap_err().kind(),
                io::ErrorKind::InvalidInput,
                "{key}"
            );
        }
    }
}
