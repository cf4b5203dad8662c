//! DPDK's own ACL forwarder, `l3fwd --lookup=acl`, as the peer of `vlan-firewall`: built from
//! Debian's `dpdk-doc` examples source by `benches/l3fwd/build.sh`, fed the same rules in its rule-file
//! format, and compared frame by frame with the firewall on the same traffic.

use dataplane::firewall::{Action, PortRange, Prefix, Rule};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

/// The script that builds l3fwd into a cache outside the repository and prints its path.
const BUILD_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/l3fwd/build.sh");

/// Builds l3fwd (or finds the cached build) and returns the binary's path.
pub fn build() -> Result<PathBuf, String> {
    let out = Command::new(BUILD_SCRIPT)
        .output()
        .map_err(|e| format!("{BUILD_SCRIPT}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{BUILD_SCRIPT} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// The fields of `rule` that l3fwd's IPv4 ACL (source, destination, ports, protocol) can express; an
/// error names the first field it cannot.
fn plain_ipv4(rule: &Rule) -> Result<(), String> {
    let v6 = |p: Option<Prefix>| p.is_some_and(|p| p.addr.is_ipv6());
    if rule.ingress.is_some() || rule.ethertype.is_some() || rule.tcp_flags.is_some() {
        return Err(format!(
            "rule {rule:?}: direction, ethertype and tcp_flags are not IPv4 5-tuple fields"
        ));
    }
    if v6(rule.src) || v6(rule.dst) {
        return Err(format!(
            "rule {rule:?}: IPv6 prefixes are not in the IPv4 rule file"
        ));
    }
    Ok(())
}

fn v4(prefix: Option<Prefix>) -> String {
    prefix.map_or("0.0.0.0/0".to_string(), |p| p.to_string())
}

fn range(ports: Option<PortRange>) -> (u16, u16) {
    ports.map_or((0, 65535), |p| (p.lo, p.hi))
}

/// `rules` (one untagged IPv4 table, first match wins, default drop) in l3fwd's IPv4 rule-file
/// format: allowed rules are routes (`R...` ending in the output port `port`), dropped ones ACL
/// entries (`@...`); l3fwd gives earlier lines higher priority and drops what matches nothing.
pub fn ipv4_rules(rules: &[Rule], port: u16) -> Result<String, String> {
    let mut out = String::new();
    for rule in rules {
        plain_ipv4(rule)?;
        let ((slo, shi), (dlo, dhi)) = (range(rule.sport), range(rule.dport));
        let (proto, mask) = rule.protocol.map_or((0, 0), |p| (p, 0xff));
        let (lead, tail) = match rule.action {
            Action::Allow => ('R', format!(" {port}")),
            Action::Drop => ('@', String::new()),
        };
        let _ = writeln!(
            out,
            "{lead}{} {} {slo} : {shi} {dlo} : {dhi} {proto:#04x}/{mask:#04x}{tail}",
            v4(rule.src),
            v4(rule.dst)
        );
    }
    Ok(out)
}

/// l3fwd refuses to start without an IPv6 route: one for loopback to loopback on port 0, which no
/// benchmark frame carries.
pub const IPV6_RULES: &str =
    "R0:0:0:0:0:0:0:1/128 0:0:0:0:0:0:0:1/128 0 : 65535 0 : 65535 0x00/0x00 0\n";

/// The same `rules` as a `vlan-firewall` rule file: one table, for `vlan` (or untagged frames when
/// `None`), default drop.
pub fn firewall_rules(rules: &[Rule], vlan: Option<u16>) -> Result<String, String> {
    let mut list = Vec::new();
    for rule in rules {
        plain_ipv4(rule)?;
        let mut r = serde_json::Map::new();
        let action = if rule.action == Action::Allow {
            "allow"
        } else {
            "drop"
        };
        r.insert("action".into(), action.into());
        if let Some(p) = rule.protocol {
            r.insert("proto".into(), p.into());
        }
        for (key, prefix) in [("src", rule.src), ("dst", rule.dst)] {
            if let Some(p) = prefix {
                r.insert(key.into(), p.to_string().into());
            }
        }
        for (key, ports) in [("sport", rule.sport), ("dport", rule.dport)] {
            if let Some(p) = ports {
                r.insert(key.into(), format!("{}-{}", p.lo, p.hi).into());
            }
        }
        list.push(serde_json::Value::Object(r));
    }
    let table = vlan.map_or("untagged".to_string(), |v| v.to_string());
    let file = serde_json::json!({
        "default": "drop",
        "vlans": {table: {"default": "drop", "rules": list}},
    });
    Ok(file.to_string())
}

/// `frame` with what forwarding may legitimately change blanked: the MAC addresses (l3fwd rewrites
/// both) and, in IPv4 frames, the TTL and header checksum (l3fwd decrements the one and adjusts the
/// other).
pub fn forwarded_part(frame: &[u8]) -> Vec<u8> {
    let mut f = frame.to_vec();
    f.iter_mut().take(12).for_each(|b| *b = 0);
    if f.len() >= 34 && f[12..14] == [0x08, 0x00] {
        f[22] = 0;
        f[24] = 0;
        f[25] = 0;
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::firewall::{parse_rule_file, TcpFlagsMatch};
    use std::net::{IpAddr, Ipv4Addr};

    fn sample() -> Vec<Rule> {
        vec![
            Rule {
                protocol: Some(6),
                src: Some(Prefix::covering(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 0)), 16)),
                dport: Some(PortRange { lo: 80, hi: 88 }),
                ..Rule::new(Action::Allow)
            },
            Rule::new(Action::Drop),
        ]
    }

    #[test]
    fn allowed_rules_route_to_the_port_and_dropped_ones_are_acl_entries() {
        let text = ipv4_rules(&sample(), 1).unwrap();
        assert_eq!(
            text,
            "R10.1.0.0/16 0.0.0.0/0 0 : 65535 80 : 88 0x06/0xff 1\n\
             @0.0.0.0/0 0.0.0.0/0 0 : 65535 0 : 65535 0x00/0x00\n"
        );
    }

    #[test]
    fn the_firewall_file_parses_back_to_the_same_rules() {
        let set = parse_rule_file(&firewall_rules(&sample(), None).unwrap()).unwrap();
        let table = set.tables.values().next().unwrap();
        assert_eq!(table.rules, sample());
    }

    #[test]
    fn the_firewall_file_puts_the_rules_in_the_vlan_table() {
        let set = parse_rule_file(&firewall_rules(&sample(), Some(210)).unwrap()).unwrap();
        let keys: Vec<_> = set.tables.keys().copied().collect();
        assert_eq!(keys, [dataplane::firewall::TableKey::Vlan(210)]);
        assert_eq!(set.tables.values().next().unwrap().rules, sample());
    }

    #[test]
    fn fields_l3fwd_cannot_express_are_refused() {
        let flags = TcpFlagsMatch { mask: 2, value: 2 };
        let rule = Rule {
            tcp_flags: Some(flags),
            ..Rule::new(Action::Allow)
        };
        assert!(ipv4_rules(&[rule], 1).is_err());
    }
}
