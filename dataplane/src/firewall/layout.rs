//! How rules and frames become rte_acl fields: one key layout per address family, chosen per table.
//!
//! *Narrow* (the usual case): byte 0 is a class that packs the protocol (as a code the table assigns to
//! each protocol its rules name), the ingress side and whether the frame has ports; then source and
//! destination address and the two ports. For IPv4 these are the same 13 classified bytes as DPDK's own
//! 5-tuple layout. *Wide* (a table that tests TCP flags or names more than 63 protocols): byte 0 is the
//! raw protocol, then a 4-byte group of side/ports/flags bits, the TCP flags and padding, then the same
//! addresses and ports. An address or the port pair that no rule of the table tests is left out of the
//! key: fewer bytes to walk.
//!
//! Every rule condition becomes one field test, so a rule matches a key exactly when it matches the
//! frame. A left-out address and `0.0.0.0/0` become the same test. A left-out port and `0-65535` do
//! not quite: a port range requires the frame to have ports (a TCP non-first fragment has none), so it
//! also tests the class byte's ports bit.

use super::acl::{FieldDef, FieldKind, FieldTest, Key, MAX_FIELDS};
use super::rules::{PortRange, Prefix, Rule, Side};
use crate::packet::{FlowFields, IpFlow, ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use std::net::IpAddr;

/// Most protocols a table may name and keep the narrow layout (codes 1-63; 0 = any protocol not named).
const MAX_CODES: u8 = 63;
/// Class/meta bit: the frame has TCP/UDP ports.
const HAS_PORTS: u8 = 1;
/// Class/meta bit: the frame arrived on port B.
const SIDE_B: u8 = 2;
/// Meta bit (wide layout): the frame has TCP flags.
const HAS_FLAGS: u8 = 4;

/// The IP version a classifier serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// IPv4: addresses are one 32-bit field.
    V4,
    /// IPv6: addresses are four 32-bit fields.
    V6,
}

impl Family {
    fn words(self) -> usize {
        match self {
            Family::V4 => 1,
            Family::V6 => 4,
        }
    }

    /// True if `rule` can match some frame of this family (its conditions fit the family and do not
    /// contradict each other).
    pub(crate) fn admits(self, rule: &Rule) -> bool {
        let ethertype = match self {
            Family::V4 => ETHERTYPE_IPV4,
            Family::V6 => ETHERTYPE_IPV6,
        };
        let ordered = |r: &PortRange| r.lo <= r.hi;
        rule.ethertype.is_none_or(|e| e == ethertype)
            && [rule.src, rule.dst]
                .iter()
                .flatten()
                .all(|p| p.addr.is_ipv4() == (self == Family::V4))
            && rule.tcp_flags.is_none_or(|f| f.value & !f.mask == 0)
            && [rule.sport, rule.dport].iter().flatten().all(ordered)
    }
}

/// A table's key layout for one family.
pub(crate) struct Layout {
    family: Family,
    /// The class code of each protocol number (narrow layout); `None` for the wide layout.
    codes: Option<[u8; 256]>,
    /// Key offsets of the source and destination address and the port pair, when some rule tests them.
    src_at: Option<usize>,
    dst_at: Option<usize>,
    ports_at: Option<usize>,
    /// True for the narrow IPv4 layout with every field (DPDK's 5-tuple shape): class byte, source at 4,
    /// destination at 8, ports at 12, the layout most tables get, written without per-field checks.
    five_tuple_v4: bool,
    fields: Vec<FieldDef>,
}

