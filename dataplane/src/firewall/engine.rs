//! The compiled firewall: per VLAN table, one rte_acl classifier per IP version (rules in priority
//! order, so rte_acl's highest-priority match is the first matching rule) and a lookup for non-IP
//! frames; it judges bursts of frames, counts them and rewrites the allowed ones.

use super::acl::{AclAlgorithm, AclContext, AclRule, Key, ALL_KEYS, MAX_KEYS};
use super::l2::L2Lookup;
use super::layout::{Family, Layout};
use super::rules::{Action, Rewrite, RuleSet, Side, Table, TableKey};
use super::verdict::{Counters, Hit, Verdict};
use crate::packet::{parse_flow, EthernetFrame, Flow, ParseError, VlanTag};
use crate::{Eal, Error, Result};

/// No table for this VLAN in [`Firewall`]'s VLAN index.
const NO_TABLE: u16 = u16::MAX;

/// The classifier of one table for one IP version: one rte_acl context, or several over consecutive
/// runs of the rules when rte_acl cannot fit them in one (its tries would exceed its limit of 8).
struct IpClassifier {
    layout: Layout,
    acls: Vec<AclContext>,
}

impl IpClassifier {
    /// The userdata (rule position + 1, or 0) of the first rule matching each key `keys[members[j]]`.
    fn first_matches(&self, keys: &[Key; MAX_KEYS], members: &[u8]) -> [u32; MAX_KEYS] {
        let mut first = [0u32; MAX_KEYS];
        if let [acl] = &self.acls[..] {
            acl.classify(keys, members, &mut first[..members.len()]);
            return first;
        }
        let mut results = [0u32; MAX_KEYS];
        for (k, acl) in self.acls.iter().enumerate() {
            acl.classify(keys, members, &mut results[..members.len()]);
            for (best, r) in first.iter_mut().zip(&results) {
                // Contexts hold consecutive runs of the rules, so an earlier context's match wins.
                if k == 0 || *best == 0 {
                    *best = *r;
                }
            }
        }
        first
    }
}

/// Builds contexts over `rules`, halving the list (in priority order) while rte_acl runs out of tries.
fn build_split(
    eal: &Eal,
    layout: &Layout,
    rules: &[AclRule],
    algorithm: Option<AclAlgorithm>,
    out: &mut Vec<AclContext>,
) -> Result<()> {
    match AclContext::build(eal, layout.fields(), rules, algorithm) {
        Ok(acl) => {
            out.push(acl);
            Ok(())
        }
        Err(Error::Dpdk { errno, .. }) if errno == ENOMEM && rules.len() > 1 => {
            let (first, rest) = rules.split_at(rules.len() / 2);
            build_split(eal, layout, first, algorithm, out)?;
            build_split(eal, layout, rest, algorithm, out)
        }
        Err(e) => Err(e),
    }
}

/// `ENOMEM`: what rte_acl_build returns when the rules need more than 8 tries (or the heap is full).
const ENOMEM: i32 = 12;

struct CompiledTable {
    default: Action,
    actions: Vec<Action>,
    /// IPv4 and IPv6 classifiers; `None` when no rule of the table can match that version.
    ip: [Option<IpClassifier>; 2],
    l2: L2Lookup,
    rewrite_a_to_b: Rewrite,
    rewrite_b_to_a: Rewrite,
}

fn family_index(family: Family) -> usize {
    match family {
        Family::V4 => 0,
        Family::V6 => 1,
    }
}

impl CompiledTable {
    fn compile(eal: &Eal, table: &Table, algorithm: Option<AclAlgorithm>) -> Result<CompiledTable> {
        let mut ip = [None, None];
        for family in [Family::V4, Family::V6] {
            let admitted = || table.rules.iter().filter(move |r| family.admits(r));
            if admitted().next().is_none() {
                continue;
            }
            let layout = Layout::new(family, admitted());
            let rules: Vec<AclRule> = (table.rules.iter().enumerate())
                .filter(|(_, r)| family.admits(r))
                .map(|(i, r)| AclRule {
                    userdata: i as u32 + 1,
                    tests: layout.tests(r),
                })
                .collect();
            let mut acls = Vec::with_capacity(1);
            build_split(eal, &layout, &rules, algorithm, &mut acls)?;
            ip[family_index(family)] = Some(IpClassifier { layout, acls });
        }
        Ok(CompiledTable {
            default: table.default,
            actions: table.rules.iter().map(|r| r.action).collect(),
            ip,
            l2: L2Lookup::new(&table.rules),
            rewrite_a_to_b: table.rewrite_a_to_b,
            rewrite_b_to_a: table.rewrite_b_to_a,
        })
    }

    /// The verdict of this table, at position `pos`, when `rule` (or no rule) matched first.
    #[inline]
    fn verdict(&self, pos: usize, rule: Option<usize>) -> Verdict {
        match rule {
            Some(rule) => Verdict {
                action: self.actions[rule],
                hit: Hit::Rule { table: pos, rule },
            },
            None => Verdict {
                action: self.default,
                hit: Hit::Default { table: pos },
            },
        }
    }

