//! The per-attachment cache: everything DEL, CHECK and GC need, written before the first delegate runs.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::delegate::Delegate;
use crate::cache::{AttachmentRecords, KeyLock};
use crate::spec::{CniError, CniResult, Version};

/// One multus attachment (container + CNI_IFNAME) and its delegates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The runtime's `cniVersion` at ADD.
    #[serde(rename = "cniVersion")]
    pub cni_version: Version,
    /// Multus's network name (GC only looks at its own network's records).
    pub network: String,
    /// `CNI_CONTAINERID`.
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// `CNI_IFNAME` (the master's interface).
    pub ifname: String,
    /// `CNI_NETNS` at ADD (GC uses it; DEL uses the runtime's current value).
    pub netns: Option<PathBuf>,
    /// The delegates in ADD order.
    pub delegates: Vec<DelegateRecord>,
}

/// One delegate of a [`Record`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DelegateRecord {
    /// Position in the configuration's `delegates` (or the pod's networks).
    pub index: usize,
    /// Where the delegate came from (`delegates[1]`, `network "ns/name"`); absent in older caches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Whether this is the master delegate.
    pub master: bool,
    /// The interface name it was given.
    pub ifname: String,
    /// The delegate configuration exactly as it ran.
    pub conf: Map<String, Value>,
    /// Its ADD result; absent until its ADD succeeded.
    pub result: Option<CniResult>,
}

impl DelegateRecord {
    /// The delegate, rebuilt from the stored configuration.
    pub fn delegate(&self) -> Result<Delegate, CniError> {
        let source = self
            .source
            .clone()
            .unwrap_or_else(|| format!("delegates[{}]", self.index));
        Delegate::from_conf(self.index, source, self.master, self.conf.clone())
            .map_err(|e| e.context("cached delegate"))
    }
}

/// A cache file as read.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// A record, every delegate readable.
    Intact(Record),
    /// A record with parts that cannot be read: `record` holds the rest (its delegates are the ones
    /// still readable), `problems` says what was left out.
    Damaged {
        /// What could be read.
        record: Record,
        /// One line per part left out.
        problems: Vec<String>,
    },
    /// Not a record: not JSON, or without the attachment and network it belongs to.
    Unreadable(String),
}

impl Entry {
    /// Reads a cache file, keeping what can be read of a damaged one.
    pub fn parse(bytes: &[u8]) -> Entry {
        let record = match serde_json::from_slice::<Record>(bytes) {
            Ok(record) => record,
            Err(whole) => match salvage(bytes) {
                Ok((record, mut problems)) => {
                    if problems.is_empty() {
                        problems.push(whole.to_string());
                    }
                    return Entry::checked(record, problems);
                }
                Err(problem) => return Entry::Unreadable(problem),
            },
        };
        Entry::checked(record, Vec::new())
    }

    /// The entry of `record`, read with `problems`: damaged if there are any, or if a delegate
    /// cannot be rebuilt from its cached configuration (that delegate is left out).
    fn checked(mut record: Record, mut problems: Vec<String>) -> Entry {
        record.delegates.retain(|d| match d.delegate() {
            Ok(_) => true,
            Err(e) => {
                problems.push(format!("delegates[{}]: {}", d.index, e.msg));
                false
            }
        });
        if problems.is_empty() {
            Entry::Intact(record)
        } else {
            Entry::Damaged { record, problems }
        }
    }
}

/// The parts of a damaged cache file that can still be read: the attachment and network must be,
/// each delegate entry that cannot is a problem.
fn salvage(bytes: &[u8]) -> Result<(Record, Vec<String>), String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let field = |name: &str| {
        value
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("{name}: missing or not a string"))
    };
    let (container_id, ifname, network) =
        (field("containerID")?, field("ifname")?, field("network")?);
    let mut problems = Vec::new();
    let cni_version = value
        .get("cniVersion")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_else(|| {
            problems.push("cniVersion: unreadable".to_string());
            Version::LATEST
        });
    let netns = match value.get("netns") {
        None | Some(Value::Null) => None,
        Some(Value::String(path)) => Some(PathBuf::from(path)),
        Some(other) => {
            problems.push(format!("netns: expected a path, found {other}"));
            None
        }
    };
    let entries = value
        .get("delegates")
        .and_then(Value::as_array)
        .ok_or("delegates: missing or not a list")?;
    let mut delegates = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        match serde_json::from_value::<DelegateRecord>(entry.clone()) {
            Ok(d) => delegates.push(d),
            Err(e) => problems.push(format!("delegates[{i}]: {e}")),
        }
    }
    let record = Record {
        cni_version,
        network,
        container_id,
        ifname,
        netns,
        delegates,
    };
    Ok((record, problems))
}

/// The cache directory (`cniDir`), one file per attachment.
#[derive(Debug, Clone)]
pub struct Cache {
    records: AttachmentRecords<Record>,
}

impl Cache {
    /// The cache in `cni_dir`.
    pub fn new(cni_dir: &Path) -> Self {
        Cache {
            records: AttachmentRecords::new(cni_dir),
        }
    }

