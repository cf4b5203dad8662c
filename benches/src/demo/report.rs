//! Reading `vlan-firewall`'s stats report (what it prints every interval and at exit) into numbers, and
//! holding them against the generator's tally and the rules' model: the demo's verdict.

use benches::traffic::{Expected, KindTally};
use dataplane::firewall::{Action, Hit};

/// One stats report of `vlan-firewall`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Seconds since the workers started.
    pub elapsed: f64,
    /// Frames received on either port.
    pub rx: u64,
    /// Frames sent on either port.
    pub tx: u64,
    /// Drops summed over cores: by rule, by table default, by the global default, as malformed.
    pub drops: Drops,
    /// The per-VLAN and per-rule counter lines, as printed.
    pub counters: Vec<String>,
}

/// Frames dropped, by what decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drops {
    /// By a drop rule.
    pub by_rule: u64,
    /// By a table's default.
    pub by_default: u64,
    /// By the global default (no table for the VLAN).
    pub no_table: u64,
    /// Malformed.
    pub malformed: u64,
}

/// The number after `key` among whitespace-separated `words`.
fn after(words: &[&str], key: &[&str]) -> Option<u64> {
    let at = words.windows(key.len()).position(|w| w == key)?;
    words.get(at + key.len())?.parse().ok()
}

impl Report {
    /// Parses one report: a `[ t s] rules gen G: rx N (...), tx M (...)` header, a `core` line per
    /// worker, then counter lines. `None` if `lines` does not start with a header.
    pub fn parse(lines: &[String]) -> Option<Report> {
        let header = lines.first()?.trim_start().strip_prefix('[')?;
        let (elapsed, rest) = header.split_once("s]")?;
        let words: Vec<&str> = rest.split_whitespace().collect();
        let mut report = Report {
            elapsed: elapsed.trim().parse().ok()?,
            rx: after(&words, &["rx"])?,
            tx: after(&words, &["tx"])?,
            ..Report::default()
        };
        for line in &lines[1..] {
            let w: Vec<&str> = line.split_whitespace().collect();
            if w.first() == Some(&"core") {
                let d = &mut report.drops;
                d.by_rule += after(&w, &["by", "rule"])?;
                d.by_default += after(&w, &["by", "default"])?;
                d.no_table += after(&w, &["no", "table"])?;
                d.malformed += after(&w, &["malformed"])?;
            } else if !line.trim().is_empty() {
                report.counters.push(line.clone());
            }
        }
        Some(report)
    }
}

/// Whether a stdout line of `vlan-firewall` starts a report.
pub fn is_report_header(line: &str) -> bool {
    line.starts_with('[') && line.contains("rules gen")
}

/// What the rules' model says the firewall's counters must be after the exact phase.
pub fn model_counts(expected: &[Expected], tallies: &[KindTally]) -> (u64, u64, Drops) {
    let (mut rx, mut tx, mut d) = (0, 0, Drops::default());
    for (e, t) in expected.iter().zip(tallies) {
        rx += t.sent;
        let slot = match (e.action, e.hit) {
            (Action::Allow, _) => &mut tx,
            (_, Hit::Malformed(_)) => &mut d.malformed,
            (_, Hit::NoTable) => &mut d.no_table,
            (_, Hit::Default { .. }) => &mut d.by_default,
            (_, Hit::Rule { .. }) => &mut d.by_rule,
        };
        *slot += t.sent;
    }
    (rx, tx, d)
}

