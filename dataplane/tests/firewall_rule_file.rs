//! Rule file parsing: the seed's example parses to the expected rule set; every kind of mistake is
//! rejected with the JSON path of the offending value.

use dataplane::firewall::{
    parse_rule_bytes, parse_rule_file, Action, PortRange, Side, TableKey, TcpFlagsMatch,
};
use dataplane::packet::{MacAddr, IPPROTO_TCP, IPPROTO_UDP, TCP_ACK, TCP_SYN};

const EXAMPLE: &str = r#"{
  "default": "drop",
  "vlans": {
    "210": {
      "default": "drop",
      "rules": [
        {"name": "dns", "action": "allow", "proto": "udp", "src": "10.56.217.0/24", "dport": "53"},
        {"action": "allow", "direction": "a->b", "proto": "tcp", "dst": "10.56.217.10", "dport": "1000-2000",
         "tcp_flags": "syn,!ack"},
        {"action": "drop", "ethertype": "ipv6", "src": "2001:db8::/32", "sport": 123, "proto": 17}
      ],
      "rewrite": {"a->b": {"vlan": 310, "dst_mac": "02:00:00:00:01:01"}, "b->a": {"src_mac": "02:00:00:00:02:02"}}
    },
    "untagged": {"default": "allow"}
  }
}"#;

#[test]
fn parses_the_example() {
    let rules = parse_rule_file(EXAMPLE).unwrap();
    assert_eq!(rules.default, Action::Drop);
    assert_eq!(
        rules.tables.keys().copied().collect::<Vec<_>>(),
        vec![TableKey::Untagged, TableKey::Vlan(210)]
    );
    let t = &rules.tables[&TableKey::Vlan(210)];
    assert_eq!(t.rules.len(), 3);
    let dns = &t.rules[0];
    assert_eq!(
        (dns.name.as_deref(), dns.action, dns.protocol),
        (Some("dns"), Action::Allow, Some(IPPROTO_UDP))
    );
    assert_eq!(dns.src.unwrap().to_string(), "10.56.217.0/24");
    assert_eq!(dns.dport, Some(PortRange { lo: 53, hi: 53 }));
    let syn = &t.rules[1];
    assert_eq!(
        (syn.ingress, syn.protocol),
        (Some(Side::A), Some(IPPROTO_TCP))
    );
    assert_eq!(syn.dst.unwrap().to_string(), "10.56.217.10/32");
    assert_eq!(syn.dport, Some(PortRange { lo: 1000, hi: 2000 }));
    assert_eq!(
        syn.tcp_flags,
        Some(TcpFlagsMatch {
            mask: TCP_SYN | TCP_ACK,
            value: TCP_SYN
        })
    );
    assert_eq!(t.rules[2].sport, Some(PortRange { lo: 123, hi: 123 }));
    assert_eq!(t.rewrite_a_to_b.vlan, Some(310));
    assert_eq!(t.rewrite_a_to_b.dst_mac, Some(MacAddr([2, 0, 0, 0, 1, 1])));
    assert_eq!(t.rewrite_b_to_a.src_mac, Some(MacAddr([2, 0, 0, 0, 2, 2])));
    assert!(rules.tables[&TableKey::Untagged].rules.is_empty());
}

/// Replaces the first occurrence of `from` in the example and returns the error.
fn broken(from: &str, to: &str) -> String {
    assert!(EXAMPLE.contains(from), "{from}");
    parse_rule_file(&EXAMPLE.replacen(from, to, 1))
        .unwrap_err()
        .to_string()
}

