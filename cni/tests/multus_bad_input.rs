//! multus on values and state it must survive: readiness timeouts past what a clock holds, a
//! cache file that is not a record, a subdirectory in `cniDir`, temporary files a killed call
//! left behind. Real plugins in real namespaces; needs root.

mod support;

use std::fs;
use std::process::Command;

use serde_json::{json, Value};
use support::*;

/// multus 1.1.0 (STATUS and GC) over `delegates`, each made 1.0.0: the reference plugins in Debian 12
/// predate STATUS and GC.
fn multus_conf(scratch: &Scratch, mut delegates: Value) -> Value {
    for d in delegates.as_array_mut().unwrap() {
        d["cniVersion"] = json!("1.0.0");
    }
    json!({"cniVersion": "1.1.0", "name": "mt-bad", "type": "multus", "binDir": REFERENCE_PLUGINS,
        "cniDir": scratch.join("cache"), "logLevel": "verbose", "logFile": scratch.join("multus.log"),
        "delegates": delegates})
}

fn gc(conf: &Value, valid: Value) -> Reply {
    let mut conf = conf.clone();
    conf["cni.dev/valid-attachments"] = valid;
    call_plugin(&multus_bin(), "GC", &conf, None, None, None)
}

/// A pid no process has (one that just exited).
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn huge_readiness_timeouts_work_for_every_command() {
    let (scratch, bridge) = (Scratch::new(), HostLink::expect("mtb"));
    let ready = scratch.join("ready");
    fs::write(&ready, "").unwrap();
    // 9.3e18 s overflowed the deadline (ADD panicked), 2^64 s and up the parse (every command).
    for timeout in ["9.3e18", "1e19", "18446744073709551616", "1e300"] {
        let netns = Netns::new();
        let pod = Pod::new(&netns);
        let text = multus_conf(
            &scratch,
            json!([bridge_delegate(
                &bridge,
                "10.250.0.0/24",
                &scratch.join("ipam")
            )]),
        )
        .to_string()
        .replacen(
            "{",
            &format!(
                r#"{{"readinessindicatorfile": {ready:?}, "readinessindicatortimeout": {timeout}, "#
            ),
            1,
        );
        let conf: Value = serde_json::from_str(&text).unwrap();
        let call = |command: &str| pod.call_bytes(command, text.as_bytes());
        call("DEL").expect_ok(&format!("DEL before ADD, timeout {timeout}"));
        let result = call("ADD").expect_ok(&format!("ADD, timeout {timeout}"));
        let address = result["ips"][0]["address"].as_str().unwrap();
        assert!(address.starts_with("10.250.0."), "{timeout}: {address}");
        let mut with_prev = conf.clone();
        with_prev["prevResult"] = result;
        pod.call("CHECK", &with_prev)
            .expect_ok(&format!("CHECK, timeout {timeout}"));
        call_plugin(&multus_bin(), "STATUS", &conf, None, None, None)
            .expect_ok(&format!("STATUS, timeout {timeout}"));
        gc(&conf, json!([{"containerID": pod.id, "ifname": "eth0"}]))
            .expect_ok(&format!("GC, timeout {timeout}"));
        call("DEL").expect_ok(&format!("DEL, timeout {timeout}"));
        assert_eq!(netns.links(), Vec::<String>::new());
        assert_eq!(scratch.leases("ipam"), Vec::<String>::new());
        assert_eq!(scratch.files("cache"), Vec::<String>::new());
    }
}

#[test]
fn a_negative_timeout_is_code_7_for_every_command_del_included() {
    let (netns, scratch) = (Netns::new(), Scratch::new());
    let pod = Pod::new(&netns);
    let mut conf = multus_conf(&scratch, json!([{"type": "bridge"}]));
    conf["readinessindicatortimeout"] = json!(-1);
    for command in ["ADD", "DEL", "CHECK", "STATUS", "GC"] {
        let (code, msg) = pod.call(command, &conf).expect_err(command);
        assert_eq!(
            (code, msg.as_str()),
            (
                7,
                "readinessindicatortimeout: expected seconds (a number >= 0), found -1"
            ),
            "{command}"
        );
    }
}

/// ADDs a pod with two bridge delegates (eth0, net0) and returns its cache file.
fn added(scratch: &Scratch, conf: &Value, pod: &Pod) -> std::path::PathBuf {
    pod.call("ADD", conf).expect_ok("ADD");
    assert_eq!(scratch.leases("ipam").len(), 2);
    scratch.join("cache").join(format!("{}:eth0", pod.id))
}

