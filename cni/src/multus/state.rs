//! The per-attachment cache: everything DEL, CHECK and GC need, written before the first delegate runs.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::delegate::Delegate;
use crate::cache::AttachmentRecords;
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

    /// The record of an attachment, if one was written.
    pub fn load(&self, container_id: &str, ifname: &str) -> Result<Option<Record>, CniError> {
        self.records
            .get(container_id, ifname)
            .map_err(|e| self.failure("read", container_id, ifname, e))
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

    /// Every record of network `network`.
    pub fn records_of(&self, network: &str) -> Result<Vec<Record>, CniError> {
        let all = self.records.all().map_err(|e| {
            CniError::io(
                format!(
                    "cniDir: cannot read cache {}",
                    self.records.root().display()
                ),
                e,
            )
        })?;
        Ok(all.into_iter().filter(|r| r.network == network).collect())
    }

    fn failure(&self, what: &str, container_id: &str, ifname: &str, e: std::io::Error) -> CniError {
        CniError::io(
            format!(
                "cniDir: cannot {what} cache {}",
                self.records
                    .root()
                    .join(AttachmentRecords::<Record>::key(container_id, ifname))
                    .display()
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
        assert_eq!(cache.load("c1", "eth0").unwrap(), Some(record("c1", "a")));
        assert_eq!(cache.records_of("b").unwrap(), vec![record("c2", "b")]);
        assert!(
            cache.load("c1", "eth0").unwrap().unwrap().delegates[0]
                .delegate()
                .unwrap()
                .master
        );
        cache.remove("c1", "eth0").unwrap();
        cache.remove("c1", "eth0").unwrap();
        assert_eq!(cache.load("c1", "eth0").unwrap(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