impl Layout {
    /// The layout for `rules`, the rules of a table that this family admits.
    pub(crate) fn new<'a>(family: Family, rules: impl Iterator<Item = &'a Rule> + Clone) -> Layout {
        let any = |test: fn(&Rule) -> bool| rules.clone().any(test);
        let tests_flags = any(|r| r.tcp_flags.is_some());
        let (tests_src, tests_dst) = (any(|r| r.src.is_some()), any(|r| r.dst.is_some()));
        let tests_ports = any(|r| r.sport.is_some() || r.dport.is_some());
        let mut codes = [0u8; 256];
        let mut next = 0u8;
        for p in rules.filter_map(|r| r.protocol) {
            if codes[p as usize] == 0 {
                next = next.saturating_add(1);
                codes[p as usize] = next;
            }
        }
        let narrow = !tests_flags && next <= MAX_CODES;
        let field = |kind, size, input, offset: usize| FieldDef {
            kind,
            size,
            input,
            offset: offset as u8,
        };
        let mut fields = vec![field(FieldKind::Bitmask, 1, 0, 0)];
        let (mut input, mut offset) = (1, 4);
        if !narrow {
            fields.push(field(FieldKind::Bitmask, 1, 1, 4));
            fields.push(field(FieldKind::Bitmask, 1, 1, 5));
            fields.push(field(FieldKind::Range, 2, 1, 6));
            (input, offset) = (2, 8);
        }
        let mut address = |tested: bool| {
            let at = tested.then_some(offset);
            for _ in 0..if tested { family.words() } else { 0 } {
                fields.push(field(FieldKind::Mask, 4, input, offset));
                (input, offset) = (input + 1, offset + 4);
            }
            at
        };
        let (src_at, dst_at) = (address(tests_src), address(tests_dst));
        let ports_at = tests_ports.then_some(offset);
        if tests_ports {
            fields.push(field(FieldKind::Range, 2, input, offset));
            fields.push(field(FieldKind::Range, 2, input, offset + 2));
        }
        debug_assert!(fields.len() <= MAX_FIELDS);
        let five_tuple_v4 = family == Family::V4
            && narrow
            && (src_at, dst_at, ports_at) == (Some(4), Some(8), Some(12));
        Layout {
            five_tuple_v4,
            family,
            codes: narrow.then_some(codes),
            src_at,
            dst_at,
            ports_at,
            fields,
        }
    }

    /// The fields, in the order [`Layout::tests`] fills them.
    pub(crate) fn fields(&self) -> &[FieldDef] {
        &self.fields
    }

    /// True for the narrow layout.
    #[cfg(test)]
    pub(crate) fn is_narrow(&self) -> bool {
        self.codes.is_some()
    }

    /// The field tests of `rule`, which this layout's family admits.
    pub(crate) fn tests(&self, rule: &Rule) -> [FieldTest; MAX_FIELDS] {
        let mut tests = [FieldTest::default(); MAX_FIELDS];
        let mut bits = FieldTest::default();
        if let Some(side) = rule.ingress {
            bits.mask_range |= SIDE_B as u32;
            bits.value |= if side == Side::B { SIDE_B as u32 } else { 0 };
        }
        if rule.sport.is_some() || rule.dport.is_some() {
            bits.mask_range |= HAS_PORTS as u32;
            bits.value |= HAS_PORTS as u32;
        }
        let mut at = 1;
        match &self.codes {
            Some(codes) => {
                if let Some(p) = rule.protocol {
                    bits.value |= (codes[p as usize] as u32) << 2;
                    bits.mask_range |= 0xfc;
                }
                tests[0] = bits;
            }
            None => {
                if let Some(p) = rule.protocol {
                    tests[0] = FieldTest {
                        value: p as u32,
                        mask_range: 0xff,
                    };
                }
                if let Some(f) = rule.tcp_flags {
                    bits.mask_range |= HAS_FLAGS as u32;
                    bits.value |= HAS_FLAGS as u32;
                    tests[2] = FieldTest {
                        value: f.value as u32,
                        mask_range: f.mask as u32,
                    };
                }
                tests[1] = bits;
                tests[3] = full_ports();
                at = 4;
            }
        }
        for (prefix, present) in [(rule.src, self.src_at), (rule.dst, self.dst_at)] {
            for word in 0..present.map_or(0, |_| self.family.words()) {
                tests[at] = prefix.map_or(FieldTest::default(), |p| prefix_word(p, word));
                at += 1;
            }
        }
        if self.ports_at.is_some() {
            tests[at] = port_test(rule.sport);
            tests[at + 1] = port_test(rule.dport);
        }
        tests
    }

    /// Writes the key of `f`, a frame of this layout's family that arrived on `side`, into a zeroed
    /// `key` (bytes no field covers stay zero).
    #[inline(always)]
    pub(crate) fn write_key(&self, side: Side, f: &FlowFields, key: &mut Key) {
        let k = &mut key.0;
        let mut bits = if side == Side::B { SIDE_B } else { 0 };
        if f.has_ports {
            bits |= HAS_PORTS;
        }
        if let (true, Some(codes)) = (self.five_tuple_v4, &self.codes) {
            k[0] = codes[f.protocol as usize] << 2 | bits;
            k[4..8].copy_from_slice(&f.src[..4]);
            k[8..12].copy_from_slice(&f.dst[..4]);
            k[12..14].copy_from_slice(&f.ports[0].to_be_bytes());
            k[14..16].copy_from_slice(&f.ports[1].to_be_bytes());
            return;
        }
        match &self.codes {
            Some(codes) => k[0] = codes[f.protocol as usize] << 2 | bits,
            None => {
                if f.tcp_flags.is_some() {
                    bits |= HAS_FLAGS;
                }
                k[0] = f.protocol;
                k[4] = bits;
                k[5] = f.tcp_flags.unwrap_or(0);
            }
        }
        // Constant-length copies per family (a copy of variable length would be a call).
        let copy = |k: &mut [u8], at: usize, addr: &[u8; 16]| match self.family {
            Family::V4 => k[at..at + 4].copy_from_slice(&addr[..4]),
            Family::V6 => k[at..at + 16].copy_from_slice(addr),
        };
        if let Some(at) = self.src_at {
            copy(k, at, &f.src);
        }
        if let Some(at) = self.dst_at {
            copy(k, at, &f.dst);
        }
        if let Some(at) = self.ports_at {
            k[at..at + 2].copy_from_slice(&f.ports[0].to_be_bytes());
            k[at + 2..at + 4].copy_from_slice(&f.ports[1].to_be_bytes());
        }
    }
}

