//! One pass over a frame that yields what the firewall classifies on, or the reason the frame is malformed.

use super::arp::ArpPacket;
use super::error::ParseError;
use super::ethernet::{
    EthernetFrame, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN,
};
use super::icmp::IcmpPacket;
use super::ipv4::Ipv4Packet;
use super::ipv6::Ipv6Packet;
use super::tcp::TcpPacket;
use super::udp::UdpPacket;
use super::vlan::VlanTag;
use std::net::IpAddr;

/// IP protocol number of ICMP.
pub const IPPROTO_ICMP: u8 = 1;
/// IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;
/// IP protocol number of ICMPv6.
pub const IPPROTO_ICMPV6: u8 = 58;
/// Most VLAN tags a frame may carry (802.1ad outer + 802.1Q inner).
pub const MAX_VLAN_TAGS: usize = 2;

/// The classification-relevant summary of a well-formed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// VLAN ID of the outermost tag (the S-tag under QinQ); `None` when untagged.
    pub vlan: Option<u16>,
    /// EtherType after all VLAN tags.
    pub ethertype: u16,
    /// IP-level fields, for IPv4 and IPv6 frames.
    pub ip: Option<IpFlow>,
}

/// The IP 5-tuple (and TCP flags) of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpFlow {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Upper-layer protocol (after IPv6 extension headers).
    pub protocol: u8,
    /// Source and destination ports for TCP/UDP; `None` for other protocols and non-first fragments.
    pub ports: Option<(u16, u16)>,
    /// TCP flags; `None` unless this is a TCP header.
    pub tcp_flags: Option<u8>,
}

/// Parses `frame` from the Ethernet header down to the L4 header.
///
/// Every header that is present is checked, so a frame either yields a [`Flow`] or the first reason it is
/// malformed. Never panics, whatever the bytes.
pub fn parse_flow(frame: &[u8]) -> Result<Flow, ParseError> {
    let eth = EthernetFrame::new_checked(frame)?;
    let mut ethertype = eth.ethertype();
    let mut rest = eth.payload();
    let mut vlan = None;
    let mut tags = 0;
    while ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
        if tags == MAX_VLAN_TAGS {
            return Err(ParseError::TooManyVlanTags);
        }
        let tag = VlanTag::new_checked(rest)?;
        vlan = vlan.or(Some(tag.vid()));
        ethertype = tag.ethertype();
        rest = &rest[VlanTag::<&[u8]>::HEADER_LEN..];
        tags += 1;
    }
    let ip = match ethertype {
        ETHERTYPE_IPV4 => Some(parse_ipv4(rest)?),
        ETHERTYPE_IPV6 => Some(parse_ipv6(rest)?),
        ETHERTYPE_ARP => {
            ArpPacket::new_checked(rest)?;
            None
        }
        _ => None,
    };
    Ok(Flow {
        vlan,
        ethertype,
        ip,
    })
}

fn parse_ipv4(bytes: &[u8]) -> Result<IpFlow, ParseError> {
    let ip = Ipv4Packet::new_checked(bytes)?;
    let l4 = ip.carries_l4_header().then(|| ip.payload());
    let (ports, tcp_flags) = parse_l4(ip.protocol(), l4)?;
    Ok(IpFlow {
        src: ip.src_addr().into(),
        dst: ip.dst_addr().into(),
        protocol: ip.protocol(),
        ports,
        tcp_flags,
    })
}

fn parse_ipv6(bytes: &[u8]) -> Result<IpFlow, ParseError> {
    let ip = Ipv6Packet::new_checked(bytes)?;
    let upper = ip.upper_layer()?;
    let l4 = upper
        .carries_l4_header
        .then(|| &ip.payload()[upper.offset..]);
    let (ports, tcp_flags) = parse_l4(upper.protocol, l4)?;
    Ok(IpFlow {
        src: ip.src_addr().into(),
        dst: ip.dst_addr().into(),
        protocol: upper.protocol,
        ports,
        tcp_flags,
    })
}

type L4Fields = (Option<(u16, u16)>, Option<u8>);

/// Checks the L4 header (if this packet carries one) and extracts ports and TCP flags.
fn parse_l4(protocol: u8, l4: Option<&[u8]>) -> Result<L4Fields, ParseError> {
    let Some(l4) = l4 else {
        return Ok((None, None));
    };
    match protocol {
        IPPROTO_TCP => {
            let tcp = TcpPacket::new_checked(l4)?;
            Ok((Some((tcp.src_port(), tcp.dst_port())), Some(tcp.flags())))
        }
        IPPROTO_UDP => {
            let udp = UdpPacket::new_checked(l4)?;
            Ok((Some((udp.src_port(), udp.dst_port())), None))
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 => {
            IcmpPacket::new_checked(l4)?;
            Ok((None, None))
        }
        _ => Ok((None, None)),
    }
}
