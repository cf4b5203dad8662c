//! The demo's traffic: frames of every kind the seed's VLAN 210 firewall must tell apart (allowed and
//! denied flows on VLAN 210, other VLANs, untagged, malformed), what the rules' reference model says
//! should become of each, and the tally `vlan-traffic` prints of what was sent and what arrived.

use dataplane::firewall::{Action, Hit, ReferenceModel, RuleSet, Side, TableKey};
use dataplane::packet::{
    emit_frame, Flow, IpFlow, MacAddr, ETHERTYPE_ARP, ETHERTYPE_IPV4, IPPROTO_ICMP, IPPROTO_TCP,
    IPPROTO_UDP, TCP_ACK, TCP_SYN,
};

/// One kind of frame the generator sends, always the same bytes.
#[derive(Debug, Clone)]
pub struct FrameKind {
    /// What it is, for people.
    pub name: &'static str,
    /// The port it enters the firewall on (A = `net0`, B = `north`).
    pub ingress: Side,
    /// The frame as sent.
    pub frame: Vec<u8>,
}

/// A frame kind with what the rules make of it.
#[derive(Debug, Clone)]
pub struct Expected {
    /// The frame kind.
    pub kind: FrameKind,
    /// Allow or drop, by the reference model of the rules.
    pub action: Action,
    /// What decided.
    pub hit: Hit,
    /// What decided, in words (`rule "dns"`, `vlan 210 default`, `no table`, `malformed: ...`).
    pub decided_by: String,
    /// The frame as it leaves the other port when allowed (rewrites applied).
    pub output: Option<Vec<u8>>,
}

const OUTSIDE_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0x0a, 0x01]);
const POD_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0x0a, 0x02]);

fn ip_frame(
    vlan: Option<u16>,
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    ports: Option<(u16, u16)>,
    flags: Option<u8>,
) -> Vec<u8> {
    let ip = IpFlow {
        src: src.into(),
        dst: dst.into(),
        protocol: proto,
        ports,
        tcp_flags: flags,
    };
    let flow = Flow {
        vlan,
        ethertype: ETHERTYPE_IPV4,
        ip: Some(ip),
    };
    emit_frame(&flow, None, POD_MAC, OUTSIDE_MAC, 32)
}

fn arp_frame(vlan: Option<u16>) -> Vec<u8> {
    let flow = Flow {
        vlan,
        ethertype: ETHERTYPE_ARP,
        ip: None,
    };
    emit_frame(&flow, None, MacAddr([0xff; 6]), OUTSIDE_MAC, 0)
}

/// The frame kinds of the demo: the seed's VLAN 210 flows both ways, other VLANs, untagged frames and
/// malformed ones.
pub fn frame_kinds() -> Vec<FrameKind> {
    let (inside, outside, other) = ([10, 56, 217, 9], [192, 0, 2, 53], [10, 56, 218, 9]);
    let tcp = |vlan, src, dst, ports, flags| {
        ip_frame(vlan, src, dst, IPPROTO_TCP, Some(ports), Some(flags))
    };
    let udp = |vlan, src, dst, ports| ip_frame(vlan, src, dst, IPPROTO_UDP, Some(ports), None);
    let mut bad_ihl = udp(Some(210), inside, outside, (40000, 53));
    bad_ihl[18] = 0x43; // IPv4 header length 12 bytes: less than the minimum 20
    let mut truncated = udp(Some(210), inside, outside, (40000, 53));
    truncated.truncate(18 + 12); // the IPv4 header cut off after 12 bytes
    let kind = |name, ingress, frame| FrameKind {
        name,
        ingress,
        frame,
    };
    vec![
        kind(
            "vlan 210 dns query from 10.56.217.0/24",
            Side::A,
            udp(Some(210), inside, outside, (40000, 53)),
        ),
        kind(
            "vlan 210 https out from 10.56.217.0/24",
            Side::A,
            tcp(Some(210), inside, outside, (40001, 443), TCP_SYN),
        ),
        kind(
            "vlan 210 https reply into 10.56.217.0/24",
            Side::B,
            tcp(Some(210), outside, inside, (443, 40001), TCP_ACK),
        ),
        kind(
            "vlan 210 ping into 10.56.217.0/24",
            Side::B,
            ip_frame(Some(210), outside, inside, IPPROTO_ICMP, None, None),
        ),
        kind("vlan 210 arp", Side::A, arp_frame(Some(210))),
        kind(
            "vlan 210 telnet",
            Side::A,
            tcp(Some(210), inside, outside, (40002, 23), TCP_SYN),
        ),
        kind(
            "vlan 210 ssh",
            Side::A,
            tcp(Some(210), inside, outside, (40003, 22), TCP_SYN),
        ),
        kind(
            "vlan 210 dns from 10.56.218.0/24",
            Side::A,
            udp(Some(210), other, outside, (40000, 53)),
        ),
        kind(
            "vlan 210 https in, unsolicited (syn)",
            Side::B,
            tcp(Some(210), outside, inside, (443, 40004), TCP_SYN),
        ),
        kind(
            "vlan 211 dns query",
            Side::A,
            udp(Some(211), inside, outside, (40000, 53)),
        ),
        kind(
            "vlan 100 https out",
            Side::A,
            tcp(Some(100), inside, outside, (40001, 443), TCP_SYN),
        ),
        kind("untagged arp", Side::A, arp_frame(None)),
        kind(
            "untagged dns query",
            Side::A,
            udp(None, inside, outside, (40000, 53)),
        ),
        kind(
            "malformed: vlan 210, ipv4 header length 12",
            Side::A,
            bad_ihl,
        ),
        kind(
            "malformed: vlan 210, ipv4 header cut off",
            Side::A,
            truncated,
        ),
    ]
}

