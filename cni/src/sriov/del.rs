//! DEL: undo an ADD from its record. Idempotent: a second DEL, a missing record, a netns
//! already gone or a VF already back all succeed, and nothing of another attachment is touched.

use crate::invoke::ipam;
use crate::spec::{Call, CniError, Command, Env};

use super::alloc::Allocations;
use super::config::log_of;
use super::netdev::VfMac;
use super::record::{attachments, Attachment, Mode};
use super::{device_info, dpdk, kernel, netdev, settings, state_error, Host};

/// Runs DEL for `call`.
pub fn del(host: &Host, call: &Call) -> Result<(), CniError> {
    let container = call.env.container_id()?;
    let ifname = call.env.ifname()?;
    // A broken configuration must not block cleanup: it only picks where to log.
    let log = log_of(call).with_context(format!("DEL {container}/{ifname}"));
    let atts = attachments(&host.state);
    let allocs = Allocations::new(&host.state);
    let Some(att) = atts.get(container, ifname).map_err(state_error)? else {
        // Nothing recorded: an ADD that failed (and rolled back) or a repeated DEL. Free an
        // allocation an interrupted ADD may have left, and let IPAM forget the container.
        for (vf, owner) in allocs.all().map_err(state_error)? {
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
    let problems = teardown(host, &att, att.ipam.then_some(call));
    if !problems.is_empty() {
        let msg = format!("DEL of VF {} incomplete: {}", att.vf, problems.join("; "));
        log.error(&msg);
        return Err(CniError::io(msg, "the record is kept; DEL can be retried"));
    }
    atts.remove(container, ifname).map_err(state_error)?;
    allocs
        .release(&att.vf, container, ifname)
        .map_err(state_error)?;
    log.verbose(format!("released VF {}", att.vf));
    Ok(())
}

/// Undoes everything `att` records, trying every step; returns what could not be undone.
/// `ipam_call` (when given) is used to release the IPAM allocation.
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
