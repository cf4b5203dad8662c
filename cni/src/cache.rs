//! `StateDir`: a directory of small state files, each written atomically with mode 0600, and over it
//! `AttachmentRecords`: one JSON record per attachment, as both plugins keep what DEL, CHECK and GC need.
//!
//! A write goes to a temporary file in the same directory and is renamed over the target, so a reader
//! (or a plugin killed mid-write) sees either the old file or the new one, never a torn one.
//!
//! Files are not fsync'd: CNI state describes attachments of the current boot (after a power loss the
//! pods and their namespaces are gone too), libcni's own cache is written the same way, and two syncs
//! per ADD cost more than the whole rest of multus's own work (measured by `benches/multus_libcni.rs`).

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::marker::PhantomData;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A directory holding one file per key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    root: PathBuf,
}

/// Suffix of in-flight temporary files; [`StateDir::keys`] skips them.
const TMP_SUFFIX: &str = ".tmp";

/// Makes temporary names unique between threads of one process.
static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

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
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)?;
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

    /// `key`'s content, or `None` if there is none.
    pub fn read(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.path(key)?) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes `key`; removing a key that does not exist succeeds.
    pub fn remove(&self, key: &str) -> io::Result<()> {
        match fs::remove_file(self.path(key)?) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every key present (empty if the directory does not exist yet), sorted.
    pub fn keys(&self) -> io::Result<Vec<String>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut keys = Vec::new();
        for entry in entries {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if self.path(&name).is_ok() {
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

    /// Every record, in key order; `InvalidData` naming the file if one is not a `T`.
    pub fn all(&self) -> io::Result<Vec<T>> {
        let mut records = Vec::new();
        for key in self.dir.keys()? {
            records.extend(self.dir.read_json(&key)?);
        }
        Ok(records)
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
        assert_eq!(records.all().unwrap(), vec![vec![3], vec![2]]);
        records.remove("c1", "eth0").unwrap();
        records.remove("c1", "eth0").unwrap();
        assert_eq!(records.get("c1", "eth0").unwrap(), None);
        dir.write("c3:eth0", b"not a record").unwrap();
        assert_eq!(
            records.all().unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
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
