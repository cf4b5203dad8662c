//! Rules and frames as points and boxes in one key space, the form the decision tree works on.
//!
//! A frame becomes a [`Key`]: one integer per dimension. A rule becomes a [`RuleBox`]: one inclusive range
//! per dimension (plus an optional TCP flags test that ranges cannot express). A rule matches a frame
//! exactly when every range contains the frame's value and the flags test holds.

use super::rules::{Rule, Side};
use crate::packet::{Flow, ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use std::net::IpAddr;

/// Number of key dimensions.
pub const DIMS: usize = 7;
/// Ingress side: A = 0, B = 1.
pub const DIM_SIDE: usize = 0;
/// EtherType class: IPv4 = 0, IPv6 = 1, any other EtherType `e` = `e + 2` (so "any IP" is one range).
pub const DIM_ETHER: usize = 1;
/// IP protocol 0-255; [`NO_PROTOCOL`] for non-IP frames.
pub const DIM_PROTO: usize = 2;
/// Source address as an integer (IPv4 and IPv6 are told apart by [`DIM_ETHER`]); 0 for non-IP frames.
pub const DIM_SRC: usize = 3;
/// Destination address as an integer.
pub const DIM_DST: usize = 4;
/// Source port 0-65535; [`NO_PORT`] when the frame has no TCP/UDP header.
pub const DIM_SPORT: usize = 5;
/// Destination port 0-65535; [`NO_PORT`] when the frame has no TCP/UDP header.
pub const DIM_DPORT: usize = 6;
/// Protocol value of non-IP frames (outside every rule's protocol range).
pub const NO_PROTOCOL: u128 = 256;
/// Port value of frames without ports (outside every rule's port range).
pub const NO_PORT: u128 = 65536;

/// A frame as a point in key space, plus its TCP flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// One value per dimension.
    pub values: [u128; DIMS],
    /// TCP flags, when the frame has a TCP header.
    pub tcp_flags: Option<u8>,
}

fn ether_class(ethertype: u16) -> u128 {
    match ethertype {
        ETHERTYPE_IPV4 => 0,
        ETHERTYPE_IPV6 => 1,
        other => other as u128 + 2,
    }
}

fn addr_value(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

impl Key {
    /// The key of a parsed frame that arrived on `ingress`.
    pub fn new(ingress: Side, flow: &Flow) -> Key {
        let side = match ingress {
            Side::A => 0,
            Side::B => 1,
        };
        let mut values = [
            side,
            ether_class(flow.ethertype),
            NO_PROTOCOL,
            0,
            0,
            NO_PORT,
            NO_PORT,
        ];
        let mut tcp_flags = None;
        if let Some(ip) = &flow.ip {
            values[DIM_PROTO] = ip.protocol as u128;
            values[DIM_SRC] = addr_value(ip.src);
            values[DIM_DST] = addr_value(ip.dst);
            if let Some((sport, dport)) = ip.ports {
                values[DIM_SPORT] = sport as u128;
                values[DIM_DPORT] = dport as u128;
            }
            tcp_flags = ip.tcp_flags;
        }
        Key { values, tcp_flags }
    }
}

/// An inclusive range of key values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// Smallest value in the range.
    pub lo: u128,
    /// Largest value in the range.
    pub hi: u128,
}

impl Range {
    /// Every value.
    pub const FULL: Range = Range {
        lo: 0,
        hi: u128::MAX,
    };

    /// True if `other` lies entirely inside this range.
    pub fn covers(&self, other: &Range) -> bool {
        self.lo <= other.lo && other.hi <= self.hi
    }

    /// The overlap of two ranges, if any.
    pub fn intersect(&self, other: &Range) -> Option<Range> {
        let r = Range {
            lo: self.lo.max(other.lo),
            hi: self.hi.min(other.hi),
        };
        (r.lo <= r.hi).then_some(r)
    }
}

/// A rule as a box in key space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleBox {
    /// One range per dimension.
    pub ranges: [Range; DIMS],
    /// `(mask, value)` TCP flags test; frames without TCP flags never pass it.
    pub tcp_flags: Option<(u8, u8)>,
}

impl RuleBox {
    /// The box of `rule`, or `None` if its conditions contradict each other so it can never match.
    pub fn of(rule: &Rule) -> Option<RuleBox> {
        let mut ranges = [Range::FULL; DIMS];
        let mut narrow = |dim: usize, r: Range| -> Option<()> {
            ranges[dim] = ranges[dim].intersect(&r)?;
            Some(())
        };
        let point = |v: u128| Range { lo: v, hi: v };
        if let Some(side) = rule.ingress {
            narrow(DIM_SIDE, point(if side == Side::A { 0 } else { 1 }))?;
        }
        if let Some(et) = rule.ethertype {
            narrow(DIM_ETHER, point(ether_class(et)))?;
        }
        if let Some(p) = rule.protocol {
            narrow(DIM_ETHER, Range { lo: 0, hi: 1 })?;
            narrow(DIM_PROTO, point(p as u128))?;
        }
        for (dim, prefix) in [(DIM_SRC, rule.src), (DIM_DST, rule.dst)] {
            let Some(prefix) = prefix else { continue };
            narrow(DIM_ETHER, point(if prefix.addr.is_ipv4() { 0 } else { 1 }))?;
            let (lo, hi) = prefix.bounds();
            narrow(dim, Range { lo, hi })?;
        }
        for (dim, ports) in [(DIM_SPORT, rule.sport), (DIM_DPORT, rule.dport)] {
            if let Some(p) = ports {
                narrow(
                    dim,
                    Range {
                        lo: p.lo as u128,
                        hi: p.hi as u128,
                    },
                )?;
            }
        }
        let tcp_flags = rule.tcp_flags.map(|f| (f.mask, f.value));
        if let Some((mask, value)) = tcp_flags {
            if value & !mask != 0 {
                return None;
            }
        }
        Some(RuleBox { ranges, tcp_flags })
    }

