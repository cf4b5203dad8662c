//! multus in real network namespaces with the reference plugins as delegates, called directly as a
//! runtime would (env + stdin). Needs root.

mod support;

use std::os::unix::fs::PermissionsExt;

use serde_json::{json, Value};
use support::*;

/// A multus config: `delegates` plus a private cache dir and the reference plugins as binDir.
fn multus_conf(version: &str, scratch: &Scratch, delegates: Value) -> Value {
    json!({"cniVersion": version, "name": "mt-net", "type": "multus", "binDir": REFERENCE_PLUGINS,
        "cniDir": scratch.join("cache"), "logLevel": "verbose", "logFile": scratch.join("multus.log"),
        "delegates": delegates})
}

#[test]
fn add_check_del_bridge_master_plus_macvlan_and_host_device() {
    let (netns, scratch) = (Netns::new(), Scratch::new());
    let (bridge, master, veth) = (
        HostLink::expect("mtb"),
        HostLink::veth().up(),
        HostLink::veth(),
    );
    let ipam = scratch.join("ipam");
    let conf = multus_conf(
        "1.0.0",
        &scratch,
        json!([
            bridge_delegate(&bridge, "10.210.0.0/24", &ipam),
            {"type": "macvlan", "name": "mv", "master": master.name, "mode": "bridge",
             "ipam": {"type": "host-local", "subnet": "10.211.0.0/24", "dataDir": ipam}},
            {"type": "host-device", "name": "hd", "device": veth.name, "if0name": "north0"}
        ]),
    );
    let pod = Pod::new(&netns);
    let result = pod.call("ADD", &conf).expect_ok("ADD");

    // The runtime sees only the master's (bridge's) result, in its version.
    assert_eq!(result["cniVersion"], "1.0.0");
    assert_eq!(result["ips"].as_array().unwrap().len(), 1);
    assert_eq!(result["ips"][0]["address"], "10.210.0.2/24");
    let mut links = netns.links();
    links.sort();
    assert_eq!(links, vec!["eth0", "net0", "north0"]);
    assert_eq!(netns.ipv4_of("eth0"), vec!["10.210.0.2/24"]);
    assert_eq!(netns.ipv4_of("net0"), vec!["10.211.0.2/24"]);
    assert!(
        !veth.exists(),
        "host-device moved the veth end into the pod"
    );

    let cache = scratch.files("cache");
    assert_eq!(cache, vec![format!("{}:eth0", pod.id)]);
    let mode = std::fs::metadata(scratch.join("cache").join(&cache[0]))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let check_conf = with_prev_result(&conf, &result);
    pod.call("CHECK", &check_conf).expect_ok("CHECK");

    pod.call("DEL", &check_conf).expect_ok("DEL");
    assert_eq!(netns.links(), Vec::<String>::new());
    assert_eq!(scratch.leases("ipam"), Vec::<String>::new());
    assert_eq!(scratch.files("cache"), Vec::<String>::new());
    assert!(
        veth.exists(),
        "host-device returned the veth end to the host"
    );
    assert_eq!(bridge.ports(), Vec::<String>::new());
    pod.call("DEL", &check_conf).expect_ok("second DEL");

    let log = std::fs::read_to_string(scratch.join("multus.log")).unwrap();
    assert!(
        log.contains("ADD delegates[2] (\"host-device\" in network \"hd\") as north0"),
        "{log}"
    );
}

/// `conf` with `prevResult` set, as a runtime sends CHECK and DEL.
fn with_prev_result(conf: &Value, result: &Value) -> Value {
    let mut conf = conf.clone();
    conf["prevResult"] = result.clone();
    conf
}

#[test]
fn results_are_converted_to_every_runtime_version() {
    let scratch = Scratch::new();
    let bridge = HostLink::expect("mtb");
    let ipam = scratch.join("ipam");
    for version in ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] {
        let netns = Netns::new();
        // Debian's bridge speaks up to 1.0.0: the delegate pins its own version, multus converts.
        let mut delegate = bridge_delegate(&bridge, "10.212.0.0/24", &ipam);
        delegate["cniVersion"] = json!("1.0.0");
        let conf = multus_conf(version, &scratch, json!([delegate]));
        let pod = Pod::new(&netns);
        let result = pod.call("ADD", &conf).expect_ok(version);
        assert_eq!(result["cniVersion"], version);
        let ip = &result["ips"][0];
        assert_eq!(
            ip.get("version").is_some(),
            version < "1.0.0",
            "{version}: {ip}"
        );
        if version >= "0.4.0" {
            pod.call("CHECK", &with_prev_result(&conf, &result))
                .expect_ok("CHECK");
        }
        pod.call("DEL", &with_prev_result(&conf, &result))
            .expect_ok("DEL");
    }
    assert_eq!(scratch.leases("ipam"), Vec::<String>::new());
}

