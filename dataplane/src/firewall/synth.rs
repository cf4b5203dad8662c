//! Synthetic rule sets and traffic from a seed, for randomized tests and benchmarks.
//!
//! [`overlapping_rule_set`] draws every field from small pools so that rules overlap, shadow each other
//! and hit edge values; [`acl_rule_set`] draws a large access list (specific destinations and services)
//! for a large-table test ([`classbench`](super::classbench) has the real-world shapes). [`frame_for`]
//! makes a frame aimed at one of a table's rules, or a random or hostile one.

use super::rules::{
    Action, PortRange, Prefix, Rewrite, Rule, RuleSet, Side, Table, TableKey, TcpFlagsMatch,
};
use crate::packet::{
    emit_frame, Flow, IpFlow, MacAddr, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6,
    EXT_DESTINATION, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP,
};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A small deterministic pseudo-random generator (xorshift64*), so every run reproduces from its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of a non-empty slice.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Length of the jumbo frames in generated traffic.
pub const JUMBO_FRAME: usize = 9000;

const VLAN_POOL: [u16; 5] = [10, 210, 310, 1000, 4094];
const PROTO_POOL: [u8; 6] = [
    IPPROTO_TCP,
    IPPROTO_UDP,
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    47,
    132,
];
const PORT_POOL: [u16; 8] = [0, 1, 53, 80, 443, 1024, 8080, 65535];

fn v4_in_pool(rng: &mut Rng) -> Ipv4Addr {
    // Two /24s and their neighbourhood: enough collisions for overlapping prefixes.
    Ipv4Addr::new(
        10,
        56,
        rng.pick(&[216, 217, 218]),
        rng.pick(&[0, 1, 2, 127, 128, 200, 255]),
    )
}

fn v6_in_pool(rng: &mut Rng) -> Ipv6Addr {
    Ipv6Addr::new(
        0x2001,
        0xdb8,
        0,
        rng.pick(&[0, 1]),
        0,
        0,
        0,
        rng.pick(&[0, 1, 2, 0x7fff, 0x8000, 0xffff]),
    )
}

fn pool_prefix(rng: &mut Rng, v6: bool) -> Prefix {
    if v6 {
        Prefix::covering(
            IpAddr::V6(v6_in_pool(rng)),
            rng.pick(&[0, 64, 112, 120, 127, 128]),
        )
    } else {
        Prefix::covering(
            IpAddr::V4(v4_in_pool(rng)),
            rng.pick(&[0, 8, 16, 23, 24, 25, 31, 32]),
        )
    }
}

fn pool_ports(rng: &mut Rng) -> PortRange {
    let (a, b) = (rng.pick(&PORT_POOL), rng.pick(&PORT_POOL));
    if rng.percent(50) {
        PortRange { lo: a, hi: a }
    } else {
        PortRange {
            lo: a.min(b),
            hi: a.max(b),
        }
    }
}

/// A rule whose fields are each present at random and drawn from small pools (possibly contradictory).
fn overlapping_rule(rng: &mut Rng) -> Rule {
    let v6 = rng.percent(30);
    let mut rule = Rule::new(if rng.percent(50) {
        Action::Allow
    } else {
        Action::Drop
    });
    if rng.percent(20) {
        rule.ingress = Some(if rng.percent(50) { Side::A } else { Side::B });
    }
    if rng.percent(10) {
        rule.ethertype = Some(rng.pick(&[ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_ARP, 0x88cc]));
    }
    if rng.percent(60) {
        rule.protocol = Some(rng.pick(&PROTO_POOL));
    }
    if rng.percent(50) {
        rule.src = Some(pool_prefix(rng, v6));
    }
    if rng.percent(50) {
        rule.dst = Some(pool_prefix(rng, v6));
    }
    if rng.percent(35) {
        rule.sport = Some(pool_ports(rng));
    }
    if rng.percent(45) {
        rule.dport = Some(pool_ports(rng));
    }
    if rng.percent(15) {
        let mask = rng.next_u64() as u8;
        rule.tcp_flags = Some(TcpFlagsMatch {
            mask,
            value: mask & rng.next_u64() as u8,
        });
    }
    rule
}

fn random_rewrite(rng: &mut Rng, tagged: bool) -> Rewrite {
    Rewrite {
        vlan: (tagged && rng.percent(40)).then(|| rng.pick(&VLAN_POOL)),
        src_mac: rng
            .percent(30)
            .then(|| MacAddr([2, 0, 0, 0, 0xaa, rng.next_u64() as u8])),
        dst_mac: rng
            .percent(30)
            .then(|| MacAddr([2, 0, 0, 0, 0xbb, rng.next_u64() as u8])),
    }
}

