//! The VLAN-aware firewall: rule files, the compiled classifier, and the reference model it is tested
//! against.
//!
//! A frame arrives on port A or B. Its outermost VLAN ID (or its lack of a tag) selects a table; a VLAN
//! without a table gets the global default. In the table the first matching rule decides, or the table's
//! default. Allowed frames leave on the other port, after the table's rewrite for that direction (VLAN
//! translation, MAC rewrite). Malformed frames are dropped and counted by [`ParseError`](crate::packet::ParseError).

mod acl;
pub mod classbench;
mod engine;
mod five_tuple;
mod l2;
mod layout;
mod model;
mod rule_file;
mod rules;
mod strict_json;
pub mod synth;
mod verdict;

pub use acl::AclAlgorithm;
pub(crate) use engine::apply_rewrite;
pub use engine::{Firewall, Memory};
pub use five_tuple::{FiveTupleAcl, FiveTupleKey};
pub use model::ReferenceModel;
pub use rule_file::{parse_rule_bytes, parse_rule_file, RuleFileError};
pub use rules::{
    Action, PortRange, Prefix, Rewrite, Rule, RuleSet, Side, Table, TableKey, TcpFlagsMatch,
};
pub use verdict::{Counter, Counters, CountersSnapshot, Hit, PacketCount, Verdict};
