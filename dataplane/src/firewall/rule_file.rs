//! Strict parsing of the JSON rule file into a [`RuleSet`]; every error names the JSON path it is about.
//!
//! ```json
//! {"default": "drop",
//!  "vlans": {"210": {"default": "drop",
//!                    "rules": [{"action": "allow", "proto": "udp", "src": "10.56.217.0/24", "dport": "53"}],
//!                    "rewrite": {"a->b": {"vlan": 310, "dst_mac": "02:00:00:00:01:01"}}},
//!            "untagged": {"default": "allow", "rules": []}}}
//! ```

use super::rules::{
    Action, PortRange, Prefix, Rewrite, Rule, RuleSet, Side, Table, TableKey, TcpFlagsMatch,
};
use super::strict_json;
use crate::packet::{
    MacAddr, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN,
    IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, MAX_VLAN_ID, TCP_ACK, TCP_CWR, TCP_ECE,
    TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG,
};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// A rule file that cannot be used, with the JSON path of the offending value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFileError {
    /// Path of the bad value, e.g. `vlans."210".rules[0].dport` (empty for the whole document).
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for RuleFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "rule file: {}", self.message)
        } else {
            write!(f, "rule file: {}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for RuleFileError {}

type Result<T> = std::result::Result<T, RuleFileError>;

fn error<T>(path: &str, message: impl Into<String>) -> Result<T> {
    Err(RuleFileError {
        path: path.to_string(),
        message: message.into(),
    })
}

/// `path.field`, with the field quoted unless it is a plain identifier (so `vlans."210"`, `"a->b"`).
fn field_path(path: &str, field: &str) -> String {
    let plain = !field.is_empty() && field.chars().all(|c| c.is_ascii_alphabetic() || c == '_');
    let field = if plain {
        field.to_string()
    } else {
        format!("{field:?}")
    };
    if path.is_empty() {
        field
    } else {
        format!("{path}.{field}")
    }
}

/// Parses and validates a rule file read as bytes: text that is not UTF-8 is an error giving the byte
/// offset, line and column of the first invalid byte.
pub fn parse_rule_bytes(bytes: &[u8]) -> Result<RuleSet> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let before = &bytes[..at];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
        RuleFileError {
            path: String::new(),
            message: format!(
                "not UTF-8: invalid byte 0x{:02x} at byte offset {at} (line {line}, column {column})",
                bytes[at]
            ),
        }
    })?;
    parse_rule_file(text)
}

/// Parses and validates a rule file.
pub fn parse_rule_file(text: &str) -> Result<RuleSet> {
    let root = strict_json::parse(text).map_err(|e| RuleFileError {
        path: String::new(),
        message: format!("invalid JSON: {e}"),
    })?;
    let obj = object(&root, "", &["default", "vlans"])?;
    let default = action(required(obj, "", "default")?, "default")?;
    let mut tables = BTreeMap::new();
    if let Some(vlans) = obj.get("vlans") {
        for (key, table_value) in object(vlans, "vlans", &[])? {
            let path = field_path("vlans", key);
            let table_key = table_key(key, &path)?;
            tables.insert(table_key, table(table_value, &path, table_key)?);
        }
    }
    Ok(RuleSet { default, tables })
}

/// The value as an object whose keys are all in `allowed` (any keys when `allowed` is empty).
fn object<'a>(value: &'a Value, path: &str, allowed: &[&str]) -> Result<&'a Map<String, Value>> {
    let Value::Object(map) = value else {
        return error(path, "expected an object");
    };
    if !allowed.is_empty() {
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return error(
                &field_path(path, unknown),
                format!("unknown field; expected one of {}", allowed.join(", ")),
            );
        }
    }
    Ok(map)
}

fn required<'a>(obj: &'a Map<String, Value>, path: &str, field: &str) -> Result<&'a Value> {
    obj.get(field).map_or_else(
        || error(&field_path(path, field), "missing required field"),
        Ok,
    )
}

fn string<'a>(value: &'a Value, path: &str) -> Result<&'a str> {
    value
        .as_str()
        .map_or_else(|| error(path, "expected a string"), Ok)
}

