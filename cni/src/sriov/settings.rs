//! VF settings through the PF: apply what the configuration asks (remembering the
//! originals), put them back, verify them.

use crate::netlink::{MacAddr, PfControl, VfConfig, VfSetting};
use crate::spec::CniError;

use super::mismatch;
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

/// The VF's settings before ADD (defaults when `wanted` is empty: nothing will change).
/// Read them before anything touches the VF: igb reports the VF's own MAC when it imposes
/// none, and that changes with the netdev's. A reported MAC equal to the netdev's own
/// (`netdev_mac`) counts as none imposed: given back on DEL it would become imposed, and the PF
/// would then refuse the netdev its MAC. (A PF that did impose the netdev's MAC loses that
/// imposition on DEL: the two cases look the same through netlink.)
pub fn original(
    pf: &dyn PfControl,
    vf: &VfRef,
    wanted: &[VfSetting],
    netdev_mac: Option<MacAddr>,
) -> Result<VfConfig, CniError> {
    if wanted.is_empty() {
        return Ok(VfConfig::default());
    }
    let reported = pf
        .vf_config(pf_netdev(vf)?, vf.index)
        .map_err(|e| CniError::io(format!("cannot read VF {} settings", vf.index), e))?;
    Ok(imposed_only(reported, netdev_mac))
}

fn imposed_only(mut reported: VfConfig, netdev_mac: Option<MacAddr>) -> VfConfig {
    if Some(reported.mac) == netdev_mac {
        reported.mac = MacAddr::ZERO;
    }
    reported
}

/// The settings of `wanted` that differ from `original`: those ADD changes, in order.
pub fn to_apply(original: &VfConfig, wanted: &[VfSetting]) -> Vec<VfSetting> {
    wanted
        .iter()
        .filter(|s| !original.has(s))
        .copied()
        .collect()
}

/// Applies each of `settings` in order, calling `before` with each first (to record it).
pub fn apply(
    pf: &dyn PfControl,
    vf: &VfRef,
    settings: &[VfSetting],
    mut before: impl FnMut(&VfSetting) -> Result<(), CniError>,
) -> Result<(), CniError> {
    for setting in settings {
        let pf_name = pf_netdev(vf)?;
        before(setting)?;
        pf.set_vf(pf_name, vf.index, setting)
            .map_err(|e| CniError::io(format!("cannot set VF {} {setting}", vf.index), e))?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reported_mac_that_is_the_netdevs_own_is_not_imposed() {
        let own: MacAddr = "d6:83:ed:d7:0b:1b".parse().unwrap();
        let imposed: MacAddr = "02:00:00:00:02:10".parse().unwrap();
        let reported = |mac| VfConfig {
            mac,
            vlan: 7,
            ..VfConfig::default()
        };
        // igb right after `sriov_numvfs`: it reports the random MAC igbvf chose.
        assert_eq!(
            imposed_only(reported(own), Some(own)),
            reported(MacAddr::ZERO)
        );
        // An administrative MAC the netdev has not taken yet, or a VF with no netdev.
        assert_eq!(
            imposed_only(reported(imposed), Some(own)),
            reported(imposed)
        );
        assert_eq!(imposed_only(reported(imposed), None), reported(imposed));
    }
}