#[test]
fn errors_name_the_json_path() {
    let cases = [
        (
            r#""dport": "53""#,
            r#""dport": "53", "colour": "red""#,
            r#"vlans."210".rules[0].colour: unknown field"#,
        ),
        (
            r#""210": {"#,
            r#""4095": {"#,
            r#"vlans."4095": VLAN key must be"#,
        ),
        (
            r#""210": {"#,
            r#""0210": {"#,
            r#"vlans."0210": VLAN key must be"#,
        ),
        (
            "10.56.217.0/24",
            "10.56.217.0/33",
            r#"vlans."210".rules[0].src: prefix length /33 is out of range"#,
        ),
        (
            "10.56.217.0/24",
            "10.56.217.1/24",
            r#"vlans."210".rules[0].src: 10.56.217.1/24 has host bits set"#,
        ),
        (
            "10.56.217.0/24",
            "10.56.300.0/24",
            r#"vlans."210".rules[0].src: "10.56.300.0" is not an IP address"#,
        ),
        (
            r#""dport": "53""#,
            r#""dport": "5-1""#,
            r#"vlans."210".rules[0].dport: port range 5-1 is reversed"#,
        ),
        (
            r#""dport": "53""#,
            r#""dport": "70000""#,
            r#"vlans."210".rules[0].dport: "70000" is not a port"#,
        ),
        (
            r#""action": "allow", "proto": "udp""#,
            r#""action": "permit", "proto": "udp""#,
            r#"vlans."210".rules[0].action: unknown action "permit""#,
        ),
        (
            r#""default": "drop",
      "rules""#,
            r#""rules""#,
            r#"vlans."210".default: missing required field"#,
        ),
        (
            r#""proto": "udp""#,
            r#""proto": "sctp""#,
            r#"vlans."210".rules[0].proto: expected"#,
        ),
        (
            r#""proto": "udp""#,
            r#""proto": "icmp""#,
            r#"vlans."210".rules[0].dport: port ranges need proto tcp or udp"#,
        ),
        (
            r#""proto": "tcp""#,
            r#""proto": "udp""#,
            r#"vlans."210".rules[1].tcp_flags: TCP flags need proto tcp"#,
        ),
        (
            "syn,!ack",
            "syn,!ack,syn",
            r#"vlans."210".rules[1].tcp_flags: TCP flag syn appears twice"#,
        ),
        (
            "syn,!ack",
            "syn,nope",
            r#"vlans."210".rules[1].tcp_flags: unknown TCP flag "nope""#,
        ),
        (
            r#""direction": "a->b""#,
            r#""direction": "a-b""#,
            r#"vlans."210".rules[1].direction: unknown direction"#,
        ),
        (
            r#""ethertype": "ipv6""#,
            r#""ethertype": "ipv4""#,
            r#"vlans."210".rules[2].ethertype: contradicts"#,
        ),
        (
            r#""ethertype": "ipv6""#,
            r#""ethertype": "0x8100""#,
            r#"vlans."210".rules[2].ethertype: VLAN tags are matched by table"#,
        ),
        (
            r#""vlan": 310"#,
            r#""vlan": 4095"#,
            r#"vlans."210".rewrite."a->b".vlan: expected a VLAN ID 1-4094"#,
        ),
        (
            "02:00:00:00:01:01",
            "02:00:00:00:01",
            r#"vlans."210".rewrite."a->b".dst_mac: "02:00:00:00:01" is not a MAC"#,
        ),
        (
            r#""b->a": {"#,
            r#""b-a": {"#,
            r#"vlans."210".rewrite."b-a": unknown field"#,
        ),
        (
            r#""untagged": {"default": "allow"}"#,
            r#""untagged": {"default": "allow", "rewrite": {"a->b": {"vlan": 5}}}"#,
            r#"vlans.untagged.rewrite."a->b".vlan: VLAN translation needs a tagged table"#,
        ),
        (
            r#""default": "drop",
  "vlans""#,
            r#""default": "reject",
  "vlans""#,
            r#"default: unknown action "reject""#,
        ),
        (r#""rules": ["#, r#""rules": {"x": ["#, r#"invalid JSON"#),
        (
            r#""untagged": {"default": "allow"}"#,
            r#""210": {"default": "allow"}"#,
            r#"invalid JSON: duplicate key "210""#,
        ),
    ];
    for (from, to, expected) in cases {
        let err = broken(from, to);
        assert!(
            err.contains(expected),
            "replacing {from:?} with {to:?}\n  got: {err}\n  want: {expected}"
        );
    }
}

#[test]
fn minimal_files() {
    let rules = parse_rule_file(r#"{"default": "allow"}"#).unwrap();
    assert_eq!((rules.default, rules.tables.len()), (Action::Allow, 0));
    assert!(parse_rule_file(r#"{"vlans": {}}"#)
        .unwrap_err()
        .to_string()
        .contains("default: missing required field"));
    assert!(parse_rule_file(r#"[]"#)
        .unwrap_err()
        .to_string()
        .contains("expected an object"));
}

/// The README's example rule file (for the seed's VLAN 210 scenario) is this file, and it parses.
#[test]
fn readme_example_parses_and_is_in_the_readme() {
    let example = include_str!("firewall_rules_vlan210.json");
    let rules = parse_rule_file(example).unwrap();
    assert_eq!(rules.tables[&TableKey::Vlan(210)].rules.len(), 6);
    let readme = include_str!("../../README.md");
    assert!(
        readme.contains(example.trim()),
        "README.md must show tests/firewall_rules_vlan210.json verbatim"
    );
}

#[test]
fn a_file_that_is_not_utf8_is_refused_at_its_first_invalid_byte() {
    let mut bytes = EXAMPLE.as_bytes().to_vec();
    // Latin-1 "é" (0xe9) inside the first rule's name, on line 7 after `{"name": "dns`.
    let at = EXAMPLE.find("dns").unwrap() + 3;
    bytes.insert(at, 0xe9);
    let line_start = EXAMPLE[..at].rfind('\n').unwrap() + 1;
    let err = parse_rule_bytes(&bytes).unwrap_err().to_string();
    let want = format!(
        "not UTF-8: invalid byte 0xe9 at byte offset {at} (line 7, column {})",
        at - line_start + 1
    );
    assert!(err.contains(&want), "{err}");
    // Valid UTF-8 before the bad byte counts in characters, not bytes.
    let mut accented = "{\"default\": \"drop\", \"é\": ".as_bytes().to_vec();
    accented.push(0xff);
    let err = parse_rule_bytes(&accented).unwrap_err().to_string();
    assert!(
        err.contains("invalid byte 0xff at byte offset 26 (line 1, column 26)"),
        "{err}"
    );
    assert_eq!(
        parse_rule_bytes(EXAMPLE.as_bytes()),
        parse_rule_file(EXAMPLE)
    );
}