fn table_key(key: &str, path: &str) -> Result<TableKey> {
    if key == "untagged" {
        return Ok(TableKey::Untagged);
    }
    match key.parse::<u16>() {
        Ok(id) if (1..=MAX_VLAN_ID).contains(&id) && id.to_string() == key => {
            Ok(TableKey::Vlan(id))
        }
        _ => error(
            path,
            format!(
                "VLAN key must be \"untagged\" or a VLAN ID 1-{MAX_VLAN_ID} without leading zeros"
            ),
        ),
    }
}

fn action(value: &Value, path: &str) -> Result<Action> {
    match string(value, path)? {
        "allow" => Ok(Action::Allow),
        "drop" => Ok(Action::Drop),
        other => error(
            path,
            format!("unknown action {other:?}; expected \"allow\" or \"drop\""),
        ),
    }
}

fn table(value: &Value, path: &str, key: TableKey) -> Result<Table> {
    let obj = object(value, path, &["default", "rules", "rewrite"])?;
    let mut table = Table::new(action(
        required(obj, path, "default")?,
        &field_path(path, "default"),
    )?);
    if let Some(rules) = obj.get("rules") {
        let rules_path = field_path(path, "rules");
        let Value::Array(items) = rules else {
            return error(&rules_path, "expected an array");
        };
        for (i, item) in items.iter().enumerate() {
            table.rules.push(rule(item, &format!("{rules_path}[{i}]"))?);
        }
    }
    if let Some(rewrite_value) = obj.get("rewrite") {
        let rewrite_path = field_path(path, "rewrite");
        let rewrites = object(rewrite_value, &rewrite_path, &["a->b", "b->a"])?;
        if let Some(v) = rewrites.get("a->b") {
            table.rewrite_a_to_b = rewrite(v, &field_path(&rewrite_path, "a->b"), key)?;
        }
        if let Some(v) = rewrites.get("b->a") {
            table.rewrite_b_to_a = rewrite(v, &field_path(&rewrite_path, "b->a"), key)?;
        }
    }
    Ok(table)
}

fn rewrite(value: &Value, path: &str, key: TableKey) -> Result<Rewrite> {
    let obj = object(value, path, &["vlan", "src_mac", "dst_mac"])?;
    let mut out = Rewrite::default();
    if let Some(v) = obj.get("vlan") {
        let vlan_path = field_path(path, "vlan");
        if key == TableKey::Untagged {
            return error(
                &vlan_path,
                "VLAN translation needs a tagged table; untagged frames have no tag to rewrite",
            );
        }
        out.vlan = Some(vlan_id(v, &vlan_path)?);
    }
    for (field, slot) in [("src_mac", &mut out.src_mac), ("dst_mac", &mut out.dst_mac)] {
        if let Some(v) = obj.get(field) {
            let mac_path = field_path(path, field);
            *slot = Some(
                string(v, &mac_path)?
                    .parse::<MacAddr>()
                    .or_else(|e| error(&mac_path, e))?,
            );
        }
    }
    Ok(out)
}

fn vlan_id(value: &Value, path: &str) -> Result<u16> {
    match value.as_u64() {
        Some(id) if (1..=MAX_VLAN_ID as u64).contains(&id) => Ok(id as u16),
        _ => error(path, format!("expected a VLAN ID 1-{MAX_VLAN_ID}")),
    }
}

const RULE_FIELDS: &[&str] = &[
    "name",
    "action",
    "direction",
    "ethertype",
    "proto",
    "src",
    "dst",
    "sport",
    "dport",
    "tcp_flags",
];