    /// True if every frame whose key lies in `region` matches.
    pub fn covers(&self, region: &[Range; DIMS]) -> bool {
        self.tcp_flags.is_none()
            && self
                .ranges
                .iter()
                .zip(region.iter())
                .all(|(r, reg)| r.covers(reg))
    }
}

/// A rule box packed into one 64-byte cache line for the leaf scan.
///
/// Addresses are stored as a prefix (first address and number of host bits), ports as `u16` ranges with
/// a flag saying whether the rule needs ports at all, the other dimensions as narrow ranges. This relies
/// on the shapes [`RuleBox::of`] builds: address ranges are prefixes (or everything), port ranges are
/// either everything or inside 0-65535.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
pub struct PackedRule {
    src: u128,
    dst: u128,
    ether: (u32, u32),
    /// Index of the rule in its table.
    pub rule: u32,
    sport: (u16, u16),
    dport: (u16, u16),
    proto: (u16, u16),
    src_host_bits: u8,
    dst_host_bits: u8,
    side: (u8, u8),
    flags_mask: u8,
    flags_value: u8,
    bits: u8,
}

const NEEDS_SPORT: u8 = 1;
const NEEDS_DPORT: u8 = 2;
const TESTS_FLAGS: u8 = 4;
const LAST: u8 = 8;

/// A prefix-aligned range as (first value, number of host bits).
fn as_prefix(r: Range) -> (u128, u8) {
    (r.lo, (128 - (r.hi - r.lo).leading_zeros()) as u8)
}

/// A port range as a `u16` range, and whether the rule needs a port at all.
fn as_ports(r: Range) -> ((u16, u16), bool) {
    let needs = r.hi < NO_PORT;
    (
        (
            r.lo.min(u16::MAX as u128) as u16,
            r.hi.min(u16::MAX as u128) as u16,
        ),
        needs,
    )
}

/// A range of a dimension whose key values fit in `T`, clamped to `T` (`max` stands for anything above).
fn narrow<T: TryFrom<u128> + Copy>(r: Range, max: T) -> (T, T) {
    let clamp = |v: u128| T::try_from(v).unwrap_or(max);
    (clamp(r.lo), clamp(r.hi))
}

fn prefix_contains(first: u128, host_bits: u8, v: u128) -> bool {
    (first ^ v).checked_shr(host_bits as u32).unwrap_or(0) == 0
}

fn port_ok((lo, hi): (u16, u16), needed: bool, v: u128) -> bool {
    !needed || (v < NO_PORT && lo as u128 <= v && v <= hi as u128)
}

impl PackedRule {
    /// Packs `rule_box`, the box of rule `rule`; `last` marks the end of a leaf.
    pub fn new(rule: u32, rule_box: &RuleBox, last: bool) -> PackedRule {
        let r = &rule_box.ranges;
        let (src, src_host_bits) = as_prefix(r[DIM_SRC]);
        let (dst, dst_host_bits) = as_prefix(r[DIM_DST]);
        let (sport, needs_sport) = as_ports(r[DIM_SPORT]);
        let (dport, needs_dport) = as_ports(r[DIM_DPORT]);
        let (flags_mask, flags_value) = rule_box.tcp_flags.unwrap_or((0, 0));
        let flag = |on: bool, bit: u8| if on { bit } else { 0 };
        PackedRule {
            src,
            dst,
            ether: narrow(r[DIM_ETHER], u32::MAX),
            rule,
            sport,
            dport,
            proto: narrow(r[DIM_PROTO], u16::MAX),
            src_host_bits,
            dst_host_bits,
            side: narrow(r[DIM_SIDE], u8::MAX),
            flags_mask,
            flags_value,
            bits: flag(needs_sport, NEEDS_SPORT)
                | flag(needs_dport, NEEDS_DPORT)
                | flag(rule_box.tcp_flags.is_some(), TESTS_FLAGS)
                | flag(last, LAST),
        }
    }

    /// A rule that matches nothing (its side range is empty): the whole content of an empty leaf.
    pub fn never() -> PackedRule {
        let everything = RuleBox {
            ranges: [Range::FULL; DIMS],
            tcp_flags: None,
        };
        PackedRule {
            side: (1, 0),
            ..PackedRule::new(u32::MAX, &everything, true)
        }
    }

    /// True for the last rule of a leaf.
    pub fn is_last(&self) -> bool {
        self.bits & LAST != 0
    }

    /// True if the frame with `key` lies in the box this was packed from and passes its flags test.
    pub fn matches(&self, key: &Key) -> bool {
        let v = &key.values;
        let within = |(lo, hi): (u32, u32), x: u128| lo as u128 <= x && x <= hi as u128;
        port_ok(self.dport, self.bits & NEEDS_DPORT != 0, v[DIM_DPORT])
            && prefix_contains(self.dst, self.dst_host_bits, v[DIM_DST])
            && within((self.proto.0 as u32, self.proto.1 as u32), v[DIM_PROTO])
            && port_ok(self.sport, self.bits & NEEDS_SPORT != 0, v[DIM_SPORT])
            && prefix_contains(self.src, self.src_host_bits, v[DIM_SRC])
            && within(self.ether, v[DIM_ETHER])
            && within((self.side.0 as u32, self.side.1 as u32), v[DIM_SIDE])
            && (self.bits & TESTS_FLAGS == 0
                || key
                    .tcp_flags
                    .is_some_and(|f| f & self.flags_mask == self.flags_value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_rules_fill_one_cache_line() {
        assert_eq!(std::mem::size_of::<PackedRule>(), 64);
    }
}
