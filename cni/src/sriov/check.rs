//! CHECK (live state against the record and `prevResult`) and STATUS (can ADD work?).

use crate::invoke::ipam;
use crate::spec::{Call, CniError};

use super::config::{DeviceSel, SriovConf};
use super::record::{attachments, Mode};
use super::{dpdk, kernel, mismatch, select, settings, state_error, Host};

/// Runs CHECK for `call`.
pub fn check(host: &Host, call: &Call) -> Result<(), CniError> {
    let container = call.env.container_id()?;
    let ifname = call.env.ifname()?;
    SriovConf::from_call(call)?;
    let att = attachments(&host.state)
        .get(container, ifname)
        .map_err(state_error)?
        .ok_or_else(|| {
            mismatch(format!(
                "no attachment recorded for container {container} interface {ifname}"
            ))
        })?;
    if att.result.is_none() {
        return Err(mismatch(format!(
            "the ADD of container {container} interface {ifname} did not complete"
        )));
    }
    let prev = call.conf.prev_result()?.ok_or_else(|| {
        CniError::invalid_config("prevResult", "missing: CHECK compares against ADD's result")
    })?;
    let pod_name = att.pod_name.as_str();
    let (index, iface) = prev
        .interfaces
        .iter()
        .enumerate()
        .find(|(_, i)| i.name == pod_name && i.sandbox.is_some())
        .ok_or_else(|| {
            mismatch(format!(
                "prevResult has no interface {pod_name} in a sandbox"
            ))
        })?;
    if let Mode::Kernel {
        pod_mac: Some(mac), ..
    } = &att.mode
    {
        if iface
            .mac
            .as_deref()
            .is_some_and(|m| !m.eq_ignore_ascii_case(&mac.to_string()))
        {
            return Err(mismatch(format!(
                "prevResult gives {pod_name} MAC {}, the attachment has {mac}",
                iface.mac.as_deref().unwrap_or_default()
            )));
        }
    }
    let addresses: Vec<_> = prev
        .ips
        .iter()
        .filter(|ip| ip.interface == Some(index))
        .map(|ip| ip.address)
        .collect();

    kernel::verify(&att.netns, pod_name, &att.mode, &addresses)?;
    dpdk::verify(&host.sysfs, &host.dev, &att.vf, &att.mode)?;
    if let Some(pf) = &att.pf_netdev {
        settings::verify(&*host.pf, pf, att.vf_index, &att.vf_applied)?;
    }
    if att.ipam {
        ipam::check(call)?;
    }
    Ok(())
}

/// Runs STATUS: the state directory is usable and, for the seed's form, the PF has VFs.
pub fn status(host: &Host, call: &Call) -> Result<(), CniError> {
    let unavailable = |msg: String| CniError::new(CniError::NOT_AVAILABLE, msg, "");
    std::fs::create_dir_all(&host.state)
        .map_err(|e| unavailable(format!("state directory {}: {e}", host.state.display())))?;
    let conf = SriovConf::from_call(call)?;
    if let DeviceSel::Pf { .. } = conf.device {
        select::candidates(&host.sysfs, &conf.device).map_err(|e| unavailable(e.msg))?;
    }
    Ok(())
}
