//! Synchronous rtnetlink over the rust-netlink crates: links, addresses, routes and the
//! per-VF settings a PF exposes in `IFLA_VFINFO_LIST`.
//!
//! A [`Netlink`] talks to the namespace of the thread that opened it; pair it with
//! [`crate::netns::NetNs::run`] to work inside a pod. VF settings go through the
//! [`PfControl`] seam so that trees without a real PF can record what would be sent.

mod addr;
mod link;
mod mac;
mod route;
mod socket;
mod vf;
mod vf_journal;

use std::fmt;
use std::io;
use std::path::Path;

pub use link::Link;
pub use mac::MacAddr;
pub use route::Route;
pub use socket::Netlink;
pub use vf::{LinkState, NetlinkPf, PfControl, VfConfig, VfSetting, VlanProto};
pub use vf_journal::JournalPf;

/// A failed netlink exchange.
#[derive(Debug)]
pub enum Error {
    /// The kernel (or the socket) refused: what was attempted and the OS error.
    Kernel(String, io::Error),
    /// A reply could not be decoded or was missing.
    Malformed(String),
    /// The namespace the work was meant to run in could not be entered.
    Netns(crate::netns::Error),
}

impl Error {
    fn io(what: impl Fn() -> String) -> impl FnOnce(io::Error) -> Error {
        move |e| Error::Kernel(what(), e)
    }

    /// The OS error number when the kernel refused the request.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel(_, e) => e.raw_os_error(),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Kernel(what, e) => write!(f, "{what}: {e}"),
            Error::Malformed(what) => write!(f, "malformed netlink reply: {what}"),
            Error::Netns(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

impl From<crate::netns::Error> for Error {
    fn from(e: crate::netns::Error) -> Self {
        Error::Netns(e)
    }
}

/// Lists the names of the links in the network namespace at `netns`.
pub fn link_names_in(netns: impl AsRef<Path>) -> Result<Vec<String>, Error> {
    crate::netns::run_in(netns, || Netlink::open()?.link_names())?
}

/// Makes `ifname` the default route of the namespace at `netns` for each gateway's address family:
/// every other default route of that family goes, and one via the gateway through `ifname` is added
/// (what Multus does for a network selected with `default-route`).
pub fn set_default_route_in(
    netns: impl AsRef<Path>,
    ifname: &str,
    gateways: &[std::net::IpAddr],
) -> Result<(), Error> {
    crate::netns::run_in(netns, || {
        let mut nl = Netlink::open()?;
        let target = nl
            .link_by_name(ifname)?
            .ok_or_else(|| Error::Malformed(format!("no link {ifname:?} in the pod")))?;
        let family_of = |ip: &std::net::IpAddr| ip.is_ipv4();
        for link in nl.links()? {
            for route in nl.routes(link.index)? {
                let replaced = route.dst.prefix == 0
                    && gateways
                        .iter()
                        .any(|gw| family_of(gw) == route.dst.addr.is_ipv4());
                if replaced {
                    nl.del_route(link.index, &route)?;
                }
            }
        }
        for gw in gateways {
            let any: std::net::IpAddr = if gw.is_ipv4() {
                [0u8; 4].into()
            } else {
                [0u16; 8].into()
            };
            let dst = crate::spec::Cidr {
                addr: any,
                prefix: 0,
            };
            nl.add_route(
                target.index,
                &Route {
                    dst,
                    gateway: Some(*gw),
                },
            )?;
        }
        Ok(())
    })?
}
