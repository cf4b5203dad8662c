//! ClassBench-style rule sets and traffic from a seed: the shapes of real filter sets, for tests and
//! benchmarks that must not see only friendly inputs.
//!
//! ClassBench (Taylor and Turner) describes real IPv4 5-tuple filter sets by three families: access
//! lists (`acl`: specific destinations and services), firewalls (`fw`: many wildcard addresses and port
//! ranges) and IP chains (`ipc`: in between). [`rule_set`] draws `n` rules of one [`Shape`] from that
//! shape's prefix-length distributions, wildcard fractions per field, port-range classes (exact,
//! 0-1023, 1024-65535, arbitrary) and protocol mix (any, TCP, UDP, ICMP), over a small pool of networks
//! so that prefixes nest and overlap, and ends the list with catch-all rules, as real firewalls do.
//! [`traffic`] aims flows at rules, at their edges (first and last address, range ends) and just past
//! them.

use super::rules::{Action, PortRange, Prefix, Rule, RuleSet, Table, TableKey};
use super::synth::Rng;
use crate::packet::{Flow, IpFlow, ETHERTYPE_IPV4, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

/// A family of real filter sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// Access lists: specific destinations and services, few wildcards.
    Acl,
    /// Firewalls: many wildcard addresses, port ranges and "any" protocols.
    Fw,
    /// IP chains: between the two.
    Ipc,
}

impl Shape {
    /// Every shape.
    pub const ALL: [Shape; 3] = [Shape::Acl, Shape::Fw, Shape::Ipc];

    /// Short name: `acl`, `fw`, `ipc`.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Acl => "acl",
            Shape::Fw => "fw",
            Shape::Ipc => "ipc",
        }
    }

    fn params(self) -> &'static Params {
        match self {
            Shape::Acl => &ACL,
            Shape::Fw => &FW,
            Shape::Ipc => &IPC,
        }
    }
}

/// How a rule states that a field matches anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wildcards {
    /// The field is left out.
    LeftOut,
    /// Addresses are written `0.0.0.0/0`, ports (of TCP/UDP rules) `0-65535`.
    SpelledOut,
}

/// Weighted choices: `(weight, value)`.
type Weighted<T> = &'static [(u32, T)];

/// A port condition class.
#[derive(Debug, Clone, Copy)]
enum PortClass {
    Any,
    Exact,
    WellKnown,
    Ephemeral,
    Arbitrary,
}

/// The statistics one shape draws from.
struct Params {
    /// Source prefix lengths (0 = wildcard).
    src_len: Weighted<u8>,
    /// Destination prefix lengths (0 = wildcard).
    dst_len: Weighted<u8>,
    sport: Weighted<PortClass>,
    dport: Weighted<PortClass>,
    /// Protocols (`None` = any).
    proto: Weighted<Option<u8>>,
    /// Percentage of drop rules before the catch-alls.
    drop_percent: u64,
}

use PortClass::{Any, Arbitrary, Ephemeral, Exact, WellKnown};

const ACL: Params = Params {
    src_len: &[(10, 0), (5, 8), (15, 16), (25, 24), (10, 28), (35, 32)],
    dst_len: &[(2, 0), (20, 24), (10, 28), (8, 30), (60, 32)],
    sport: &[(97, Any), (3, Exact)],
    dport: &[
        (20, Any),
        (55, Exact),
        (5, WellKnown),
        (10, Ephemeral),
        (10, Arbitrary),
    ],
    proto: &[
        (10, None),
        (62, Some(IPPROTO_TCP)),
        (20, Some(IPPROTO_UDP)),
        (8, Some(IPPROTO_ICMP)),
    ],
    drop_percent: 15,
};

const FW: Params = Params {
    src_len: &[(40, 0), (5, 8), (15, 16), (20, 24), (20, 32)],
    dst_len: &[(30, 0), (5, 8), (10, 16), (25, 24), (30, 32)],
    sport: &[
        (72, Any),
        (5, Exact),
        (3, WellKnown),
        (15, Ephemeral),
        (5, Arbitrary),
    ],
    dport: &[
        (40, Any),
        (35, Exact),
        (8, WellKnown),
        (10, Ephemeral),
        (7, Arbitrary),
    ],
    proto: &[
        (25, None),
        (50, Some(IPPROTO_TCP)),
        (20, Some(IPPROTO_UDP)),
        (5, Some(IPPROTO_ICMP)),
    ],
    drop_percent: 30,
};

