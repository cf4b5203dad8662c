//! multus driven by the real runtime library: a small Go program over Debian's libcni runs
//! VERSION (validate), ADD, CHECK and DEL as kubelet's runtimes do. Needs root, Go and libcni sources.

mod support;

use serde_json::{json, Value};
use support::*;

/// A multus network with a bridge master, a macvlan and a bridge+tuning chain, at `version`.
fn network(
    version: &str,
    scratch: &Scratch,
    bridge: &HostLink,
    second: &HostLink,
    master: &HostLink,
) -> Value {
    let ipam = scratch.join("ipam");
    json!({"cniVersion": version, "name": "mt-libcni", "type": "multus", "binDir": REFERENCE_PLUGINS,
    "cniDir": scratch.join("cache"),
    "delegates": [
        bridge_delegate(bridge, "10.230.0.0/24", &ipam),
        {"type": "macvlan", "name": "mv", "master": master.name,
         "ipam": {"type": "host-local", "subnet": "10.231.0.0/24", "dataDir": ipam}},
        {"name": "chain", "interface": "data0", "plugins": [
            bridge_delegate(second, "10.232.0.0/24", &ipam),
            {"type": "tuning", "sysctl": {"net.ipv4.conf.data0.arp_ignore": "1"}}]}
    ]})
}

#[test]
fn add_check_del_through_libcni_for_each_version() {
    let scratch = Scratch::new();
    let (bridge, second, master) = (
        HostLink::expect("mtb"),
        HostLink::expect("mtb"),
        HostLink::veth().up(),
    );
    // Debian's libcni 1.1.2 and plugins 1.1.1 speak up to 1.0.0; CHECK exists from 0.4.0 on.
    for version in ["0.3.1", "0.4.0", "1.0.0"] {
        let netns = Netns::new();
        let conf_file = scratch.join(&format!("multus-{version}.conf"));
        std::fs::write(
            &conf_file,
            network(version, &scratch, &bridge, &second, &master).to_string(),
        )
        .unwrap();
        let pod = Pod::new(&netns);
        let cache = scratch.join("libcni-cache");
        drive("validate", &conf_file, &pod, &cache).expect_ok("validate (VERSION of multus)");
        let command = if version == "0.3.1" {
            "add"
        } else {
            "lifecycle"
        };
        if command == "add" {
            let result = drive("add", &conf_file, &pod, &cache).expect_ok("ADD");
            assert_eq!(result["cniVersion"], version);
            let mut links = netns.links();
            links.sort();
            assert_eq!(links, vec!["data0", "eth0", "net0"]);
            let sysctl = sh(
                "ip",
                &[
                    "netns",
                    "exec",
                    &netns.name,
                    "cat",
                    "/proc/sys/net/ipv4/conf/data0/arp_ignore",
                ],
            );
            assert_eq!(sysctl.trim(), "1", "the chained tuning plugin ran on data0");
            drive("del", &conf_file, &pod, &cache).expect_ok("DEL");
        } else {
            let result = drive("lifecycle", &conf_file, &pod, &cache).expect_ok(version);
            assert_eq!(result["cniVersion"], version);
            let address = result["ips"][0]["address"].as_str().unwrap();
            assert!(
                address.starts_with("10.230.0."),
                "{version}: {address} is not the master's (bridge) address"
            );
        }
        assert_eq!(netns.links(), Vec::<String>::new(), "{version}");
        assert_eq!(scratch.leases("ipam"), Vec::<String>::new(), "{version}");
        assert_eq!(scratch.files("cache"), Vec::<String>::new(), "{version}");
    }
}

#[test]
fn libcni_check_fails_when_a_secondary_interface_is_gone() {
    let (netns, scratch) = (Netns::new(), Scratch::new());
    let (bridge, second, master) = (
        HostLink::expect("mtb"),
        HostLink::expect("mtb"),
        HostLink::veth().up(),
    );
    let conf_file = scratch.join("multus.conf");
    std::fs::write(
        &conf_file,
        network("1.0.0", &scratch, &bridge, &second, &master).to_string(),
    )
    .unwrap();
    let pod = Pod::new(&netns);
    let cache = scratch.join("libcni-cache");
    drive("add", &conf_file, &pod, &cache).expect_ok("ADD");
    drive("check", &conf_file, &pod, &cache).expect_ok("CHECK");
    netns.ip("link del net0");
    let reply = drive("check", &conf_file, &pod, &cache);
    assert!(!reply.ok, "CHECK must notice the missing macvlan");
    assert!(reply.stderr.contains("delegates[1]"), "{}", reply.stderr);
    drive("del", &conf_file, &pod, &cache).expect_ok("DEL");
    assert_eq!(netns.links(), Vec::<String>::new());
    assert_eq!(scratch.leases("ipam"), Vec::<String>::new());
}
