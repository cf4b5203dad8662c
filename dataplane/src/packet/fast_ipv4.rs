//! The common frame — untagged or one VLAN tag, then an IPv4 header without options that is not a
//! non-first fragment — parsed in one flat pass: fixed offsets, one length check per header, no
//! views or error values built on the way.
//!
//! It makes exactly the checks of the full parser ([`super::flow::parse_fields`]) and writes the same
//! fields; every frame it does not accept (another shape, or malformed: the full parser then names
//! the reason) is left to the full parser.

use super::error::be16;
use super::ethernet::{ETHERTYPE_IPV4, ETHERTYPE_QINQ, ETHERTYPE_VLAN};
use super::flow::{FlowFields, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP};

/// Ethernet header without tags.
const ETH_LEN: usize = 14;
/// One VLAN tag.
const TAG_LEN: usize = 4;
/// IPv4 header without options.
const IPV4_LEN: usize = 20;
/// First byte of an IPv4 header without options: version 4, IHL 5.
const IPV4_NO_OPTIONS: u8 = 0x45;

/// Parses `frame` into `out` if it has the common shape and is well formed; returns false (with
/// `out` partly written) for every other frame, which the full parser must then judge.
#[inline(always)]
pub(crate) fn parse(frame: &[u8], out: &mut FlowFields) -> bool {
    let len = frame.len();
    if len < ETH_LEN + IPV4_LEN {
        return false;
    }
    let outer = be16(frame, 12);
    let l3 = if outer == ETHERTYPE_IPV4 {
        out.vlan = None;
        ETH_LEN
    } else if (outer == ETHERTYPE_VLAN || outer == ETHERTYPE_QINQ)
        && len >= ETH_LEN + TAG_LEN + IPV4_LEN
        && be16(frame, 16) == ETHERTYPE_IPV4
    {
        out.vlan = Some(be16(frame, 14) & 0x0fff);
        ETH_LEN + TAG_LEN
    } else {
        return false;
    };
    let ip = &frame[l3..];
    // Version and IHL, total length within the frame, not a non-first fragment.
    let total = be16(ip, 2) as usize;
    if ip[0] != IPV4_NO_OPTIONS || total < IPV4_LEN || total > ip.len() || be16(ip, 6) & 0x1fff != 0
    {
        return false;
    }
    let l4 = &ip[IPV4_LEN..total];
    let protocol = ip[9];
    out.ethertype = ETHERTYPE_IPV4;
    out.ip_version = 4;
    out.protocol = protocol;
    out.src[..4].copy_from_slice(&ip[12..16]);
    out.dst[..4].copy_from_slice(&ip[16..20]);
    match protocol {
        IPPROTO_TCP => {
            // The fixed header, and a data offset of 5 or more that stays inside the segment.
            if l4.len() < 20 {
                return false;
            }
            let words = (l4[12] >> 4) as usize;
            if words < 5 || words * 4 > l4.len() {
                return false;
            }
            out.tcp_flags = Some(l4[13]);
        }
        IPPROTO_UDP => {
            // The header, and a length field between it and the datagram's end.
            if l4.len() < 8 {
                return false;
            }
            let length = be16(l4, 4) as usize;
            if length < 8 || length > l4.len() {
                return false;
            }
            out.tcp_flags = None;
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 => {
            out.no_l4();
            return l4.len() >= 8;
        }
        _ => {
            out.no_l4();
            return true;
        }
    }
    out.has_ports = true;
    out.ports = [be16(l4, 0), be16(l4, 2)];
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::synth::Rng;
    use crate::packet::flow::parse_fields;
    use crate::packet::{emit_frame, Flow, IpFlow, MacAddr};
    use std::net::{IpAddr, Ipv4Addr};

    /// A valid IPv4 frame of `protocol` (ports for TCP/UDP unless `fragment`), tagged or not.
    fn frame(rng: &mut Rng, protocol: u8, vlan: Option<u16>, fragment: bool) -> Vec<u8> {
        let addr = |rng: &mut Rng| IpAddr::V4(Ipv4Addr::from(rng.next_u64() as u32));
        let has_ports = matches!(protocol, IPPROTO_TCP | IPPROTO_UDP) && !fragment;
        let flow = Flow {
            vlan,
            ethertype: ETHERTYPE_IPV4,
            ip: Some(IpFlow {
                src: addr(rng),
                dst: addr(rng),
                protocol,
                ports: has_ports.then(|| (rng.next_u64() as u16, rng.next_u64() as u16)),
                tcp_flags: (protocol == IPPROTO_TCP && !fragment).then(|| rng.next_u64() as u8),
            }),
        };
        let payload = rng.below(24) as usize;
        emit_frame(
            &flow,
            None,
            MacAddr([2, 0, 0, 0, 0, 2]),
            MacAddr([2, 0, 0, 0, 0, 1]),
            payload,
        )
    }

    /// The fast path accepts `f` only if the full parser does, and then writes the same fields
    /// (whatever `out` held before). Returns whether it accepted.
    fn check(f: &[u8], before: &FlowFields) -> bool {
        let (mut fast, mut full) = (*before, *before);
        let exact = parse_fields(f, &mut full);
        if parse(f, &mut fast) {
            assert_eq!(
                exact,
                Ok(()),
                "accepted a frame the parser refuses: {f:02x?}"
            );
            assert_eq!(fast, full, "fields differ for {f:02x?}");
            true
        } else {
            false
        }
    }

    #[test]
    fn agrees_with_the_full_parser_on_valid_and_mutated_frames() {
        let mut rng = Rng::new(99);
        let (mut accepted, mut refused) = (0, 0);
        let protocols = [
            IPPROTO_TCP,
            IPPROTO_UDP,
            IPPROTO_ICMP,
            IPPROTO_ICMPV6,
            47,
            0,
        ];
        // What the previous frame of a burst left in the reused record.
        let mut before = FlowFields::EMPTY;
        for i in 0..30_000 {
            let protocol = protocols[i % protocols.len()];
            let vlan = [None, Some(210), Some(4095)][i % 3];
            let f = frame(&mut rng, protocol, vlan, i % 7 == 0);
            let fragment = i % 7 == 0 && matches!(protocol, IPPROTO_TCP | IPPROTO_UDP);
            assert_eq!(check(&f, &before), !fragment, "{f:02x?}");
            // Mutations: a random header byte, a truncation, or both.
            let mut m = f.clone();
            let at = rng.below(m.len().min(60) as u64) as usize;
            m[at] = rng.next_u64() as u8;
            if rng.percent(30) {
                m.truncate(rng.below(m.len() as u64 + 1) as usize);
            }
            let mut t = f.clone();
            t.truncate(rng.below(t.len() as u64) as usize);
            for g in [&m, &t] {
                if check(g, &before) {
                    accepted += 1;
                } else {
                    refused += 1;
                }
            }
            let _ = parse_fields(&m, &mut before);
        }
        // Both outcomes are exercised (a checker that always refuses would pass vacuously).
        assert!(accepted > 5_000 && refused > 5_000, "{accepted} {refused}");
    }

    #[test]
    fn other_shapes_and_bad_l4_headers_are_left_to_the_full_parser() {
        let mut rng = Rng::new(5);
        let mut fields = FlowFields::EMPTY;
        let mut qinq = frame(&mut rng, IPPROTO_TCP, Some(210), false);
        assert!(parse(&qinq, &mut fields));
        qinq[16..18].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        assert!(!parse(&qinq, &mut fields), "QinQ");
        let mut tcp = frame(&mut rng, IPPROTO_TCP, None, false);
        tcp[14 + 20 + 12] = 0xf0;
        assert!(
            !parse(&tcp, &mut fields),
            "TCP data offset past the segment"
        );
        let mut udp = frame(&mut rng, IPPROTO_UDP, None, false);
        udp[14 + 20 + 4..14 + 20 + 6].copy_from_slice(&200u16.to_be_bytes());
        assert!(!parse(&udp, &mut fields), "UDP length past the datagram");
        let mut options = frame(&mut rng, IPPROTO_UDP, None, false);
        options[14] = 0x46;
        assert!(!parse(&options, &mut fields), "IPv4 options");
    }
}
