//! The poll-mode firewall pipeline: one worker lcore per queue pair, each polling both ports
//! (rx burst -> classify -> tx burst out of the other port), and a control side that swaps rule sets
//! and reads counters while the workers run.
//!
//! Workers never block and never share a queue. The control side talks to them through a crossbeam
//! channel per worker, checked between bursts: a rule update is an `Arc` of a compiled [`Generation`], so
//! each burst is judged by exactly one rule set and no packet waits or is lost during a swap. Counters are
//! atomics written by their worker alone and read by anyone at any time.

mod control;
mod stats;
mod worker;

pub use control::{run, Command, FirewallPorts};
pub use stats::{CoreStats, Drops, Generation, Stats};