/// A rule set with up to `tables` tables (some VLANs of the pool, maybe untagged) of up to
/// `max_rules` overlapping rules each, random defaults and rewrites.
pub fn overlapping_rule_set(rng: &mut Rng, tables: usize, max_rules: usize) -> RuleSet {
    let mut out = BTreeMap::new();
    for _ in 0..tables {
        let key = if rng.percent(25) {
            TableKey::Untagged
        } else {
            TableKey::Vlan(rng.pick(&VLAN_POOL))
        };
        let mut table = Table::new(if rng.percent(50) {
            Action::Allow
        } else {
            Action::Drop
        });
        table.rules = (0..rng.below(max_rules as u64 + 1))
            .map(|_| overlapping_rule(rng))
            .collect();
        table.rewrite_a_to_b = random_rewrite(rng, key != TableKey::Untagged);
        table.rewrite_b_to_a = random_rewrite(rng, key != TableKey::Untagged);
        out.insert(key, table);
    }
    RuleSet {
        default: if rng.percent(50) {
            Action::Allow
        } else {
            Action::Drop
        },
        tables: out,
    }
}

/// A realistic access list of `n` rules for VLAN 210: mostly TCP/UDP services on specific destination
/// hosts and subnets, some restricted by source, followed by the table default (drop).
pub fn acl_rule_set(rng: &mut Rng, n: usize) -> RuleSet {
    let rules = (0..n)
        .map(|_| {
            let mut rule = Rule::new(if rng.percent(80) {
                Action::Allow
            } else {
                Action::Drop
            });
            let dst = Ipv4Addr::from(0x0a00_0000 | (rng.next_u64() as u32 & 0x00ff_ffff));
            rule.dst = Some(Prefix::covering(
                IpAddr::V4(dst),
                rng.pick(&[24, 28, 32, 32, 32]),
            ));
            if rng.percent(50) {
                let src = Ipv4Addr::from(0xac10_0000 | (rng.next_u64() as u32 & 0x000f_ffff));
                rule.src = Some(Prefix::covering(
                    IpAddr::V4(src),
                    rng.pick(&[12, 16, 20, 24]),
                ));
            }
            if rng.percent(90) {
                rule.protocol = Some(if rng.percent(70) {
                    IPPROTO_TCP
                } else {
                    IPPROTO_UDP
                });
                let port = rng.below(65536) as u16;
                rule.dport = Some(if rng.percent(80) {
                    PortRange { lo: port, hi: port }
                } else {
                    PortRange {
                        lo: port,
                        hi: port.saturating_add(rng.below(1024) as u16),
                    }
                });
            } else {
                rule.protocol = Some(IPPROTO_ICMP);
            }
            rule
        })
        .collect();
    let mut table = Table::new(Action::Drop);
    table.rules = rules;
    RuleSet {
        default: Action::Drop,
        tables: BTreeMap::from([(TableKey::Vlan(210), table)]),
    }
}

fn addr_in(rng: &mut Rng, prefix: Prefix) -> IpAddr {
    let host = rng.next_u64() as u128 | ((rng.next_u64() as u128) << 64);
    let host = match rng.below(4) {
        0 => 0,
        1 => u128::MAX,
        _ => host,
    };
    match prefix.addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shr(prefix.len as u32).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) | (host as u32 & mask)))
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shr(prefix.len as u32).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) | (host & mask)))
        }
    }
}

fn port_in(rng: &mut Rng, range: Option<PortRange>) -> u16 {
    match range {
        None => rng.pick(&PORT_POOL),
        Some(r) => match rng.below(3) {
            0 => r.lo,
            1 => r.hi,
            _ => r.lo + rng.below(r.hi as u64 - r.lo as u64 + 1) as u16,
        },
    }
}