fn rule(value: &Value, path: &str) -> Result<Rule> {
    let obj = object(value, path, RULE_FIELDS)?;
    let at = |field: &str| field_path(path, field);
    let mut rule = Rule::new(action(required(obj, path, "action")?, &at("action"))?);
    if let Some(v) = obj.get("name") {
        rule.name = Some(string(v, &at("name"))?.to_string());
    }
    if let Some(v) = obj.get("direction") {
        rule.ingress = match string(v, &at("direction"))? {
            "a->b" => Some(Side::A),
            "b->a" => Some(Side::B),
            "any" => None,
            other => {
                return error(
                    &at("direction"),
                    format!("unknown direction {other:?}; expected \"a->b\", \"b->a\" or \"any\""),
                )
            }
        };
    }
    if let Some(v) = obj.get("ethertype") {
        rule.ethertype = Some(ethertype(v, &at("ethertype"))?);
    }
    if let Some(v) = obj.get("proto") {
        rule.protocol = Some(protocol(v, &at("proto"))?);
    }
    if let Some(v) = obj.get("src") {
        rule.src = Some(prefix(v, &at("src"))?);
    }
    if let Some(v) = obj.get("dst") {
        rule.dst = Some(prefix(v, &at("dst"))?);
    }
    if let Some(v) = obj.get("sport") {
        rule.sport = Some(port_range(v, &at("sport"))?);
    }
    if let Some(v) = obj.get("dport") {
        rule.dport = Some(port_range(v, &at("dport"))?);
    }
    if let Some(v) = obj.get("tcp_flags") {
        rule.tcp_flags = Some(tcp_flags(v, &at("tcp_flags"))?);
    }
    check_consistent(&rule, path)?;
    Ok(rule)
}

/// Rejects rules whose conditions contradict each other (they could never match).
fn check_consistent(rule: &Rule, path: &str) -> Result<()> {
    let at = |field: &str| field_path(path, field);
    let family = |p: &Prefix| {
        if p.addr.is_ipv4() {
            ETHERTYPE_IPV4
        } else {
            ETHERTYPE_IPV6
        }
    };
    let src_family = rule.src.as_ref().map(family);
    let dst_family = rule.dst.as_ref().map(family);
    if let (Some(s), Some(d)) = (src_family, dst_family) {
        if s != d {
            return error(&at("dst"), "address family differs from src");
        }
    }
    let ip_family = src_family.or(dst_family).or(match rule.protocol {
        Some(IPPROTO_ICMP) => Some(ETHERTYPE_IPV4),
        Some(IPPROTO_ICMPV6) => Some(ETHERTYPE_IPV6),
        _ => None,
    });
    if let (Some(et), Some(fam)) = (rule.ethertype, ip_family) {
        if et != fam {
            return error(
                &at("ethertype"),
                "contradicts the address family or protocol of this rule",
            );
        }
    }
    if rule.protocol == Some(IPPROTO_ICMP) && ip_family == Some(ETHERTYPE_IPV6) {
        return error(
            &at("proto"),
            "icmp is IPv4's; use icmpv6 with IPv6 prefixes",
        );
    }
    if rule.protocol == Some(IPPROTO_ICMPV6) && ip_family == Some(ETHERTYPE_IPV4) {
        return error(
            &at("proto"),
            "icmpv6 is IPv6's; use icmp with IPv4 prefixes",
        );
    }
    if let Some(et) = rule.ethertype {
        if rule.protocol.is_some() && et != ETHERTYPE_IPV4 && et != ETHERTYPE_IPV6 {
            return error(&at("proto"), "an IP protocol needs ethertype ipv4 or ipv6");
        }
    }
    for (field, set) in [
        ("sport", rule.sport.is_some()),
        ("dport", rule.dport.is_some()),
    ] {
        if set && !matches!(rule.protocol, Some(IPPROTO_TCP | IPPROTO_UDP)) {
            return error(&at(field), "port ranges need proto tcp or udp");
        }
    }
    if rule.tcp_flags.is_some() && rule.protocol != Some(IPPROTO_TCP) {
        return error(&at("tcp_flags"), "TCP flags need proto tcp");
    }
    Ok(())
}

/// An integer, or a string holding a decimal or `0x` hexadecimal integer.
fn number(value: &Value, path: &str, what: &str) -> Result<u64> {
    let parsed = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => s.parse().ok(),
        },
        _ => None,
    };
    parsed.map_or_else(|| error(path, format!("expected {what}")), Ok)
}

