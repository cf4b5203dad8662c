//! DEL: undo an ADD from its record. Idempotent: a second DEL, a missing record, a netns
//! already gone or a VF already back all succeed, and nothing of another attachment is touched.
//! The record of an ADD that was killed is undone the same way (it is written ahead).

use std::io;

use crate::cache::StateDir;
use crate::invoke::ipam;
use crate::log::Logger;
use crate::spec::{Call, CniError, Command, Env};

use super::alloc::Allocations;
use super::config::{log_of, SriovConf};
use super::netdev::VfMac;
use super::record::{attachments, Attachment, Attachments, Mode};
use super::{device_info, dpdk, kernel, netdev, settings, state_error, Host};

/// Runs DEL for `call`.
pub fn del(host: &Host, call: &Call) -> Result<(), CniError> {
    let container = call.env.container_id()?;
    let ifname = call.env.ifname()?;
    // Lenient about state, not about syntax: a configuration ADD refuses was never ADDed.
    SriovConf::check_syntax(call)?;
    let log = log_of(call).with_context(format!("DEL {container}/{ifname}"));
    let atts = attachments(&host.state);
    let allocs = Allocations::new(&host.state);
    sweep_leftovers(&atts, &allocs, &log);
    let Some(att) = read_record(&atts, container, ifname, &log)? else {
        // Nothing recorded: an ADD that failed (and rolled back) or a repeated DEL. Free an
        // allocation an interrupted ADD may have left, and let IPAM forget the container.
        for (vf, owner) in allocs.all(&log).map_err(state_error)? {
            if owner.is(container, ifname) {
                allocs
                    .release(&vf, container, ifname)
                    .map_err(state_error)?;
            }
        }
        if call.conf.ipam_type()?.is_some() {
            ipam::del(call)?;
        }
        log.verbose("nothing recorded; done");
        return Ok(());
    };
    if att.in_flight() {
        return Err(CniError::try_again_later(format!(
            "the ADD of container {container} interface {ifname} is still running"
        )));
    }
    let problems = undo(host, &att, att.ipam.then_some(call), &atts, &allocs);
    if !problems.is_empty() {
        let msg = format!("DEL of VF {} incomplete: {}", att.vf, problems.join("; "));
        log.error(&msg);
        return Err(CniError::io(msg, "the record is kept; DEL can be retried"));
    }
    log.verbose(format!("released VF {}", att.vf));
    Ok(())
}

/// Removes the temporary files killed writers left in the state directory.
pub fn sweep_leftovers(atts: &Attachments, allocs: &Allocations, log: &Logger) {
    for dir in [atts.root(), allocs.records_dir()] {
        match StateDir::new(dir).sweep() {
            Ok(removed) => {
                for path in removed {
                    log.debug(format!("removed {}, left by a killed call", path.display()));
                }
            }
            Err(e) => log.error(format!("cannot sweep {}: {e}", dir.display())),
        }
    }
}

/// The record of `container`/`ifname`. One that cannot be parsed is logged and removed: it can
/// be of no use to any later call, and the allocation and IPAM cleanup still run without it.
pub fn read_record(
    atts: &Attachments,
    container: &str,
    ifname: &str,
    log: &Logger,
) -> Result<Option<Attachment>, CniError> {
    match atts.get(container, ifname) {
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            log.error(format!(
                "discarding the unreadable record of {container}/{ifname} in {}: {e}",
                atts.root().display()
            ));
            atts.remove(container, ifname).map_err(state_error)?;
            Ok(None)
        }
        other => other.map_err(state_error),
    }
}

/// Undoes `att` ([`teardown`]); once nothing is left, removes its record and frees its VF.
/// Returns what could not be undone (the record and allocation are then kept for a retry).
pub fn undo(
    host: &Host,
    att: &Attachment,
    ipam_call: Option<&Call>,
    atts: &Attachments,
    allocs: &Allocations,
) -> Vec<String> {
    let mut problems = teardown(host, att, ipam_call);
    if problems.is_empty() {
        problems.extend(
            atts.remove(&att.container_id, &att.ifname)
                .and_then(|()| allocs.release(&att.vf, &att.container_id, &att.ifname))
                .err()
                .map(|e| format!("state directory: {e}")),
        );
    }
    problems
}

/// Undoes everything `att` records, trying every step; returns what could not be undone.
/// `ipam_call` (when given) is used to release the IPAM allocation. Each step is harmless if
/// ADD never got to it, so the record of a killed ADD is undone the same way.
///
/// The order matters on real VFs: the PF's settings (an administrative MAC above all) are
/// restored first, while the netdev is still in the pod. An igb-style PF refuses an untrusted
/// VF any change of its own MAC while it imposes one, and the VF asks for its MAC again when
/// it goes down on its way out of the pod, and when the host netdev gets its own MAC back.
pub fn teardown(host: &Host, att: &Attachment, ipam_call: Option<&Call>) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(pf) = &att.pf_netdev {
        problems.extend(settings::restore(
            &*host.pf,
            pf,
            att.vf_index,
            &att.vf_original,
            &att.vf_applied,
        ));
    }
    if let Mode::Kernel { .. } = att.mode {
        problems.extend(kernel::return_to_host(&att.vf, &att.netns, &att.pod_name).err());
    }
    problems.extend(dpdk::restore(&host.sysfs, &att.vf, &att.mode).err());
    if let Some(was) = &att.host_netdev {
        let rebound = matches!(att.mode, Mode::Dpdk { .. });
        let mac = VfMac::new(&*host.pf, att.pf_netdev.as_deref(), att.vf_index);
        problems.extend(netdev::restore(&host.sysfs, &att.vf, was, rebound, mac).err());
    }
    if let Some(call) = ipam_call.filter(|_| att.ipam) {
        problems.extend(ipam::del(call).err().map(|e| format!("IPAM: {e}")));
    }
    if let Some(path) = &att.device_info_file {
        problems.extend(device_info::remove(path).err());
    }
    problems
}

/// A DEL call for the IPAM plugin on behalf of `att`, with the network configuration of `call`.
pub fn ipam_call_for(att: &Attachment, call: &Call) -> Call {
    Call {
        env: Env {
            command: Command::Del,
            container_id: Some(att.container_id.clone()),
            ifname: Some(att.ifname.clone()),
            netns: Some(att.netns.clone()),
            ..call.env.clone()
        },
        conf: call.conf.clone(),
    }
}