const IPC: Params = Params {
    src_len: &[(20, 0), (5, 8), (15, 16), (25, 24), (35, 32)],
    dst_len: &[(20, 0), (5, 8), (15, 16), (25, 24), (35, 32)],
    sport: &[(80, Any), (10, Exact), (5, Ephemeral), (5, Arbitrary)],
    dport: &[
        (40, Any),
        (45, Exact),
        (5, WellKnown),
        (5, Ephemeral),
        (5, Arbitrary),
    ],
    proto: &[
        (15, None),
        (45, Some(IPPROTO_TCP)),
        (30, Some(IPPROTO_UDP)),
        (10, Some(IPPROTO_ICMP)),
    ],
    drop_percent: 20,
};

fn weighted<T: Copy>(rng: &mut Rng, choices: Weighted<T>) -> T {
    let total: u32 = choices.iter().map(|(w, _)| w).sum();
    let mut roll = rng.below(total as u64) as u32;
    for (w, v) in choices {
        if roll < *w {
            return *v;
        }
        roll -= w;
    }
    choices[choices.len() - 1].1
}

/// The networks a set's addresses are drawn from: 16 /8s holding 64 /16s, so that prefixes of
/// different lengths nest and overlap as in real sets.
struct Networks(Vec<u32>);

impl Networks {
    fn new(rng: &mut Rng) -> Networks {
        let eights: Vec<u32> = (0..16).map(|_| 1 + rng.below(223) as u32).collect();
        Networks(
            (0..64)
                .map(|_| (rng.pick(&eights) << 24) | ((rng.below(256) as u32) << 16))
                .collect(),
        )
    }

    fn prefix(&self, rng: &mut Rng, len: u8) -> Prefix {
        let addr = rng.pick(&self.0) | (rng.next_u64() as u32 & 0xffff);
        Prefix::covering(IpAddr::V4(Ipv4Addr::from(addr)), len)
    }
}

fn ports(rng: &mut Rng, class: PortClass) -> Option<PortRange> {
    let range = |lo: u16, hi: u16| Some(PortRange { lo, hi });
    match class {
        Any => None,
        Exact => {
            let p = rng.pick(&[21, 22, 23, 25, 53, 80, 123, 443, 1521, 3306, 8080]);
            let p = if rng.percent(50) {
                p
            } else {
                rng.below(65536) as u16
            };
            range(p, p)
        }
        WellKnown => range(0, 1023),
        Ephemeral => range(1024, 65535),
        Arbitrary => {
            let lo = rng.below(65536) as u16;
            range(lo, lo.saturating_add(rng.below(4096) as u16))
        }
    }
}

fn rule(rng: &mut Rng, p: &Params, nets: &Networks) -> Rule {
    let action = if rng.percent(p.drop_percent) {
        Action::Drop
    } else {
        Action::Allow
    };
    let mut rule = Rule::new(action);
    let prefix = |rng: &mut Rng, len: u8| (len > 0).then(|| nets.prefix(rng, len));
    rule.protocol = weighted(rng, p.proto);
    let src_len = weighted(rng, p.src_len);
    let mut dst_len = weighted(rng, p.dst_len);
    // Real sets rarely have a rule open on both addresses, or a protocol-any rule without one
    // specific address, before the catch-alls.
    let least = if rule.protocol.is_none() { 24 } else { 1 };
    while src_len.max(dst_len) < least {
        dst_len = weighted(rng, p.dst_len);
    }
    rule.src = prefix(rng, src_len);
    rule.dst = prefix(rng, dst_len);
    if matches!(rule.protocol, Some(IPPROTO_TCP | IPPROTO_UDP)) {
        let (s, d) = (weighted(rng, p.sport), weighted(rng, p.dport));
        rule.sport = ports(rng, s);
        rule.dport = ports(rng, d);
    }
    rule
}

/// The catch-alls a real list ends with: per-protocol drops (firewalls), then one rule matching
/// everything.
fn catch_alls(shape: Shape) -> Vec<Rule> {
    let mut out = Vec::new();
    if shape == Shape::Fw {
        for proto in [IPPROTO_TCP, IPPROTO_UDP] {
            out.push(Rule {
                protocol: Some(proto),
                ..Rule::new(Action::Drop)
            });
        }
    }
    out.push(Rule::new(Action::Drop));
    out
}

