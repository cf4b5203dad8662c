//! Kernel mode: the VF netdev moves into the pod under a temporary name (so it cannot clash
//! with a pod interface), is renamed, gets its MAC, comes up, and goes back on DEL.

use std::path::Path;

use crate::netlink::{self, Link, MacAddr, Netlink};
use crate::netns::{self, NetNs};
use crate::spec::{Cidr, CniError, CniResult};
use crate::sysfs::{PciAddr, Sysfs};

use super::record::Mode;
use super::{host_error, mismatch};

const EEXIST: i32 = 17;

/// A name no other interface has: `sriov` + a hash of the VF address (13 bytes).
pub fn temp_name(vf: &PciAddr) -> String {
    // FNV-1a: stable across runs, so DEL finds a VF an interrupted ADD left under it.
    let hash = vf.as_str().bytes().fold(0x811c9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x01000193)
    });
    format!("sriov{hash:08x}")
}

/// Whether `link` is (or may be) the netdev of `vf`: its parent device is the VF, or the
/// kernel does not report one (virtual stand-ins in test trees).
fn belongs_to(link: &Link, vf: &PciAddr) -> bool {
    link.parent_device
        .as_deref()
        .is_none_or(|p| p == vf.as_str())
}

/// The host link of `vf`, looked up under each name it may have.
fn host_link(
    nl: &mut Netlink,
    sysfs: &Sysfs,
    vf: &PciAddr,
    also: &str,
) -> Result<Option<Link>, netlink::Error> {
    let mut names = vec![temp_name(vf)];
    names.extend(sysfs.netdev_names(vf).unwrap_or_default());
    names.push(also.to_string());
    for name in names {
        if let Some(link) = nl.link_by_name(&name)?.filter(|l| belongs_to(l, vf)) {
            return Ok(Some(link));
        }
    }
    Ok(None)
}

/// Moves the netdev of `vf` into `pod` as `pod_name` with `mac`, and brings it up.
/// On error the netdev is back in the host as it was (the caller registers [`detach`]
/// for failures after this returns).
pub fn attach(
    sysfs: &Sysfs,
    vf: &PciAddr,
    pod: &NetNs,
    pod_name: &str,
    mac: Option<MacAddr>,
) -> Result<Mode, CniError> {
    let host_name = sysfs
        .netdev_names(vf)
        .map_err(host_error)?
        .into_iter()
        .next()
        .ok_or_else(|| {
            CniError::io(
                format!("VF {vf} has no network interface in the host"),
                "is it bound to its kernel driver?",
            )
        })?;
    let mut nl = Netlink::open().map_err(host_error)?;
    let link = nl
        .link_by_name(&host_name)
        .map_err(host_error)?
        .ok_or_else(|| {
            CniError::io(
                format!("VF {vf} interface {host_name} is not in the host namespace"),
                "",
            )
        })?;
    let mode = Mode::Kernel {
        host_name: host_name.clone(),
        host_mac: link.mac,
        host_up: link.up,
        pod_mac: mac.or(link.mac),
    };
    let temp = temp_name(vf);
    let moved = (|| -> Result<(), netlink::Error> {
        nl.set_up(link.index, false)?;
        nl.rename(link.index, &temp)?;
        nl.move_to_netns(link.index, pod)
    })();
    if let Err(e) = moved {
        let _ = detach(sysfs, vf, pod.path(), pod_name, &mode);
        return Err(host_error(e));
    }
    let configured = pod.run(|| -> Result<(), netlink::Error> {
        let mut nl = Netlink::open()?;
        let link = nl
            .link_by_name(&temp)?
            .ok_or_else(|| netlink::Error::Malformed(format!("{temp} vanished")))?;
        nl.rename(link.index, pod_name)?;
        if let Some(mac) = mac {
            nl.set_mac(link.index, mac)?;
        }
        nl.set_up(link.index, true)
    });
    match configured {
        Ok(Ok(())) => Ok(mode),
        Ok(Err(e)) => {
            let _ = detach(sysfs, vf, pod.path(), pod_name, &mode);
            Err(host_error(e))
        }
        Err(e) => {
            let _ = detach(sysfs, vf, pod.path(), pod_name, &mode);
            Err(host_error(e))
        }
    }
}

/// Brings the netdev of `vf` back to the host as `mode` recorded it: from the pod if its
/// namespace still exists, else wherever the kernel put it. Idempotent; a VF netdev that no
/// longer exists anywhere is not an error.
pub fn detach(
    sysfs: &Sysfs,
    vf: &PciAddr,
    netns_path: &Path,
    pod_name: &str,
    mode: &Mode,
) -> Result<(), String> {
    let Mode::Kernel {
        host_name,
        host_mac,
        host_up,
        ..
    } = mode
    else {
        return Ok(());
    };
    let temp = temp_name(vf);
    if let Ok(pod) = NetNs::open(netns_path) {
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
        .map_err(|e| format!("cannot return VF {vf} from the pod: {e}"))?;
    }
    let mut nl = Netlink::open().map_err(|e| e.to_string())?;
    let Some(link) = host_link(&mut nl, sysfs, vf, host_name).map_err(|e| e.to_string())? else {
        return Ok(());
    };
    let restore = (|| -> Result<(), netlink::Error> {
        if link.name != *host_name {
            nl.set_up(link.index, false)?;
            nl.rename(link.index, host_name)?;
        }
        if let Some(mac) = host_mac.filter(|m| link.mac != Some(*m)) {
            nl.set_mac(link.index, mac)?;
        }
        nl.set_up(link.index, *host_up)
    })();
    restore.map_err(|e| format!("cannot restore VF {vf} as {host_name}: {e}"))
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
