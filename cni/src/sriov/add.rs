//! ADD: claim a VF, configure it, hand it to the pod, recording ahead of each step how to undo
//! it, so that a failure, or a DEL after a kill at any point, restores the VF exactly.

use std::path::Path;

use crate::invoke::ipam;
use crate::log::Logger;
use crate::netlink;
use crate::netns::NetNs;
use crate::spec::{Call, CniError, CniResult, Interface};
use crate::sysfs::PciAddr;

use super::alloc::{Allocations, Owner};
use super::config::{DeviceSel, SriovConf};
use super::del::{ipam_call_for, read_record, sweep_leftovers, teardown, undo};
use super::netdev::VfMac;
use super::process::Process;
use super::record::{attachments, Attachment, Attachments, Mode};
use super::select::{self, VfRef};
use super::{device_info, dpdk, host_error, kernel, netdev, settings, state_error, Host};

/// Runs ADD for `call`.
pub fn add(host: &Host, call: &Call) -> Result<CniResult, CniError> {
    let conf = SriovConf::from_call(call)?;
    let log = conf.log.with_context(format!(
        "ADD {}/{}",
        call.env.container_id()?,
        call.env.ifname()?
    ));
    let outcome = attach(host, call, &conf, &log);
    match &outcome {
        Ok(result) => log.verbose(format!(
            "attached {}",
            serde_json::to_string(&result.interfaces).unwrap_or_default()
        )),
        Err(e) => log.error(e),
    }
    outcome
}

/// The attachment record as ADD writes it ahead of each step (see [`super::record`]).
struct WriteAhead<'a> {
    atts: &'a Attachments,
    /// The last record written, which a failure undoes.
    written: Option<Attachment>,
}

impl WriteAhead<'_> {
    fn write(&mut self, att: &Attachment) -> Result<(), CniError> {
        self.atts
            .put(&att.container_id, &att.ifname, att)
            .map_err(state_error)?;
        self.written = Some(att.clone());
        Ok(())
    }
}

fn attach(host: &Host, call: &Call, conf: &SriovConf, log: &Logger) -> Result<CniResult, CniError> {
    let container = call.env.container_id()?;
    let ifname = call.env.ifname()?;
    let pod = NetNs::open(call.env.netns()?).map_err(|e| CniError::invalid_env("CNI_NETNS", e))?;
    let atts = attachments(&host.state);
    let allocs = Allocations::new(&host.state);
    sweep_leftovers(&atts, &allocs, log);
    if let Some(old) = read_record(&atts, container, ifname, log)? {
        finish_interrupted(host, call, log, &atts, &allocs, &old)?;
    }

    let vf = &claim_vf(host, call, conf, log, &atts, &allocs)?;
    log.debug(format!(
        "claimed VF {} (vf {} of PF {})",
        vf.addr, vf.index, vf.pf
    ));
    let mut ahead = WriteAhead {
        atts: &atts,
        written: None,
    };
    let outcome = configure(host, call, conf, log, vf, &pod, &mut ahead);
    if outcome.is_err() {
        let problems = match &ahead.written {
            Some(att) => undo(host, att, Some(call), &atts, &allocs),
            None => allocs
                .release(&vf.addr, container, ifname)
                .err()
                .map(|e| format!("allocation of VF {}: {e}", vf.addr))
                .into_iter()
                .collect(),
        };
        for problem in problems {
            log.error(format!("rollback: {problem}"));
        }
    }
    outcome
}

/// Deals with a record already there for this attachment: a completed ADD is refused, one
/// still running is code 11, and one that was killed is undone (the runtime did not DEL).
fn finish_interrupted(
    host: &Host,
    call: &Call,
    log: &Logger,
    atts: &Attachments,
    allocs: &Allocations,
    old: &Attachment,
) -> Result<(), CniError> {
    let (container, ifname) = (&old.container_id, &old.ifname);
    if old.result.is_some() {
        return Err(CniError::invalid_env(
            "CNI_IFNAME",
            format!("{ifname} of container {container} is already attached; DEL it first"),
        ));
    }
    if old.in_flight() {
        return Err(CniError::try_again_later(format!(
            "another ADD of container {container} interface {ifname} is running"
        )));
    }
    log.verbose(format!(
        "undoing the interrupted ADD of VF {} for this attachment",
        old.vf
    ));
    let ipam_call = (old.network == call.conf.name).then_some(call);
    let problems = undo(host, old, ipam_call, atts, allocs);
    if problems.is_empty() {
        return Ok(());
    }
    Err(CniError::io(
        format!(
            "cannot undo the interrupted ADD of VF {}: {}",
            old.vf,
            problems.join("; ")
        ),
        "DEL the attachment and retry",
    ))
}

