//! Zero-copy, bounds-checked views of packet headers, in the style of smoltcp's `wire` module.
//!
//! Each view wraps a buffer (`&[u8]`, `&mut [u8]`, or anything `AsRef<[u8]>`) and is built with
//! `new_checked`, which validates every length the accessors rely on: once built, no accessor can index out
//! of bounds, and no byte sequence makes `new_checked` panic. Setters exist on mutable buffers where the
//! firewall rewrites frames (MAC addresses, VLAN ID). [`parse_flow`] runs the whole stack at once.

mod arp;
mod emit;
mod error;
mod ethernet;
mod fast_ipv4;
mod flow;
mod icmp;
mod ipv4;
mod ipv6;
mod tcp;
mod udp;
mod vlan;

pub use arp::ArpPacket;
pub use emit::emit_frame;
pub use error::ParseError;
pub use ethernet::{
    EthernetFrame, MacAddr, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ,
    ETHERTYPE_VLAN,
};
pub(crate) use flow::{parse_fields_fast, FlowFields};
pub use flow::{
    parse_flow, Flow, IpFlow, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, MAX_VLAN_TAGS,
};
pub use icmp::IcmpPacket;
pub use ipv4::Ipv4Packet;
pub use ipv6::{
    Ipv6ExtHeader, Ipv6Packet, Ipv6UpperLayer, EXT_DESTINATION, EXT_FRAGMENT, EXT_HOP_BY_HOP,
    EXT_ROUTING, MAX_EXT_HEADERS,
};
pub use tcp::{TcpPacket, TCP_ACK, TCP_CWR, TCP_ECE, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG};
pub use udp::UdpPacket;
pub use vlan::{VlanTag, MAX_VLAN_ID};
