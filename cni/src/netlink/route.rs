//! Routes through a link, in the main table.

use std::net::IpAddr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use serde::{Deserialize, Serialize};

use super::addr::family;
use super::{Error, Netlink};
use crate::spec::Cidr;

/// A unicast route in the main table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Destination prefix (`0.0.0.0/0` for a default route).
    pub dst: Cidr,
    /// Next hop; `None` for a directly connected destination.
    pub gateway: Option<IpAddr>,
}

fn route_addr(ip: IpAddr) -> RouteAddress {
    match ip {
        IpAddr::V4(a) => RouteAddress::Inet(a),
        IpAddr::V6(a) => RouteAddress::Inet6(a),
    }
}

fn ip_of(addr: &RouteAddress) -> Option<IpAddr> {
    match addr {
        RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
        RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

/// `dst` or `dst via gw`.
fn describe(route: &Route) -> String {
    match route.gateway {
        Some(gw) => format!("{} via {gw}", route.dst),
        None => route.dst.to_string(),
    }
}

/// The main-table unicast route message for `route` through link `index`.
fn route_message(index: u32, route: &Route) -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header.address_family = family(&route.dst);
    msg.header.destination_prefix_length = route.dst.prefix;
    msg.header.table = RouteHeader::RT_TABLE_MAIN;
    msg.header.protocol = RouteProtocol::Boot;
    msg.header.kind = RouteType::Unicast;
    msg.header.scope = if route.gateway.is_some() {
        RouteScope::Universe
    } else {
        RouteScope::Link
    };
    if route.dst.prefix > 0 {
        msg.attributes
            .push(RouteAttribute::Destination(route_addr(route.dst.addr)));
    }
    if let Some(gw) = route.gateway {
        msg.attributes.push(RouteAttribute::Gateway(route_addr(gw)));
    }
    msg.attributes.push(RouteAttribute::Oif(index));
    msg
}

impl Netlink {
    /// Adds `route` through link `index`.
    pub fn add_route(&mut self, index: u32, route: &Route) -> Result<(), Error> {
        self.execute(
            RouteNetlinkMessage::NewRoute(route_message(index, route)),
            NLM_F_CREATE | NLM_F_EXCL,
            || format!("add route {} on link #{index}", describe(route)),
        )
    }

    /// Deletes `route` through link `index`.
    pub fn del_route(&mut self, index: u32, route: &Route) -> Result<(), Error> {
        self.execute(
            RouteNetlinkMessage::DelRoute(route_message(index, route)),
            0,
            || format!("delete route {} on link #{index}", describe(route)),
        )
    }

    /// Main-table unicast routes leaving through link `index`.
    pub fn routes(&mut self, index: u32) -> Result<Vec<Route>, Error> {
        let mut out = Vec::new();
        for af in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut query = RouteMessage::default();
            query.header.address_family = af;
            let replies = self.dump(RouteNetlinkMessage::GetRoute(query), || {
                "list routes".into()
            })?;
            for reply in replies {
                let RouteNetlinkMessage::NewRoute(msg) = reply else {
                    continue;
                };
                if msg.header.table != RouteHeader::RT_TABLE_MAIN
                    || msg.header.kind != RouteType::Unicast
                {
                    continue;
                }
                let mut oif = None;
                let mut dst = None;
                let mut gateway = None;
                for attr in &msg.attributes {
                    match attr {
                        RouteAttribute::Oif(i) => oif = Some(*i),
                        RouteAttribute::Destination(a) => dst = ip_of(a),
                        RouteAttribute::Gateway(a) => gateway = ip_of(a),
                        _ => {}
                    }
                }
                if oif != Some(index) {
                    continue;
                }
                let unspecified = match af {
                    AddressFamily::Inet => IpAddr::from([0u8; 4]),
                    _ => IpAddr::from([0u16; 8]),
                };
                let dst = Cidr {
                    addr: dst.unwrap_or(unspecified),
                    prefix: msg.header.destination_prefix_length,
                };
                out.push(Route { dst, gateway });
            }
        }
        Ok(out)
    }
}
