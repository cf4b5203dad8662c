//! The kill -9 tier for `sriov` on the fake tree: ADD is killed (SIGKILL through strace) at each
//! of its state-changing system calls, in kernel mode and in DPDK mode; then DEL must leave
//! nothing behind (VF netdev back under its name and MAC, PF settings, driver binding and
//! override, IPAM lease, device-info file, records, allocations, temporary files), and the
//! next ADD of the same VF must work. Each point is killed once more, recovered without a DEL:
//! by GC, or by the runtime's next ADD of the same attachment.

mod support;

use std::path::Path;

use serde_json::{json, Value};
use support::kill::*;
use support::sriov_tree::*;
use support::*;

/// Kills ADD at every step of a clean ADD of `conf`, checking recovery each time; returns
/// (steps, steps at which the plugin died).
fn kill_at_every_step(tree: &FakeTree, ns: &Netns, conf: &Value, devinfo: &Path) -> (usize, usize) {
    let tracer = Tracer::new(&sriov_bin(), &tree.scratch.join("strace"));
    let mut pod = tree.pod(ns);
    pod.args = format!("IgnoreUnknown=1;CNIDeviceInfoFile={}", devinfo.display());
    tracer
        .recording(&pod)
        .call("ADD", conf)
        .expect_ok("traced ADD");
    pod.call("DEL", conf).expect_ok("DEL after the traced ADD");
    assert_clean(tree, ns, devinfo, "after a clean ADD and DEL");
    let steps = tracer.steps();
    assert!(steps.len() > 30, "only {} steps traced", steps.len());

    let mut killed = 0;
    // Retried ADDs refused because the killed one had completed its record.
    let mut completed = 0;
    for (k, step) in steps.iter().enumerate() {
        let what = format!("killed at step {k} ({}#{})", step.syscall, step.nth);
        let reply = tracer.killing_at(&pod, step).call("ADD", conf);
        wait_for_orphans(&pod.id);
        if !reply.ok && reply.json.is_null() {
            killed += 1;
        }
        pod.call("DEL", conf).expect_ok(&format!("DEL {what}"));
        assert_clean(tree, ns, devinfo, &what);

        // Killed again at the same point, recovered without a DEL: on even steps by the
        // next ADD of the same attachment (the runtime retried), on odd ones by GC.
        let again = tracer.killing_at(&pod, step).call("ADD", conf);
        wait_for_orphans(&pod.id);
        if again.ok {
            // The point lies past ADD's last write (the plugin finished first): nothing to recover.
            pod.call("DEL", conf)
                .expect_ok(&format!("DEL, {what} again"));
            continue;
        }
        if k % 2 == 0 {
            let retry = pod.call("ADD", conf);
            if !retry.ok {
                // Killed after its record was complete (writing the result): the attachment
                // is whole, and a second ADD of it is refused until the runtime DELs it.
                let (code, msg) = retry.expect_err("retry");
                assert!(
                    code == 4 && msg.contains("already attached"),
                    "{what}: {msg}"
                );
                completed += 1;
                pod.call("DEL", conf)
                    .expect_ok(&format!("DEL, {what} again"));
                assert_clean(tree, ns, devinfo, &format!("DEL, {what} again"));
                pod.call("ADD", conf)
                    .expect_ok(&format!("ADD, {what} again"));
            }
        } else {
            let mut gc = conf.clone();
            gc["cni.dev/valid-attachments"] = json!([]);
            pod.call("GC", &gc).expect_ok(&format!("GC, {what} again"));
            assert_clean(tree, ns, devinfo, &format!("GC, {what} again"));
            pod.call("ADD", conf)
                .expect_ok(&format!("ADD after GC, {what} again"));
        }
        pod.call("DEL", conf)
            .expect_ok(&format!("DEL after the next ADD, {what} again"));
        assert_clean(
            tree,
            ns,
            devinfo,
            &format!("{what} again, then ADD and DEL"),
        );
    }
    eprintln!("{completed} retried ADDs found the killed ADD complete and were refused until DEL");
    (steps.len(), killed)
}

fn assert_clean(tree: &FakeTree, ns: &Netns, devinfo: &Path, what: &str) {
    assert_eq!(ns.links(), Vec::<String>::new(), "pod links, {what}");
    tree.assert_restored();
    for vf in tree.pfs.iter().flat_map(|p| &p.vfs) {
        let over = tree.driver_override(&vf.addr);
        assert!(
            over.is_empty() || over == "(null)",
            "{}: driver_override {over}, {what}",
            vf.addr
        );
    }
    assert_eq!(
        tmp_files(&tree.state()),
        Vec::<std::path::PathBuf>::new(),
        "temporary files, {what}"
    );
    assert!(!devinfo.exists(), "device-info file left, {what}");
}

#[test]
fn kernel_mode_add_killed_at_every_step_is_undone_by_del() {
    let mut tree = FakeTree::new();
    tree.add_pf(2);
    let pf = tree.pfs[0].clone();
    let ns = Netns::new();
    let conf = conf(
        "1.1.0",
        json!({"if0": pf.name, "vf": 1, "vlan": 210, "vlanQoS": 3, "mac": "02:00:00:00:21:01",
               "spoofchk": "off", "trust": "on", "link_state": "enable", "min_tx_rate": 10,
               "max_tx_rate": 100, "ipam": host_local(&tree, "10.91.0.0/24")}),
    );
    let devinfo = tree.scratch.join("devinfo/net1.json");
    let (steps, killed) = kill_at_every_step(&tree, &ns, &conf, &devinfo);
    eprintln!("sriov kernel mode: {steps} kill points, {killed} kills, all clean");
}

#[test]
fn dpdk_mode_add_killed_at_every_step_is_undone_by_del() {
    let mut tree = FakeTree::new();
    tree.add_pf(2);
    let pf = tree.pfs[0].clone();
    let ns = Netns::new();
    let conf = conf(
        "1.1.0",
        json!({"deviceID": pf.vfs[0].addr, "vlan": 300, "mac": "02:00:00:00:30:01", "trust": "on",
               "dpdk": {"kernel_driver": VF_DRIVER, "dpdk_driver": "vfio-pci"}}),
    );
    let devinfo = tree.scratch.join("devinfo/net1.json");
    let (steps, killed) = kill_at_every_step(&tree, &ns, &conf, &devinfo);
    eprintln!("sriov DPDK mode: {steps} kill points, {killed} kills, all clean");
}