#[test]
fn delegates_inheriting_1_1_0_are_asked_again_in_1_0_0() {
    // Debian's bridge and host-local refuse 1.1.0; the delegate has no cniVersion of its own, so it
    // inherits multus's 1.1.0 and is run in 1.0.0 instead (ADD, CHECK with prevResult, DEL).
    let (netns, scratch, bridge) = (Netns::new(), Scratch::new(), HostLink::expect("mtb"));
    let delegate = bridge_delegate(&bridge, "10.213.0.0/24", &scratch.join("ipam"));
    let conf = multus_conf("1.1.0", &scratch, json!([delegate]));
    let pod = Pod::new(&netns);
    let result = pod.call("ADD", &conf).expect_ok("ADD");
    assert_eq!(result["cniVersion"], "1.1.0");
    assert_eq!(result["ips"][0]["address"], "10.213.0.2/24");
    assert_eq!(netns.ipv4_of("eth0"), vec!["10.213.0.2/24".to_string()]);
    pod.call("CHECK", &with_prev_result(&conf, &result))
        .expect_ok("CHECK");
    pod.call("DEL", &with_prev_result(&conf, &result))
        .expect_ok("DEL");
    assert_eq!(netns.links(), Vec::<String>::new());
    assert_eq!(scratch.leases("ipam"), Vec::<String>::new());
}

#[test]
fn version_lists_all_five() {
    let reply = call_plugin(
        &multus_bin(),
        "VERSION",
        &json!({"cniVersion": "0.4.0"}),
        None,
        None,
        None,
    );
    let info = reply.expect_ok("VERSION");
    assert_eq!(
        info["supportedVersions"],
        json!(["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"])
    );
}

#[test]
fn seed_config_shape_with_bridge_for_flannel_and_host_device_for_sriov() {
    // Section 5.1.3's layout: a secondary delegate named by if0name listed first, then the master
    // (flannel there, bridge here) with masterplugin and flannel's nested "delegate" block.
    let (netns, scratch, bridge, veth) = (
        Netns::new(),
        Scratch::new(),
        HostLink::expect("mtb"),
        HostLink::veth(),
    );
    let mut master = bridge_delegate(&bridge, "10.213.0.0/24", &scratch.join("ipam"));
    master["masterplugin"] = json!(true);
    master["delegate"] = json!({"isDefaultGateway": true});
    let conf = json!({"name": "minion1-multus-demo-network", "type": "multus", "binDir": REFERENCE_PLUGINS,
        "cniDir": scratch.join("cache"),
        "delegates": [{"type": "host-device", "device": veth.name, "if0name": "north0",
            "dpdk": {"kernel_driver": "ixgbevf", "dpdk_driver": "igb_uio", "dpdk_tool": "/root/dpdk/tools/dpdk-devbind.py"}},
            master]});
    let pod = Pod::new(&netns);
    let result = pod.call("ADD", &conf).expect_ok("ADD");
    assert_eq!(
        result["ips"][0]["address"], "10.213.0.2/24",
        "the master's result is returned"
    );
    let mut links = netns.links();
    links.sort();
    assert_eq!(links, vec!["eth0", "north0"]);
    pod.call("DEL", &conf).expect_ok("DEL");
    assert!(netns.links().is_empty() && veth.exists());
}

#[test]
fn readiness_file_bounds_add_and_drives_status() {
    let (netns, scratch, bridge) = (Netns::new(), Scratch::new(), HostLink::expect("mtb"));
    let ready = scratch.join("ready");
    let mut conf = multus_conf(
        "1.1.0",
        &scratch,
        json!([bridge_delegate(
            &bridge,
            "10.214.0.0/24",
            &scratch.join("ipam")
        )]),
    );
    conf["delegates"][0]["cniVersion"] = json!("1.0.0");
    conf["readinessindicatorfile"] = json!(ready);
    conf["readinessindicatortimeout"] = json!(0.3);
    let pod = Pod::new(&netns);
    let (code, msg) = pod.call("ADD", &conf).expect_err("ADD before ready");
    assert_eq!(code, 11, "{msg}");
    assert!(msg.starts_with("readinessindicatorfile: "), "{msg}");
    assert!(netns.links().is_empty() && scratch.files("cache").is_empty());
    let status = call_plugin(&multus_bin(), "STATUS", &conf, None, None, None);
    assert_eq!(status.expect_err("STATUS before ready").0, 50);

    std::fs::write(&ready, "").unwrap();
    call_plugin(&multus_bin(), "STATUS", &conf, None, None, None).expect_ok("STATUS when ready");
    let result = pod.call("ADD", &conf).expect_ok("ADD when ready");
    pod.call("DEL", &with_prev_result(&conf, &result))
        .expect_ok("DEL");
}
