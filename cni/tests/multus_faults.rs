//! multus under faults: failing and missing delegates, vanished namespaces, repeated DEL, malformed
//! configs, taken interface names, and 50 pods at once. Real plugins in real namespaces; needs root.

mod support;

use serde_json::{json, Value};
use support::*;

fn multus_conf(scratch: &Scratch, delegates: Value) -> Value {
    json!({"cniVersion": "1.0.0", "name": "mt-faults", "type": "multus", "binDir": REFERENCE_PLUGINS,
        "cniDir": scratch.join("cache"), "delegates": delegates})
}

/// Nothing of the attachment is left: no links in the pod, no leases, no cache, no bridge ports.
fn assert_nothing_left(netns: &Netns, scratch: &Scratch, bridge: &HostLink) {
    assert_eq!(netns.links(), Vec::<String>::new(), "links left in the pod");
    assert_eq!(
        scratch.leases("ipam"),
        Vec::<String>::new(),
        "IPAM leases left"
    );
    assert_eq!(scratch.files("cache"), Vec::<String>::new(), "cache left");
    if bridge.exists() {
        assert_eq!(bridge.ports(), Vec::<String>::new(), "bridge ports left");
    }
}

#[test]
fn a_failing_delegate_rolls_back_everything_added_before_it_and_itself() {
    let (netns, scratch, bridge, master) = (
        Netns::new(),
        Scratch::new(),
        HostLink::expect("mtb"),
        HostLink::veth().up(),
    );
    let ipam = scratch.join("ipam");
    // delegates[2] is a chain whose second plugin fails after the first created net1 and leased an IP.
    let conf = multus_conf(
        &scratch,
        json!([
            bridge_delegate(&bridge, "10.220.0.0/24", &ipam),
            {"type": "macvlan", "name": "mv", "master": master.name,
             "ipam": {"type": "host-local", "subnet": "10.221.0.0/24", "dataDir": ipam}},
            {"name": "chain", "plugins": [
                {"type": "macvlan", "master": master.name,
                 "ipam": {"type": "host-local", "subnet": "10.222.0.0/24", "dataDir": ipam}},
                {"type": "tuning", "sysctl": {"net.ipv4.conf.net1.no_such_knob": "1"}}]}
        ]),
    );
    let pod = Pod::new(&netns);
    let (code, msg) = pod.call("ADD", &conf).expect_err("ADD");
    assert!(
        msg.starts_with("delegates[2] (\"macvlan,tuning\" in network \"chain\"): "),
        "{msg} (code {code})"
    );
    assert!(msg.contains("no_such_knob"), "{msg}");
    assert_nothing_left(&netns, &scratch, &bridge);
    pod.call("DEL", &conf).expect_ok("DEL after a failed ADD");
}

#[test]
fn a_missing_delegate_binary_is_reported_and_rolled_back() {
    let (netns, scratch, bridge) = (Netns::new(), Scratch::new(), HostLink::expect("mtb"));
    let conf = multus_conf(
        &scratch,
        json!([bridge_delegate(&bridge, "10.223.0.0/24", &scratch.join("ipam")), {"type": "no-such-plugin"}]),
    );
    let pod = Pod::new(&netns);
    let (code, msg) = pod.call("ADD", &conf).expect_err("ADD");
    assert_eq!(code, 7);
    assert!(
        msg.starts_with("delegates[1] (\"no-such-plugin\" in network \"mt-faults\"): type: plugin \"no-such-plugin\" not found in ["),
        "{msg}"
    );
    assert_nothing_left(&netns, &scratch, &bridge);
}

#[test]
fn del_after_the_netns_is_gone_succeeds_and_releases_ipam() {
    let (netns, scratch, bridge) = (Netns::new(), Scratch::new(), HostLink::expect("mtb"));
    let conf = multus_conf(
        &scratch,
        json!([bridge_delegate(
            &bridge,
            "10.224.0.0/24",
            &scratch.join("ipam")
        )]),
    );
    let pod = Pod::new(&netns);
    pod.call("ADD", &conf).expect_ok("ADD");
    assert_eq!(scratch.leases("ipam"), vec!["10.224.0.2"]);
    netns.delete();
    let gone = Pod { netns: None, ..pod };
    gone.call("DEL", &conf).expect_ok("DEL without netns");
    assert_eq!(scratch.leases("ipam"), Vec::<String>::new());
    assert_eq!(scratch.files("cache"), Vec::<String>::new());
    gone.call("DEL", &conf).expect_ok("second DEL");
    // And with CNI_NETNS still naming the deleted path, as some runtimes send it.
    let stale = Pod::new(&netns);
    stale
        .call("DEL", &conf)
        .expect_ok("DEL with a stale CNI_NETNS and no cache");
}