/// A flow that satisfies `rule` where it can (its conditions may contradict), with random other fields.
fn flow_for(rng: &mut Rng, rule: &Rule, vlan: Option<u16>) -> Flow {
    let v6 = match (rule.src, rule.dst, rule.ethertype) {
        (Some(p), _, _) | (None, Some(p), _) => p.addr.is_ipv6(),
        (None, None, Some(et)) => et == ETHERTYPE_IPV6,
        _ => rule.protocol == Some(IPPROTO_ICMPV6) || (rule.protocol.is_none() && rng.percent(30)),
    };
    let non_ip = matches!(rule.ethertype, Some(et) if et != ETHERTYPE_IPV4 && et != ETHERTYPE_IPV6);
    if non_ip {
        return Flow {
            vlan,
            ethertype: rule.ethertype.unwrap_or(ETHERTYPE_ARP),
            ip: None,
        };
    }
    let src_prefix = rule
        .src
        .filter(|p| p.addr.is_ipv6() == v6)
        .unwrap_or_else(|| pool_prefix(rng, v6));
    let dst_prefix = rule
        .dst
        .filter(|p| p.addr.is_ipv6() == v6)
        .unwrap_or_else(|| pool_prefix(rng, v6));
    let (src, dst) = (addr_in(rng, src_prefix), addr_in(rng, dst_prefix));
    let protocol = rule.protocol.unwrap_or_else(|| rng.pick(&PROTO_POOL));
    let has_ports = matches!(protocol, IPPROTO_TCP | IPPROTO_UDP) && !rng.percent(5);
    let ports = has_ports.then(|| (port_in(rng, rule.sport), port_in(rng, rule.dport)));
    let tcp_flags = (protocol == IPPROTO_TCP && has_ports).then(|| match rule.tcp_flags {
        Some(f) => f.value | (rng.next_u64() as u8 & !f.mask),
        None => rng.next_u64() as u8,
    });
    Flow {
        vlan,
        ethertype: if v6 { ETHERTYPE_IPV6 } else { ETHERTYPE_IPV4 },
        ip: Some(IpFlow {
            src,
            dst,
            protocol,
            ports,
            tcp_flags,
        }),
    }
}

/// Breaks a well-formed frame in one of the ways hostile traffic does.
fn make_hostile(rng: &mut Rng, frame: &mut Vec<u8>) {
    match rng.below(4) {
        0 => frame.truncate(rng.below(frame.len() as u64) as usize),
        1 => {
            // IHL < 5 or a bad version, if there is an IP header right after 14..22 bytes of L2.
            let at = rng.pick(&[14usize, 18, 22]);
            if let Some(b) = frame.get_mut(at) {
                *b = rng.pick(&[0x40, 0x44, 0x4f, 0x65, 0x00]);
            }
        }
        2 => {
            // An IPv6 destination-options loop.
            let looped: Vec<u8> = (0..12)
                .flat_map(|_| [EXT_DESTINATION, 0, 0, 0, 0, 0, 0, 0])
                .collect();
            let mut ip = vec![0x60, 0, 0, 0, 0, looped.len() as u8, EXT_DESTINATION, 64];
            ip.extend_from_slice(&[0; 32]);
            ip.extend_from_slice(&looped);
            frame.truncate(12);
            frame.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
            frame.extend_from_slice(&ip);
        }
        _ => {
            // A third VLAN tag.
            frame.splice(
                12..12,
                [
                    0x81, 0x00, 0x00, 0x07, 0x88, 0xa8, 0x00, 0x08, 0x81, 0x00, 0x00, 0x09,
                ],
            );
        }
    }
}

/// A frame for `rules` and the port it arrives on: usually aimed at a random rule of a random table,
/// sometimes at a VLAN without a table, sometimes QinQ, jumbo (9000 bytes) or hostile.
pub fn frame_for(rng: &mut Rng, rules: &RuleSet) -> (Side, Vec<u8>) {
    let keys: Vec<TableKey> = rules.tables.keys().copied().collect();
    let key = if keys.is_empty() || rng.percent(10) {
        if rng.percent(50) {
            TableKey::Untagged
        } else {
            TableKey::Vlan(rng.pick(&VLAN_POOL))
        }
    } else {
        rng.pick(&keys)
    };
    let vlan = match key {
        TableKey::Untagged => None,
        TableKey::Vlan(id) => Some(id),
    };
    let target = match rules.tables.get(&key) {
        Some(t) if !t.rules.is_empty() && rng.percent(80) => {
            t.rules[rng.below(t.rules.len() as u64) as usize].clone()
        }
        _ => overlapping_rule(rng),
    };
    let flow = flow_for(rng, &target, vlan);
    let inner = (vlan.is_some() && rng.percent(10)).then(|| rng.pick(&VLAN_POOL));
    let (dst, src) = (MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));
    let mut frame = emit_frame(&flow, inner, dst, src, rng.below(64) as usize);
    if rng.percent(3) {
        // A 9000-byte jumbo frame: the same headers, a longer payload.
        let headers = emit_frame(&flow, inner, dst, src, 0).len();
        frame = emit_frame(
            &flow,
            inner,
            dst,
            src,
            JUMBO_FRAME - headers.min(JUMBO_FRAME),
        );
    }
    if rng.percent(5) {
        make_hostile(rng, &mut frame);
    }
    let side = target
        .ingress
        .filter(|_| rng.percent(80))
        .unwrap_or(if rng.percent(50) { Side::A } else { Side::B });
    (side, frame)
}
