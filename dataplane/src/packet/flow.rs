//! One pass over a frame that yields what the firewall classifies on, or the reason the frame is malformed.

use super::arp::ArpPacket;
use super::error::ParseError;
use super::ethernet::{
    EthernetFrame, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN,
};
use super::fast_ipv4;
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

/// What [`parse_flow`] finds in a frame, flat (addresses as bytes, no nested options): the form the
/// firewall's burst path reads, cheap to build in place for 32 frames at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FlowFields {
    /// VLAN ID of the outermost tag; `None` when untagged.
    pub(crate) vlan: Option<u16>,
    /// EtherType after all VLAN tags.
    pub(crate) ethertype: u16,
    /// 4 or 6 for IP frames (the fields below are then set), 0 otherwise.
    pub(crate) ip_version: u8,
    /// Upper-layer protocol.
    pub(crate) protocol: u8,
    /// True when the frame has TCP/UDP ports.
    pub(crate) has_ports: bool,
    /// TCP flags; `None` unless this is a TCP header.
    pub(crate) tcp_flags: Option<u8>,
    /// Source and destination port (0 without ports).
    pub(crate) ports: [u16; 2],
    /// Source address: 4 bytes for IPv4 (the rest zero), 16 for IPv6.
    pub(crate) src: [u8; 16],
    /// Destination address, as `src`.
    pub(crate) dst: [u8; 16],
}

impl FlowFields {
    /// Fields of an untagged frame that is not IP: what [`parse_fields`] starts from.
    pub(crate) const EMPTY: FlowFields = FlowFields {
        vlan: None,
        ethertype: 0,
        ip_version: 0,
        protocol: 0,
        has_ports: false,
        tcp_flags: None,
        ports: [0; 2],
        src: [0; 16],
        dst: [0; 16],
    };

    /// Clears the L4 fields (no ports, no TCP flags) before an L4 header is parsed.
    #[inline]
    pub(super) fn no_l4(&mut self) {
        self.has_ports = false;
        self.tcp_flags = None;
        self.ports = [0; 2];
    }

    /// The flat form of `flow`.
    pub(crate) fn of(flow: &Flow) -> FlowFields {
        let mut out = FlowFields {
            vlan: flow.vlan,
            ethertype: flow.ethertype,
            ..FlowFields::EMPTY
        };
        if let Some(ip) = &flow.ip {
            out.ip_version = if ip.src.is_ipv4() { 4 } else { 6 };
            write_address(ip.src, &mut out.src);
            write_address(ip.dst, &mut out.dst);
            out.protocol = ip.protocol;
            out.has_ports = ip.ports.is_some();
            out.ports = ip.ports.map_or([0; 2], |(s, d)| [s, d]);
            out.tcp_flags = ip.tcp_flags;
        }
        out
    }

    /// The [`Flow`] these fields describe.
    pub(crate) fn to_flow(self) -> Flow {
        let ip = match self.ip_version {
            4 => {
                let v4 = |a: &[u8; 16]| IpAddr::from([a[0], a[1], a[2], a[3]]);
                Some((v4(&self.src), v4(&self.dst)))
            }
            6 => Some((IpAddr::from(self.src), IpAddr::from(self.dst))),
            _ => None,
        };
        Flow {
            vlan: self.vlan,
            ethertype: self.ethertype,
            ip: ip.map(|(src, dst)| IpFlow {
                src,
                dst,
                protocol: self.protocol,
                ports: self.has_ports.then_some((self.ports[0], self.ports[1])),
                tcp_flags: self.tcp_flags,
            }),
        }
    }
}