fn ethertype(value: &Value, path: &str) -> Result<u16> {
    match value.as_str() {
        Some("ipv4") => return Ok(ETHERTYPE_IPV4),
        Some("ipv6") => return Ok(ETHERTYPE_IPV6),
        Some("arp") => return Ok(ETHERTYPE_ARP),
        _ => {}
    }
    let what = "\"ipv4\", \"ipv6\", \"arp\" or an EtherType 0x0600-0xffff";
    match number(value, path, what)? {
        n if n == ETHERTYPE_VLAN as u64 || n == ETHERTYPE_QINQ as u64 => {
            error(path, "VLAN tags are matched by table, not by ethertype")
        }
        n @ 0x0600..=0xffff => Ok(n as u16),
        _ => error(path, format!("expected {what}")),
    }
}

fn protocol(value: &Value, path: &str) -> Result<u8> {
    match value.as_str() {
        Some("tcp") => return Ok(IPPROTO_TCP),
        Some("udp") => return Ok(IPPROTO_UDP),
        Some("icmp") => return Ok(IPPROTO_ICMP),
        Some("icmpv6") => return Ok(IPPROTO_ICMPV6),
        _ => {}
    }
    let what = "\"tcp\", \"udp\", \"icmp\", \"icmpv6\" or a protocol number 0-255";
    match number(value, path, what)? {
        n @ 0..=255 => Ok(n as u8),
        _ => error(path, format!("expected {what}")),
    }
}

fn prefix(value: &Value, path: &str) -> Result<Prefix> {
    let text = string(value, path)?;
    let (addr_text, len_text) = text
        .split_once('/')
        .map_or((text, None), |(a, l)| (a, Some(l)));
    let addr: IpAddr = addr_text
        .parse()
        .or_else(|_| error(path, format!("{addr_text:?} is not an IP address")))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len_text {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= max && l == n.to_string() => n,
            _ => return error(path, format!("prefix length /{l} is out of range 0-{max}")),
        },
    };
    let prefix = Prefix::covering(addr, len);
    if prefix.addr != addr {
        return error(path, format!("{text} has host bits set after /{len}"));
    }
    Ok(prefix)
}

fn port_range(value: &Value, path: &str) -> Result<PortRange> {
    let port = |text: &str| -> Result<u16> {
        text.trim()
            .parse::<u16>()
            .or_else(|_| error(path, format!("{text:?} is not a port 0-65535")))
    };
    let (lo, hi) = match value {
        Value::Number(n) => {
            let p = n
                .as_u64()
                .filter(|p| *p <= 65535)
                .map_or_else(|| error(path, "port must be 0-65535"), Ok)?;
            (p as u16, p as u16)
        }
        Value::String(s) => match s.split_once('-') {
            Some((lo, hi)) => (port(lo)?, port(hi)?),
            None => (port(s)?, port(s)?),
        },
        _ => return error(path, "expected a port or a range \"lo-hi\""),
    };
    if lo > hi {
        return error(path, format!("port range {lo}-{hi} is reversed"));
    }
    Ok(PortRange { lo, hi })
}

fn tcp_flags(value: &Value, path: &str) -> Result<TcpFlagsMatch> {
    const NAMES: [(&str, u8); 8] = [
        ("fin", TCP_FIN),
        ("syn", TCP_SYN),
        ("rst", TCP_RST),
        ("psh", TCP_PSH),
        ("ack", TCP_ACK),
        ("urg", TCP_URG),
        ("ece", TCP_ECE),
        ("cwr", TCP_CWR),
    ];
    let text = string(value, path)?;
    let mut flags = TcpFlagsMatch { mask: 0, value: 0 };
    for token in text.split(',').map(str::trim) {
        let (negated, name) = token
            .strip_prefix('!')
            .map_or((false, token), |n| (true, n));
        let Some(&(_, bit)) = NAMES.iter().find(|(n, _)| *n == name) else {
            return error(path, format!("unknown TCP flag {token:?}; use fin, syn, rst, psh, ack, urg, ece, cwr, each optionally prefixed with !"));
        };
        if flags.mask & bit != 0 {
            return error(path, format!("TCP flag {name} appears twice"));
        }
        flags.mask |= bit;
        if !negated {
            flags.value |= bit;
        }
    }
    Ok(flags)
}
