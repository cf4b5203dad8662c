//! The compiled firewall: per VLAN table, one rte_acl classifier per IP version (rules in priority
//! order, so rte_acl's highest-priority match is the first matching rule) and a lookup for non-IP
//! frames; it judges bursts of frames, counts them and rewrites the allowed ones.
//!
//! A frame's judgement is a counter *slot* ([`Slots`]): rte_acl reports the slot of the matching rule
//! as its userdata, so a burst goes from bytes to slots without building verdicts, and each slot
//! knows its action and table.

use super::acl::{AclAlgorithm, AclContext, AclRule, Key, ALL_KEYS, MAX_KEYS};
use super::l2::L2Lookup;
use super::layout::{Family, Layout};
use super::rules::{Action, Rewrite, RuleSet, Side, Table, TableKey};
use super::verdict::{Counters, PacketCount, Slots, Verdict, NO_TABLE_SLOT};
use crate::packet::{parse_fields_fast, EthernetFrame, Flow, FlowFields, ParseError, VlanTag};
use crate::{Eal, Error, Result};

/// No table for this VLAN in [`Firewall`]'s VLAN index.
pub(crate) const NO_TABLE: u16 = u16::MAX;

/// The classifier of one table for one IP version: one rte_acl context, or several over consecutive
/// runs of the rules when rte_acl cannot fit them in one (its tries would exceed its limit of 8).
struct IpClassifier {
    layout: Layout,
    acls: Vec<AclContext>,
}