/// Writes `addr` into `k` from byte `at`, in network byte order; returns the byte after it.
fn write_address(addr: IpAddr, k: &mut [u8], at: usize) -> usize {
    match addr {
        IpAddr::V4(a) => {
            k[at..at + 4].copy_from_slice(&a.octets());
            at + 4
        }
        IpAddr::V6(a) => {
            k[at..at + 16].copy_from_slice(&a.octets());
            at + 16
        }
    }
}

/// Writes `ip`'s source and destination address and its ports (0 when it has none) into `k` from
/// byte `at`, in network byte order.
pub(crate) fn write_addresses_and_ports(ip: &IpFlow, k: &mut [u8], at: usize) {
    let at = write_address(ip.src, k, at);
    let at = write_address(ip.dst, k, at);
    let (sport, dport) = ip.ports.unwrap_or((0, 0));
    k[at..at + 2].copy_from_slice(&sport.to_be_bytes());
    k[at + 2..at + 4].copy_from_slice(&dport.to_be_bytes());
}

/// The test of a port condition: its range, or every port.
pub(crate) fn port_test(ports: Option<PortRange>) -> FieldTest {
    ports.map_or(full_ports(), |r| FieldTest {
        value: r.lo as u32,
        mask_range: r.hi as u32,
    })
}

fn full_ports() -> FieldTest {
    FieldTest {
        value: 0,
        mask_range: u16::MAX as u32,
    }
}