    /// The exclusive lock of an attachment's entry: ADD, DEL, CHECK and GC of one attachment run
    /// one at a time. Code 7 if a multus that runs this one (nested, with the same `cniDir`) holds it.
    pub fn lock(&self, container_id: &str, ifname: &str) -> Result<KeyLock, CniError> {
        self.records
            .lock(container_id, ifname)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::WouldBlock => CniError::invalid_config("cniDir", e),
                _ => self.failure("lock", container_id, ifname, e),
            })
    }

    /// The cache file of an attachment, if one was written.
    pub fn load(&self, container_id: &str, ifname: &str) -> Result<Option<Entry>, CniError> {
        self.read_key(&AttachmentRecords::<Record>::key(container_id, ifname))
            .map_err(|e| self.failure("read", container_id, ifname, e))
    }

    fn read_key(&self, key: &str) -> std::io::Result<Option<Entry>> {
        Ok(self.records.dir().read(key)?.map(|b| Entry::parse(&b)))
    }

    /// Writes (atomically, mode 0600) the record of an attachment.
    pub fn save(&self, record: &Record) -> Result<(), CniError> {
        let (container_id, ifname) = (&record.container_id, &record.ifname);
        self.records
            .put(container_id, ifname, record)
            .map_err(|e| self.failure("write", container_id, ifname, e))
    }

    /// Removes the record of an attachment (succeeds if there is none).
    pub fn remove(&self, container_id: &str, ifname: &str) -> Result<(), CniError> {
        self.records
            .remove(container_id, ifname)
            .map_err(|e| self.failure("remove", container_id, ifname, e))
    }

    /// Every cache file, with its path, in name order (a file gone since the listing is left out).
    pub fn entries(&self) -> Result<Vec<(PathBuf, Entry)>, CniError> {
        let listing_failed = |e| {
            CniError::io(
                format!("cniDir: cannot read cache {}", self.root().display()),
                e,
            )
        };
        let mut entries = Vec::new();
        for key in self.records.dir().keys().map_err(listing_failed)? {
            let path = self.root().join(&key);
            match self.read_key(&key) {
                Ok(Some(entry)) => entries.push((path, entry)),
                Ok(None) => {}
                Err(e) => entries.push((path, Entry::Unreadable(e.to_string()))),
            }
        }
        Ok(entries)
    }

    /// Removes what killed calls left (temporary files of dead writers, unheld locks); returns
    /// their paths.
    pub fn sweep(&self) -> Result<Vec<PathBuf>, CniError> {
        self.records.dir().sweep().map_err(|e| {
            CniError::io(
                format!("cniDir: cannot clean up {}", self.root().display()),
                e,
            )
        })
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        self.records.root()
    }

    /// The cache file of an attachment.
    pub fn path(&self, container_id: &str, ifname: &str) -> PathBuf {
        self.root()
            .join(AttachmentRecords::<Record>::key(container_id, ifname))
    }

    fn failure(&self, what: &str, container_id: &str, ifname: &str, e: std::io::Error) -> CniError {
        CniError::io(
            format!(
                "cniDir: cannot {what} cache {}",
                self.path(container_id, ifname).display()
            ),
            e,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn saves_loads_lists_and_removes_records() {
        let dir = std::env::temp_dir().join(format!("multus-state-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cache = Cache::new(&dir);
        let record = |cid: &str, network: &str| Record {
            cni_version: Version::V1_0_0,
            network: network.into(),
            container_id: cid.into(),
            ifname: "eth0".into(),
            netns: Some("/run/netns/p".into()),
            delegates: vec![DelegateRecord {
                index: 0,
                source: None,
                master: true,
                ifname: "eth0".into(),
                conf: json!({"type": "bridge", "name": "n", "cniVersion": "1.0.0"})
                    .as_object()
                    .unwrap()
                    .clone(),
                result: Some(CniResult::new(Version::V1_0_0)),
            }],
        };
        cache.save(&record("c1", "a")).unwrap();
        cache.save(&record("c2", "b")).unwrap();
        assert_eq!(
            cache.load("c1", "eth0").unwrap(),
            Some(Entry::Intact(record("c1", "a")))
        );
        assert_eq!(
            cache.entries().unwrap(),
            vec![
                (dir.join("c1:eth0"), Entry::Intact(record("c1", "a"))),
                (dir.join("c2:eth0"), Entry::Intact(record("c2", "b")))
            ]
        );
        cache.remove("c1", "eth0").unwrap();
        cache.remove("c1", "eth0").unwrap();
        assert_eq!(cache.load("c1", "eth0").unwrap(), None);

        // Damaged files: what can be read is kept, what cannot is named.
        let mut value = serde_json::to_value(record("c3", "a")).unwrap();
        value["delegates"]
            .as_array_mut()
            .unwrap()
            .push(json!({"index": 1, "master": false, "ifname": "net0", "conf": 5}));
        value["delegates"]
            .as_array_mut()
            .unwrap()
            .push(json!({"index": 2, "master": false, "ifname": "net1", "conf": {"name": "x"}, "result": null}));
        let Entry::Damaged {
            record: kept,
            problems,
        } = Entry::parse(value.to_string().as_bytes())
        else {
            panic!("not read as damaged")
        };
        assert_eq!(kept, record("c3", "a"));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].starts_with("delegates[1]: invalid type"),
            "{problems:?}"
        );
        assert_eq!(
            problems[1],
            "delegates[2]: cached delegate: delegates[2].type: missing"
        );
        value["network"] = json!(7);
        assert_eq!(
            Entry::parse(value.to_string().as_bytes()),
            Entry::Unreadable("network: missing or not a string".into())
        );
        assert!(matches!(Entry::parse(b"{\"cniVers"), Entry::Unreadable(_)));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
