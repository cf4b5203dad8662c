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

/// The live counters of one core, readable by others while it runs; same shape as [`CountersSnapshot`].
#[derive(Debug)]
pub struct Counters {
    tables: Vec<Box<[Counter]>>,
    no_table: Counter,
    malformed: Box<[Counter]>,
}

impl Counters {
    /// Zeroed counters shaped for `rules`.
    pub fn new(rules: &RuleSet) -> Counters {
        let fresh = |n: usize| {
            (0..n)
                .map(|_| Counter::default())
                .collect::<Box<[Counter]>>()
        };
        Counters {
            tables: rules
                .tables
                .values()
                .map(|t| fresh(t.rules.len() + 1))
                .collect(),
            no_table: Counter::default(),
            malformed: fresh(ParseError::ALL.len()),
        }
    }

    /// Counts one frame of `bytes` bytes decided by `hit` (owning thread only; see [`Counter::add`]).
    pub fn record(&self, hit: Hit, bytes: usize) {
        let counter = match hit {
            Hit::Malformed(reason) => &self.malformed[reason.index()],
            Hit::NoTable => &self.no_table,
            Hit::Rule { table, rule } => &self.tables[table][rule],
            Hit::Default { table } => self.tables[table]
                .last()
                .expect("every table has a default slot"),
        };
        counter.add(bytes);
    }

    /// A consistent-enough copy (each counter is read atomically; counters are read one after another).
    pub fn snapshot(&self) -> CountersSnapshot {
        let read = |cs: &[Counter]| cs.iter().map(Counter::get).collect::<Vec<_>>();
        CountersSnapshot {
            tables: self.tables.iter().map(|t| read(t)).collect(),
            no_table: self.no_table.get(),
            malformed: read(&self.malformed),
        }
    }
}
