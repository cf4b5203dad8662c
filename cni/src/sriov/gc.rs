//! GC: tear down this network's attachments that `cni.dev/valid-attachments` no longer lists.

use crate::spec::{Call, CniError};

use super::alloc::Allocations;
use super::config::log_of;
use super::del::{ipam_call_for, teardown};
use super::record::attachments;
use super::{state_error, Host};

/// Runs GC for `call`.
pub fn gc(host: &Host, call: &Call) -> Result<(), CniError> {
    let valid = call.conf.valid_attachments()?;
    let keep = |container: &str, ifname: &str| {
        valid
            .iter()
            .any(|a| a.container_id == container && a.ifname == ifname)
    };
    let network = &call.conf.name;
    let log = log_of(call).with_context(format!("GC {network}"));
    let atts = attachments(&host.state);
    let allocs = Allocations::new(&host.state);
    let mut problems = Vec::new();
    for att in atts.all().map_err(state_error)? {
        if att.network != *network || keep(&att.container_id, &att.ifname) {
            continue;
        }
        let ipam_call = ipam_call_for(&att, call);
        let failed = teardown(host, &att, Some(&ipam_call));
        if failed.is_empty() {
            atts.remove(&att.container_id, &att.ifname)
                .map_err(state_error)?;
            allocs
                .release(&att.vf, &att.container_id, &att.ifname)
                .map_err(state_error)?;
            log.verbose(format!(
                "collected {}/{} (VF {})",
                att.container_id, att.ifname, att.vf
            ));
        } else {
            problems.extend(failed);
        }
    }
    // Allocations an interrupted ADD left without a record.
    for (vf, owner) in allocs.all().map_err(state_error)? {
        let recorded = atts
            .get(&owner.container_id, &owner.ifname)
            .map_err(state_error)?
            .is_some();
        if owner.network == *network && !recorded && !keep(&owner.container_id, &owner.ifname) {
            allocs
                .release(&vf, &owner.container_id, &owner.ifname)
                .map_err(state_error)?;
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CniError::io(
            format!("GC incomplete: {}", problems.join("; ")),
            "",
        ))
    }
}
