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

    /// True if `v` is in the range.
    pub fn contains(&self, v: u128) -> bool {
        self.lo <= v && v <= self.hi
    }

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

/// A rule box packed for the leaf scan: the five small dimensions as `u32` ranges, checked first, then the
/// two address ranges. 112 bytes instead of [`RuleBox`]'s 240, so a leaf spans fewer cache lines.
#[derive(Debug, Clone, Copy)]
pub struct PackedRule {
    src: Range,
    dst: Range,
    small: [(u32, u32); 5],
    /// Index of the rule in its table.
    pub rule: u32,
    flags_mask: u8,
    flags_value: u8,
    flags_test: bool,
    /// True for the last rule of a leaf.
    pub last: bool,
}

/// Dimensions whose key values always fit in a `u32`, in the order the packed check tests them.
const SMALL_DIMS: [usize; 5] = [DIM_DPORT, DIM_PROTO, DIM_SPORT, DIM_ETHER, DIM_SIDE];

impl PackedRule {
    /// Packs `rule_box`, the box of rule `rule`.
    pub fn new(rule: u32, rule_box: &RuleBox, last: bool) -> PackedRule {
        let clamp = |v: u128| v.min(u32::MAX as u128) as u32;
        let small =
            SMALL_DIMS.map(|d| (clamp(rule_box.ranges[d].lo), clamp(rule_box.ranges[d].hi)));
        let (flags_mask, flags_value) = rule_box.tcp_flags.unwrap_or((0, 0));
        PackedRule {
            src: rule_box.ranges[DIM_SRC],
            dst: rule_box.ranges[DIM_DST],
            small,
            rule,
            flags_mask,
            flags_value,
            flags_test: rule_box.tcp_flags.is_some(),
            last,
        }
    }

    /// A rule that matches nothing (its side range is empty): the whole content of an empty leaf.
    pub fn never(last: bool) -> PackedRule {
        let mut packed = PackedRule::new(
            u32::MAX,
            &RuleBox {
                ranges: [Range::FULL; DIMS],
                tcp_flags: None,
            },
            last,
        );
        packed.small[4] = (1, 0);
        packed
    }

    /// True if the frame with `key` lies in the box this was packed from and passes its flags test.
    pub fn matches(&self, key: &Key) -> bool {
        // Small-dimension key values are below 2^32 by construction (see the DIM_* docs).
        self.small.iter().zip(SMALL_DIMS).all(|(&(lo, hi), d)| {
            let v = key.values[d] as u32;
            lo <= v && v <= hi
        }) && self.dst.contains(key.values[DIM_DST])
            && self.src.contains(key.values[DIM_SRC])
            && (!self.flags_test
                || key
                    .tcp_flags
                    .is_some_and(|f| f & self.flags_mask == self.flags_value))
    }
}