impl IpClassifier {
    /// Writes into `first[j]` the userdata (slot + 1, or 0) of the first rule matching key
    /// `keys[members[j]]`.
    #[inline]
    fn first_matches(&self, keys: &[Key; MAX_KEYS], members: &[u8], first: &mut [u32]) {
        let first = &mut first[..members.len()];
        if let [acl] = &self.acls[..] {
            acl.classify(keys, members, first);
            return;
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
    /// The slot of rule 0 (the rules' slots follow, then the default's).
    first_slot: u32,
    default_slot: u32,
    /// IPv4 and IPv6 classifiers; `None` when no rule of the table can match that version.
    ip: [Option<IpClassifier>; 2],
    l2: L2Lookup,
    /// The rewrites of frames arriving on A and on B; `None` when the rewrite changes nothing.
    rewrites: [Option<Rewrite>; 2],
}

fn family_index(family: Family) -> usize {
    match family {
        Family::V4 => 0,
        Family::V6 => 1,
    }
}

fn side_index(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

impl CompiledTable {
    fn compile(
        eal: &Eal,
        table: &Table,
        first_slot: u32,
        algorithm: Option<AclAlgorithm>,
    ) -> Result<CompiledTable> {
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
                    userdata: first_slot + i as u32 + 1,
                    tests: layout.tests(r),
                })
                .collect();
            let mut acls = Vec::with_capacity(1);
            build_split(eal, &layout, &rules, algorithm, &mut acls)?;
            ip[family_index(family)] = Some(IpClassifier { layout, acls });
        }
        let effective = |r: &Rewrite| (*r != Rewrite::default()).then_some(*r);
        Ok(CompiledTable {
            first_slot,
            default_slot: first_slot + table.rules.len() as u32,
            ip,
            l2: L2Lookup::new(&table.rules),
            rewrites: [
                effective(&table.rewrite_a_to_b),
                effective(&table.rewrite_b_to_a),
            ],
        })
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

/// What a counter slot decides: the action and, for the slots of a table, its position (for the
/// rewrite of allowed frames).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SlotInfo {
    /// Forward or drop.
    pub(crate) action: Action,
    /// The table's position, or [`NO_TABLE`] for malformed frames and frames without a table.
    pub(crate) table: u16,
}

/// A rule set compiled for fast classification. Immutable; share it between cores behind an `Arc`.
///
/// Its search structures live in DPDK's heap, so compiling needs the EAL (the firewall keeps it alive).
pub struct Firewall {
    rules: RuleSet,
    slots: Slots,
    /// Per slot: action and table.
    slot_info: Box<[SlotInfo]>,
    /// Table position for each VLAN ID 0-4095 (index 0 is unused: VLAN 0 frames are priority-tagged).
    vlan_index: Box<[u16; 4096]>,
    untagged: u16,
    tables: Vec<CompiledTable>,
    /// True when some table rewrites frames.
    rewrites: bool,
}

/// The rte_acl search a frame of a burst waits for: table position and IP version, packed as
/// `table << 1 | family`; [`NO_SEARCH`] when its slot is known.
type Search = u32;
const NO_SEARCH: Search = u32::MAX;

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
        let slots = Slots::new(&rules);
        let mut slot_info = vec![
            SlotInfo {
                action: Action::Drop,
                table: NO_TABLE,
            };
            slots.len()
        ];
        slot_info[NO_TABLE_SLOT as usize].action = rules.default;
        let mut vlan_index = Box::new([NO_TABLE; 4096]);
        let mut untagged = NO_TABLE;
        let mut tables = Vec::with_capacity(rules.tables.len());
        for (pos, (key, table)) in rules.tables.iter().enumerate() {
            match key {
                TableKey::Untagged => untagged = pos as u16,
                TableKey::Vlan(id) => vlan_index[*id as usize] = pos as u16,
            }
            let first = slots.table_start(pos);
            let actions = table.rules.iter().map(|r| r.action);
            for (slot, action) in (first..).zip(actions.chain([table.default])) {
                slot_info[slot as usize] = SlotInfo {
                    action,
                    table: pos as u16,
                };
            }
            tables.push(CompiledTable::compile(eal, table, first, algorithm)?);
        }
        let rewrites = tables
            .iter()
            .any(|t| t.rewrites.iter().any(Option::is_some));
        Ok(Firewall {
            rules,
            slots,
            slot_info: slot_info.into_boxed_slice(),
            vlan_index,
            untagged,
            tables,
            rewrites,
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
        let mut slot = [0];
        self.judge(
            ingress,
            1,
            |_, out| parse_fields_fast(frame, out),
            &mut slot,
        );
        self.verdict(slot[0])
    }

    /// Judges an already parsed frame that arrived on `ingress`.
    pub fn classify_flow(&self, ingress: Side, flow: &Flow) -> Verdict {
        let mut slot = [0];
        let fields = |_, out: &mut FlowFields| {
            *out = FlowFields::of(flow);
            Ok(())
        };
        self.judge(ingress, 1, fields, &mut slot);
        self.verdict(slot[0])
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
        let mut slots = [0u32; MAX_KEYS];
        for chunk in flows.chunks(MAX_KEYS) {
            let fields = |i: usize, out: &mut FlowFields| {
                *out = FlowFields::of(chunk[i].as_ref().map_err(|e| *e)?);
                Ok(())
            };
            self.judge(ingress, chunk.len(), fields, &mut slots);
            verdicts.extend(slots[..chunk.len()].iter().map(|&s| self.verdict(s)));
        }
    }

    /// Judges up to [`MAX_KEYS`] frames that arrived on `ingress`, read from the bytes of `frames`:
    /// `slots[i]` becomes the counter slot (see [`Slots`]) of `frames[i]`. The burst path of the
    /// pipeline: one parse per frame, straight into its search key.
    pub(crate) fn judge_frames(&self, ingress: Side, frames: &[&[u8]], slots: &mut [u32]) {
        self.judge(
            ingress,
            frames.len(),
            |i, out| parse_fields_fast(frames[i], out),
            slots,
        );
    }

    /// What `slot` decides.
    #[inline]
    pub(crate) fn slot_info(&self, slot: u32) -> SlotInfo {
        self.slot_info[slot as usize]
    }

    /// The verdict of frames judged into `slot`.
    fn verdict(&self, slot: u32) -> Verdict {
        Verdict {
            action: self.slot_info(slot).action,
            hit: self.slots.hit(slot),
        }
    }

    #[inline(always)]
    fn table_of(&self, fields: &FlowFields) -> u16 {
        match fields.vlan {
            None => self.untagged,
            Some(id) => self.vlan_index[id as usize & 0xfff],
        }
    }

    /// Judges `n` (at most [`MAX_KEYS`]) frames whose fields `frame(i, out)` writes (or whose parse
    /// error it returns), into `slots[..n]`:
    /// every frame is parsed and prepared first (its slot, or its key and search), then each distinct
    /// search runs once over all the keys that wait for it.
    #[inline]
    fn judge(
        &self,
        ingress: Side,
        n: usize,
        frame: impl Fn(usize, &mut FlowFields) -> std::result::Result<(), ParseError>,
        slots: &mut [u32],
    ) {
        debug_assert!(n <= MAX_KEYS && slots.len() >= n);
        let mut keys = [Key::ZERO; MAX_KEYS];
        let mut searches = [NO_SEARCH; MAX_KEYS];
        let mut fields = FlowFields::EMPTY;
        // Frames of a burst mostly share their VLAN: its table is looked up once per run.
        let mut last = (None, self.untagged);
        for i in 0..n.min(MAX_KEYS) {
            slots[i] = match frame(i, &mut fields) {
                Err(reason) => reason.index() as u32,
                Ok(()) => {
                    if fields.vlan != last.0 {
                        last = (fields.vlan, self.table_of(&fields));
                    }
                    self.prepare(ingress, last.1, &fields, &mut keys[i], &mut searches[i])
                }
            };
        }
        let searches = &mut searches[..n];
        match searches.first() {
            // The usual burst: every frame waits for the same search.
            Some(&s) if s != NO_SEARCH && searches.iter().all(|&x| x == s) => {
                self.run_search(s, &keys, &ALL_KEYS[..n], slots)
            }
            _ => self.search_groups(&keys, searches, slots),
        }
    }

    /// The slot of a parsed frame of the table at position `pos` (or of no table) or, if an rte_acl
    /// search must decide it, its key written (into a zeroed `key`) and its search noted.
    #[inline(always)]
    fn prepare(
        &self,
        ingress: Side,
        pos: u16,
        f: &FlowFields,
        key: &mut Key,
        search: &mut Search,
    ) -> u32 {
        let Some(table) = self.tables.get(pos as usize) else {
            return NO_TABLE_SLOT;
        };
        let found = match f.ip_version {
            0 => table.l2.lookup(ingress, f.ethertype),
            version => {
                let family = if version == 4 { 0 } else { 1 };
                if let Some(c) = &table.ip[family] {
                    c.layout.write_key(ingress, f, key);
                    *search = (pos as u32) << 1 | family as u32;
                    return NO_TABLE_SLOT;
                }
                None
            }
        };
        found.map_or(table.default_slot, |rule| table.first_slot + rule as u32)
    }

    /// Runs the searches frames wait for, one rte_acl call per distinct search in the chunk.
    fn search_groups(&self, keys: &[Key; MAX_KEYS], searches: &mut [Search], slots: &mut [u32]) {
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
            self.run_search(search, keys, &members[..n], slots);
        }
    }

