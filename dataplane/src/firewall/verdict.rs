//! What the firewall decided about one frame, and the counters those decisions feed.

use super::rules::{Action, RuleSet};
use crate::packet::ParseError;
use std::ops::AddAssign;
use std::sync::atomic::{AtomicU64, Ordering};

/// Which part of the rule set decided a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hit {
    /// The frame is malformed; it is dropped before any table is consulted.
    Malformed(ParseError),
    /// The frame's VLAN has no table; the global default decided.
    NoTable,
    /// Rule `rule` of the table at position `table` (in [`RuleSet::tables`] order) matched first.
    Rule {
        /// Table position.
        table: usize,
        /// Rule position within the table.
        rule: usize,
    },
    /// No rule of the table at position `table` matched; its default decided.
    Default {
        /// Table position.
        table: usize,
    },
}

/// The decision about one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Verdict {
    /// Forward or drop.
    pub action: Action,
    /// What decided it.
    pub hit: Hit,
}

/// A packet and byte count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PacketCount {
    /// Packets.
    pub packets: u64,
    /// Bytes (whole frames as received).
    pub bytes: u64,
}

impl AddAssign for PacketCount {
    fn add_assign(&mut self, other: PacketCount) {
        self.packets += other.packets;
        self.bytes += other.bytes;
    }
}

/// Plain counters for every rule, table default, the no-table case and each malformed reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountersSnapshot {
    /// Per table (in [`RuleSet::tables`] order): one count per rule, then one for the table default.
    pub tables: Vec<Vec<PacketCount>>,
    /// Frames judged by the global default.
    pub no_table: PacketCount,
    /// Malformed frames, indexed by [`ParseError::index`].
    pub malformed: Vec<PacketCount>,
}

impl CountersSnapshot {
    /// All-zero counters shaped for `rules`.
    pub fn zero(rules: &RuleSet) -> CountersSnapshot {
        CountersSnapshot {
            tables: rules
                .tables
                .values()
                .map(|t| vec![PacketCount::default(); t.rules.len() + 1])
                .collect(),
            no_table: PacketCount::default(),
            malformed: vec![PacketCount::default(); ParseError::ALL.len()],
        }
    }

    /// Counts one frame of `bytes` bytes decided by `hit`.
    pub fn record(&mut self, hit: Hit, bytes: usize) {
        *self.slot(hit) += PacketCount {
            packets: 1,
            bytes: bytes as u64,
        };
    }

    fn slot(&mut self, hit: Hit) -> &mut PacketCount {
        match hit {
            Hit::Malformed(reason) => &mut self.malformed[reason.index()],
            Hit::NoTable => &mut self.no_table,
            Hit::Rule { table, rule } => &mut self.tables[table][rule],
            Hit::Default { table } => {
                let t = &mut self.tables[table];
                let last = t.len() - 1;
                &mut t[last]
            }
        }
    }

    /// Adds `other` (of the same shape) into these counters, e.g. to sum per-core counters.
    pub fn merge(&mut self, other: &CountersSnapshot) {
        for (mine, theirs) in self.tables.iter_mut().zip(&other.tables) {
            for (m, t) in mine.iter_mut().zip(theirs) {
                *m += *t;
            }
        }
        self.no_table += other.no_table;
        for (m, t) in self.malformed.iter_mut().zip(&other.malformed) {
            *m += *t;
        }
    }

    /// Total over every slot.
    pub fn total(&self) -> PacketCount {
        let mut sum = self.no_table;
        self.tables
            .iter()
            .flatten()
            .chain(&self.malformed)
            .for_each(|c| sum += *c);
        sum
    }
}

/// A packet/byte counter with one writer (the core that owns it) and any number of concurrent readers.
#[derive(Debug, Default)]
pub struct Counter {
    packets: AtomicU64,
    bytes: AtomicU64,
}

impl Counter {
    /// Counts one frame. Only the owning thread may call this: it is a load and a store, not an atomic
    /// read-modify-write, so that the fast path never takes a locked instruction.
    pub fn add(&self, bytes: usize) {
        self.add_count(PacketCount {
            packets: 1,
            bytes: bytes as u64,
        });
    }

    /// Counts several frames at once (owning thread only, as [`Counter::add`]).
    pub fn add_count(&self, count: PacketCount) {
        self.packets.store(
            self.packets.load(Ordering::Relaxed) + count.packets,
            Ordering::Relaxed,
        );
        self.bytes.store(
            self.bytes.load(Ordering::Relaxed) + count.bytes,
            Ordering::Relaxed,
        );
    }

