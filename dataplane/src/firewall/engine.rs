//! The compiled firewall: a rule set turned into per-VLAN decision trees, judging and rewriting frames.

use super::matcher::{Key, RuleBox};
use super::rules::{Action, Rewrite, RuleSet, Side, TableKey};
use super::tree::{Tree, TreeStats};
use super::verdict::{Counters, Hit, Verdict};
use crate::packet::{parse_flow, EthernetFrame, Flow, VlanTag};

/// No table for this VLAN in [`Firewall`]'s VLAN index.
const NO_TABLE: u16 = u16::MAX;

struct CompiledTable {
    default: Action,
    actions: Vec<Action>,
    tree: Tree,
    rewrite_a_to_b: Rewrite,
    rewrite_b_to_a: Rewrite,
}

/// A rule set compiled for fast classification. Immutable; share it between cores behind an `Arc`.
pub struct Firewall {
    rules: RuleSet,
    /// Table position for each VLAN ID 0-4095 (index 0 is unused: VLAN 0 frames are priority-tagged).
    vlan_index: Box<[u16; 4096]>,
    untagged: u16,
    tables: Vec<CompiledTable>,
}

impl Firewall {
    /// Compiles `rules`.
    pub fn compile(rules: RuleSet) -> Firewall {
        let mut vlan_index = Box::new([NO_TABLE; 4096]);
        let mut untagged = NO_TABLE;
        let mut tables = Vec::with_capacity(rules.tables.len());
        for (pos, (key, table)) in rules.tables.iter().enumerate() {
            match key {
                TableKey::Untagged => untagged = pos as u16,
                TableKey::Vlan(id) => vlan_index[*id as usize] = pos as u16,
            }
            tables.push(CompiledTable {
                default: table.default,
                actions: table.rules.iter().map(|r| r.action).collect(),
                tree: Tree::build(&table.rules.iter().map(RuleBox::of).collect::<Vec<_>>()),
                rewrite_a_to_b: table.rewrite_a_to_b,
                rewrite_b_to_a: table.rewrite_b_to_a,
            });
        }
        Firewall {
            rules,
            vlan_index,
            untagged,
            tables,
        }
    }

    /// The rule set this firewall was compiled from.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Size figures of each table's decision tree, in table order.
    pub fn tree_stats(&self) -> Vec<TreeStats> {
        self.tables.iter().map(|t| t.tree.stats()).collect()
    }

    /// Judges `frame`, which arrived on `ingress`, without counting or rewriting it.
    pub fn classify(&self, ingress: Side, frame: &[u8]) -> Verdict {
        match parse_flow(frame) {
            Ok(flow) => self.classify_flow(ingress, &flow),
            Err(reason) => Verdict {
                action: Action::Drop,
                hit: Hit::Malformed(reason),
            },
        }
    }

    /// Judges an already parsed frame that arrived on `ingress`.
    pub fn classify_flow(&self, ingress: Side, flow: &Flow) -> Verdict {
        let pos = match flow.vlan {
            None => self.untagged,
            Some(id) => self.vlan_index[id as usize],
        };
        let Some(table) = self.tables.get(pos as usize) else {
            return Verdict {
                action: self.rules.default,
                hit: Hit::NoTable,
            };
        };
        let table_pos = pos as usize;
        match table.tree.lookup(&Key::new(ingress, flow)) {
            Some(rule) => Verdict {
                action: table.actions[rule],
                hit: Hit::Rule {
                    table: table_pos,
                    rule,
                },
            },
            None => Verdict {
                action: table.default,
                hit: Hit::Default { table: table_pos },
            },
        }
    }

    /// Judges `frame`, counts it in `counters` (shaped for this rule set), and, if it is allowed, applies
    /// its table's egress rewrite in place.
    pub fn process(&self, counters: &Counters, ingress: Side, frame: &mut [u8]) -> Verdict {
        let verdict = self.classify(ingress, frame);
        counters.record(verdict.hit, frame.len());
        if verdict.action == Action::Allow {
            if let Hit::Rule { table, .. } | Hit::Default { table } = verdict.hit {
                let t = &self.tables[table];
                let rewrite = if ingress == Side::A {
                    &t.rewrite_a_to_b
                } else {
                    &t.rewrite_b_to_a
                };
                apply_rewrite(rewrite, frame);
            }
        }
        verdict
    }
}

/// Rewrites MAC addresses and the outermost VLAN ID of a frame that parsed.
fn apply_rewrite(rewrite: &Rewrite, frame: &mut [u8]) {
    let Ok(mut eth) = EthernetFrame::new_checked(frame) else {
        return;
    };
    if let Some(mac) = rewrite.dst_mac {
        eth.set_dst_addr(mac);
    }
    if let Some(mac) = rewrite.src_mac {
        eth.set_src_addr(mac);
    }
    if let Some(vid) = rewrite.vlan {
        if let Ok(mut tag) = VlanTag::new_checked(eth.payload_mut()) {
            tag.set_vid(vid);
        }
    }
}
