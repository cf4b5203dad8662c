//! What is left after failures and kills is cleaned up: IPAM is rolled back on every failure
//! after it ran, DEL and GC refuse what ADD refuses as syntax, unreadable records do not block
//! DEL, temporary files of dead writers are swept, a VF left in a pod under the temporary name
//! with no record is recovered by the next ADD.

mod support;

use std::fs;

use serde_json::{json, Value};
use support::sriov_tree::*;
use support::*;

#[test]
fn del_and_gc_refuse_configurations_add_refuses_as_syntax() {
    let mut tree = FakeTree::new();
    tree.add_pf(1);
    let pf = tree.pfs[0].name.clone();
    let ns = Netns::new();
    let pod = tree.pod(&ns);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"deviceID": "not-a-pci-address"}), "deviceID: "),
        (json!({"if0": pf, "vlan": "x"}), "vlan"),
        (json!({"if0": pf, "mac": "zz"}), "mac: "),
        (json!({"if0": pf, "link_state": 7}), "link_state"),
    ];
    for (extra, field) in cases {
        let conf = conf("1.1.0", extra.clone());
        let (code, add_msg) = pod.call("ADD", &conf).expect_err("ADD");
        assert_eq!(code, 7, "ADD {extra}: {add_msg}");
        for command in ["DEL", "GC"] {
            let mut conf = conf.clone();
            if command == "GC" {
                conf["cni.dev/valid-attachments"] = json!([]);
            }
            let (code, msg) = pod.call(command, &conf).expect_err(command);
            assert_eq!(code, 7, "{command} {extra}: {msg}");
            assert!(msg.starts_with(field), "{command} {extra}: {msg}");
            assert_eq!(msg, add_msg, "{command} says what ADD says");
        }
    }
    // GC gets the network's configuration: naming no VF is not an error there, nor for DEL.
    let mut network = conf("1.1.0", json!({"vlan": 5}));
    pod.call("DEL", &network).expect_ok("DEL without deviceID");
    network["cni.dev/valid-attachments"] = json!([]);
    pod.call("GC", &network).expect_ok("GC without deviceID");
}

#[test]
fn a_config_without_cni_version_gets_ipam_in_its_implied_version() {
    let mut tree = FakeTree::new();
    tree.add_pf(1);
    let ns = Netns::new();
    let pod = tree.pod(&ns);
    let mut conf = conf(
        "1.0.0",
        json!({"if0": tree.pfs[0].name, "ipam": host_local(&tree, "10.92.0.0/24")}),
    );
    conf.as_object_mut().unwrap().remove("cniVersion");
    let result = pod.call("ADD", &conf).expect_ok("ADD without cniVersion");
    assert_eq!(result["cniVersion"], "1.0.0");
    assert_eq!(result["ips"][0]["address"], "10.92.0.2/24");
    assert_eq!(ns.ipv4_of("net1"), ["10.92.0.2/24"]);
    pod.call("DEL", &conf).expect_ok("DEL");
    tree.assert_restored();
}

#[test]
fn an_ipam_result_that_cannot_be_read_rolls_ipam_back() {
    let mut tree = FakeTree::new();
    tree.add_pf(1);
    let ns = Netns::new();
    let pod = tree.pod(&ns);
    let mut ipam = host_local(&tree, "10.93.0.0/24");
    ipam["routes"] = json!([{"gw": "10.93.0.1"}]);
    let conf = conf(
        "1.0.0",
        json!({"if0": tree.pfs[0].name, "vlan": 7, "ipam": ipam}),
    );
    let (code, msg) = pod
        .call("ADD", &conf)
        .expect_err("ADD with a route without dst");
    assert!(code == 6 || code == 7, "code {code}: {msg}");
    assert_eq!(ns.links(), Vec::<String>::new());
    tree.assert_restored();
    pod.call("DEL", &conf).expect_ok("DEL after the failed ADD");
    tree.assert_restored();
}

#[test]
fn an_unreadable_record_is_logged_and_del_cleans_up_the_rest() {
    let mut tree = FakeTree::new();
    tree.add_pf(2);
    let ns = Netns::new();
    let pod = tree.pod(&ns);
    let log = tree.scratch.join("sriov.log");
    let conf = conf(
        "1.0.0",
        json!({"if0": tree.pfs[0].name, "vf": 0, "logFile": log,
               "ipam": host_local(&tree, "10.94.0.0/24")}),
    );
    pod.call("ADD", &conf).expect_ok("ADD");
    let record = tree
        .state()
        .join("attachments")
        .join(format!("{}:net1", pod.id));
    fs::write(&record, b"{\"container_id\": 12").unwrap();
    pod.call("DEL", &conf)
        .expect_ok("DEL with an unreadable record");
    assert!(!record.exists(), "the unreadable record is gone");
    assert_eq!(tree.state_files("alloc"), Vec::<String>::new());
    assert_eq!(tree.scratch.leases("ipam"), Vec::<String>::new());
    let logged = fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("discarding the unreadable record"),
        "{logged}"
    );
    pod.call("DEL", &conf).expect_ok("second DEL");

    // An unreadable allocation record of another VF does not block DEL or GC either.
    let other_ns = Netns::new();
    let other = tree.pod(&other_ns);
    let mut conf1 = conf.clone();
    conf1["vf"] = json!(1);
    fs::write(
        tree.state().join("alloc").join(&tree.pfs[0].vfs[0].addr),
        b"[",
    )
    .unwrap();
    other.call("ADD", &conf1).expect_ok("ADD of VF 1");
    other
        .call("DEL", &conf1)
        .expect_ok("DEL with an unreadable allocation around");
    let mut gc = conf1.clone();
    gc["cniVersion"] = json!("1.1.0");
    gc["cni.dev/valid-attachments"] = json!([]);
    other
        .call("GC", &gc)
        .expect_ok("GC with an unreadable allocation around");
}

