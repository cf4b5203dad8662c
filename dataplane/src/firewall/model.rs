//! The reference model: the firewall's semantics as the most direct code, a linear scan over the rules as
//! written. Randomized tests hold the compiled [`Firewall`](super::Firewall) to it.

use super::rules::{Action, Rule, RuleSet, Side, TableKey};
use super::verdict::{CountersSnapshot, Hit, Verdict};
use crate::packet::{parse_flow, Flow};

/// A linear-scan firewall with plain counters.
pub struct ReferenceModel {
    rules: RuleSet,
    counters: CountersSnapshot,
}

impl ReferenceModel {
    /// A model of `rules` with zeroed counters.
    pub fn new(rules: RuleSet) -> ReferenceModel {
        let counters = CountersSnapshot::zero(&rules);
        ReferenceModel { rules, counters }
    }

    /// Judges and counts `frame`, which arrived on `ingress`; returns the verdict and, if allowed, the
    /// frame as it leaves the other port.
    pub fn process(&mut self, ingress: Side, frame: &[u8]) -> (Verdict, Option<Vec<u8>>) {
        let verdict = self.judge(ingress, frame);
        self.counters.record(verdict.hit, frame.len());
        let output =
            (verdict.action == Action::Allow).then(|| self.rewritten(ingress, frame, verdict.hit));
        (verdict, output)
    }

    /// Counters so far.
    pub fn counters(&self) -> &CountersSnapshot {
        &self.counters
    }

    fn judge(&self, ingress: Side, frame: &[u8]) -> Verdict {
        let flow = match parse_flow(frame) {
            Ok(flow) => flow,
            Err(reason) => {
                return Verdict {
                    action: Action::Drop,
                    hit: Hit::Malformed(reason),
                }
            }
        };
        let key = TableKey::of(flow.vlan);
        let (Some(table_pos), Some(table)) =
            (self.rules.table_index(key), self.rules.tables.get(&key))
        else {
            return Verdict {
                action: self.rules.default,
                hit: Hit::NoTable,
            };
        };
        for (i, rule) in table.rules.iter().enumerate() {
            if rule_matches(rule, ingress, &flow) {
                return Verdict {
                    action: rule.action,
                    hit: Hit::Rule {
                        table: table_pos,
                        rule: i,
                    },
                };
            }
        }
        Verdict {
            action: table.default,
            hit: Hit::Default { table: table_pos },
        }
    }

    fn rewritten(&self, ingress: Side, frame: &[u8], hit: Hit) -> Vec<u8> {
        let mut out = frame.to_vec();
        let table = match hit {
            Hit::Rule { table, .. } | Hit::Default { table } => {
                self.rules.tables.values().nth(table)
            }
            Hit::NoTable | Hit::Malformed(_) => None,
        };
        let Some(table) = table else { return out };
        let rewrite = table.rewrite_from(ingress);
        if let Some(mac) = rewrite.dst_mac {
            out[0..6].copy_from_slice(&mac.0);
        }
        if let Some(mac) = rewrite.src_mac {
            out[6..12].copy_from_slice(&mac.0);
        }
        if let Some(vid) = rewrite.vlan {
            // The outermost tag's TCI follows the TPID at bytes 12-13.
            out[14] = (out[14] & 0xf0) | (vid >> 8) as u8;
            out[15] = vid as u8;
        }
        out
    }
}

fn rule_matches(rule: &Rule, ingress: Side, flow: &Flow) -> bool {
    let ip = flow.ip.as_ref();
    rule.ingress.is_none_or(|side| side == ingress)
        && rule.ethertype.is_none_or(|et| et == flow.ethertype)
        && rule
            .protocol
            .is_none_or(|p| ip.is_some_and(|ip| ip.protocol == p))
        && rule
            .src
            .is_none_or(|prefix| ip.is_some_and(|ip| prefix.contains(ip.src)))
        && rule
            .dst
            .is_none_or(|prefix| ip.is_some_and(|ip| prefix.contains(ip.dst)))
        && rule.sport.is_none_or(|r| {
            ip.and_then(|ip| ip.ports)
                .is_some_and(|(s, _)| r.contains(s))
        })
        && rule.dport.is_none_or(|r| {
            ip.and_then(|ip| ip.ports)
                .is_some_and(|(_, d)| r.contains(d))
        })
        && rule.tcp_flags.is_none_or(|f| {
            ip.and_then(|ip| ip.tcp_flags)
                .is_some_and(|x| x & f.mask == f.value)
        })
}