/// `rule` with its wildcards written out: `0.0.0.0/0` addresses and, for TCP/UDP rules, `0-65535`
/// ports.
fn spell_out(mut rule: Rule) -> Rule {
    let any = Prefix::covering(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
    rule.src = rule.src.or(Some(any));
    rule.dst = rule.dst.or(Some(any));
    if matches!(rule.protocol, Some(IPPROTO_TCP | IPPROTO_UDP)) {
        let all = PortRange { lo: 0, hi: 65535 };
        rule.sport = rule.sport.or(Some(all));
        rule.dport = rule.dport.or(Some(all));
    }
    rule
}

/// `n` rules of `shape` (the last of them catch-alls), with wildcards written as `wildcards` says.
pub fn rules(rng: &mut Rng, shape: Shape, n: usize, wildcards: Wildcards) -> Vec<Rule> {
    let nets = Networks::new(rng);
    let tail = catch_alls(shape);
    let body = n.saturating_sub(tail.len());
    let mut out: Vec<Rule> = (0..body)
        .map(|_| rule(rng, shape.params(), &nets))
        .collect();
    out.extend(tail.into_iter().take(n - body));
    if wildcards == Wildcards::SpelledOut {
        out = out.into_iter().map(spell_out).collect();
    }
    out
}

/// A rule set of one untagged table holding `rules` (default drop).
pub fn rule_set(rules: Vec<Rule>) -> RuleSet {
    let mut table = Table::new(Action::Drop);
    table.rules = rules;
    RuleSet {
        default: Action::Drop,
        tables: BTreeMap::from([(TableKey::Untagged, table)]),
    }
}

/// A value in `[lo, hi]`: an end, just past an end (if that stays in `0..=max`), or inside.
fn edge_or_inside(rng: &mut Rng, lo: u64, hi: u64, max: u64) -> u64 {
    match rng.below(8) {
        0 => lo,
        1 => hi,
        2 => lo.checked_sub(1).unwrap_or(lo),
        3 => (hi + 1).min(max),
        _ => lo + rng.below(hi - lo + 1),
    }
}

fn addr_near(rng: &mut Rng, prefix: Option<Prefix>) -> IpAddr {
    let (lo, hi) = prefix.map_or((0, u32::MAX as u128), |p| p.bounds());
    let v = edge_or_inside(rng, lo as u64, hi as u64, u32::MAX as u64);
    IpAddr::V4(Ipv4Addr::from(v as u32))
}

fn port_near(rng: &mut Rng, range: Option<PortRange>) -> u16 {
    let (lo, hi) = range.map_or((0, 65535), |r| (r.lo as u64, r.hi as u64));
    edge_or_inside(rng, lo, hi, 65535) as u16
}

/// `n` untagged IPv4 flows, each aimed at a random rule of `rules` (or, one in ten, at nothing in
/// particular): addresses and ports at the rule's edges, just past them, or inside.
pub fn traffic(rng: &mut Rng, rules: &[Rule], n: usize) -> Vec<Flow> {
    (0..n)
        .map(|_| {
            let target = match rules.len() {
                0 => None,
                len if !rng.percent(10) => Some(&rules[rng.below(len as u64) as usize]),
                _ => None,
            };
            let (src, dst, sport, dport, proto) = match target {
                Some(r) => (r.src, r.dst, r.sport, r.dport, r.protocol),
                None => (None, None, None, None, None),
            };
            let protocol =
                proto.unwrap_or_else(|| rng.pick(&[IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, 47]));
            let has_ports = matches!(protocol, IPPROTO_TCP | IPPROTO_UDP);
            Flow {
                vlan: None,
                ethertype: ETHERTYPE_IPV4,
                ip: Some(IpFlow {
                    src: addr_near(rng, src),
                    dst: addr_near(rng, dst),
                    protocol,
                    ports: has_ports.then(|| (port_near(rng, sport), port_near(rng, dport))),
                    tcp_flags: (protocol == IPPROTO_TCP).then(|| rng.next_u64() as u8),
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_differ_in_wildcards_and_end_with_a_catch_all() {
        let wildcard_share = |shape| {
            let rules = rules(&mut Rng::new(7), shape, 2000, Wildcards::LeftOut);
            assert_eq!(rules.len(), 2000);
            assert_eq!(rules.last(), Some(&Rule::new(Action::Drop)));
            rules.iter().filter(|r| r.src.is_none()).count()
        };
        let (acl, fw) = (wildcard_share(Shape::Acl), wildcard_share(Shape::Fw));
        assert!(fw > 2 * acl, "fw {fw} wildcard sources, acl {acl}");
    }

    #[test]
    fn spelled_out_wildcards_leave_no_field_out_of_tcp_rules() {
        let rules = rules(&mut Rng::new(8), Shape::Fw, 500, Wildcards::SpelledOut);
        for r in rules.iter().filter(|r| r.protocol == Some(IPPROTO_TCP)) {
            assert!(r.src.is_some() && r.dst.is_some() && r.sport.is_some() && r.dport.is_some());
        }
    }

    #[test]
    fn seeds_reproduce() {
        let draw = |seed| rules(&mut Rng::new(seed), Shape::Ipc, 300, Wildcards::LeftOut);
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }
}