#[test]
fn temporary_files_of_dead_writers_are_swept() {
    let mut tree = FakeTree::new();
    tree.add_pf(1);
    let ns = Netns::new();
    let pod = tree.pod(&ns);
    let conf = conf("1.1.0", json!({"if0": tree.pfs[0].name}));
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    let pid = dead.id();
    dead.wait().unwrap();
    let leftovers = [
        tree.state()
            .join(format!("alloc/.{}.{pid}.0.tmp", tree.pfs[0].vfs[0].addr)),
        tree.state()
            .join(format!("attachments/.c9:net1.{pid}.1.tmp")),
    ];
    for (i, command) in ["ADD", "GC"].into_iter().enumerate() {
        for file in &leftovers {
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            fs::write(file, "{").unwrap();
        }
        let mut conf = conf.clone();
        if command == "GC" {
            conf["cni.dev/valid-attachments"] = json!([]);
        }
        pod.call(command, &conf).expect_ok(command);
        for file in &leftovers {
            assert!(!file.exists(), "{command} ({i}) swept {}", file.display());
        }
    }
    assert_eq!(ns.links(), Vec::<String>::new(), "GC collected the ADD");
    tree.assert_restored();
}

#[test]
fn a_vf_left_in_a_pod_under_the_temporary_name_without_a_record_is_recovered() {
    let mut tree = FakeTree::new();
    tree.add_pf(1);
    let vf = tree.pfs[0].vfs[0].clone();
    let lost = Netns::new();
    let temp = cni::sriov::temp_name(&vf.addr.parse().unwrap());
    sh("ip", &["link", "set", &vf.netdev, "name", &temp]);
    sh(
        "ip",
        &["link", "set", &temp, "netns", lost.path().to_str().unwrap()],
    );
    let ns = Netns::new();
    let pod = tree.pod(&ns);
    let conf = conf("1.0.0", json!({"deviceID": vf.addr, "vlan": 9}));
    pod.call("ADD", &conf)
        .expect_ok("ADD of the VF left in another pod");
    assert_eq!(ns.links(), vec!["net1".to_string()]);
    assert_eq!(lost.links(), Vec::<String>::new());
    pod.call("DEL", &conf).expect_ok("DEL");
    assert!(host_links().contains(&temp), "back in the host");
    sh("ip", &["link", "set", &temp, "name", &vf.netdev]);
    sh("ip", &["link", "set", &vf.netdev, "address", &vf.mac]);
    tree.assert_restored();
}

#[test]
fn a_vf_left_without_a_driver_and_without_a_record_is_rebound_by_the_next_add() {
    let mut tree = FakeTree::new();
    tree.add_pf(2);
    let vf = tree.pfs[0].vfs[0].clone();
    // An interrupted bind: override set to vfio-pci, unbound from igbvf, never probed.
    let dev = tree.sys().join("bus/pci/devices").join(&vf.addr);
    fs::write(dev.join("driver_override"), "vfio-pci").unwrap();
    fs::write(
        tree.sys()
            .join("bus/pci/drivers")
            .join(VF_DRIVER)
            .join("unbind"),
        &vf.addr,
    )
    .unwrap();
    wait_until(|| tree.driver_of(&vf.addr).is_none());
    let ns = Netns::new();
    let pod = tree.pod(&ns);
    let conf = conf("1.0.0", json!({"deviceID": vf.addr, "vlan": 11}));
    pod.call("ADD", &conf)
        .expect_ok("kernel-mode ADD of the unbound VF");
    assert_eq!(ns.links(), vec!["net1".to_string()]);
    assert_eq!(tree.driver_of(&vf.addr).as_deref(), Some(VF_DRIVER));
    pod.call("DEL", &conf).expect_ok("DEL");
    assert!(host_links().contains(&vf.netdev), "back in the host");
    assert_eq!(tree.driver_override(&vf.addr), "", "no override left");
    assert_eq!(tree.vf_config(0, 0), cni::netlink::VfConfig::default());
    assert_eq!(tree.state_files("attachments"), Vec::<String>::new());
    assert_eq!(tree.state_files("alloc"), Vec::<String>::new());
}
