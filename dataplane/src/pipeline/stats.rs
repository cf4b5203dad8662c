//! Counters of the running pipeline: per-core I/O counters and, per rule-set generation, per-core rule
//! counters; and the [`Stats`] snapshot the control side assembles from them.

use crate::firewall::{
    Action, Counter, Counters, CountersSnapshot, Firewall, PacketCount, RuleSet, TableKey,
};
use crate::{Eal, Result};
use std::fmt::{self, Write as _};
use std::ops::AddAssign;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// One compiled rule set and the counters each core keeps for it.
pub struct Generation {
    /// Increases by one with every update; the first rule set is generation 1.
    pub id: u64,
    /// The compiled rules.
    pub firewall: Firewall,
    /// One set of rule counters per core, written only by that core.
    pub counters: Vec<Counters>,
}

impl Generation {
    /// Compiles `rules` as generation `id` with zeroed counters for `cores` cores.
    pub fn new(eal: &Eal, id: u64, rules: RuleSet, cores: usize) -> Result<Generation> {
        let counters = (0..cores).map(|_| Counters::new(&rules)).collect();
        Ok(Generation {
            id,
            firewall: Firewall::compile(eal, rules)?,
            counters,
        })
    }

    /// The rule counters of every core, summed.
    pub fn totals(&self) -> CountersSnapshot {
        let mut sum = CountersSnapshot::zero(self.firewall.rules());
        for c in &self.counters {
            sum.merge(&c.snapshot());
        }
        sum
    }
}

/// The I/O counters of one worker core, written by that core alone.
#[derive(Debug, Default)]
pub(crate) struct CoreCounters {
    pub(crate) rx: Counter,
    pub(crate) tx: Counter,
    /// Allowed frames the device would not take (tx queue full after retries), then freed.
    pub(crate) tx_failed: Counter,
    /// Frames spread over several mbufs (larger than the pool's data room), dropped unjudged.
    pub(crate) multi_segment: Counter,
    /// The generation this core judges with (0 before it started).
    pub(crate) generation: AtomicU64,
}

/// What one core has done so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreStats {
    /// The lcore's index among the workers.
    pub core: usize,
    /// Frames received on either port.
    pub rx: PacketCount,
    /// Frames sent on either port.
    pub tx: PacketCount,
    /// Allowed frames dropped because the tx queue stayed full.
    pub tx_failed: PacketCount,
    /// Frames dropped unjudged because they did not fit one mbuf.
    pub multi_segment: PacketCount,
    /// The rule-set generation the core is using.
    pub generation: u64,
    /// This core's rule counters in the newest generation: its verdicts, and its drops by reason.
    pub verdicts: CountersSnapshot,
    /// Frames this core's verdicts dropped, by reason, over every generation so far (so that
    /// rx = tx + dropped + tx_failed + multi_segment, reloads or not).
    pub dropped: Drops,
}

impl CoreStats {
    /// Reads core `core`'s counters; `retired` holds its drops under the generations before `newest`.
    pub(crate) fn read(
        core: usize,
        c: &CoreCounters,
        newest: &Generation,
        retired: Drops,
    ) -> CoreStats {
        let verdicts = newest.counters[core].snapshot();
        let mut dropped = retired;
        dropped += Drops::of(newest.firewall.rules(), &verdicts);
        CoreStats {
            core,
            rx: c.rx.get(),
            tx: c.tx.get(),
            tx_failed: c.tx_failed.get(),
            multi_segment: c.multi_segment.get(),
            generation: c.generation.load(Ordering::Acquire),
            verdicts,
            dropped,
        }
    }
}

/// Frames dropped by the rules, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drops {
    /// By a rule whose action is drop.
    pub by_rule: PacketCount,
    /// By the default of their VLAN's table.
    pub by_default: PacketCount,
    /// By the global default, their VLAN having no table.
    pub no_table: PacketCount,
    /// As malformed.
    pub malformed: PacketCount,
}

impl Drops {
    /// The drops that counters `c` of rule set `rules` hold.
    pub fn of(rules: &RuleSet, c: &CountersSnapshot) -> Drops {
        let mut out = Drops::default();
        for (table, counts) in rules.tables.values().zip(&c.tables) {
            for (rule, count) in table.rules.iter().zip(counts) {
                if rule.action == Action::Drop {
                    out.by_rule += *count;
                }
            }
            if table.default == Action::Drop {
                out.by_default += counts[counts.len() - 1];
            }
        }
        if rules.default == Action::Drop {
            out.no_table = c.no_table;
        }
        c.malformed.iter().for_each(|m| out.malformed += *m);
        out
    }

