//! The kill -9 tier for `multus`: its ADD (a bridge master with host-local IPAM and an `sriov`
//! delegate on the fake tree) is killed (SIGKILL through strace; the delegates are not traced
//! and run to their end) at each of its state-changing system calls; then DEL must leave
//! nothing behind (pod links, bridge ports, leases, multus cache and temporary files, the
//! VF's settings and records), and the next ADD must work.

mod support;

use serde_json::json;
use support::kill::*;
use support::sriov_tree::*;
use support::*;

#[test]
fn multus_add_killed_at_every_step_is_undone_by_del() {
    let mut tree = FakeTree::new();
    tree.add_pf(1);
    let pf = tree.pfs[0].clone();
    let bridge = HostLink::expect("mkb");
    let ipam_dir = tree.scratch.join("ipam");
    let cache = tree.scratch.join("multus");
    let conf = json!({
        "cniVersion": "1.0.0", "name": "kill-multus", "type": "multus", "cniDir": cache,
        "delegates": [
            {"name": "master", "type": "bridge", "bridge": bridge.name, "isDefaultGateway": true,
             "ipam": {"type": "host-local", "subnet": "10.95.0.0/24", "dataDir": ipam_dir}},
            {"name": "sriov-net", "type": "sriov", "if0": pf.name, "vlan": 210,
             "ipam": {"type": "host-local", "subnet": "10.96.0.0/24", "dataDir": ipam_dir}}
        ]
    });
    let ns = Netns::new();
    let pod = Pod {
        binary: multus_bin(),
        ifname: "eth0".into(),
        ..tree.pod(&ns)
    };
    // What is left, as (kind, detail); empty when clean (the killed multus's temporary files included:
    // DEL removes those of dead writers).
    let leftovers = || {
        let mut left = Vec::new();
        let mut note = |kind: &str, items: Vec<String>| {
            if !items.is_empty() {
                left.push(format!("{kind}: {items:?}"));
            }
        };
        note("pod links", ns.links());
        if bridge.exists() {
            note("bridge ports", bridge.ports());
        }
        note("multus cache", tree.scratch.files("multus"));
        let tmp = tmp_files(&tree.state());
        note(
            "sriov temporary files",
            tmp.iter().map(|p| p.display().to_string()).collect(),
        );
        let restored =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tree.assert_restored()));
        if let Err(e) = restored {
            let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
            left.push(format!("sriov delegate: {msg}"));
        }
        left
    };
    let tracer = Tracer::new(&multus_bin(), &tree.scratch.join("strace"));
    tracer
        .recording(&pod)
        .call("ADD", &conf)
        .expect_ok("traced ADD");
    pod.call("DEL", &conf).expect_ok("DEL after the traced ADD");
    assert_eq!(
        leftovers(),
        Vec::<String>::new(),
        "after a clean ADD and DEL"
    );
    let steps = tracer.steps();
    assert!(steps.len() > 20, "only {} steps traced", steps.len());

    let mut killed = 0;
    for (k, step) in steps.iter().enumerate() {
        let what = format!("killed at step {k} ({}#{})", step.syscall, step.nth);
        let reply = tracer.killing_at(&pod, step).call("ADD", &conf);
        wait_for_orphans(&pod.id);
        if !reply.ok && reply.json.is_null() {
            killed += 1;
        }
        pod.call("DEL", &conf).expect_ok(&format!("DEL {what}"));
        assert_eq!(leftovers(), Vec::<String>::new(), "{what}");
        pod.call("ADD", &conf)
            .expect_ok(&format!("ADD after DEL, {what}"));
        pod.call("DEL", &conf)
            .expect_ok(&format!("second DEL, {what}"));
        assert_eq!(
            leftovers(),
            Vec::<String>::new(),
            "{what}, then ADD and DEL"
        );
    }
    eprintln!(
        "multus (bridge + sriov delegates): {} kill points, {killed} kills, all clean",
        steps.len()
    );
}