/// Writes `addr` into the front of `out` (4 bytes for IPv4, 16 for IPv6).
fn write_address(addr: IpAddr, out: &mut [u8; 16]) {
    match addr {
        IpAddr::V4(a) => out[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => *out = a.octets(),
    }
}

/// Parses `frame` from the Ethernet header down to the L4 header.
///
/// Every header that is present is checked, so a frame either yields a [`Flow`] or the first reason it is
/// malformed. Never panics, whatever the bytes.
pub fn parse_flow(frame: &[u8]) -> Result<Flow, ParseError> {
    let mut fields = FlowFields::EMPTY;
    parse_fields(frame, &mut fields).map(|()| fields.to_flow())
}

/// [`parse_fields`] for the firewall: the common frame (IPv4 without options, at most one VLAN tag)
/// takes [`fast_ipv4::parse`], every other frame (and every malformed one, for its exact reason) the
/// full parser. The same result as [`parse_fields`] for every frame.
#[inline(always)]
pub(crate) fn parse_fields_fast(frame: &[u8], out: &mut FlowFields) -> Result<(), ParseError> {
    if fast_ipv4::parse(frame, out) {
        Ok(())
    } else {
        parse_fields_cold(frame, out)
    }
}

/// The full parser, out of line: the frames the fast path leaves.
#[inline(never)]
fn parse_fields_cold(frame: &[u8], out: &mut FlowFields) -> Result<(), ParseError> {
    parse_fields(frame, out)
}

/// [`parse_flow`]'s work (the one parser behind both), into the flat [`FlowFields`] in place: the
/// caller's record is written field by field, never built elsewhere and copied. On error `out` holds
/// whatever was parsed before it.
#[inline(always)]
pub(crate) fn parse_fields(frame: &[u8], out: &mut FlowFields) -> Result<(), ParseError> {
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
    out.vlan = vlan;
    out.ethertype = ethertype;
    out.ip_version = 0;
    match ethertype {
        ETHERTYPE_IPV4 => parse_ipv4(rest, out),
        ETHERTYPE_IPV6 => parse_ipv6(rest, out),
        ETHERTYPE_ARP => ArpPacket::new_checked(rest).map(|_| ()),
        _ => Ok(()),
    }
}

#[inline(always)]
fn parse_ipv4(bytes: &[u8], out: &mut FlowFields) -> Result<(), ParseError> {
    let ip = Ipv4Packet::new_checked(bytes)?;
    out.ip_version = 4;
    out.protocol = ip.protocol();
    out.no_l4();
    out.src[..4].copy_from_slice(&bytes[12..16]);
    out.dst[..4].copy_from_slice(&bytes[16..20]);
    if ip.carries_l4_header() {
        // Ipv4Packet::new_checked checked header_len <= total_len <= bytes.len().
        let l4 = bytes
            .get(ip.header_len()..ip.total_len() as usize)
            .unwrap_or(&[]);
        parse_l4(l4, out)?;
    }
    Ok(())
}

#[inline(never)]
fn parse_ipv6(bytes: &[u8], out: &mut FlowFields) -> Result<(), ParseError> {
    let ip = Ipv6Packet::new_checked(bytes)?;
    let upper = ip.upper_layer()?;
    out.ip_version = 6;
    out.protocol = upper.protocol;
    out.no_l4();
    out.src.copy_from_slice(&bytes[8..24]);
    out.dst.copy_from_slice(&bytes[24..40]);
    if upper.carries_l4_header {
        parse_l4(&ip.payload()[upper.offset..], out)?;
    }
    Ok(())
}

/// Checks the L4 header of `out.protocol` at the start of `l4` and records its ports and TCP flags.
#[inline(always)]
fn parse_l4(l4: &[u8], out: &mut FlowFields) -> Result<(), ParseError> {
    match out.protocol {
        IPPROTO_TCP => {
            let tcp = TcpPacket::new_checked(l4)?;
            out.has_ports = true;
            out.ports = [tcp.src_port(), tcp.dst_port()];
            out.tcp_flags = Some(tcp.flags());
        }
        IPPROTO_UDP => {
            let udp = UdpPacket::new_checked(l4)?;
            out.has_ports = true;
            out.ports = [udp.src_port(), udp.dst_port()];
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 => {
            IcmpPacket::new_checked(l4)?;
        }
        _ => {}
    }
    Ok(())
}
