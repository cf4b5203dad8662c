//! VF settings through the PF: apply what the configuration asks (remembering the
//! originals), put them back, verify them.

use crate::netlink::{PfControl, VfConfig, VfSetting};
use crate::spec::CniError;

use super::mismatch;
use super::rollback::Rollback;
use super::select::VfRef;

/// The PF netdev VF settings go through; an error naming the VF if it has none.
fn pf_netdev(vf: &VfRef) -> Result<&str, CniError> {
    vf.pf_netdev.as_deref().ok_or_else(|| {
        CniError::invalid_config(
            "deviceID",
            format!(
                "the PF {} of VF {} has no network interface, so VF settings cannot be applied",
                vf.pf, vf.addr
            ),
        )
    })
}

/// Applies each of `wanted` that differs from the VF's current settings. Returns the
/// settings before ADD and the ones changed; registers their undo on `rollback`.
pub fn apply<'a>(
    pf: &'a dyn PfControl,
    vf: &'a VfRef,
    wanted: &[VfSetting],
    rollback: &mut Rollback<'a>,
) -> Result<(VfConfig, Vec<VfSetting>), CniError> {
    if wanted.is_empty() {
        return Ok((VfConfig::default(), Vec::new()));
    }
    let pf_name = pf_netdev(vf)?;
    let original = pf
        .vf_config(pf_name, vf.index)
        .map_err(|e| CniError::io(format!("cannot read VF {} settings", vf.index), e))?;
    let mut applied = Vec::new();
    for setting in wanted.iter().filter(|s| !original.has(s)) {
        pf.set_vf(pf_name, vf.index, setting)
            .map_err(|e| CniError::io(format!("cannot set VF {} {setting}", vf.index), e))?;
        applied.push(*setting);
        let undo = original.undo_of(setting);
        rollback.push(format!("VF {} {setting}", vf.index), move || {
            pf.set_vf(pf_name, vf.index, &undo)
                .map_err(|e| e.to_string())
        });
    }
    Ok((original, applied))
}

/// Puts back the fields `applied` changed, newest first; tries them all, reports failures.
pub fn restore(
    pf: &dyn PfControl,
    pf_name: &str,
    index: u32,
    original: &VfConfig,
    applied: &[VfSetting],
) -> Vec<String> {
    applied
        .iter()
        .rev()
        .filter_map(|s| {
            let undo = original.undo_of(s);
            pf.set_vf(pf_name, index, &undo)
                .err()
                .map(|e| format!("cannot restore VF {index} {undo}: {e}"))
        })
        .collect()
}

/// Checks the VF still holds every setting in `applied`.
pub fn verify(
    pf: &dyn PfControl,
    pf_name: &str,
    index: u32,
    applied: &[VfSetting],
) -> Result<(), CniError> {
    if applied.is_empty() {
        return Ok(());
    }
    let live = pf
        .vf_config(pf_name, index)
        .map_err(|e| CniError::io(format!("cannot read VF {index} settings"), e))?;
    match applied.iter().find(|s| !live.has(s)) {
        None => Ok(()),
        Some(s) => Err(mismatch(format!(
            "VF {index} on PF {pf_name}: expected {s}, but the PF reports {}",
            live.undo_of(s)
        ))),
    }
}
