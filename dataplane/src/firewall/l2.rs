//! Frames without an IP header (ARP, LLDP, ...): only rules without IP conditions can match them, and
//! of those only the side and EtherType tests apply, so each (side, EtherType) has one answer, worked
//! out when the table is compiled.

use super::rules::{Rule, Side};

/// No rule matches.
const NONE: u32 = u32::MAX;

/// The first matching rule for every non-IP frame of one table.
#[derive(Debug, Clone)]
pub(crate) struct L2Lookup {
    /// EtherTypes some rule names, ascending, with the answer for sides A and B.
    named: Vec<(u16, [u32; 2])>,
    /// The answer for any other EtherType, for sides A and B.
    other: [u32; 2],
}

fn ip_free(rule: &Rule) -> bool {
    rule.protocol.is_none()
        && rule.src.is_none()
        && rule.dst.is_none()
        && rule.sport.is_none()
        && rule.dport.is_none()
        && rule.tcp_flags.is_none()
}

fn side_index(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

impl L2Lookup {
    /// The answers for a table's `rules` (in priority order).
    pub(crate) fn new(rules: &[Rule]) -> L2Lookup {
        let candidates: Vec<(usize, &Rule)> = rules
            .iter()
            .enumerate()
            .filter(|(_, r)| ip_free(r))
            .collect();
        let first = |side: Side, ethertype: Option<u16>| {
            candidates
                .iter()
                .find(|(_, r)| {
                    r.ingress.is_none_or(|s| s == side)
                        && r.ethertype.is_none_or(|e| Some(e) == ethertype)
                })
                .map_or(NONE, |(i, _)| *i as u32)
        };
        let both = |ethertype| [first(Side::A, ethertype), first(Side::B, ethertype)];
        let mut named: Vec<u16> = candidates.iter().filter_map(|(_, r)| r.ethertype).collect();
        named.sort_unstable();
        named.dedup();
        L2Lookup {
            named: named.into_iter().map(|e| (e, both(Some(e)))).collect(),
            other: both(None),
        }
    }

    /// The first rule matching a non-IP frame with `ethertype` that arrived on `side`.
    pub(crate) fn lookup(&self, side: Side, ethertype: u16) -> Option<usize> {
        let answers = match self.named.binary_search_by_key(&ethertype, |(e, _)| *e) {
            Ok(i) => &self.named[i].1,
            Err(_) => &self.other,
        };
        let rule = answers[side_index(side)];
        (rule != NONE).then_some(rule as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::Action;
    use crate::packet::{ETHERTYPE_ARP, IPPROTO_TCP};

    #[test]
    fn first_ip_free_rule_for_side_and_ethertype_wins() {
        let rule = |ingress, ethertype, protocol| Rule {
            ingress,
            ethertype,
            protocol,
            ..Rule::new(Action::Allow)
        };
        let rules = [
            rule(None, None, Some(IPPROTO_TCP)),
            rule(Some(Side::B), Some(ETHERTYPE_ARP), None),
            rule(None, Some(0x88cc), None),
            rule(Some(Side::A), None, None),
        ];
        let l2 = L2Lookup::new(&rules);
        assert_eq!(l2.lookup(Side::B, ETHERTYPE_ARP), Some(1));
        assert_eq!(l2.lookup(Side::A, ETHERTYPE_ARP), Some(3));
        assert_eq!(l2.lookup(Side::B, 0x88cc), Some(2));
        assert_eq!(l2.lookup(Side::A, 0x9000), Some(3));
        assert_eq!(l2.lookup(Side::B, 0x9000), None);
    }
}