#[test]
fn malformed_configs_are_code_7_naming_the_field() {
    let (netns, scratch) = (Netns::new(), Scratch::new());
    let pod = Pod::new(&netns);
    let base = multus_conf(&scratch, json!([{"type": "bridge"}]));
    let cases = [
        (
            json!({"delegates": null}),
            7,
            "delegates: expected a list, found null",
        ),
        (
            json!({"delegates": [{"type": "bridge"}, {"type": "b", "masterplugin": 1}]}),
            7,
            "delegates[1].masterplugin: expected a boolean, found 1",
        ),
        (
            json!({"delegates": [{"plugins": [{}]}]}),
            7,
            "delegates[0].plugins[0].type: missing",
        ),
        (
            json!({"delegates": [{"type": "bridge"}, {"type": "x", "if0name": "eth0"}]}),
            7,
            "delegates[1]: interface name \"eth0\" is already used by delegates[0]",
        ),
        (
            json!({"name": "bad name"}),
            7,
            "name: \"bad name\" must start",
        ),
        (
            json!({"cniVersion": "0.2.0"}),
            1,
            "cniVersion: incompatible CNI version \"0.2.0\"",
        ),
    ];
    for (patch, code, msg) in cases {
        let mut conf = base.clone();
        conf.as_object_mut()
            .unwrap()
            .extend(patch.as_object().unwrap().clone());
        let (got_code, got_msg) = pod.call("ADD", &conf).expect_err(msg);
        assert_eq!(got_code, code, "{got_msg}");
        assert!(
            got_msg.starts_with(msg),
            "{got_msg:?} does not start with {msg:?}"
        );
    }
    let reply = call_plugin(
        &multus_bin(),
        "ADD",
        &json!("not an object"),
        Some(&pod.id),
        Some(&netns.path()),
        Some("eth0"),
    );
    assert_eq!(reply.expect_err("non-object").0, 6);
    assert!(netns.links().is_empty() && scratch.files("cache").is_empty());
}

#[test]
fn an_interface_name_already_in_the_pod_fails_before_anything_is_created() {
    let (netns, scratch, bridge) = (Netns::new(), Scratch::new(), HostLink::expect("mtb"));
    netns.ip("link add net0 type veth peer name other0");
    let ipam = scratch.join("ipam");
    let conf = multus_conf(
        &scratch,
        json!([
            bridge_delegate(&bridge, "10.225.0.0/24", &ipam),
            bridge_delegate(&bridge, "10.226.0.0/24", &ipam)
        ]),
    );
    let pod = Pod::new(&netns);
    let (code, msg) = pod.call("ADD", &conf).expect_err("ADD");
    assert_eq!(code, 100);
    assert!(
        msg.starts_with(
            "delegates[1] (\"bridge\" in network \"mt-faults\"): interface \"net0\" already exists"
        ),
        "{msg}"
    );
    assert!(!bridge.exists(), "no delegate ran");
    assert_eq!(scratch.leases("ipam"), Vec::<String>::new());
    // The runtime's DEL after the failed ADD must not touch the pre-existing net0.
    pod.call("DEL", &conf).expect_ok("DEL");
    let mut links = netns.links();
    links.sort();
    assert_eq!(links, vec!["net0", "other0"]);
}

#[test]
fn fifty_pods_added_and_deleted_concurrently_get_distinct_ips_and_leave_nothing() {
    const PODS: usize = 50;
    let (scratch, bridge, master) = (
        Scratch::new(),
        HostLink::expect("mtb"),
        HostLink::veth().up(),
    );
    let ipam = scratch.join("ipam");
    let conf = multus_conf(
        &scratch,
        json!([
            bridge_delegate(&bridge, "10.227.0.0/24", &ipam),
            {"type": "macvlan", "name": "mv", "master": master.name,
             "ipam": {"type": "host-local", "subnet": "10.228.0.0/24", "dataDir": ipam}}
        ]),
    );
    let namespaces: Vec<Netns> = (0..PODS).map(|_| Netns::new()).collect();
    let pods: Vec<Pod> = namespaces.iter().map(Pod::new).collect();
    let results: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = pods
            .iter()
            .map(|pod| s.spawn(|| pod.call("ADD", &conf).expect_ok("ADD")))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut eth0_ips: Vec<String> = namespaces.iter().flat_map(|n| n.ipv4_of("eth0")).collect();
    let mut net0_ips: Vec<String> = namespaces.iter().flat_map(|n| n.ipv4_of("net0")).collect();
    for ips in [&mut eth0_ips, &mut net0_ips] {
        ips.sort();
        ips.dedup();
        assert_eq!(
            ips.len(),
            PODS,
            "every pod has its own address on each network"
        );
    }
    assert_eq!(scratch.leases("ipam").len(), 2 * PODS);
    assert_eq!(scratch.files("cache").len(), PODS);
    assert_eq!(bridge.ports().len(), PODS);
    let returned: std::collections::HashSet<&str> = results
        .iter()
        .map(|r| r["ips"][0]["address"].as_str().unwrap())
        .collect();
    assert_eq!(
        returned.len(),
        PODS,
        "each runtime got its own pod's master address"
    );

    std::thread::scope(|s| {
        for pod in &pods {
            s.spawn(|| pod.call("DEL", &conf).expect_ok("DEL"));
        }
    });
    for netns in &namespaces {
        assert_eq!(netns.links(), Vec::<String>::new());
    }
    assert_eq!(scratch.leases("ipam"), Vec::<String>::new());
    assert_eq!(scratch.files("cache"), Vec::<String>::new());
    assert_eq!(bridge.ports(), Vec::<String>::new());
}
