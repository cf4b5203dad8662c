//! rte_acl in DPDK's own IPv4 5-tuple layout (the one `dpdk-test-acl` and `dpdk-l3fwd --lookup=acl`
//! use: protocol, source, destination, ports), over the rules the firewall can share with it. It is the
//! independent peer the firewall's classifier is tested and benchmarked against.

use super::acl::{
    AclAlgorithm, AclContext, AclRule, FieldDef, FieldKind, FieldTest, Key, ALL_KEYS, KEY_BYTES,
    MAX_FIELDS, MAX_KEYS,
};
use super::layout::{port_test, prefix_word, write_addresses_and_ports};
use super::rules::Rule;
use crate::packet::{IpFlow, ETHERTYPE_IPV4, IPPROTO_TCP, IPPROTO_UDP};
use crate::{Eal, Error, Result};

/// DPDK's IPv4 5-tuple fields: protocol byte, then source, destination and the port pair in 4-byte groups.
const FIELDS: [FieldDef; 5] = [
    FieldDef {
        kind: FieldKind::Bitmask,
        size: 1,
        input: 0,
        offset: 0,
    },
    FieldDef {
        kind: FieldKind::Mask,
        size: 4,
        input: 1,
        offset: 4,
    },
    FieldDef {
        kind: FieldKind::Mask,
        size: 4,
        input: 2,
        offset: 8,
    },
    FieldDef {
        kind: FieldKind::Range,
        size: 2,
        input: 3,
        offset: 12,
    },
    FieldDef {
        kind: FieldKind::Range,
        size: 2,
        input: 3,
        offset: 14,
    },
];

/// One flow's search key in DPDK's 5-tuple layout: 16 bytes, as `dpdk-test-acl` stores its trace
/// (protocol, 3 bytes of padding, source, destination, source port, destination port, network byte
/// order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(4))]
pub struct FiveTupleKey([u8; 16]);

impl FiveTupleKey {
    /// The key of an IPv4 flow (ports 0 when it has none).
    pub fn of(ip: &IpFlow) -> FiveTupleKey {
        let mut key = [0u8; KEY_BYTES];
        key[0] = ip.protocol;
        write_addresses_and_ports(ip, &mut key, 4);
        let mut out = [0u8; 16];
        out.copy_from_slice(&key[..16]);
        FiveTupleKey(out)
    }
}

/// An rte_acl context over IPv4 5-tuple rules, first match wins.
pub struct FiveTupleAcl {
    acl: AclContext,
}

/// Why `rule` cannot be written as a 5-tuple rule with the firewall's meaning, if it cannot.
fn inexpressible(rule: &Rule) -> Option<&'static str> {
    let v6 = [rule.src, rule.dst]
        .iter()
        .flatten()
        .any(|p| p.addr.is_ipv6());
    let ports = rule.sport.is_some() || rule.dport.is_some();
    if rule.ingress.is_some() {
        Some("a direction")
    } else if rule.ethertype.is_some_and(|e| e != ETHERTYPE_IPV4) {
        Some("a non-IPv4 EtherType")
    } else if v6 {
        Some("an IPv6 prefix")
    } else if rule.tcp_flags.is_some() {
        Some("a TCP flags test")
    } else if ports && !matches!(rule.protocol, Some(IPPROTO_TCP | IPPROTO_UDP)) {
        Some("ports without TCP or UDP")
    } else {
        None
    }
}

impl FiveTupleAcl {
    /// Builds the context for `rules` in priority order, classifying with `algorithm` (`None`: the
    /// fastest available). Fails for a rule with a direction, a non-IPv4 EtherType or prefix, a TCP
    /// flags test or ports without TCP/UDP: the 5-tuple cannot say those.
    pub fn build(
        eal: &Eal,
        rules: &[Rule],
        algorithm: Option<AclAlgorithm>,
    ) -> Result<FiveTupleAcl> {
        let mut acl_rules = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            if let Some(what) = inexpressible(rule) {
                return Err(Error::InvalidArgument {
                    what: format!("rule {i} has {what}, which a 5-tuple cannot express"),
                });
            }
            let mut tests = [FieldTest::default(); MAX_FIELDS];
            if let Some(p) = rule.protocol {
                tests[0] = FieldTest {
                    value: p as u32,
                    mask_range: 0xff,
                };
            }
            let word =
                |prefix: Option<_>| prefix.map_or(FieldTest::default(), |p| prefix_word(p, 0));
            (tests[1], tests[2]) = (word(rule.src), word(rule.dst));
            (tests[3], tests[4]) = (port_test(rule.sport), port_test(rule.dport));
            acl_rules.push(AclRule {
                userdata: i as u32 + 1,
                tests,
            });
        }
        let acl = AclContext::build(eal, &FIELDS, &acl_rules, algorithm)?;
        Ok(FiveTupleAcl { acl })
    }

    /// The first rule matching each IPv4 flow (ports count as 0 when a flow has none), in order,
    /// replacing the contents of `out`.
    pub fn classify(&self, flows: &[IpFlow], out: &mut Vec<Option<usize>>) {
        out.clear();
        for chunk in flows.chunks(MAX_KEYS) {
            let mut keys = [Key::ZERO; MAX_KEYS];
            for (key, ip) in keys.iter_mut().zip(chunk) {
                key.0[0] = ip.protocol;
                write_addresses_and_ports(ip, &mut key.0, 4);
            }
            let mut results = [0u32; MAX_KEYS];
            self.acl
                .classify(&keys, &ALL_KEYS[..chunk.len()], &mut results[..chunk.len()]);
            out.extend(
                results[..chunk.len()]
                    .iter()
                    .map(|r| r.checked_sub(1).map(|r| r as usize)),
            );
        }
    }

    /// Classifies keys built beforehand, as `dpdk-test-acl` does (the cost of rte_acl alone, 32 keys
    /// per call): `out[i]` becomes 1 + the index of the first rule matching `keys[i]`, or 0. Panics
    /// unless `out` is as long as `keys`.
    pub fn classify_keys(&self, keys: &[FiveTupleKey], out: &mut [u32]) {
        assert_eq!(keys.len(), out.len(), "one result per key");
        for (keys, out) in keys.chunks(MAX_KEYS).zip(out.chunks_mut(MAX_KEYS)) {
            let mut data: [&[u8]; MAX_KEYS] = [&[]; MAX_KEYS];
            for (d, key) in data.iter_mut().zip(keys) {
                *d = &key.0;
            }
            self.acl.classify_bytes(&data[..keys.len()], out);
        }
    }

    /// Bytes of DPDK heap the built search structures take.
    pub fn memory(&self) -> usize {
        self.acl.memory()
    }

    /// The rte_acl classification method in use.
    pub fn algorithm(&self) -> AclAlgorithm {
        self.acl.algorithm()
    }
}