    /// The current values.
    pub fn get(&self) -> PacketCount {
        PacketCount {
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}

/// Where each [`Hit`] of a rule set is counted: one flat run of slots, first every malformed reason
/// (in [`ParseError::ALL`] order), then the no-table case, then per table its rules and its default.
/// The compiled firewall judges frames straight into slots, so counting is one indexed add.
#[derive(Debug, Clone)]
pub(crate) struct Slots {
    /// The first slot of each table (in [`RuleSet::tables`] order), then the total number of slots.
    starts: Vec<u32>,
}

/// The slot of frames whose VLAN has no table.
pub(crate) const NO_TABLE_SLOT: u32 = ParseError::ALL.len() as u32;

impl Slots {
    /// The slots of `rules`.
    pub(crate) fn new(rules: &RuleSet) -> Slots {
        let mut starts = Vec::with_capacity(rules.tables.len() + 1);
        let mut next = NO_TABLE_SLOT + 1;
        for table in rules.tables.values() {
            starts.push(next);
            next += table.rules.len() as u32 + 1;
        }
        starts.push(next);
        Slots { starts }
    }

    /// How many slots there are.
    pub(crate) fn len(&self) -> usize {
        self.starts[self.starts.len() - 1] as usize
    }

    /// The first slot of the table at position `table` (its rule 0).
    pub(crate) fn table_start(&self, table: usize) -> u32 {
        self.starts[table]
    }

    /// The slot of the default of the table at position `table`.
    pub(crate) fn default_of(&self, table: usize) -> u32 {
        self.starts[table + 1] - 1
    }

    /// The slot of `hit`.
    pub(crate) fn of(&self, hit: Hit) -> u32 {
        match hit {
            Hit::Malformed(reason) => reason.index() as u32,
            Hit::NoTable => NO_TABLE_SLOT,
            Hit::Rule { table, rule } => self.starts[table] + rule as u32,
            Hit::Default { table } => self.default_of(table),
        }
    }

    /// The hit `slot` counts.
    pub(crate) fn hit(&self, slot: u32) -> Hit {
        if slot < NO_TABLE_SLOT {
            return Hit::Malformed(ParseError::ALL[slot as usize]);
        }
        if slot == NO_TABLE_SLOT {
            return Hit::NoTable;
        }
        let table = self.starts.partition_point(|&s| s <= slot) - 1;
        if slot == self.default_of(table) {
            Hit::Default { table }
        } else {
            Hit::Rule {
                table,
                rule: (slot - self.starts[table]) as usize,
            }
        }
    }
}

/// The live counters of one core, readable by others while it runs; same shape as [`CountersSnapshot`].
#[derive(Debug)]
pub struct Counters {
    slots: Slots,
    counters: Box<[Counter]>,
}

impl Counters {
    /// Zeroed counters shaped for `rules`.
    pub fn new(rules: &RuleSet) -> Counters {
        let slots = Slots::new(rules);
        let counters = (0..slots.len()).map(|_| Counter::default()).collect();
        Counters { slots, counters }
    }

    /// Counts one frame of `bytes` bytes decided by `hit` (owning thread only; see [`Counter::add`]).
    pub fn record(&self, hit: Hit, bytes: usize) {
        self.counters[self.slots.of(hit) as usize].add(bytes);
    }

    /// Counts `count` frames in `slot` (owning thread only; see [`Counter::add`]).
    #[inline]
    pub(crate) fn add(&self, slot: u32, count: PacketCount) {
        self.counters[slot as usize].add_count(count);
    }

    /// A consistent-enough copy (each counter is read atomically; counters are read one after another).
    pub fn snapshot(&self) -> CountersSnapshot {
        let read = |from: u32, to: u32| {
            self.counters[from as usize..to as usize]
                .iter()
                .map(Counter::get)
                .collect::<Vec<_>>()
        };
        let starts = &self.slots.starts;
        CountersSnapshot {
            tables: starts.windows(2).map(|w| read(w[0], w[1])).collect(),
            no_table: self.counters[NO_TABLE_SLOT as usize].get(),
            malformed: read(0, NO_TABLE_SLOT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::{Rule, Table, TableKey};
    use std::collections::BTreeMap;

    #[test]
    fn every_hit_has_its_own_slot_and_back() {
        let table = |n: usize| Table {
            rules: vec![Rule::new(Action::Allow); n],
            ..Table::new(Action::Drop)
        };
        let tables = BTreeMap::from([
            (TableKey::Untagged, table(2)),
            (TableKey::Vlan(7), table(0)),
            (TableKey::Vlan(9), table(3)),
        ]);
        let rules = RuleSet {
            default: Action::Drop,
            tables,
        };
        let slots = Slots::new(&rules);
        let mut hits: Vec<Hit> = ParseError::ALL.iter().map(|&r| Hit::Malformed(r)).collect();
        hits.push(Hit::NoTable);
        for (table, n) in [(0, 2), (1, 0), (2, 3)] {
            hits.extend((0..n).map(|rule| Hit::Rule { table, rule }));
            hits.push(Hit::Default { table });
        }
        assert_eq!(slots.len(), hits.len());
        for (slot, hit) in hits.iter().enumerate() {
            assert_eq!(slots.of(*hit), slot as u32, "{hit:?}");
            assert_eq!(slots.hit(slot as u32), *hit);
        }
        let counters = Counters::new(&rules);
        let mut model = CountersSnapshot::zero(&rules);
        for (i, hit) in hits.iter().enumerate() {
            counters.record(*hit, i);
            model.record(*hit, i);
        }
        assert_eq!(counters.snapshot(), model);
    }
}
