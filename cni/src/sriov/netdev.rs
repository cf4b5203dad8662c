//! The VF's kernel netdev on the host side: what it was before ADD, and putting it back
//! (name, MAC, up state) after the pod or a userspace driver had it.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::log::Logger;
use crate::netlink::{self, Link, MacAddr, Netlink, PfControl};
use crate::netns::NetNs;
use crate::spec::CniError;
use crate::sysfs::{PciAddr, Sysfs};

use super::host_error;

/// How long DEL (or ADD, after rebinding a VF left unbound) waits for a kernel driver's netdev.
const APPEAR_TIMEOUT: Duration = Duration::from_secs(3);

/// A VF netdev as it was in the host namespace before ADD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostNetdev {
    /// Its name.
    pub name: String,
    /// Its MAC.
    pub mac: Option<MacAddr>,
    /// Whether it was administratively up.
    pub up: bool,
}

/// The way to change a VF netdev's own MAC: through its PF, which arbitrates it (see
/// [`PfControl::set_netdev_mac`]).
#[derive(Clone, Copy)]
pub struct VfMac<'a> {
    pf: &'a dyn PfControl,
    /// The PF netdev and the VF's index on it; `None` when the PF has no netdev, so that
    /// nothing can impose a MAC on the VF.
    vf: Option<(&'a str, u32)>,
}

impl<'a> VfMac<'a> {
    /// VF `index` of the PF netdev `pf_netdev`, through `pf`.
    pub fn new(pf: &'a dyn PfControl, pf_netdev: Option<&'a str>, index: u32) -> Self {
        VfMac {
            pf,
            vf: pf_netdev.map(|name| (name, index)),
        }
    }

    /// Gives `link` (in the caller's namespace) `mac`, unless it has it already: like the
    /// kernel, which never asks the driver for an unchanged address.
    pub fn set(&self, nl: &mut Netlink, link: &Link, mac: MacAddr) -> Result<(), netlink::Error> {
        match self.vf {
            _ if link.mac == Some(mac) => Ok(()),
            Some((pf, index)) => self.pf.set_netdev_mac(pf, index, link.index, mac),
            None => nl.set_mac(link.index, mac),
        }
    }
}

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
pub fn belongs_to(link: &Link, vf: &PciAddr) -> bool {
    link.parent_device
        .as_deref()
        .is_none_or(|p| p == vf.as_str())
}

/// The host link of `vf`, looked up under each name it may have: the temporary name, the
/// names sysfs lists for the VF, and `recorded`.
fn host_link(
    nl: &mut Netlink,
    sysfs: &Sysfs,
    vf: &PciAddr,
    recorded: Option<&str>,
) -> Result<Option<Link>, netlink::Error> {
    let mut names = vec![temp_name(vf)];
    names.extend(sysfs.netdev_names(vf).unwrap_or_default());
    names.extend(recorded.map(str::to_string));
    for name in names {
        if let Some(link) = nl.link_by_name(&name)?.filter(|l| belongs_to(l, vf)) {
            return Ok(Some(link));
        }
    }
    Ok(None)
}

/// The VF's netdev in the host namespace now, if it has one.
pub fn current(sysfs: &Sysfs, vf: &PciAddr) -> Result<Option<HostNetdev>, CniError> {
    if sysfs.netdev_names(vf).map_err(host_error)?.is_empty() {
        return Ok(None);
    }
    let mut nl = Netlink::open().map_err(host_error)?;
    Ok(host_link(&mut nl, sysfs, vf, None)
        .map_err(host_error)?
        .map(|link| HostNetdev {
            name: link.name,
            mac: link.mac,
            up: link.up,
        }))
}

/// The VF's netdev in the host, waiting for it to appear (its kernel driver was just bound).
pub fn wait_current(sysfs: &Sysfs, vf: &PciAddr) -> Result<Option<HostNetdev>, CniError> {
    let start = Instant::now();
    loop {
        let now = current(sysfs, vf)?;
        if now.is_some() || start.elapsed() >= APPEAR_TIMEOUT {
            return Ok(now);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Puts the VF's host netdev back as `was` records it. With `wait` (a kernel driver was just
/// rebound), waits for the netdev to appear first. A netdev that is gone is not an error.
/// The MAC goes back through `mac`: restore the PF's settings first, since a PF that still
/// imposes a MAC refuses it.
pub fn restore(
    sysfs: &Sysfs,
    vf: &PciAddr,
    was: &HostNetdev,
    wait: bool,
    mac: VfMac,
) -> Result<(), String> {
    let fail = |e: netlink::Error| format!("cannot restore VF {vf} as {}: {e}", was.name);
    let mut nl = Netlink::open().map_err(fail)?;
    let start = Instant::now();
    let link = loop {
        match host_link(&mut nl, sysfs, vf, Some(&was.name)).map_err(fail)? {
            Some(link) => break link,
            None if wait && start.elapsed() < APPEAR_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(10))
            }
            None => return Ok(()),
        }
    };
    (|| -> Result<(), netlink::Error> {
        if link.name != was.name {
            nl.set_up(link.index, false)?;
            nl.rename(link.index, &was.name)?;
        }
        if let Some(original) = was.mac {
            mac.set(&mut nl, &link, original)?;
        }
        nl.set_up(link.index, was.up)
    })()
    .map_err(fail)
}

/// Brings the netdev of `vf` back into the host from wherever an interrupted ADD whose record
/// is lost left it under the temporary name: a netns in `/run/netns` or one a process is in.
/// Only the temporary name is looked for: a VF under any other name belongs to someone.
/// Best effort; what fails goes to `log`.
pub fn recover_foreign(vf: &PciAddr, log: &Logger) {
    let temp = temp_name(vf);
    let Ok(host) = NetNs::current() else {
        return;
    };
    let mut seen = HashSet::new();
    if let Ok(meta) = std::fs::metadata("/proc/self/ns/net") {
        seen.insert((meta.dev(), meta.ino()));
    }
    for path in netns_paths() {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if !seen.insert((meta.dev(), meta.ino())) {
            continue;
        }
        let Ok(ns) = NetNs::open(&path) else {
            continue;
        };
        let moved = ns.run(|| -> Result<bool, netlink::Error> {
            let mut nl = Netlink::open()?;
            let Some(link) = nl.link_by_name(&temp)?.filter(|l| belongs_to(l, vf)) else {
                return Ok(false);
            };
            nl.set_up(link.index, false)?;
            nl.move_to_netns(link.index, &host)?;
            Ok(true)
        });
        match moved {
            Ok(Ok(true)) => {
                log.verbose(format!(
                    "recovered VF {vf} ({temp}) from netns {}",
                    path.display()
                ));
                return;
            }
            Ok(Ok(false)) => {}
            Ok(Err(e)) => log.error(format!(
                "cannot recover {temp} from {}: {e}",
                path.display()
            )),
            Err(e) => log.error(format!("cannot enter {}: {e}", path.display())),
        }
    }
}

/// Network namespaces to search: those named in `/run/netns`, then those of processes.
fn netns_paths() -> Vec<PathBuf> {
    let named = std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten();
    let procs = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok());
    named
        .map(|e| e.path())
        .chain(procs.map(|e| e.path().join("ns/net")))
        .collect()
}
