//! GC: tear down this network's attachments that `cni.dev/valid-attachments` no longer lists,
//! including those a killed ADD left half-done, and the temporary files killed writers left.

use crate::cache::StateDir;
use crate::spec::{Call, CniError};

use super::alloc::Allocations;
use super::config::{log_of, SriovConf};
use super::del::{ipam_call_for, read_record, sweep_leftovers, undo};
use super::record::attachments;
use super::{state_error, Host};

/// Runs GC for `call`.
pub fn gc(host: &Host, call: &Call) -> Result<(), CniError> {
    SriovConf::check_syntax(call)?;
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
    sweep_leftovers(&atts, &allocs, &log);
    let mut problems = Vec::new();
    for key in StateDir::new(atts.root()).keys().map_err(state_error)? {
        let Some((container, ifname)) = key.rsplit_once(':') else {
            continue;
        };
        let Some(att) = read_record(&atts, container, ifname, &log)? else {
            continue;
        };
        if att.network != *network || keep(container, ifname) || att.in_flight() {
            continue;
        }
        let ipam_call = ipam_call_for(&att, call);
        let failed = undo(host, &att, Some(&ipam_call), &atts, &allocs);
        if failed.is_empty() {
            log.verbose(format!("collected {container}/{ifname} (VF {})", att.vf));
        } else {
            problems.extend(failed);
        }
    }
    // Allocations an interrupted ADD left without a record.
    for (vf, owner) in allocs.all(&log).map_err(state_error)? {
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