    fn classifiers(&self) -> impl Iterator<Item = &IpClassifier> {
        self.ip.iter().flatten()
    }
}

/// DPDK heap taken by a firewall's search structures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// Bytes of the IPv4 classifiers.
    pub ipv4: usize,
    /// Bytes of the IPv6 classifiers (rules without IPv4-only conditions are in both).
    pub ipv6: usize,
}

impl Memory {
    /// Both together.
    pub fn total(&self) -> usize {
        self.ipv4 + self.ipv6
    }
}

/// A rule set compiled for fast classification. Immutable; share it between cores behind an `Arc`.
///
/// Its search structures live in DPDK's heap, so compiling needs the EAL (the firewall keeps it alive).
pub struct Firewall {
    rules: RuleSet,
    /// Table position for each VLAN ID 0-4095 (index 0 is unused: VLAN 0 frames are priority-tagged).
    vlan_index: Box<[u16; 4096]>,
    untagged: u16,
    tables: Vec<CompiledTable>,
}

/// The rte_acl search a frame of a burst waits for: table position and IP version, packed as
/// `table << 1 | family`; [`NO_SEARCH`] when its verdict is known.
type Search = u32;
const NO_SEARCH: Search = u32::MAX;

/// The verdict a frame holds while it waits for its search.
const PENDING: Verdict = Verdict {
    action: Action::Drop,
    hit: Hit::NoTable,
};

impl Firewall {
    /// Compiles `rules`, classifying with the fastest rte_acl method this CPU and the EAL's maximum
    /// SIMD width allow (`--force-max-simd-bitwidth=512` enables the AVX-512 ones).
    pub fn compile(eal: &Eal, rules: RuleSet) -> Result<Firewall> {
        Self::compile_with(eal, rules, None)
    }

    /// Compiles `rules` with the given rte_acl classification method (`None`: the fastest available).
    /// Fails if the CPU or the EAL's SIMD width does not allow the method.
    pub fn compile_with(
        eal: &Eal,
        rules: RuleSet,
        algorithm: Option<AclAlgorithm>,
    ) -> Result<Firewall> {
        let mut vlan_index = Box::new([NO_TABLE; 4096]);
        let mut untagged = NO_TABLE;
        let mut tables = Vec::with_capacity(rules.tables.len());
        for (pos, (key, table)) in rules.tables.iter().enumerate() {
            match key {
                TableKey::Untagged => untagged = pos as u16,
                TableKey::Vlan(id) => vlan_index[*id as usize] = pos as u16,
            }
            tables.push(CompiledTable::compile(eal, table, algorithm)?);
        }
        Ok(Firewall {
            rules,
            vlan_index,
            untagged,
            tables,
        })
    }

    /// The rule set this firewall was compiled from.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// The rte_acl classification method in use (`None` if no table has an IP rule).
    pub fn algorithm(&self) -> Option<AclAlgorithm> {
        let mut all = self.tables.iter().flat_map(CompiledTable::classifiers);
        all.next().map(|c| c.acls[0].algorithm())
    }

    /// Bytes of DPDK heap that the compiled search structures of every table take, by IP version.
    pub fn memory(&self) -> Memory {
        let of = |family: Family| {
            let classifiers = self
                .tables
                .iter()
                .filter_map(|t| t.ip[family_index(family)].as_ref());
            classifiers
                .flat_map(|c| &c.acls)
                .map(AclContext::memory)
                .sum()
        };
        Memory {
            ipv4: of(Family::V4),
            ipv6: of(Family::V6),
        }
    }

    /// Judges `frame`, which arrived on `ingress`, without counting or rewriting it.
    pub fn classify(&self, ingress: Side, frame: &[u8]) -> Verdict {
        self.classify_flow_or_error(ingress, parse_flow(frame))
    }

    /// Judges an already parsed frame that arrived on `ingress`.
    pub fn classify_flow(&self, ingress: Side, flow: &Flow) -> Verdict {
        self.classify_flow_or_error(ingress, Ok(*flow))
    }

    fn classify_flow_or_error(
        &self,
        ingress: Side,
        flow: std::result::Result<Flow, ParseError>,
    ) -> Verdict {
        let mut verdicts = Vec::with_capacity(1);
        self.classify_burst(ingress, &[flow], &mut verdicts);
        verdicts[0]
    }

    /// Judges a burst of parsed frames (or their parse errors) that all arrived on `ingress`; the
    /// verdicts replace the contents of `verdicts`, in order. IP frames of the same table and IP version
    /// are searched together, 32 per rte_acl call.
    pub fn classify_burst(
        &self,
        ingress: Side,
        flows: &[std::result::Result<Flow, ParseError>],
        verdicts: &mut Vec<Verdict>,
    ) {
        verdicts.clear();
        for chunk in flows.chunks(MAX_KEYS) {
            self.classify_chunk(ingress, chunk, verdicts);
        }
    }

    #[inline]
    fn table_of(&self, flow: &Flow) -> u16 {
        match flow.vlan {
            None => self.untagged,
            Some(id) => self.vlan_index[id as usize],
        }
    }