    /// Every reason together.
    pub fn total(&self) -> PacketCount {
        let mut sum = self.by_rule;
        sum += self.by_default;
        sum += self.no_table;
        sum += self.malformed;
        sum
    }
}

impl AddAssign for Drops {
    fn add_assign(&mut self, other: Drops) {
        self.by_rule += other.by_rule;
        self.by_default += other.by_default;
        self.no_table += other.no_table;
        self.malformed += other.malformed;
    }
}

/// A snapshot of the running firewall.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Time since the workers started.
    pub elapsed: Duration,
    /// The newest generation (the one the control side last published).
    pub generation: u64,
    /// Per-core I/O.
    pub cores: Vec<CoreStats>,
    /// The rules of the newest generation, to name tables and rules.
    pub rules: RuleSet,
    /// Rule counters of the newest generation, summed over cores.
    pub current: CountersSnapshot,
    /// Rule counters of every generation so far (oldest first), summed over cores.
    pub by_generation: Vec<(u64, CountersSnapshot)>,
    /// Mbufs of the pool in use once both devices had started, before any frame was polled: what
    /// the devices themselves took (receive rings, AF_XDP fill rings).
    pub held_by_devices_at_start: u32,
}

impl Stats {
    /// Frames received, all cores.
    pub fn rx(&self) -> PacketCount {
        self.cores.iter().fold(PacketCount::default(), |mut s, c| {
            s += c.rx;
            s
        })
    }

    /// Frames sent, all cores.
    pub fn tx(&self) -> PacketCount {
        self.cores.iter().fold(PacketCount::default(), |mut s, c| {
            s += c.tx;
            s
        })
    }

    /// Frames dropped by the rules, by reason, all cores, over every generation.
    pub fn dropped(&self) -> Drops {
        self.cores.iter().fold(Drops::default(), |mut s, c| {
            s += c.dropped;
            s
        })
    }

    /// Frames judged by any generation: every received frame once it has been classified.
    pub fn judged(&self) -> u64 {
        self.by_generation
            .iter()
            .map(|(_, c)| c.total().packets)
            .sum()
    }
}

fn line(out: &mut String, label: &str, c: PacketCount) {
    if c.packets > 0 {
        let _ = writeln!(
            out,
            "    {label:<40} {:>12} pkts {:>14} bytes",
            c.packets, c.bytes
        );
    }
}

impl fmt::Display for Stats {
    /// Per-core rates and drops by reason (over every generation), then per-VLAN and per-rule counters
    /// of the current generation (non-zero lines).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let (rx, tx) = (self.rx(), self.tx());
        let mut out = String::new();
        let _ = writeln!(
            out,
            "[{:>8.1}s] rules gen {}: rx {} ({:.3} Mpps), tx {} ({:.3} Mpps)",
            secs,
            self.generation,
            rx.packets,
            rx.packets as f64 / secs / 1e6,
            tx.packets,
            tx.packets as f64 / secs / 1e6
        );
        for c in &self.cores {
            let Drops {
                by_rule,
                by_default,
                no_table,
                malformed,
            } = c.dropped;
            let _ = writeln!(
                out,
                "  core {}: rx {} tx {} dropped: by rule {} by default {} no table {} malformed {} \
                 tx_failed {} multi_segment {} (gen {})",
                c.core,
                c.rx.packets,
                c.tx.packets,
                by_rule.packets,
                by_default.packets,
                no_table.packets,
                malformed.packets,
                c.tx_failed.packets,
                c.multi_segment.packets,
                c.generation
            );
        }
        for ((key, table), counts) in self.rules.tables.iter().zip(&self.current.tables) {
            let name = match key {
                TableKey::Untagged => "untagged".to_string(),
                TableKey::Vlan(id) => format!("vlan {id}"),
            };
            let _ = writeln!(out, "  {name}:");
            for (i, (rule, c)) in table.rules.iter().zip(counts).enumerate() {
                let label = format!(
                    "rule {i} {} {:?}",
                    rule.name.as_deref().unwrap_or(""),
                    rule.action
                );
                line(&mut out, &label, *c);
            }
            line(
                &mut out,
                &format!("default {:?}", table.default),
                counts[counts.len() - 1],
            );
        }
        line(
            &mut out,
            &format!("  no table (default {:?})", self.rules.default),
            self.current.no_table,
        );
        for (reason, c) in crate::packet::ParseError::ALL
            .iter()
            .zip(&self.current.malformed)
        {
            line(&mut out, &format!("  malformed {reason}"), *c);
        }
        f.write_str(&out)
    }
}
