//! The `sriov` CNI plugin binary (`"type": "sriov"`). See `cni::sriov` for what it does.
//!
//! Host seams (for test trees and labs): `SRIOV_SYSFS_ROOT`, `SRIOV_DEV_ROOT`,
//! `SRIOV_STATE_DIR`, `SRIOV_PF_JOURNAL`.

use std::process::ExitCode;

use cni::spec::run_plugin;
use cni::sriov::{Host, SriovPlugin};

fn main() -> ExitCode {
    let host = Host::from_lookup(|var| std::env::var(var).ok());
    run_plugin(&SriovPlugin { host })
}
