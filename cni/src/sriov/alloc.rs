//! VF allocation: a per-VF lock file plus a record naming the attachment that holds the VF.
//!
//! Records live in `<state>/alloc/<pci>`, locks in `<state>/locks/<pci>` (`flock`, released
//! when the process exits, so a killed plugin never wedges a VF). A record whose netns no
//! longer exists is stale: the pod is gone without a DEL, and the VF may be reclaimed.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::cache::StateDir;
use crate::log::Logger;
use crate::netns;
use crate::sysfs::PciAddr;

/// The attachment a VF is allocated to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// `CNI_NETNS` at ADD.
    pub netns: PathBuf,
    /// The network (`name`) the attachment belongs to.
    pub network: String,
}

impl Owner {
    /// Whether this is the attachment `container_id`/`ifname`.
    pub fn is(&self, container_id: &str, ifname: &str) -> bool {
        self.container_id == container_id && self.ifname == ifname
    }

    /// Whether the owner's namespace is gone (the pod died without a DEL).
    pub fn is_stale(&self) -> bool {
        matches!(
            netns::check(&self.netns),
            Err(netns::Error::NotFound(_) | netns::Error::NotANetns(_))
        )
    }
}

/// Why a VF could not be claimed.
#[derive(Debug)]
pub enum ClaimError<E> {
    /// Another live attachment holds it.
    Busy(Owner),
    /// Reclaiming a stale allocation failed.
    Reclaim(E),
    /// The state directory failed.
    Io(io::Error),
}

impl<E> From<io::Error> for ClaimError<E> {
    fn from(e: io::Error) -> Self {
        ClaimError::Io(e)
    }
}

/// The allocation records and locks under a state directory.
pub struct Allocations {
    records: StateDir,
    locks: PathBuf,
}

/// A held per-VF lock; released on drop.
pub struct VfLock {
    _file: Flock<File>,
}

impl Allocations {
    /// The allocations kept under `state`.
    pub fn new(state: &Path) -> Self {
        Allocations {
            records: StateDir::new(state.join("alloc")),
            locks: state.join("locks"),
        }
    }

    /// Waits for and takes the lock of `vf`.
    pub fn lock(&self, vf: &PciAddr) -> io::Result<VfLock> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.locks)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(self.locks.join(vf.as_str()))?;
        let file = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| io::Error::from(errno))?;
        Ok(VfLock { _file: file })
    }

    /// Who holds `vf`, if anyone. Call with the VF's lock held for a stable answer.
    pub fn owner(&self, vf: &PciAddr) -> io::Result<Option<Owner>> {
        self.records.read_json(vf.as_str())
    }

    /// Claims `vf` for `me` under its lock. A stale record is first handed to `reclaim`
    /// (which undoes what the dead attachment left behind). Re-claiming one's own VF succeeds.
    pub fn claim<E>(
        &self,
        vf: &PciAddr,
        me: &Owner,
        reclaim: impl FnOnce(&Owner) -> Result<(), E>,
    ) -> Result<(), ClaimError<E>> {
        let _lock = self.lock(vf)?;
        match self.owner(vf)? {
            Some(owner) if owner.is(&me.container_id, &me.ifname) => {}
            Some(owner) if owner.is_stale() => reclaim(&owner).map_err(ClaimError::Reclaim)?,
            Some(owner) => return Err(ClaimError::Busy(owner)),
            None => {}
        }
        self.records.write_json(vf.as_str(), me)?;
        Ok(())
    }

    /// Frees `vf` if `container_id`/`ifname` holds it; other owners are left alone.
    pub fn release(&self, vf: &PciAddr, container_id: &str, ifname: &str) -> io::Result<()> {
        let _lock = self.lock(vf)?;
        match self.owner(vf)? {
            Some(owner) if owner.is(container_id, ifname) => self.records.remove(vf.as_str()),
            _ => Ok(()),
        }
    }

    /// The directory of the allocation records.
    pub fn records_dir(&self) -> &Path {
        self.records.root()
    }

    /// Every allocation record; one that cannot be parsed is reported to `log` and skipped.
    pub fn all(&self, log: &Logger) -> io::Result<Vec<(PciAddr, Owner)>> {
        let mut out = Vec::new();
        for key in self.records.keys()? {
            let Ok(vf) = key.parse::<PciAddr>() else {
                continue;
            };
            match self.owner(&vf) {
                Ok(owner) => out.extend(owner.map(|o| (vf, o))),
                Err(e) if e.kind() == io::ErrorKind::InvalidData => log.error(format!(
                    "skipping the unreadable allocation record in {}: {e}",
                    self.records.root().display()
                )),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(c: &str, netns: &str) -> Owner {
        Owner {
            container_id: c.into(),
            ifname: "net1".into(),
            netns: netns.into(),
            network: "n".into(),
        }
    }

    #[test]
    fn claims_are_exclusive_and_stale_ones_are_reclaimed() {
        let dir = std::env::temp_dir().join(format!("sriov-alloc-{}", std::process::id()));
        let allocs = Allocations::new(&dir);
        let vf: PciAddr = "0000:05:10.0".parse().unwrap();
        let live = owner("c1", "/proc/self/ns/net");
        allocs.claim(&vf, &live, |_| Err::<(), ()>(())).unwrap();
        allocs.claim(&vf, &live, |_| Err::<(), ()>(())).unwrap();
        match allocs.claim(
            &vf,
            &owner("c2", "/proc/self/ns/net"),
            |_| Err::<(), ()>(()),
        ) {
            Err(ClaimError::Busy(o)) => assert_eq!(o, live),
            other => panic!("{:?}", other.map_err(|e| format!("{e:?}"))),
        }
        allocs.release(&vf, "c2", "net1").unwrap();
        assert_eq!(
            allocs.owner(&vf).unwrap(),
            Some(live.clone()),
            "a stranger cannot release"
        );
        allocs.release(&vf, "c1", "net1").unwrap();
        assert_eq!(allocs.owner(&vf).unwrap(), None);

        let dead = owner("c3", "/run/netns/gone-for-good");
        allocs.claim(&vf, &dead, |_| Err::<(), ()>(())).unwrap();
        let mut reclaimed = None;
        allocs
            .claim(&vf, &live, |o| {
                reclaimed = Some(o.clone());
                Ok::<(), ()>(())
            })
            .unwrap();
        assert_eq!(reclaimed, Some(dead));
        let log = Logger::new("sriov", crate::log::Level::Error, None);
        assert_eq!(allocs.all(&log).unwrap(), vec![(vf.clone(), live)]);
        allocs.records.write("0000:05:11.0", b"{").unwrap();
        assert_eq!(
            allocs.all(&log).unwrap().len(),
            1,
            "the unreadable one is skipped"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