    /// Runs one search over the keys of `members` and writes their slots.
    #[inline]
    fn run_search(
        &self,
        search: Search,
        keys: &[Key; MAX_KEYS],
        members: &[u8],
        slots: &mut [u32],
    ) {
        let table = &self.tables[(search >> 1) as usize];
        let classifier = table.ip[(search & 1) as usize]
            .as_ref()
            .expect("only frames with a classifier wait for a search");
        let mut found = [0u32; MAX_KEYS];
        classifier.first_matches(keys, members, &mut found);
        for (&i, &userdata) in members.iter().zip(&found) {
            slots[i as usize] = userdata.checked_sub(1).unwrap_or(table.default_slot);
        }
    }

    /// True when some table rewrites the frames it allows.
    #[inline]
    pub(crate) fn rewrites(&self) -> bool {
        self.rewrites
    }

    /// The rewrite of allowed frames of the table at position `table` that arrived on `ingress`, if
    /// it changes anything.
    #[inline]
    pub(crate) fn rewrite(&self, table: u16, ingress: Side) -> Option<&Rewrite> {
        if !self.rewrites {
            return None;
        }
        let table = self.tables.get(table as usize)?;
        table.rewrites[side_index(ingress)].as_ref()
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
        let slot = self.slots.of(verdict.hit);
        counters.add(
            slot,
            PacketCount {
                packets: 1,
                bytes: frame.len() as u64,
            },
        );
        let info = self.slot_info(slot);
        if verdict.action == Action::Allow {
            if let Some(rewrite) = self.rewrite(info.table, ingress) {
                apply_rewrite(rewrite, frame);
            }
        }
    }
}

/// Rewrites MAC addresses and the outermost VLAN ID of a frame that parsed.
pub(crate) fn apply_rewrite(rewrite: &Rewrite, frame: &mut [u8]) {
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
