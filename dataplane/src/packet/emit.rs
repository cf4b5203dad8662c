//! Builds well-formed frames from a [`Flow`]: the inverse of [`parse_flow`](super::parse_flow), used by
//! traffic generators, tests and benchmarks.

use super::ethernet::{MacAddr, ETHERTYPE_ARP, ETHERTYPE_QINQ, ETHERTYPE_VLAN};
use super::flow::{Flow, IpFlow, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP};
use super::ipv6::EXT_FRAGMENT;
use std::net::IpAddr;

/// Emits an Ethernet frame with `flow`'s VLAN, EtherType and IP fields, `payload_len` filler bytes after
/// the L4 header, and the given MAC addresses.
///
/// A TCP or UDP flow without ports is emitted as a non-first fragment. One VLAN tag is 802.1Q; a flow
/// whose `inner_vlan` is set gets an 802.1ad outer tag and an 802.1Q inner tag (QinQ). An ARP flow gets an
/// Ethernet/IPv4 ARP request; any other non-IP EtherType gets `payload_len` filler bytes.
/// The IP addresses must match the EtherType (v4 for 0x0800, v6 for 0x86dd); checksums are left zero.
pub fn emit_frame(
    flow: &Flow,
    inner_vlan: Option<u16>,
    dst: MacAddr,
    src: MacAddr,
    payload_len: usize,
) -> Vec<u8> {
    let mut frame = Vec::with_capacity(64 + payload_len);
    frame.extend_from_slice(&dst.0);
    frame.extend_from_slice(&src.0);
    match (flow.vlan, inner_vlan) {
        (Some(outer), Some(inner)) => {
            push_tag(&mut frame, ETHERTYPE_QINQ, outer);
            push_tag(&mut frame, ETHERTYPE_VLAN, inner);
        }
        (Some(vid), None) | (None, Some(vid)) => push_tag(&mut frame, ETHERTYPE_VLAN, vid),
        (None, None) => {}
    }
    frame.extend_from_slice(&flow.ethertype.to_be_bytes());
    match &flow.ip {
        Some(ip) => emit_ip(&mut frame, ip, payload_len),
        None if flow.ethertype == ETHERTYPE_ARP => {
            frame.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
            frame.extend_from_slice(&src.0);
            frame.extend_from_slice(&[10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
        }
        None => frame.resize(frame.len() + payload_len, 0x5a),
    }
    frame
}

fn push_tag(frame: &mut Vec<u8>, tpid: u16, vid: u16) {
    frame.extend_from_slice(&tpid.to_be_bytes());
    frame.extend_from_slice(&vid.to_be_bytes());
}

/// The L4 header (if any) followed by filler bytes.
fn l4_bytes(ip: &IpFlow, payload_len: usize) -> Vec<u8> {
    let mut l4 = Vec::with_capacity(20 + payload_len);
    match (ip.protocol, ip.ports) {
        (IPPROTO_TCP, Some((sport, dport))) => {
            l4.extend_from_slice(&sport.to_be_bytes());
            l4.extend_from_slice(&dport.to_be_bytes());
            l4.extend_from_slice(&[
                0,
                0,
                0,
                1,
                0,
                0,
                0,
                0,
                0x50,
                ip.tcp_flags.unwrap_or(0),
                0xff,
                0xff,
                0,
                0,
                0,
                0,
            ]);
        }
        (IPPROTO_UDP, Some((sport, dport))) => {
            l4.extend_from_slice(&sport.to_be_bytes());
            l4.extend_from_slice(&dport.to_be_bytes());
            l4.extend_from_slice(&((8 + payload_len) as u16).to_be_bytes());
            l4.extend_from_slice(&[0, 0]);
        }
        (IPPROTO_ICMP, _) => l4.extend_from_slice(&[8, 0, 0, 0, 0, 1, 0, 1]),
        (IPPROTO_ICMPV6, _) => l4.extend_from_slice(&[128, 0, 0, 0, 0, 1, 0, 1]),
        _ => {}
    }
    l4.resize(l4.len() + payload_len, 0xa5);
    l4
}

/// A TCP/UDP flow without ports stands for a non-first fragment.
fn is_later_fragment(ip: &IpFlow) -> bool {
    matches!(ip.protocol, IPPROTO_TCP | IPPROTO_UDP) && ip.ports.is_none()
}

fn emit_ip(frame: &mut Vec<u8>, ip: &IpFlow, payload_len: usize) {
    let later_fragment = is_later_fragment(ip);
    let l4 = l4_bytes(ip, payload_len);
    match (ip.src, ip.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let total = (20 + l4.len()) as u16;
            frame.extend_from_slice(&[0x45, 0]);
            frame.extend_from_slice(&total.to_be_bytes());
            let frag: u16 = if later_fragment { 0x00b9 } else { 0x4000 }; // offset 1480 bytes, or DF
            frame.extend_from_slice(&[0x12, 0x34]);
            frame.extend_from_slice(&frag.to_be_bytes());
            frame.extend_from_slice(&[64, ip.protocol, 0, 0]);
            frame.extend_from_slice(&src.octets());
            frame.extend_from_slice(&dst.octets());
        }
        (src, dst) => {
            let (src, dst) = (to_v6_octets(src), to_v6_octets(dst));
            let ext_len = if later_fragment { 8 } else { 0 };
            frame.extend_from_slice(&[0x60, 0, 0, 0]);
            frame.extend_from_slice(&((ext_len + l4.len()) as u16).to_be_bytes());
            frame.push(if later_fragment {
                EXT_FRAGMENT
            } else {
                ip.protocol
            });
            frame.push(64);
            frame.extend_from_slice(&src);
            frame.extend_from_slice(&dst);
            if later_fragment {
                frame.extend_from_slice(&[ip.protocol, 0, 0x05, 0xc8, 0, 0, 0x12, 0x34]);
                // offset 1480
            }
        }
    }
    frame.extend_from_slice(&l4);
}

fn to_v6_octets(addr: IpAddr) -> [u8; 16] {
    match addr {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}
