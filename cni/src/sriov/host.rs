//! Everything the plugin touches on the host, gathered so tests can point it elsewhere.

use std::path::PathBuf;

use crate::netlink::{JournalPf, NetlinkPf, PfControl};
use crate::sysfs::Sysfs;

/// Default directory for allocation records, locks and attachment caches.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/cni/sriov";

/// The host as the plugin sees it.
pub struct Host {
    /// The PCI/SR-IOV view of sysfs.
    pub sysfs: Sysfs,
    /// The directory playing `/dev` (for `/dev/vfio/<group>`).
    pub dev: PathBuf,
    /// The plugin's state directory.
    pub state: PathBuf,
    /// Where PF VF settings go.
    pub pf: Box<dyn PfControl>,
}

impl Host {
    /// The real host: `/sys`, `/dev`, [`DEFAULT_STATE_DIR`] and rtnetlink.
    pub fn real() -> Host {
        Host {
            sysfs: Sysfs::default(),
            dev: PathBuf::from("/dev"),
            state: PathBuf::from(DEFAULT_STATE_DIR),
            pf: Box::new(NetlinkPf),
        }
    }

    /// The real host with overrides from `lookup`: `SRIOV_SYSFS_ROOT`, `SRIOV_DEV_ROOT`,
    /// `SRIOV_STATE_DIR`, and `SRIOV_PF_JOURNAL` (record PF requests in that file instead of
    /// sending them — for sysfs trees with no real PF behind them).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Host {
        let get = |var: &str| lookup(var).filter(|v| !v.is_empty());
        let mut host = Host::real();
        if let Some(root) = get("SRIOV_SYSFS_ROOT") {
            host.sysfs = Sysfs::new(root);
        }
        if let Some(dev) = get("SRIOV_DEV_ROOT") {
            host.dev = dev.into();
        }
        if let Some(state) = get("SRIOV_STATE_DIR") {
            host.state = state.into();
        }
        if let Some(journal) = get("SRIOV_PF_JOURNAL") {
            host.pf = Box::new(JournalPf::new(journal));
        }
        host
    }
}