/// The shortest Ethernet frame a NIC puts on a wire (without the FCS); it pads shorter ones with zeros.
pub const WIRE_MIN_FRAME: usize = 60;

/// The kinds as a NIC sends them: frames shorter than [`WIRE_MIN_FRAME`] padded with zeros (the ARP
/// frames and the cut-off one), which is what a receiver on a real wire gets.
pub fn wire_frame_kinds() -> Vec<FrameKind> {
    let mut kinds = frame_kinds();
    for k in &mut kinds {
        if k.frame.len() < WIRE_MIN_FRAME {
            k.frame.resize(WIRE_MIN_FRAME, 0);
        }
    }
    kinds
}

/// Judges every kind with the reference model of `rules`.
pub fn expectations(rules: &RuleSet) -> Vec<Expected> {
    expectations_of(rules, frame_kinds())
}

/// Judges `kinds` (e.g. [`wire_frame_kinds`]) with the reference model of `rules`.
pub fn expectations_of(rules: &RuleSet, kinds: Vec<FrameKind>) -> Vec<Expected> {
    let mut model = ReferenceModel::new(rules.clone());
    kinds
        .into_iter()
        .map(|kind| {
            let (verdict, output) = model.process(kind.ingress, &kind.frame);
            Expected {
                decided_by: decided_by(rules, verdict.hit),
                hit: verdict.hit,
                action: verdict.action,
                output,
                kind,
            }
        })
        .collect()
}

fn decided_by(rules: &RuleSet, hit: Hit) -> String {
    let table = |i: usize| match rules.tables.keys().nth(i) {
        Some(TableKey::Vlan(id)) => format!("vlan {id}"),
        _ => "untagged".to_string(),
    };
    let table_at = |i: usize| rules.tables.values().nth(i);
    match hit {
        Hit::Malformed(reason) => format!("malformed: {reason}"),
        Hit::NoTable => "no table: global default".to_string(),
        Hit::Rule { table: t, rule } => {
            let name = table_at(t)
                .and_then(|tb| tb.rules.get(rule))
                .and_then(|r| r.name.clone());
            format!(
                "{} rule {:?}",
                table(t),
                name.unwrap_or_else(|| rule.to_string())
            )
        }
        Hit::Default { table: t } => format!("{} default", table(t)),
    }
}

/// A frame seen on a port, told apart from the kinds that entered on the other port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// Index of the kind (into [`frame_kinds`]).
    pub index: usize,
    /// Whether the bytes are exactly what the rules' model says leaves (false: altered, or a frame the
    /// model drops).
    pub as_expected: bool,
}

/// Which kind a frame received on `port` is, if any: the kind that entered on the other port with the
/// same bytes after the destination MAC (the only field the seed's rules rewrite).
pub fn match_arrival(expected: &[Expected], port: Side, frame: &[u8]) -> Option<Arrival> {
    let index = expected
        .iter()
        .position(|e| e.kind.ingress != port && frame.get(6..) == e.kind.frame.get(6..))?;
    let as_expected = expected[index].output.as_deref() == Some(frame);
    Some(Arrival { index, as_expected })
}

/// What `vlan-traffic` reports for one kind in the exact phase: `kind <index> sent <n> arrived <m>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindTally {
    /// Index into [`frame_kinds`].
    pub index: usize,
    /// Frames sent.
    pub sent: u64,
    /// Frames of this kind that arrived on the other port.
    pub arrived: u64,
    /// Of those, frames that differ from what the rules' model says leaves (or that it drops).
    pub unexpected: u64,
}