    /// Classifies up to [`MAX_KEYS`] frames, appending their verdicts.
    fn classify_chunk(
        &self,
        ingress: Side,
        flows: &[std::result::Result<Flow, ParseError>],
        verdicts: &mut Vec<Verdict>,
    ) {
        let base = verdicts.len();
        verdicts.reserve(flows.len());
        let mut keys = [Key::ZERO; MAX_KEYS];
        let mut searches = [NO_SEARCH; MAX_KEYS];
        for (i, flow) in flows.iter().enumerate() {
            let verdict = match flow {
                Err(reason) => Verdict {
                    action: Action::Drop,
                    hit: Hit::Malformed(*reason),
                },
                Ok(flow) => self.prepare(ingress, flow, &mut keys[i], &mut searches[i]),
            };
            verdicts.push(verdict);
        }
        let searches = &mut searches[..flows.len()];
        let verdicts = &mut verdicts[base..];
        match searches.first() {
            // The usual burst: every frame waits for the same search.
            Some(&s) if s != NO_SEARCH && searches.iter().all(|&x| x == s) => {
                self.run_search(s, &keys, &ALL_KEYS[..searches.len()], verdicts)
            }
            _ => self.search_groups(&keys, searches, verdicts),
        }
    }

    /// The verdict of a parsed frame, or, if an rte_acl search must decide it, a placeholder, with its
    /// key written (into a zeroed `key`) and its search noted.
    #[inline]
    fn prepare(&self, ingress: Side, flow: &Flow, key: &mut Key, search: &mut Search) -> Verdict {
        let pos = self.table_of(flow);
        let Some(table) = self.tables.get(pos as usize) else {
            return Verdict {
                action: self.rules.default,
                hit: Hit::NoTable,
            };
        };
        let found = match &flow.ip {
            None => table.l2.lookup(ingress, flow.ethertype),
            Some(ip) => {
                let family = family_index(Family::of(ip));
                if let Some(c) = &table.ip[family] {
                    c.layout.write_key(ingress, ip, key);
                    *search = (pos as u32) << 1 | family as u32;
                    return PENDING;
                }
                None
            }
        };
        self.verdict(pos as usize, found)
    }

    /// Runs the searches frames wait for, one rte_acl call per distinct search in the chunk.
    fn search_groups(
        &self,
        keys: &[Key; MAX_KEYS],
        searches: &mut [Search],
        verdicts: &mut [Verdict],
    ) {
        for first in 0..searches.len() {
            let search = searches[first];
            if search == NO_SEARCH {
                continue;
            }
            let mut members = [0u8; MAX_KEYS];
            let mut n = 0;
            for (i, s) in searches.iter_mut().enumerate().skip(first) {
                if *s == search {
                    *s = NO_SEARCH;
                    members[n] = i as u8;
                    n += 1;
                }
            }
            self.run_search(search, keys, &members[..n], verdicts);
        }
    }

    /// Runs one search over the keys of `members` and writes their verdicts.
    fn run_search(
        &self,
        search: Search,
        keys: &[Key; MAX_KEYS],
        members: &[u8],
        verdicts: &mut [Verdict],
    ) {
        let (table, family) = ((search >> 1) as usize, (search & 1) as usize);
        let classifier = self.tables[table].ip[family]
            .as_ref()
            .expect("only frames with a classifier wait for a search");
        let rules = classifier.first_matches(keys, members);
        let t = &self.tables[table];
        for (&i, &rule) in members.iter().zip(&rules) {
            verdicts[i as usize] = t.verdict(table, rule.checked_sub(1).map(|r| r as usize));
        }
    }

    /// The verdict of table `table` when `rule` (or no rule) matched first.
    #[inline]
    fn verdict(&self, table: usize, rule: Option<usize>) -> Verdict {
        self.tables[table].verdict(table, rule)
    }

    /// Judges `frame`, counts it in `counters` (shaped for this rule set), and, if it is allowed, applies
    /// its table's egress rewrite in place.
    pub fn process(&self, counters: &Counters, ingress: Side, frame: &mut [u8]) -> Verdict {
        let verdict = self.classify(ingress, frame);
        self.count_and_rewrite(counters, ingress, verdict, frame);
        verdict
    }

    /// Counts `frame`, judged `verdict`, in `counters` and, if it is allowed, applies its table's egress
    /// rewrite in place: what [`Firewall::process`] does after classifying.
    pub fn count_and_rewrite(
        &self,
        counters: &Counters,
        ingress: Side,
        verdict: Verdict,
        frame: &mut [u8],
    ) {
        counters.record(verdict.hit, frame.len());
        if verdict.action == Action::Allow {
            if let Hit::Rule { table, .. } | Hit::Default { table } = verdict.hit {
                let t = &self.tables[table];
                let rewrite = match ingress {
                    Side::A => &t.rewrite_a_to_b,
                    Side::B => &t.rewrite_b_to_a,
                };
                apply_rewrite(rewrite, frame);
            }
        }
    }
}

/// Rewrites MAC addresses and the outermost VLAN ID of a frame that parsed.
fn apply_rewrite(rewrite: &Rewrite, frame: &mut [u8]) {
    if *rewrite == Rewrite::default() {
        return;
    }
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
