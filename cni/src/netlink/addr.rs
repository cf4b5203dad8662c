//! IP addresses on links.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Error, Netlink};

/// An address with its prefix length, `10.1.2.3/24` or `fd00::5/64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpCidr {
    /// The address (host bits may be set).
    pub addr: IpAddr,
    /// Prefix length: 0..=32 for IPv4, 0..=128 for IPv6.
    pub prefix_len: u8,
}

impl IpCidr {
    /// The address family constant for netlink headers.
    pub(super) fn family(&self) -> AddressFamily {
        match self.addr {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        }
    }
}

impl fmt::Display for IpCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl FromStr for IpCidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not an address/prefix-length");
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix_len: u8 = len.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix_len > max {
            return Err(bad());
        }
        Ok(IpCidr { addr, prefix_len })
    }
}

impl Serialize for IpCidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IpCidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Netlink {
    /// Adds `cidr` to link `index`.
    pub fn add_address(&mut self, index: u32, cidr: IpCidr) -> Result<(), Error> {
        let mut msg = AddressMessage::default();
        msg.header.family = cidr.family();
        msg.header.prefix_len = cidr.prefix_len;
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
    pub fn addresses(&mut self, index: u32) -> Result<Vec<IpCidr>, Error> {
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
                out.push(IpCidr {
                    addr,
                    prefix_len: msg.header.prefix_len,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_families() {
        let v4: IpCidr = "10.56.217.171/24".parse().unwrap();
        assert_eq!(v4.to_string(), "10.56.217.171/24");
        let v6: IpCidr = "fd00::5/64".parse().unwrap();
        assert_eq!(v6.prefix_len, 64);
    }

    #[test]
    fn rejects_bad_prefixes() {
        for bad in [
            "10.0.0.1",
            "10.0.0.1/33",
            "fd00::1/129",
            "10.0.0.1/x",
            "host/24",
        ] {
            assert!(bad.parse::<IpCidr>().is_err(), "{bad}");
        }
    }
}
