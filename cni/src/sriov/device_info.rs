//! The NPWG device-info file (`CNIDeviceInfoFile`, type `pci`) that tells the pod which
//! PCI device it got.

use std::io::Write;
use std::path::Path;

use serde_json::json;

use crate::spec::CniError;
use crate::sysfs::PciAddr;

/// The device-info spec version written.
const SPEC_VERSION: &str = "1.1.0";

/// Writes the file at `path` unless one is already there (a device plugin's copy wins).
/// Returns whether this call wrote it.
pub fn write(path: &Path, vf: &PciAddr, pf: &PciAddr) -> Result<bool, CniError> {
    let info = json!({
        "type": "pci",
        "version": SPEC_VERSION,
        "pci": {"pci-address": vf.as_str(), "pf-pci-address": pf.as_str()},
    });
    let fail = |e: std::io::Error| {
        CniError::io(
            format!("cannot write device-info file {}", path.display()),
            e,
        )
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path);
    match file {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(fail(e)),
        Ok(mut file) => {
            let bytes = serde_json::to_vec_pretty(&info).expect("JSON value");
            file.write_all(&bytes).map_err(fail)?;
            Ok(true)
        }
    }
}

/// Removes a file written by [`write`]; a missing file is fine.
pub fn remove(path: &Path) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(format!("cannot remove {}: {e}", path.display()))
        }
        _ => Ok(()),
    }
}
