//! DPDK mode: the VF leaves its kernel driver for a userspace one (vfio-pci by default in
//! modern setups) through sysfs, and returns on DEL. vfio-pci also needs an IOMMU group
//! whose `/dev/vfio/<group>` node the pod will open.

use std::path::Path;

use crate::spec::CniError;
use crate::sysfs::{DriverBinding, PciAddr, Sysfs};

use super::config::DpdkConf;
use super::record::Mode;
use super::{host_error, mismatch};

/// Drivers that hand a device to userspace; a VF already on one of them is in DPDK mode.
pub const USERSPACE_DRIVERS: [&str; 3] = ["vfio-pci", "igb_uio", "uio_pci_generic"];

/// The DPDK settings implied by a VF already bound to a userspace driver, if it is.
pub fn already_bound(sysfs: &Sysfs, vf: &PciAddr) -> Result<Option<DpdkConf>, CniError> {
    let driver = sysfs.driver(vf).map_err(host_error)?;
    Ok(driver
        .filter(|d| USERSPACE_DRIVERS.contains(&d.as_str()))
        .map(|driver| DpdkConf {
            driver,
            kernel_driver: None,
        }))
}

/// What binding `vf` to `conf.driver` will do, checked before anything changes: the driver is
/// loaded, the IOMMU plumbing it needs is there, and the binding to restore is read.
pub fn plan(sysfs: &Sysfs, vf: &PciAddr, conf: &DpdkConf) -> Result<Mode, CniError> {
    if !sysfs.has_pci_driver(&conf.driver) {
        return Err(CniError::invalid_config(
            "dpdk.dpdk_driver",
            format!(
                "driver {} is not loaded ({} is missing)",
                conf.driver,
                sysfs.pci_driver(&conf.driver).display()
            ),
        ));
    }
    let mut original = sysfs.binding(vf).map_err(host_error)?;
    if original.driver.is_none() {
        original.driver = conf.kernel_driver.clone();
    }
    let iommu_group = if conf.driver == "vfio-pci" {
        let group = sysfs.iommu_group(vf).map_err(host_error)?.ok_or_else(|| {
            CniError::io(
                format!("VF {vf} has no IOMMU group, so vfio-pci cannot use it"),
                "enable the IOMMU (intel_iommu=on / amd_iommu=on) or use another dpdk_driver",
            )
        })?;
        Some(group)
    } else {
        None
    };
    Ok(Mode::Dpdk {
        original,
        driver: conf.driver.clone(),
        iommu_group,
    })
}

/// Binds `vf` as `mode` (from [`plan`]) says. On error the original binding is back.
pub fn bind(sysfs: &Sysfs, dev: &Path, vf: &PciAddr, mode: &Mode) -> Result<(), CniError> {
    let Mode::Dpdk { driver, .. } = mode else {
        return Ok(());
    };
    if let Err(e) = sysfs
        .bind_driver(vf, driver)
        .map_err(host_error)
        .and_then(|()| verify(sysfs, dev, vf, mode))
    {
        let _ = restore(sysfs, vf, mode);
        return Err(e);
    }
    Ok(())
}

/// Puts `vf` back on the driver it had before ADD (idempotent).
pub fn restore(sysfs: &Sysfs, vf: &PciAddr, mode: &Mode) -> Result<(), String> {
    let Mode::Dpdk { original, .. } = mode else {
        return Ok(());
    };
    if !sysfs.has_pci_device(vf) {
        return Ok(());
    }
    sysfs
        .restore_binding(vf, original)
        .map_err(|e| format!("cannot restore the driver of VF {vf}: {e}"))
}

/// Checks `vf` is bound to the recorded driver and its `/dev/vfio/<group>` exists.
pub fn verify(sysfs: &Sysfs, dev: &Path, vf: &PciAddr, mode: &Mode) -> Result<(), CniError> {
    let Mode::Dpdk {
        driver,
        iommu_group,
        ..
    } = mode
    else {
        return Ok(());
    };
    let bound = sysfs.driver(vf).map_err(host_error)?;
    if bound.as_deref() != Some(driver) {
        return Err(mismatch(format!(
            "VF {vf} is bound to {bound:?}, expected {driver}"
        )));
    }
    if let Some(group) = iommu_group {
        let node = dev.join("vfio").join(group);
        if !node.exists() {
            return Err(mismatch(format!(
                "VF {vf}: {} is missing (IOMMU group {group})",
                node.display()
            )));
        }
    }
    Ok(())
}

/// Puts `vf`, found with no driver at all (a bind interrupted with its record lost), back on the
/// kernel driver its sibling VFs use, with no `driver_override`. Returns that driver, or `None`
/// when the VF has a driver or no sibling shows which kernel driver VFs of its PF take.
pub fn rebind_unbound(
    sysfs: &Sysfs,
    pf: &PciAddr,
    vf: &PciAddr,
) -> Result<Option<String>, CniError> {
    if sysfs.driver(vf).map_err(host_error)?.is_some() {
        return Ok(None);
    }
    let mut kernel_driver = None;
    for sibling in sysfs.vfs(pf).map_err(host_error)? {
        let driver = sysfs.driver(&sibling.addr).map_err(host_error)?;
        if let Some(d) = driver.filter(|d| !USERSPACE_DRIVERS.contains(&d.as_str())) {
            kernel_driver = Some(d);
            break;
        }
    }
    let Some(driver) = kernel_driver else {
        return Ok(None);
    };
    let binding = DriverBinding {
        driver: Some(driver.clone()),
        driver_override: None,
    };
    sysfs
        .restore_binding(vf, &binding)
        .map_err(|e| CniError::io(format!("cannot rebind VF {vf} to {driver}"), e))?;
    Ok(Some(driver))
}