/// Everything ADD does once `vf` is claimed, each step recorded ahead through `ahead`.
fn configure(
    host: &Host,
    call: &Call,
    conf: &SriovConf,
    log: &Logger,
    vf: &VfRef,
    pod: &NetNs,
    ahead: &mut WriteAhead,
) -> Result<CniResult, CniError> {
    let netns_path = call.env.netns()?;
    let pod_name = conf.if0name.as_deref().unwrap_or(call.env.ifname()?);
    let dpdk_conf = match &conf.dpdk {
        Some(d) => Some(d.clone()),
        None => dpdk::already_bound(&host.sysfs, &vf.addr)?,
    };
    let vf_mac = VfMac::new(&*host.pf, vf.pf_netdev.as_deref(), vf.index);
    let mut host_netdev = netdev::current(&host.sysfs, &vf.addr)?;
    if host_netdev.is_none() && dpdk_conf.is_none() {
        // Left unbound, or in a pod under the temporary name, by an ADD whose record is lost.
        if let Some(driver) = dpdk::rebind_unbound(&host.sysfs, &vf.pf, &vf.addr)? {
            log.verbose(format!("VF {} had no driver; rebound {driver}", vf.addr));
            host_netdev = netdev::wait_current(&host.sysfs, &vf.addr)?;
        } else {
            netdev::recover_foreign(&vf.addr, log);
            host_netdev = netdev::current(&host.sysfs, &vf.addr)?;
        }
    }
    // In kernel mode, the host netdev that moves into the pod.
    let (mode, moving) = match (dpdk_conf, &host_netdev) {
        (Some(dpdk), _) => (dpdk::plan(&host.sysfs, &vf.addr, &dpdk)?, None),
        (None, Some(was)) => {
            ensure_name_free(conf, netns_path, pod_name)?;
            let pod_mac = conf.mac.or(was.mac);
            (Mode::Kernel { pod_mac }, Some(was.clone()))
        }
        (None, None) => {
            return Err(CniError::io(
                format!("VF {} has no network interface in the host", vf.addr),
                "kernel mode needs the VF on its kernel driver",
            ))
        }
    };
    let wanted = conf.vf_settings();
    let netdev_mac = host_netdev.as_ref().and_then(|n| n.mac);
    // Read before the handover: igb reports the VF's own MAC, which the handover may change.
    let vf_original = settings::original(&*host.pf, vf, &wanted, netdev_mac)?;
    let to_apply = settings::to_apply(&vf_original, &wanted);
    let mut att = Attachment {
        container_id: call.env.container_id()?.to_string(),
        ifname: call.env.ifname()?.to_string(),
        netns: netns_path.to_path_buf(),
        pod_name: pod_name.to_string(),
        network: call.conf.name.clone(),
        vf: vf.addr.clone(),
        vf_index: vf.index,
        pf: vf.pf.clone(),
        pf_netdev: vf.pf_netdev.clone(),
        vf_original,
        vf_applied: Vec::new(),
        mode,
        host_netdev,
        ipam: false,
        device_info_file: conf.device_info_file.clone().filter(|p| !p.exists()),
        result: None,
        adder: Process::current(),
    };
    ahead.write(&att)?;

    // The handover first, the PF settings after it: the netdev gets its MAC while the PF
    // imposes none (igb-style PFs then refuse an untrusted VF any change of its own MAC), and
    // a failure undoes the PF settings before the netdev leaves the pod (igbvf asks the PF for
    // its MAC again when it goes down), as DEL does.
    match &moving {
        Some(was) => kernel::attach(&vf.addr, was, pod, pod_name, conf.mac, vf_mac)?,
        None => dpdk::bind(&host.sysfs, &host.dev, &vf.addr, &att.mode)?,
    }
    settings::apply(&*host.pf, vf, &to_apply, |setting| {
        att.vf_applied.push(*setting);
        ahead.write(&att)
    })?;
    if moving.is_some() {
        kernel::bring_up(pod, pod_name)?;
    }

    let ipam_result = if conf.ipam {
        att.ipam = true;
        ahead.write(&att)?;
        let result = match ipam::add(call) {
            Ok(result) => result,
            // The plugin failed (and, per the spec, left nothing) or never ran. Only a result
            // that cannot be read (code 6) leaves an allocation for the rollback to release.
            Err(e) if e.code != CniError::DECODE => {
                att.ipam = false;
                ahead.write(&att)?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        if moving.is_some() {
            for route in kernel::configure_ip(pod, pod_name, &result)? {
                log.verbose(format!(
                    "route to {} kept as the pod already had it (ours via {:?} skipped)",
                    route.dst, route.gateway
                ));
            }
        }
        Some(result)
    } else {
        None
    };

    if let Some(path) = &att.device_info_file {
        if !device_info::write(path, &vf.addr, &vf.pf)? {
            // Another writer's file appeared since: it is not ours to remove.
            att.device_info_file = None;
            ahead.write(&att)?;
        }
    }

    let result = build_result(call, vf, pod_name, &att.mode, conf, ipam_result)?;
    att.result = Some(result.clone());
    att.adder = None;
    ahead.write(&att)?;
    Ok(result)
}

/// Claims the VF the configuration names, or the first free one, reclaiming VFs whose
/// owners died without a DEL.
fn claim_vf(
    host: &Host,
    call: &Call,
    conf: &SriovConf,
    log: &Logger,
    atts: &Attachments,
    allocs: &Allocations,
) -> Result<VfRef, CniError> {
    let candidates = select::candidates(&host.sysfs, &conf.device)?;
    let first_free_scan = matches!(conf.device, DeviceSel::Pf { vf: None, .. });
    let usable = |vf: &VfRef| -> Result<bool, CniError> {
        if !first_free_scan || conf.dpdk.is_some() {
            return Ok(true);
        }
        // Kernel mode needs a VF with a netdev that no userspace driver holds.
        let names = host.sysfs.netdev_names(&vf.addr).map_err(host_error)?;
        Ok(!names.is_empty() && dpdk::already_bound(&host.sysfs, &vf.addr)?.is_none())
    };
    let me = Owner {
        container_id: call.env.container_id()?.to_string(),
        ifname: call.env.ifname()?.to_string(),
        netns: call.env.netns()?.to_path_buf(),
        network: call.conf.name.clone(),
    };
    select::claim_first(
        allocs,
        &conf.device,
        candidates,
        &me,
        usable,
        |owner, vf| reclaim(host, call, log, atts, owner, vf),
    )
}

/// Undoes the attachment of `owner`, whose netns is gone, so that `vf` can be reused.
fn reclaim(
    host: &Host,
    call: &Call,
    log: &Logger,
    atts: &Attachments,
    owner: &Owner,
    vf: &PciAddr,
) -> Result<(), CniError> {
    log.verbose(format!(
        "reclaiming VF {vf} from container {} whose netns is gone",
        owner.container_id
    ));
    let Some(stale) = read_record(atts, &owner.container_id, &owner.ifname, log)? else {
        return Ok(());
    };
    // Its IPAM allocation can only be released with its own network's configuration.
    let ipam_call = (stale.network == call.conf.name).then(|| ipam_call_for(&stale, call));
    for problem in teardown(host, &stale, ipam_call.as_ref()) {
        log.error(problem);
    }
    atts.remove(&owner.container_id, &owner.ifname)
        .map_err(state_error)
}

/// Fails, naming the field that chose it, if the pod already has an interface `pod_name`.
fn ensure_name_free(conf: &SriovConf, netns: &Path, pod_name: &str) -> Result<(), CniError> {
    let taken = netlink::link_names_in(netns).map_err(host_error)?;
    if !taken.iter().any(|n| n == pod_name) {
        return Ok(());
    }
    let problem = format!(
        "interface {pod_name} already exists in netns {}",
        netns.display()
    );
    Err(match conf.if0name {
        Some(_) => CniError::invalid_config("if0name", problem),
        None => CniError::invalid_env("CNI_IFNAME", problem),
    })
}

/// The ADD result: `prevResult` (when chained) plus this interface and its IPAM addresses.
fn build_result(
    call: &Call,
    vf: &VfRef,
    pod_name: &str,
    mode: &Mode,
    conf: &SriovConf,
    ipam_result: Option<CniResult>,
) -> Result<CniResult, CniError> {
    let mut result = call
        .conf
        .prev_result()?
        .unwrap_or_else(|| CniResult::new(call.conf.cni_version));
    let index = result.interfaces.len();
    let mac = match mode {
        Mode::Kernel { pod_mac, .. } => *pod_mac,
        Mode::Dpdk { .. } => conf.mac,
    };
    result.interfaces.push(Interface {
        name: pod_name.to_string(),
        mac: mac.map(|m| m.to_string()),
        sandbox: Some(call.env.netns()?.display().to_string()),
        pci_id: Some(vf.addr.to_string()),
        ..Interface::default()
    });
    if let Some(ipam) = ipam_result {
        result.ips.extend(ipam.ips.into_iter().map(|mut ip| {
            ip.interface = Some(index);
            ip
        }));
        result.routes.extend(ipam.routes);
        if result.dns.is_empty() {
            result.dns = ipam.dns;
        }
    }
    Ok(result)
}