#[test]
fn del_cleans_up_what_a_damaged_cache_still_tells_and_does_not_fail_forever() {
    let (scratch, b1, b2) = (
        Scratch::new(),
        HostLink::expect("mtb"),
        HostLink::expect("mtb"),
    );
    let ipam = scratch.join("ipam");
    let conf = multus_conf(
        &scratch,
        json!([
            bridge_delegate(&b1, "10.251.0.0/24", &ipam),
            bridge_delegate(&b2, "10.252.0.0/24", &ipam)
        ]),
    );

    // One delegate's entry is unreadable: the other is deleted, the damaged one is logged.
    let netns = Netns::new();
    let pod = Pod::new(&netns);
    let file = added(&scratch, &conf, &pod);
    let mut record: Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    record["delegates"][1]["conf"] = json!("not a delegate");
    fs::write(&file, serde_json::to_vec(&record).unwrap()).unwrap();
    pod.call("DEL", &conf)
        .expect_ok("DEL with one damaged entry");
    assert_eq!(
        netns.links(),
        vec!["net0"],
        "the damaged entry's net0 is left"
    );
    assert_eq!(scratch.leases("ipam").len(), 1);
    assert_eq!(scratch.files("cache"), Vec::<String>::new());
    let log = fs::read_to_string(scratch.join("multus.log")).unwrap();
    assert!(log.contains("delegates[1]"), "{log}");
    netns.ip("link del net0");
    fs::remove_dir_all(&ipam).unwrap();

    // A cache that is not JSON at all (cut short): the configured delegates are deleted instead.
    let netns = Netns::new();
    let pod = Pod::new(&netns);
    let file = added(&scratch, &conf, &pod);
    let bytes = fs::read(&file).unwrap();
    fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    pod.call("DEL", &conf)
        .expect_ok("DEL with a truncated cache");
    assert_eq!(netns.links(), Vec::<String>::new());
    assert_eq!(scratch.leases("ipam"), Vec::<String>::new());
    assert_eq!(scratch.files("cache"), Vec::<String>::new());
    pod.call("DEL", &conf).expect_ok("DEL again");
}

#[test]
fn gc_skips_what_is_not_a_record_and_cleans_the_rest() {
    let (scratch, bridge) = (Scratch::new(), HostLink::expect("mtb"));
    let ipam = scratch.join("ipam");
    let conf = multus_conf(
        &scratch,
        json!([bridge_delegate(&bridge, "10.253.0.0/24", &ipam)]),
    );
    let (ns_a, ns_b) = (Netns::new(), Netns::new());
    let (a, b) = (Pod::new(&ns_a), Pod::new(&ns_b));
    a.call("ADD", &conf).expect_ok("ADD a");
    b.call("ADD", &conf).expect_ok("ADD b");
    let cache = scratch.join("cache");
    fs::create_dir(cache.join("subdir")).unwrap();
    fs::write(cache.join("junk:eth0"), "{not json").unwrap();

    gc(&conf, json!([{"containerID": a.id, "ifname": "eth0"}])).expect_ok("GC");
    assert_eq!(ns_a.links(), vec!["eth0"], "a is valid and kept");
    assert_eq!(ns_b.links(), Vec::<String>::new(), "b was stale");
    assert_eq!(scratch.leases("ipam").len(), 1);
    let mut expected = vec![
        format!("{}:eth0", a.id),
        "junk:eth0".into(),
        "subdir".into(),
    ];
    expected.sort();
    assert_eq!(
        scratch.files("cache"),
        expected,
        "what GC cannot attribute to this network stays"
    );
}

#[test]
fn temporary_files_of_dead_writers_go_with_the_next_write_and_gc() {
    let (netns, scratch, bridge) = (Netns::new(), Scratch::new(), HostLink::expect("mtb"));
    let conf = multus_conf(
        &scratch,
        json!([bridge_delegate(
            &bridge,
            "10.254.0.0/24",
            &scratch.join("ipam")
        )]),
    );
    let pod = Pod::new(&netns);
    let cache = scratch.join("cache");
    fs::create_dir_all(&cache).unwrap();
    let dead = dead_pid();
    let own_dead = format!(".{}:eth0.{dead}.0.tmp", pod.id);
    let own_live = format!(".{}:eth0.1.3.tmp", pod.id);
    let other_dead = format!(".other:net1.{dead}.7.tmp");
    for name in [&own_dead, &own_live, &other_dead] {
        fs::write(cache.join(name), "{").unwrap();
    }

    // A DEL with no cache entry (an ADD killed while writing its first one) removes it too.
    pod.call("DEL", &conf).expect_ok("DEL before ADD");
    let mut expected = vec![own_live.clone(), other_dead.clone()];
    expected.sort();
    assert_eq!(scratch.files("cache"), expected, "DEL without an entry");
    fs::write(cache.join(&own_dead), "{").unwrap();

    pod.call("ADD", &conf).expect_ok("ADD");
    let mut expected = vec![format!("{}:eth0", pod.id), own_live.clone(), other_dead];
    expected.sort();
    assert_eq!(
        scratch.files("cache"),
        expected,
        "the write of the entry removed its dead writer's file only"
    );

    gc(&conf, json!([{"containerID": pod.id, "ifname": "eth0"}])).expect_ok("GC");
    let mut expected = vec![format!("{}:eth0", pod.id), own_live.clone()];
    expected.sort();
    assert_eq!(
        scratch.files("cache"),
        expected,
        "GC removed every dead writer's file"
    );

    fs::write(cache.join(&own_dead), "{").unwrap();
    pod.call("DEL", &conf).expect_ok("DEL");
    assert_eq!(
        scratch.files("cache"),
        vec![own_live],
        "DEL removed the entry and its dead writer's file"
    );
}
