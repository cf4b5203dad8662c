//! Finding the VF a configuration names, and claiming it (or the first free one).

use crate::spec::CniError;
use crate::sysfs::{PciAddr, Sysfs};

use super::alloc::{Allocations, ClaimError, Owner};
use super::config::DeviceSel;
use super::host_error;

/// A VF with the PF it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VfRef {
    /// PCI address of the PF.
    pub pf: PciAddr,
    /// The PF's netdev, if it has one (VF settings need it).
    pub pf_netdev: Option<String>,
    /// Index of the VF on the PF.
    pub index: u32,
    /// PCI address of the VF.
    pub addr: PciAddr,
}

/// The configuration field that chose the VF, for error messages.
fn field(sel: &DeviceSel) -> &'static str {
    match sel {
        DeviceSel::Pci { .. } => "deviceID",
        DeviceSel::Pf { vf: Some(_), .. } => "vf",
        DeviceSel::Pf { vf: None, .. } => "if0",
    }
}

/// The PCI address of the SR-IOV PF netdev `name` (`if0`).
fn pf_by_name(sysfs: &Sysfs, name: &str) -> Result<PciAddr, CniError> {
    if !sysfs.netdev(name).exists() {
        let dir = sysfs.root().join("class/net");
        return Err(CniError::invalid_config(
            "if0",
            format!(
                "no network interface {name:?} (looked in {})",
                dir.display()
            ),
        ));
    }
    let pf = sysfs
        .netdev_pci_addr(name)
        .map_err(|e| CniError::invalid_config("if0", e))?;
    if !sysfs.is_sriov_pf(&pf) {
        return Err(CniError::invalid_config(
            "if0",
            format!("{name} ({pf}) is not an SR-IOV PF"),
        ));
    }
    Ok(pf)
}

/// The VF at `addr` (`deviceID`), checked against `if0`/`vf` when the configuration has them.
fn by_address(
    sysfs: &Sysfs,
    addr: &PciAddr,
    if0: Option<&str>,
    vf: Option<u32>,
) -> Result<VfRef, CniError> {
    if !sysfs.has_pci_device(addr) {
        let dir = sysfs.root().join("bus/pci/devices");
        return Err(CniError::invalid_config(
            "deviceID",
            format!("no PCI device {addr} (looked in {})", dir.display()),
        ));
    }
    let pf = sysfs.physfn(addr).map_err(host_error)?.ok_or_else(|| {
        CniError::invalid_config(
            "deviceID",
            format!("{addr} is not an SR-IOV VF (it has no physfn link)"),
        )
    })?;
    let index = sysfs
        .vf_index(&pf, addr)
        .map_err(host_error)?
        .ok_or_else(|| {
            CniError::invalid_config(
                "deviceID",
                format!("{addr} is not listed among the VFs of its PF {pf}"),
            )
        })?;
    if let Some(name) = if0 {
        if pf_by_name(sysfs, name)? != pf {
            return Err(CniError::invalid_config(
                "deviceID",
                format!("VF {addr} belongs to PF {pf}, not to if0 {name}"),
            ));
        }
    }
    if let Some(wanted) = vf.filter(|w| *w != index) {
        return Err(CniError::invalid_config(
            "vf",
            format!("{wanted} does not match deviceID {addr}, which is VF {index}"),
        ));
    }
    let pf_netdev = match if0 {
        Some(name) => Some(name.to_string()),
        None => sysfs
            .netdev_names(&pf)
            .map_err(host_error)?
            .into_iter()
            .next(),
    };
    Ok(VfRef {
        pf,
        pf_netdev,
        index,
        addr: addr.clone(),
    })
}

/// The VFs `sel` may use, in preference order (one, or all of a PF's for "first free").
pub fn candidates(sysfs: &Sysfs, sel: &DeviceSel) -> Result<Vec<VfRef>, CniError> {
    let (name, wanted) = match sel {
        DeviceSel::Pci { addr, pf, vf } => {
            return Ok(vec![by_address(sysfs, addr, pf.as_deref(), *vf)?])
        }
        DeviceSel::Pf { pf, vf } => (pf, *vf),
    };
    let pf = pf_by_name(sysfs, name)?;
    let vfs = sysfs.vfs(&pf).map_err(host_error)?;
    if vfs.is_empty() {
        return Err(CniError::invalid_config(
            "if0",
            format!("{name} has no VFs enabled (sriov_numvfs is 0)"),
        ));
    }
    let count = vfs.len();
    let refs = vfs.into_iter().map(|v| VfRef {
        pf: pf.clone(),
        pf_netdev: Some(name.clone()),
        index: v.index,
        addr: v.addr,
    });
    let Some(i) = wanted else {
        return Ok(refs.collect());
    };
    let chosen: Vec<VfRef> = refs.filter(|r| r.index == i).collect();
    if chosen.is_empty() {
        return Err(CniError::invalid_config(
            "vf",
            format!(
                "{i} is out of range: {name} has {count} VFs (0-{})",
                count.saturating_sub(1)
            ),
        ));
    }
    Ok(chosen)
}

/// Claims the first of `candidates` that is free (or whose owner is stale, after `reclaim`)
/// and that `usable` accepts. Code 11 when every candidate is held by a live attachment.
pub fn claim_first(
    allocs: &Allocations,
    sel: &DeviceSel,
    candidates: Vec<VfRef>,
    me: &Owner,
    usable: impl Fn(&VfRef) -> Result<bool, CniError>,
    reclaim: impl Fn(&Owner, &PciAddr) -> Result<(), CniError>,
) -> Result<VfRef, CniError> {
    let total = candidates.len();
    let mut last_busy = None;
    for vf in candidates {
        if !usable(&vf)? {
            continue;
        }
        match allocs.claim(&vf.addr, me, |owner| reclaim(owner, &vf.addr)) {
            Ok(()) => return Ok(vf),
            Err(ClaimError::Busy(owner)) => last_busy = Some((vf, owner)),
            Err(ClaimError::Reclaim(e)) => {
                return Err(e.context(format!("reclaiming VF {}", vf.addr)))
            }
            Err(ClaimError::Io(e)) => {
                return Err(CniError::io("cannot record the VF allocation", e))
            }
        }
    }
    let field = field(sel);
    Err(match (total, last_busy) {
        (1, Some((vf, owner))) => CniError::try_again_later(format!(
            "{field}: VF {} (vf {}) is allocated to container {} interface {}",
            vf.addr, vf.index, owner.container_id, owner.ifname
        )),
        (_, Some(_)) => {
            CniError::try_again_later(format!("{field}: no free VF ({total} VFs, all allocated)"))
        }
        (_, None) => CniError::invalid_config(
            field,
            format!("none of its {total} VFs can be used in this mode"),
        ),
    })
}
