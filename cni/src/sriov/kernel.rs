//! Kernel mode: the VF netdev moves into the pod under a temporary name (so it cannot clash
//! with a pod interface), is renamed and gets its MAC before the PF imposes that MAC, comes
//! up once the PF settings are in place, and goes back on DEL.

use std::path::Path;

use crate::netlink::{self, MacAddr, Netlink};
use crate::netns::{self, NetNs};
use crate::spec::{Cidr, CniError, CniResult};
use crate::sysfs::PciAddr;

use super::netdev::{belongs_to, temp_name, HostNetdev, VfMac};
use super::record::Mode;
use super::{host_error, mismatch};

const EEXIST: i32 = 17;
const EADDRNOTAVAIL: i32 = 99;

/// Moves `host` (the netdev of `vf`) into `pod` as `pod_name`, down, and gives it `mac`
/// through `via` (its MAC in the pod is then `mac`, else its own). Call it before the PF imposes `mac`:
/// igb-style PFs refuse an untrusted VF any change of its own MAC from then on (until its
/// driver reloads). On error the netdev is back in the host (under its temporary name;
/// [`super::netdev::restore`] finishes the job).
pub fn attach(
    vf: &PciAddr,
    host: &HostNetdev,
    pod: &NetNs,
    pod_name: &str,
    mac: Option<MacAddr>,
    via: VfMac,
) -> Result<(), CniError> {
    let temp = temp_name(vf);
    let moved = (|| -> Result<(), netlink::Error> {
        let mut nl = Netlink::open()?;
        let link = nl
            .link_by_name(&host.name)?
            .ok_or_else(|| netlink::Error::Malformed(format!("{} vanished", host.name)))?;
        nl.set_up(link.index, false)?;
        nl.rename(link.index, &temp)?;
        nl.move_to_netns(link.index, pod)
    })();
    let configured = moved.and_then(|()| {
        pod.run(|| -> Result<(), netlink::Error> {
            let mut nl = Netlink::open()?;
            let link = nl
                .link_by_name(&temp)?
                .ok_or_else(|| netlink::Error::Malformed(format!("{temp} vanished")))?;
            nl.rename(link.index, pod_name)?;
            match mac {
                Some(mac) => via.set(&mut nl, &link, mac),
                None => Ok(()),
            }
        })?
    });
    match (configured, mac) {
        (Ok(()), _) => Ok(()),
        (Err(e), Some(mac)) if e.errno() == Some(EADDRNOTAVAIL) => {
            let _ = return_to_host(vf, pod.path(), pod_name);
            Err(CniError::io(
                format!("cannot give {} the MAC {mac}", host.name),
                format!("{e} (the PF imposes another MAC on the VF)"),
            ))
        }
        (Err(e), _) => {
            let _ = return_to_host(vf, pod.path(), pod_name);
            Err(host_error(e))
        }
    }
}

/// Brings `pod_name` up in `pod` (once the PF settings are in place).
pub fn bring_up(pod: &NetNs, pod_name: &str) -> Result<(), CniError> {
    pod.run(|| -> Result<(), netlink::Error> {
        let mut nl = Netlink::open()?;
        let link = nl
            .link_by_name(pod_name)?
            .ok_or_else(|| netlink::Error::Malformed(format!("{pod_name} vanished")))?;
        nl.set_up(link.index, true)
    })
    .map_err(host_error)?
    .map_err(host_error)
}

/// Moves the netdev of `vf` out of the pod (if its namespace still exists) into the host
/// under its temporary name, down. Idempotent: a netdev no longer in the pod is left alone.
pub fn return_to_host(vf: &PciAddr, netns_path: &Path, pod_name: &str) -> Result<(), String> {
    let Ok(pod) = NetNs::open(netns_path) else {
        return Ok(());
    };
    let temp = temp_name(vf);
    let host = NetNs::current().map_err(|e| e.to_string())?;
    pod.run(|| -> Result<(), netlink::Error> {
        let mut nl = Netlink::open()?;
        for name in [pod_name, temp.as_str()] {
            if let Some(link) = nl.link_by_name(name)?.filter(|l| belongs_to(l, vf)) {
                nl.set_up(link.index, false)?;
                if name != temp {
                    nl.rename(link.index, &temp)?;
                }
                return nl.move_to_netns(link.index, &host);
            }
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("cannot return VF {vf} from the pod: {e}"))
}

/// Adds the addresses and routes of `ipam` (for interface `pod_name`) inside `pod`.
/// A route the pod already has for the same destination (typically the primary network's
/// default route) is kept: ours is skipped and returned, for the log.
pub fn configure_ip(
    pod: &NetNs,
    pod_name: &str,
    ipam: &CniResult,
) -> Result<Vec<netlink::Route>, CniError> {
    pod.run(|| -> Result<Vec<netlink::Route>, netlink::Error> {
        let mut nl = Netlink::open()?;
        let link = nl
            .link_by_name(pod_name)?
            .ok_or_else(|| netlink::Error::Malformed(format!("{pod_name} vanished")))?;
        for ip in &ipam.ips {
            nl.add_address(link.index, ip.address)?;
        }
        let mut skipped = Vec::new();
        for route in &ipam.routes {
            let gateway = route.gw.or_else(|| {
                ipam.ips
                    .iter()
                    .find(|ip| ip.address.is_ipv4() == route.dst.is_ipv4())
                    .and_then(|ip| ip.gateway)
            });
            let route = netlink::Route {
                dst: route.dst,
                gateway,
            };
            match nl.add_route(link.index, &route) {
                Err(e) if e.errno() == Some(EEXIST) => skipped.push(route),
                other => other?,
            }
        }
        Ok(skipped)
    })
    .map_err(host_error)?
    .map_err(host_error)
}

/// Checks the pod interface against the record: present, MAC, up, holding `addresses`.
pub fn verify(
    netns_path: &Path,
    pod_name: &str,
    mode: &Mode,
    addresses: &[Cidr],
) -> Result<(), CniError> {
    let Mode::Kernel { pod_mac, .. } = mode else {
        return Ok(());
    };
    let where_ = format!("interface {pod_name} in netns {}", netns_path.display());
    let (link, addrs) = netns::run_in(netns_path, || -> Result<_, netlink::Error> {
        let mut nl = Netlink::open()?;
        let Some(link) = nl.link_by_name(pod_name)? else {
            return Ok((None, Vec::new()));
        };
        let addrs = nl.addresses(link.index)?;
        Ok((Some(link), addrs))
    })
    .map_err(|e| mismatch(format!("{where_}: {e}")))?
    .map_err(host_error)?;
    let link = link.ok_or_else(|| mismatch(format!("{where_}: not found")))?;
    if link.mac != *pod_mac {
        return Err(mismatch(format!(
            "{where_}: MAC is {}, expected {}",
            show(link.mac),
            show(*pod_mac)
        )));
    }
    if !link.up {
        return Err(mismatch(format!("{where_}: is down")));
    }
    if let Some(missing) = addresses.iter().find(|a| !addrs.contains(a)) {
        return Err(mismatch(format!("{where_}: address {missing} is missing")));
    }
    Ok(())
}

fn show(mac: Option<MacAddr>) -> String {
    mac.map(|m| m.to_string()).unwrap_or_else(|| "none".into())
}
