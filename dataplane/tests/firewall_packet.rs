//! Packet parsing end to end: real frame shapes give the expected flow, hostile ones a named reason, and
//! no byte sequence panics (property tests over random and mutated frames).

use dataplane::packet::*;
use proptest::prelude::*;
use std::net::IpAddr;

const DST: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const SRC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

fn ip_flow(
    src: &str,
    dst: &str,
    protocol: u8,
    ports: Option<(u16, u16)>,
    tcp_flags: Option<u8>,
) -> IpFlow {
    IpFlow {
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        protocol,
        ports,
        tcp_flags,
    }
}

#[test]
fn udp_in_vlan_210() {
    let flow = Flow {
        vlan: Some(210),
        ethertype: ETHERTYPE_IPV4,
        ip: Some(ip_flow(
            "10.56.217.5",
            "10.56.217.1",
            IPPROTO_UDP,
            Some((40000, 53)),
            None,
        )),
    };
    let frame = emit_frame(&flow, None, DST, SRC, 30);
    assert_eq!(&frame[12..16], &[0x81, 0x00, 0x00, 210]);
    assert_eq!(parse_flow(&frame), Ok(flow));
}

#[test]
fn qinq_uses_the_outer_vlan() {
    let flow = Flow {
        vlan: Some(100),
        ethertype: ETHERTYPE_IPV6,
        ip: Some(ip_flow(
            "2001:db8::1",
            "2001:db8::2",
            IPPROTO_TCP,
            Some((1, 2)),
            Some(TCP_SYN),
        )),
    };
    let frame = emit_frame(&flow, Some(210), DST, SRC, 0);
    assert_eq!(
        &frame[12..20],
        &[0x88, 0xa8, 0x00, 100, 0x81, 0x00, 0x00, 210]
    );
    assert_eq!(parse_flow(&frame), Ok(flow));
    let mut three = frame.clone();
    three.splice(12..12, [0x81, 0x00, 0x00, 0x07]);
    assert_eq!(parse_flow(&three), Err(ParseError::TooManyVlanTags));
}

#[test]
fn jumbo_frames_parse() {
    let flow = Flow {
        vlan: None,
        ethertype: ETHERTYPE_IPV4,
        ip: Some(ip_flow(
            "10.0.0.1",
            "10.0.0.2",
            IPPROTO_UDP,
            Some((9, 9)),
            None,
        )),
    };
    let frame = emit_frame(&flow, None, DST, SRC, 9000 - 42);
    assert_eq!(frame.len(), 9000);
    assert_eq!(parse_flow(&frame), Ok(flow));
}

#[test]
fn later_fragments_have_no_ports() {
    for (src, dst) in [("10.0.0.1", "10.0.0.2"), ("2001:db8::1", "2001:db8::2")] {
        let flow = Flow {
            vlan: None,
            ethertype: if src.contains(':') {
                ETHERTYPE_IPV6
            } else {
                ETHERTYPE_IPV4
            },
            ip: Some(ip_flow(src, dst, IPPROTO_TCP, None, None)),
        };
        // The fragment's payload would be a garbage TCP header; the parser must not read it.
        let frame = emit_frame(&flow, None, DST, SRC, 3);
        assert_eq!(parse_flow(&frame), Ok(flow));
    }
}

#[test]
fn arp_and_other_ethertypes() {
    let arp = Flow {
        vlan: Some(5),
        ethertype: ETHERTYPE_ARP,
        ip: None,
    };
    let frame = emit_frame(&arp, None, DST, SRC, 0);
    assert_eq!(parse_flow(&frame), Ok(arp));
    assert_eq!(
        parse_flow(&frame[..frame.len() - 1]),
        Err(ParseError::TruncatedArp)
    );
    let lldp = Flow {
        vlan: None,
        ethertype: 0x88cc,
        ip: None,
    };
    assert_eq!(parse_flow(&emit_frame(&lldp, None, DST, SRC, 0)), Ok(lldp));
}