/// The demo's verdict: every allowed kind arrived in full and as the model says it leaves, no denied
/// frame arrived, and the firewall's own counters are what the model expects. `Err` lists what is off.
pub fn verdict(
    expected: &[Expected],
    tallies: &[KindTally],
    firewall: &Report,
) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    if tallies.len() != expected.len() {
        problems.push(format!(
            "the generator reported {} kinds of {}",
            tallies.len(),
            expected.len()
        ));
    }
    for (e, t) in expected.iter().zip(tallies) {
        let name = e.kind.name;
        match e.action {
            Action::Allow if t.arrived != t.sent => problems.push(format!(
                "{name}: {} of {} allowed frames arrived",
                t.arrived, t.sent
            )),
            Action::Allow if t.unexpected > 0 => {
                problems.push(format!("{name}: {} frames arrived altered", t.unexpected))
            }
            Action::Drop if t.arrived > 0 => problems.push(format!(
                "{name}: {} of {} denied frames arrived",
                t.arrived, t.sent
            )),
            _ => {}
        }
        if t.sent == 0 {
            problems.push(format!("{name}: nothing was sent"));
        }
    }
    let (rx, tx, drops) = model_counts(expected, tallies);
    let got = (firewall.rx, firewall.tx, firewall.drops);
    if got != (rx, tx, drops) {
        problems.push(format!(
            "vlan-firewall counted rx {} tx {} {:?}; the rules' model expects rx {rx} tx {tx} {drops:?}",
            got.0, got.1, got.2
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use benches::traffic::expectations;
    use dataplane::firewall::parse_rule_file;

    const SAMPLE: &str = "[     3.0s] rules gen 1: rx 15 (0.000 Mpps), tx 6 (0.000 Mpps)
  core 0: rx 15 tx 6 dropped: by rule 1 by default 3 no table 2 malformed 2 tx_failed 0 multi_segment 0 (gen 1)
  untagged:
    rule 0 arp Allow                                    1 pkts             46 bytes
    default Drop                                        1 pkts             78 bytes
  vlan 210:
    rule 0 dns Allow                                    1 pkts             82 bytes
      malformed bad IPv4 IHL                            1 pkts             82 bytes";

    fn sample() -> Vec<String> {
        SAMPLE.lines().map(String::from).collect()
    }

    #[test]
    fn parses_a_report() {
        let r = Report::parse(&sample()).unwrap();
        assert_eq!((r.elapsed, r.rx, r.tx), (3.0, 15, 6));
        let drops = Drops {
            by_rule: 1,
            by_default: 3,
            no_table: 2,
            malformed: 2,
        };
        assert_eq!(r.drops, drops);
        assert_eq!(r.counters.len(), 6, "table headers and counter lines");
        assert!(Report::parse(&sample()[1..]).is_none());
        assert!(is_report_header(&sample()[0]) && !is_report_header(&sample()[1]));
    }

    fn seed() -> Vec<Expected> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../dataplane/tests/firewall_rules_vlan210.json"
        );
        expectations(&parse_rule_file(&std::fs::read_to_string(path).unwrap()).unwrap())
    }

    fn perfect(expected: &[Expected], n: u64) -> (Vec<KindTally>, Report) {
        let tallies: Vec<KindTally> = expected
            .iter()
            .enumerate()
            .map(|(index, e)| {
                let arrived = if e.action == Action::Allow { n } else { 0 };
                KindTally {
                    index,
                    sent: n,
                    arrived,
                    unexpected: 0,
                }
            })
            .collect();
        let (rx, tx, drops) = model_counts(expected, &tallies);
        (
            tallies,
            Report {
                rx,
                tx,
                drops,
                ..Report::default()
            },
        )
    }

    #[test]
    fn the_verdict_holds_only_when_arrivals_and_counters_agree_with_the_model() {
        let e = seed();
        let (tallies, report) = perfect(&e, 10);
        assert_eq!(verdict(&e, &tallies, &report), Ok(()));

        let denied = e.iter().position(|e| e.action == Action::Drop).unwrap();
        let mut leaked = tallies.clone();
        leaked[denied].arrived = 1;
        assert!(verdict(&e, &leaked, &report).unwrap_err()[0].contains("denied frames arrived"));

        let mut lost = tallies.clone();
        lost[0].arrived = 9;
        assert!(verdict(&e, &lost, &report).unwrap_err()[0].contains("9 of 10 allowed"));

        let mut miscounted = report.clone();
        miscounted.drops.by_rule += 1;
        assert!(verdict(&e, &tallies, &miscounted).unwrap_err()[0].contains("model expects"));
    }
}
