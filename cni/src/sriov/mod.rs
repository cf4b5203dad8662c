//! The `sriov` CNI plugin: hands an SR-IOV virtual function to a pod, either as a kernel
//! netdev moved into the pod's namespace or bound to a userspace (DPDK) driver.
//!
//! ADD claims a VF (`alloc`), applies VF settings through the PF (`settings`), attaches
//! it in kernel (`kernel`) or DPDK (`dpdk`) mode, delegates IPAM and writes the NPWG
//! device-info file, recording ahead of each step what it is about to change in a
//! per-attachment cache (`record`); a failure undoes what the record names, as DEL does, and
//! so does a DEL, GC or later ADD after the plugin was killed at any point. DEL is idempotent;
//! CHECK compares the live state with the cache; GC tears down attachments the runtime no
//! longer lists. Temporary files of killed writers are swept.

mod add;
mod alloc;
mod check;
pub mod config;
mod del;
mod device_info;
mod dpdk;
mod gc;
pub mod host;
mod kernel;
mod netdev;
mod process;
mod record;
mod select;
mod settings;

use std::fmt;

use crate::spec::{Call, CniError, CniResult, Plugin};

pub use host::Host;
pub use netdev::{temp_name, HostNetdev};
pub use record::{Attachment, Mode};

/// The plugin's name in log lines.
const PLUGIN: &str = "sriov";

/// Error code (plugin range) for CHECK finding the live state differs from the record.
pub const CHECK_MISMATCH: u32 = 100;

/// The plugin over a [`Host`].
pub struct SriovPlugin {
    /// Where host state is read and changed.
    pub host: Host,
}

impl Plugin for SriovPlugin {
    fn add(&self, call: &Call) -> Result<CniResult, CniError> {
        add::add(&self.host, call)
    }

    fn del(&self, call: &Call) -> Result<(), CniError> {
        del::del(&self.host, call)
    }

    fn check(&self, call: &Call) -> Result<(), CniError> {
        check::check(&self.host, call)
    }

    fn status(&self, call: &Call) -> Result<(), CniError> {
        check::status(&self.host, call)
    }

    fn gc(&self, call: &Call) -> Result<(), CniError> {
        gc::gc(&self.host, call)
    }
}

/// A failed host operation (sysfs, netlink, netns): code 5 with the cause in the message.
fn host_error(e: impl fmt::Display) -> CniError {
    CniError::new(CniError::IO_FAILURE, e.to_string(), "")
}

/// CHECK found the live state differs from the record.
fn mismatch(msg: impl Into<String>) -> CniError {
    CniError::new(CHECK_MISMATCH, msg, "")
}

/// The state directory failed.
fn state_error(e: std::io::Error) -> CniError {
    CniError::io("cannot access the sriov state directory", e)
}
