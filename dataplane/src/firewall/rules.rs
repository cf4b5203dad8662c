//! The rule set as the rule file states it: tables per VLAN, ordered rules, defaults, egress rewrites.

use crate::packet::MacAddr;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What happens to a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Forward it out of the other port.
    Allow,
    /// Drop it.
    Drop,
}

/// One of the two data ports; a frame arriving on one side leaves (if allowed) on the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Port A (e.g. `net0`).
    A,
    /// Port B (e.g. `north`).
    B,
}

impl Side {
    /// The other port.
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// An IPv4 or IPv6 prefix with no host bits set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length (0-32 for IPv4, 0-128 for IPv6).
    pub len: u8,
}

impl Prefix {
    /// The prefix of length `len` (at most the family's width) that contains `addr`: host bits cleared.
    pub fn covering(addr: IpAddr, len: u8) -> Prefix {
        let (value, bits) = Self::as_int(addr);
        let host_mask = Self::host_mask(bits, len);
        let addr = match addr {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from((value & !host_mask) as u32)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(value & !host_mask)),
        };
        Prefix { addr, len }
    }

    /// The first and last address of the prefix as integers (IPv4 addresses in the low 32 bits).
    pub fn bounds(&self) -> (u128, u128) {
        let (value, bits) = Self::as_int(self.addr);
        let host_mask = Self::host_mask(bits, self.len);
        (value & !host_mask, value | host_mask)
    }

    /// True if `ip` is of the same family and inside the prefix.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (first, last) = self.bounds();
        let (value, _) = Self::as_int(ip);
        self.addr.is_ipv4() == ip.is_ipv4() && first <= value && value <= last
    }

    fn as_int(addr: IpAddr) -> (u128, u32) {
        match addr {
            IpAddr::V4(a) => (u32::from(a) as u128, 32),
            IpAddr::V6(a) => (u128::from(a), 128),
        }
    }

    fn host_mask(bits: u32, len: u8) -> u128 {
        let width_mask = u128::MAX >> (128 - bits);
        width_mask.checked_shr(len as u32).unwrap_or(0)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// An inclusive port range, `lo <= hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// First port in the range.
    pub lo: u16,
    /// Last port in the range.
    pub hi: u16,
}

impl PortRange {
    /// True if `port` is inside the range.
    pub fn contains(&self, port: u16) -> bool {
        self.lo <= port && port <= self.hi
    }
}

/// A TCP flags test: the bits in `mask` must equal `value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpFlagsMatch {
    /// Flags that are tested.
    pub mask: u8,
    /// Required values of the tested flags (a subset of `mask`).
    pub value: u8,
}

/// One rule: every condition that is set must hold for the rule to match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Optional label shown in stats.
    pub name: Option<String>,
    /// Action when the rule matches.
    pub action: Action,
    /// Port the frame arrived on (`a->b` = arrived on A); `None` = either.
    pub ingress: Option<Side>,
    /// EtherType after VLAN tags.
    pub ethertype: Option<u16>,
    /// IP protocol (after IPv6 extension headers).
    pub protocol: Option<u8>,
    /// Source prefix.
    pub src: Option<Prefix>,
    /// Destination prefix.
    pub dst: Option<Prefix>,
    /// TCP/UDP source port range.
    pub sport: Option<PortRange>,
    /// TCP/UDP destination port range.
    pub dport: Option<PortRange>,
    /// TCP flags test.
    pub tcp_flags: Option<TcpFlagsMatch>,
}

impl Rule {
    /// A rule without conditions (it matches every frame) taking `action`.
    pub fn new(action: Action) -> Rule {
        Rule {
            name: None,
            action,
            ingress: None,
            ethertype: None,
            protocol: None,
            src: None,
            dst: None,
            sport: None,
            dport: None,
            tcp_flags: None,
        }
    }
}

/// Rewrites applied to an allowed frame as it leaves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rewrite {
    /// New VLAN ID for the outermost tag (tagged tables only).
    pub vlan: Option<u16>,
    /// New source MAC address.
    pub src_mac: Option<MacAddr>,
    /// New destination MAC address.
    pub dst_mac: Option<MacAddr>,
}

/// The rules of one VLAN (or of untagged frames).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Action when no rule matches.
    pub default: Action,
    /// Ordered rules; the first match wins.
    pub rules: Vec<Rule>,
    /// Rewrite for frames that arrived on A and leave on B.
    pub rewrite_a_to_b: Rewrite,
    /// Rewrite for frames that arrived on B and leave on A.
    pub rewrite_b_to_a: Rewrite,
}

impl Table {
    /// An empty table with the given default and no rewrites.
    pub fn new(default: Action) -> Table {
        Table {
            default,
            rules: Vec::new(),
            rewrite_a_to_b: Rewrite::default(),
            rewrite_b_to_a: Rewrite::default(),
        }
    }

    /// The rewrite for a frame that arrived on `ingress`.
    pub fn rewrite_from(&self, ingress: Side) -> &Rewrite {
        match ingress {
            Side::A => &self.rewrite_a_to_b,
            Side::B => &self.rewrite_b_to_a,
        }
    }
}

/// Which table a frame is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableKey {
    /// Frames without a VLAN tag.
    Untagged,
    /// Frames whose outermost tag has this VLAN ID.
    Vlan(u16),
}

impl TableKey {
    /// The key for a frame with outermost VLAN ID `vlan`.
    pub fn of(vlan: Option<u16>) -> TableKey {
        vlan.map_or(TableKey::Untagged, TableKey::Vlan)
    }
}

impl fmt::Display for TableKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableKey::Untagged => f.write_str("untagged"),
            TableKey::Vlan(id) => write!(f, "vlan {id}"),
        }
    }
}

/// A whole rule file: a global default for frames without a table, and the tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    /// Action for frames whose VLAN (or untagged-ness) has no table.
    pub default: Action,
    /// Tables in key order (untagged first, then VLAN IDs ascending); table positions index counters.
    pub tables: BTreeMap<TableKey, Table>,
}

impl RuleSet {
    /// Position of the table for `key` in key order, if there is one.
    pub fn table_index(&self, key: TableKey) -> Option<usize> {
        self.tables.keys().position(|k| *k == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(text: &str, len: u8) -> Prefix {
        Prefix::covering(text.parse().unwrap(), len)
    }

    #[test]
    fn prefixes_cover_their_range_and_family_only() {
        let p = prefix("10.56.217.77", 24);
        assert_eq!(p.to_string(), "10.56.217.0/24");
        assert_eq!(p.bounds(), (0x0a38_d900, 0x0a38_d9ff));
        assert!(p.contains("10.56.217.255".parse().unwrap()));
        assert!(!p.contains("10.56.218.0".parse().unwrap()));
        assert!(
            !p.contains("::a38:d901".parse().unwrap()),
            "an IPv6 address is never in an IPv4 prefix"
        );
        assert_eq!(prefix("1.2.3.4", 0).bounds(), (0, u32::MAX as u128));
        assert_eq!(prefix("1.2.3.4", 32).bounds(), (0x0102_0304, 0x0102_0304));
        assert_eq!(prefix("2001:db8::1", 0).bounds(), (0, u128::MAX));
        let v6 = prefix("2001:db8:ffff::1", 32);
        assert_eq!(v6.to_string(), "2001:db8::/32");
        assert!(v6.contains("2001:db8:1::".parse().unwrap()));
        assert!(!v6.contains("2001:db9::".parse().unwrap()));
    }
}