/// The test of 32-bit word `word` (0 = most significant) of `prefix`: the word's value and how many of
/// its top bits the prefix fixes.
pub(crate) fn prefix_word(prefix: Prefix, word: usize) -> FieldTest {
    let (first, _) = prefix.bounds();
    let (value, fixed) = match prefix.addr {
        IpAddr::V4(_) => (first as u32, prefix.len as i32),
        IpAddr::V6(_) => (
            (first >> (96 - 32 * word)) as u32,
            prefix.len as i32 - 32 * word as i32,
        ),
    };
    FieldTest {
        value,
        mask_range: fixed.clamp(0, 32) as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::{Action, TcpFlagsMatch};

    fn prefix(text: &str, len: u8) -> Prefix {
        Prefix::covering(text.parse().unwrap(), len)
    }

    #[test]
    fn ipv6_prefixes_split_into_words() {
        let p = prefix("2001:db8:ab00::", 40);
        assert_eq!(
            (0..4).map(|w| prefix_word(p, w)).collect::<Vec<_>>(),
            vec![
                FieldTest {
                    value: 0x2001_0db8,
                    mask_range: 32
                },
                FieldTest {
                    value: 0xab00_0000,
                    mask_range: 8
                },
                FieldTest::default(),
                FieldTest::default(),
            ]
        );
        assert_eq!(
            prefix_word(prefix("10.1.2.0", 24), 0),
            FieldTest {
                value: 0x0a01_0200,
                mask_range: 24
            }
        );
    }

    #[test]
    fn wildcards_spelled_out_give_the_same_tests_as_left_out() {
        let mut left_out = Rule::new(Action::Allow);
        left_out.protocol = Some(6);
        left_out.dport = Some(PortRange { lo: 80, hi: 80 });
        let mut spelled = left_out.clone();
        spelled.src = Some(prefix("0.0.0.0", 0));
        spelled.dst = Some(prefix("0.0.0.0", 0));
        spelled.sport = Some(PortRange { lo: 0, hi: 65535 });
        let rules = [left_out.clone(), spelled.clone()];
        let layout = Layout::new(Family::V4, rules.iter());
        assert!(layout.is_narrow());
        assert_eq!(layout.tests(&left_out), layout.tests(&spelled));
    }

    #[test]
    fn the_five_tuple_layout_is_dpdks_and_its_keys_hold_every_field() {
        let mut rule = Rule::new(Action::Allow);
        rule.protocol = Some(17);
        rule.src = Some(prefix("10.0.0.0", 8));
        rule.dst = Some(prefix("192.168.1.0", 24));
        rule.dport = Some(PortRange { lo: 53, hi: 53 });
        let layout = Layout::new(Family::V4, [rule].iter());
        assert!(layout.five_tuple_v4);
        let offsets: Vec<u8> = layout.fields().iter().map(|f| f.offset).collect();
        assert_eq!(offsets, [0, 4, 8, 12, 14]);
        let f = FlowFields {
            ip_version: 4,
            protocol: 17,
            has_ports: true,
            ports: [4000, 53],
            src: [10, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            dst: [192, 168, 1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ..FlowFields::EMPTY
        };
        let mut key = Key([0xee; crate::firewall::acl::KEY_BYTES]);
        layout.write_key(Side::B, &f, &mut key);
        // Class: UDP's code 1, side B, has ports; bytes 1-3 are not written (the caller zeroes them).
        let class = 1 << 2 | SIDE_B | HAS_PORTS;
        let mut want = vec![class, 0xee, 0xee, 0xee, 10, 1, 2, 3, 192, 168, 1, 9];
        want.extend_from_slice(&4000u16.to_be_bytes());
        want.extend_from_slice(&53u16.to_be_bytes());
        assert_eq!(key.0[..16], want[..]);
        // Without the destination the layout is not DPDK's and takes the general path.
        let mut no_dst = Rule::new(Action::Allow);
        no_dst.src = Some(prefix("10.0.0.0", 8));
        no_dst.sport = Some(PortRange { lo: 1, hi: 2 });
        assert!(!Layout::new(Family::V4, [no_dst].iter()).five_tuple_v4);
    }

    #[test]
    fn flags_tests_and_many_protocols_widen_the_layout() {
        let mut flags = Rule::new(Action::Drop);
        flags.tcp_flags = Some(TcpFlagsMatch {
            mask: 0x12,
            value: 0x02,
        });
        assert!(!Layout::new(Family::V4, [flags].iter()).is_narrow());
        let protocols: Vec<Rule> = (0..=63u8)
            .map(|p| Rule {
                protocol: Some(p),
                ..Rule::new(Action::Allow)
            })
            .collect();
        assert!(Layout::new(Family::V6, protocols[..63].iter()).is_narrow());
        assert!(!Layout::new(Family::V6, protocols.iter()).is_narrow());
    }
}