impl KindTally {
    /// The line `vlan-traffic` prints.
    pub fn line(&self) -> String {
        format!(
            "kind {} sent {} arrived {} unexpected {}",
            self.index, self.sent, self.arrived, self.unexpected
        )
    }

    /// Parses [`KindTally::line`]'s output.
    pub fn parse(line: &str) -> Option<KindTally> {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["kind", i, "sent", s, "arrived", a, "unexpected", u] => Some(KindTally {
                index: i.parse().ok()?,
                sent: s.parse().ok()?,
                arrived: a.parse().ok()?,
                unexpected: u.parse().ok()?,
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::firewall::parse_rule_file;

    fn seed_rules() -> RuleSet {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../dataplane/tests/firewall_rules_vlan210.json"
        );
        parse_rule_file(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn wire_kinds_are_padded_to_the_minimum_and_otherwise_the_same() {
        let (plain, wire) = (frame_kinds(), wire_frame_kinds());
        assert_eq!(plain.len(), wire.len());
        let mut padded = 0;
        for (p, w) in plain.iter().zip(&wire) {
            assert_eq!(
                w.frame.len(),
                p.frame.len().max(WIRE_MIN_FRAME),
                "{}",
                p.name
            );
            assert_eq!(&w.frame[..p.frame.len()], &p.frame[..], "{}", p.name);
            assert!(
                w.frame[p.frame.len()..].iter().all(|&b| b == 0),
                "{}",
                p.name
            );
            padded += usize::from(w.frame.len() > p.frame.len());
        }
        assert_eq!(
            padded, 3,
            "two ARP frames and the cut-off IPv4 header are runts"
        );
        let e = expectations_of(&seed_rules(), wire);
        let arp = e.iter().find(|e| e.kind.name == "vlan 210 arp").unwrap();
        assert_eq!(arp.action, Action::Allow);
        assert_eq!(
            arp.output.as_ref().map(Vec::len),
            Some(WIRE_MIN_FRAME),
            "padding passes through"
        );
    }

    #[test]
    fn the_kinds_cover_allow_drop_other_vlans_untagged_and_malformed() {
        let e = expectations(&seed_rules());
        let allowed = e.iter().filter(|e| e.action == Action::Allow).count();
        assert!(
            allowed >= 5 && allowed < e.len(),
            "{allowed} of {}",
            e.len()
        );
        for needle in [
            "rule \"dns\"",
            "rule \"no telnet\"",
            "vlan 210 default",
            "no table",
            "untagged rule",
            "malformed: ",
        ] {
            assert!(
                e.iter().any(|e| e.decided_by.contains(needle)),
                "nothing decided by {needle}"
            );
        }
        assert_eq!(
            e.iter()
                .filter(|e| e.decided_by.starts_with("malformed"))
                .count(),
            2
        );
    }

    #[test]
    fn arrivals_match_only_the_other_ports_allowed_outputs() {
        let e = expectations(&seed_rules());
        let dns = &e[0];
        let out = dns.output.clone().unwrap();
        assert_ne!(
            out, dns.kind.frame,
            "the VLAN 210 a->b rewrite changes the destination MAC"
        );
        let exact = Arrival {
            index: 0,
            as_expected: true,
        };
        assert_eq!(match_arrival(&e, Side::B, &out), Some(exact));
        assert_eq!(
            match_arrival(&e, Side::A, &out),
            None,
            "a frame seen back on its own port"
        );
        let unrewritten = Arrival {
            index: 0,
            as_expected: false,
        };
        assert_eq!(
            match_arrival(&e, Side::B, &dns.kind.frame),
            Some(unrewritten)
        );
        let telnet = e
            .iter()
            .position(|e| e.decided_by.contains("telnet"))
            .unwrap();
        let leaked = match_arrival(&e, Side::B, &e[telnet].kind.frame).unwrap();
        assert_eq!(
            (leaked.index, leaked.as_expected),
            (telnet, false),
            "a dropped kind that got through"
        );
    }

    #[test]
    fn kinds_differ_after_the_destination_mac() {
        let kinds = frame_kinds();
        for (i, a) in kinds.iter().enumerate() {
            for b in &kinds[i + 1..] {
                assert_ne!(a.frame[6..], b.frame[6..], "{} and {}", a.name, b.name);
            }
        }
    }

    #[test]
    fn tally_lines_round_trip() {
        let t = KindTally {
            index: 3,
            sent: 1000,
            arrived: 998,
            unexpected: 1,
        };
        assert_eq!(KindTally::parse(&t.line()), Some(t));
        assert_eq!(
            KindTally::parse("kind x sent 1 arrived 1 unexpected 0"),
            None
        );
    }
}