#[test]
fn hostile_frames_get_their_reason() {
    let flow = Flow {
        vlan: Some(210),
        ethertype: ETHERTYPE_IPV4,
        ip: Some(ip_flow(
            "10.0.0.1",
            "10.0.0.2",
            IPPROTO_TCP,
            Some((1, 2)),
            Some(0),
        )),
    };
    let good = emit_frame(&flow, None, DST, SRC, 0);
    let ip_at = 18;
    let cases: Vec<(Vec<u8>, ParseError)> = vec![
        (good[..10].to_vec(), ParseError::TruncatedEthernet),
        (good[..16].to_vec(), ParseError::TruncatedVlan),
        (good[..ip_at + 10].to_vec(), ParseError::TruncatedIpv4),
        (
            {
                let mut b = good.clone();
                b[ip_at] = 0x44;
                b
            },
            ParseError::BadIpv4Ihl,
        ),
        (
            {
                let mut b = good.clone();
                b[ip_at] = 0x55;
                b
            },
            ParseError::BadIpv4Version,
        ),
        (
            {
                let mut b = good.clone();
                b[ip_at + 3] = 0xff;
                b
            },
            ParseError::BadIpv4Length,
        ),
        // Shorten the IP total length so the TCP header is cut.
        (
            {
                let mut b = good.clone();
                b[ip_at + 3] -= 4;
                b
            },
            ParseError::TruncatedTcp,
        ),
        (
            {
                let mut b = good.clone();
                b[ip_at + 20 + 12] = 0x20;
                b
            },
            ParseError::BadTcpDataOffset,
        ),
    ];
    for (frame, reason) in cases {
        assert_eq!(parse_flow(&frame), Err(reason), "{frame:02x?}");
    }
}

#[test]
fn ipv6_extension_header_loop_is_bounded() {
    let mut frame = vec![0; 12];
    frame.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    let looped: Vec<u8> = (0..200)
        .flat_map(|_| [EXT_DESTINATION, 0, 0, 0, 0, 0, 0, 0])
        .collect();
    frame.extend_from_slice(&[0x60, 0, 0, 0]);
    frame.extend_from_slice(&(looped.len() as u16).to_be_bytes());
    frame.extend_from_slice(&[EXT_DESTINATION, 64]);
    frame.extend_from_slice(&[0; 32]);
    frame.extend_from_slice(&looped);
    assert_eq!(parse_flow(&frame), Err(ParseError::Ipv6ExtChainTooLong));
}

fn arb_ip_flow() -> impl Strategy<Value = (u16, IpFlow)> {
    let v4 = (any::<u32>(), any::<u32>()).prop_map(|(s, d)| {
        (
            ETHERTYPE_IPV4,
            IpAddr::from(s.to_be_bytes()),
            IpAddr::from(d.to_be_bytes()),
        )
    });
    let v6 = (any::<u128>(), any::<u128>()).prop_map(|(s, d)| {
        (
            ETHERTYPE_IPV6,
            IpAddr::from(s.to_be_bytes()),
            IpAddr::from(d.to_be_bytes()),
        )
    });
    (
        prop_oneof![v4, v6],
        prop_oneof![Just(6u8), Just(17), Just(1), Just(58), any::<u8>()],
        any::<Option<(u16, u16)>>(),
        any::<u8>(),
    )
        .prop_map(|((et, src, dst), protocol, ports, flags)| {
            let ports = ports.filter(|_| matches!(protocol, 6 | 17));
            let tcp_flags = (protocol == 6 && ports.is_some()).then_some(flags);
            // Extension-header numbers as the upper protocol would be followed as a chain.
            let protocol = if Ipv6ExtHeader::<&[u8]>::is_extension(protocol) {
                59
            } else {
                protocol
            };
            (
                et,
                IpFlow {
                    src,
                    dst,
                    protocol,
                    ports,
                    tcp_flags,
                },
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_flow(&bytes);
    }

    #[test]
    fn emitted_flows_parse_back(vlan in proptest::option::of(1u16..4095), inner in proptest::option::of(1u16..4095),
                                (ethertype, ip) in arb_ip_flow(), payload in 0usize..100) {
        let flow = Flow { vlan, ethertype, ip: Some(ip) };
        let frame = emit_frame(&flow, inner.filter(|_| vlan.is_some()), DST, SRC, payload);
        prop_assert_eq!(parse_flow(&frame), Ok(flow));
    }

    #[test]
    fn mutated_frames_never_panic((ethertype, ip) in arb_ip_flow(), vlan in proptest::option::of(1u16..4095),
                                  edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
                                  cut in any::<usize>()) {
        let mut frame = emit_frame(&Flow { vlan, ethertype, ip: Some(ip) }, None, DST, SRC, 16);
        for (at, byte) in edits {
            let at = at % frame.len();
            frame[at] = byte;
        }
        frame.truncate(cut % (frame.len() + 1));
        let _ = parse_flow(&frame);
    }
}
