//! The per-attachment cache: everything DEL, CHECK and GC need to undo or verify an ADD.
//!
//! ADD writes it ahead: before it changes anything on the host, and again before each further
//! step, the record names everything that step may change (with the values to restore). A DEL,
//! GC or later ADD that finds the record of a killed ADD undoes it like a finished one: every
//! undo step is harmless when its step never ran.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cache::AttachmentRecords;
use crate::netlink::{MacAddr, VfConfig, VfSetting};
use crate::spec::CniResult;
use crate::sysfs::{DriverBinding, PciAddr};

use super::netdev::HostNetdev;
use super::process::Process;

/// How the VF was handed to the pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum Mode {
    /// The VF netdev was moved into the pod.
    Kernel {
        /// Its MAC in the pod.
        pod_mac: Option<MacAddr>,
    },
    /// The VF was bound to a userspace driver.
    Dpdk {
        /// The binding before ADD, restored on DEL.
        original: DriverBinding,
        /// The driver the VF is bound to.
        driver: String,
        /// Its IOMMU group, when the driver needs one.
        iommu_group: Option<String>,
    },
}

/// One ADD's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// `CNI_NETNS`.
    pub netns: PathBuf,
    /// The interface name reported in the result (`if0name`, else `CNI_IFNAME`); in kernel
    /// mode, the VF netdev's name in the pod.
    pub pod_name: String,
    /// The network `name`.
    pub network: String,
    /// PCI address of the VF.
    pub vf: PciAddr,
    /// VF index on its PF.
    pub vf_index: u32,
    /// PCI address of the PF.
    pub pf: PciAddr,
    /// PF netdev name (the handle for VF settings), if the PF has one.
    pub pf_netdev: Option<String>,
    /// VF settings before ADD.
    pub vf_original: VfConfig,
    /// VF settings ADD changed (or was about to change), in order.
    pub vf_applied: Vec<VfSetting>,
    /// Kernel or DPDK mode details.
    pub mode: Mode,
    /// The VF's netdev in the host before ADD, if it had one.
    pub host_netdev: Option<HostNetdev>,
    /// Whether IPAM allocated (or was about to allocate) addresses.
    pub ipam: bool,
    /// The NPWG device-info file ADD wrote or was about to write (not one it found).
    pub device_info_file: Option<PathBuf>,
    /// The result ADD returned; `None` until ADD completes (in flight, or killed).
    pub result: Option<CniResult>,
    /// The ADD still writing this record; `None` once it completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adder: Option<Process>,
}

impl Attachment {
    /// Whether an ADD is still running for this record.
    pub fn in_flight(&self) -> bool {
        self.adder.is_some_and(|p| p.is_running())
    }
}

/// The attachment records of a state directory.
pub type Attachments = AttachmentRecords<Attachment>;

/// The attachment records kept under `state` (in its `attachments/`).
pub fn attachments(state: &Path) -> Attachments {
    AttachmentRecords::new(state.join("attachments"))
}
