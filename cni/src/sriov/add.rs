//! ADD: claim a VF, configure it, hand it to the pod, record how to undo it.

use std::path::Path;

use crate::invoke::ipam;
use crate::log::Logger;
use crate::netlink;
use crate::netns::NetNs;
use crate::spec::{Call, CniError, CniResult, Interface};
use crate::sysfs::PciAddr;

use super::alloc::{Allocations, Owner};
use super::config::{DeviceSel, DpdkConf, SriovConf};
use super::del::{ipam_call_for, teardown};
use super::netdev::{HostNetdev, VfMac};
use super::record::{attachments, Attachment, Attachments, Mode};
use super::rollback::Rollback;
use super::select::{self, VfRef};
use super::{device_info, dpdk, host_error, kernel, netdev, settings, state_error, Host};

/// How the VF reaches the pod, decided before anything is changed.
enum Handover<'a> {
    /// Bind it to a userspace driver.
    Dpdk(DpdkConf),
    /// Move this host netdev into the pod.
    Kernel(&'a HostNetdev),
}

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

fn attach(host: &Host, call: &Call, conf: &SriovConf, log: &Logger) -> Result<CniResult, CniError> {
    let container = call.env.container_id()?;
    let ifname = call.env.ifname()?;
    let netns_path = call.env.netns()?;
    let pod = NetNs::open(netns_path).map_err(|e| CniError::invalid_env("CNI_NETNS", e))?;
    let atts = attachments(&host.state);
    let allocs = Allocations::new(&host.state);
    if atts.get(container, ifname).map_err(state_error)?.is_some() {
        return Err(CniError::invalid_env(
            "CNI_IFNAME",
            format!("{ifname} of container {container} is already attached; DEL it first"),
        ));
    }

    let pod_name = conf.if0name.as_deref().unwrap_or(ifname);
    let vf = &claim_vf(host, call, conf, log, &atts, &allocs)?;
    log.debug(format!(
        "claimed VF {} (vf {} of PF {})",
        vf.addr, vf.index, vf.pf
    ));

    let mut rollback = Rollback::new(log);
    rollback.push(format!("allocation of VF {}", vf.addr), || {
        allocs
            .release(&vf.addr, container, ifname)
            .map_err(|e| e.to_string())
    });
    let dpdk_conf = match &conf.dpdk {
        Some(d) => Some(d.clone()),
        None => dpdk::already_bound(&host.sysfs, &vf.addr)?,
    };
    let vf_mac = VfMac::new(&*host.pf, vf.pf_netdev.as_deref(), vf.index);
    // Undone last: whatever the PF and the drivers did, the host netdev ends as it was.
    let host_netdev = netdev::current(&host.sysfs, &vf.addr)?;
    if let Some(was) = host_netdev.clone() {
        let rebinds = dpdk_conf.is_some();
        rollback.push(
            format!("host netdev {} of VF {}", was.name, vf.addr),
            move || netdev::restore(&host.sysfs, &vf.addr, &was, rebinds, vf_mac),
        );
    }
    let handover = match (dpdk_conf, &host_netdev) {
        (Some(dpdk), _) => Handover::Dpdk(dpdk),
        (None, Some(was)) => {
            ensure_name_free(conf, netns_path, pod_name)?;
            Handover::Kernel(was)
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

    // The handover first, the PF settings after it: the netdev gets its MAC while the PF
    // imposes none (igb-style PFs then refuse an untrusted VF any change of its own MAC), and
    // a failure undoes the PF settings before the netdev leaves the pod (igbvf asks the PF for
    // its MAC again when it goes down), as DEL does.
    let mode = match handover {
        Handover::Dpdk(dpdk) => {
            let mode = dpdk::bind(&host.sysfs, &host.dev, &vf.addr, &dpdk)?;
            let undo = mode.clone();
            rollback.push(format!("driver binding of VF {}", vf.addr), move || {
                dpdk::restore(&host.sysfs, &vf.addr, &undo)
            });
            mode
        }
        Handover::Kernel(was) => {
            let pod_mac = kernel::attach(&vf.addr, was, &pod, pod_name, conf.mac, vf_mac)?;
            rollback.push(format!("move of VF {} into the pod", vf.addr), move || {
                kernel::return_to_host(&vf.addr, netns_path, pod_name)
            });
            Mode::Kernel { pod_mac }
        }
    };
    let vf_applied = settings::apply(&*host.pf, vf, &vf_original, &wanted, &mut rollback)?;
    if matches!(mode, Mode::Kernel { .. }) {
        kernel::bring_up(&pod, pod_name)?;
    }

    let ipam_result = if conf.ipam {
        let result = ipam::add(call)?;
        rollback.push("IPAM allocation", || {
            ipam::del(call).map_err(|e| e.to_string())
        });
        if matches!(mode, Mode::Kernel { .. }) {
            for route in kernel::configure_ip(&pod, pod_name, &result)? {
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

    let device_info_file = match &conf.device_info_file {
        Some(path) if device_info::write(path, &vf.addr, &vf.pf)? => {
            rollback.push("device-info file", move || device_info::remove(path));
            Some(path.clone())
        }
        _ => None,
    };

    let result = build_result(call, vf, pod_name, &mode, conf, ipam_result)?;
    atts.put(
        container,
        ifname,
        &Attachment {
            container_id: container.to_string(),
            ifname: ifname.to_string(),
            netns: netns_path.to_path_buf(),
            pod_name: pod_name.to_string(),
            network: call.conf.name.clone(),
            vf: vf.addr.clone(),
            vf_index: vf.index,
            pf: vf.pf.clone(),
            pf_netdev: vf.pf_netdev.clone(),
            vf_original,
            vf_applied,
            mode,
            host_netdev,
            ipam: conf.ipam,
            device_info_file,
            result: result.clone(),
        },
    )
    .map_err(state_error)?;
    rollback.commit();
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
    let Some(stale) = atts
        .get(&owner.container_id, &owner.ifname)
        .map_err(state_error)?
    else {
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
