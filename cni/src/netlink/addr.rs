//! IP addresses on links.

use std::net::IpAddr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::{Error, Netlink};
use crate::spec::Cidr;

/// The netlink address family of `cidr`.
pub(super) fn family(cidr: &Cidr) -> AddressFamily {
    match cidr.addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

impl Netlink {
    /// Adds `cidr` to link `index`.
    pub fn add_address(&mut self, index: u32, cidr: Cidr) -> Result<(), Error> {
        let mut msg = AddressMessage::default();
        msg.header.family = family(&cidr);
        msg.header.prefix_len = cidr.prefix;
        msg.header.index = index;
        if cidr.addr.is_ipv4() {
            msg.attributes.push(AddressAttribute::Local(cidr.addr));
        }
        msg.attributes.push(AddressAttribute::Address(cidr.addr));
        self.execute(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            || format!("add address {cidr} to link #{index}"),
        )
    }

    /// The addresses on link `index`, IPv4 and IPv6.
    pub fn addresses(&mut self, index: u32) -> Result<Vec<Cidr>, Error> {
        let replies = self.dump(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            || "list addresses".into(),
        )?;
        let mut out = Vec::new();
        for reply in replies {
            let RouteNetlinkMessage::NewAddress(msg) = reply else {
                continue;
            };
            if msg.header.index != index {
                continue;
            }
            let mut local = None;
            let mut address = None;
            for attr in msg.attributes {
                match attr {
                    AddressAttribute::Local(a) => local = Some(a),
                    AddressAttribute::Address(a) => address = Some(a),
                    _ => {}
                }
            }
            if let Some(addr) = local.or(address) {
                out.push(Cidr {
                    addr,
                    prefix: msg.header.prefix_len,
                });
            }
        }
        Ok(out)
    }
}
