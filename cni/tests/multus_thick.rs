//! The thick plugin in config-file mode: `multus-shim` called as the runtime calls a plugin (directly
//! and through libcni), `multus-daemon` doing multus's work, with the same outcome as `multus` itself.
//! The Kubernetes side of the daemon (kept client, watch caches) is in `k8s_multus_thick.rs`.

mod support;

use serde_json::{json, Value};
use support::thick::{shim_bin, Daemon};
use support::*;

/// A multus configuration with two bridge delegates (eth0 the master, net0).
fn two_bridges(scratch: &Scratch, a: &HostLink, b: &HostLink) -> Value {
    let ipam = scratch.join("ipam");
    json!({"cniVersion": "1.0.0", "name": "mt-thick", "type": "multus", "binDir": REFERENCE_PLUGINS,
        "cniDir": scratch.join("cache"),
        "delegates": [bridge_delegate(a, "10.233.0.0/24", &ipam), bridge_delegate(b, "10.234.0.0/24", &ipam)]})
}

fn shim_pod(netns: &Netns) -> Pod {
    Pod {
        binary: shim_bin(),
        ..Pod::new(netns)
    }
}

#[test]
fn the_shim_runs_multus_in_the_daemon_through_libcni() {
    require_root();
    let scratch = Scratch::new();
    let (a, b) = (HostLink::expect("mtk"), HostLink::expect("mtk"));
    let daemon = Daemon::start(&scratch.join("run"), &[]);
    let conf = daemon.shim_conf(&two_bridges(&scratch, &a, &b));
    let conf_file = scratch.join("thick.conf");
    std::fs::write(&conf_file, conf.to_string()).unwrap();
    let (netns, cache) = (Netns::new(), scratch.join("libcni"));
    let pod = shim_pod(&netns);

    drive("validate", &conf_file, &pod, &cache).expect_ok("validate (VERSION of multus-shim)");
    let result = drive("add", &conf_file, &pod, &cache).expect_ok("ADD");
    assert_eq!(result["cniVersion"], "1.0.0");
    let mut links = netns.links();
    links.sort();
    assert_eq!(links, ["eth0", "net0"]);
    assert!(
        netns.ipv4_of("eth0")[0].starts_with("10.233.0."),
        "{result}"
    );
    assert!(netns.ipv4_of("net0")[0].starts_with("10.234.0."));
    assert_eq!(
        scratch.files("cache").len(),
        1,
        "the daemon keeps multus's cache"
    );
    drive("check", &conf_file, &pod, &cache).expect_ok("CHECK");
    drive("del", &conf_file, &pod, &cache).expect_ok("DEL");
    assert!(netns.links().is_empty(), "{:?}", netns.links());
    assert_eq!(scratch.files("cache"), Vec::<String>::new());
    assert_eq!(scratch.leases("ipam"), Vec::<String>::new());
    drive("del", &conf_file, &pod, &cache).expect_ok("a second DEL");
    let log = daemon.log_text();
    assert!(log.contains(&format!("ADD {}/eth0 ok", pod.id)), "{log}");
}

#[test]
fn errors_come_back_as_multus_gives_them_and_the_daemon_goes_on() {
    require_root();
    let scratch = Scratch::new();
    let (a, b) = (HostLink::expect("mtk"), HostLink::expect("mtk"));
    let daemon = Daemon::start(&scratch.join("run"), &[]);
    let mut conf = two_bridges(&scratch, &a, &b);
    conf["delegates"][1] = json!({"type": "no-such-plugin", "name": "missing"});
    let netns = Netns::new();

    let thin = Pod::new(&netns).call("ADD", &conf).expect_err("thin ADD");
    let thick = shim_pod(&netns)
        .call("ADD", &daemon.shim_conf(&conf))
        .expect_err("thick ADD");
    assert_eq!(thick, thin, "the same error from the shim as from multus");
    assert!(thick.1.contains("no-such-plugin"), "{}", thick.1);
    assert!(netns.links().is_empty(), "rolled back: {:?}", netns.links());
    assert_eq!(scratch.leases("ipam"), Vec::<String>::new());

    // A configuration multus refuses: the daemon answers as multus would, and serves on.
    let bad = json!({"cniVersion": "1.0.0", "name": 5, "type": "multus", "delegates": []});
    let thin = Pod::new(&netns).call("ADD", &bad).expect_err("thin ADD");
    let thick = shim_pod(&netns)
        .call("ADD", &daemon.shim_conf(&bad))
        .expect_err("thick ADD");
    assert_eq!((thick.0, &thick.1), (7, &thin.1));

    let pod = shim_pod(&netns);
    let conf = daemon.shim_conf(&two_bridges(&scratch, &a, &b));
    pod.call("ADD", &conf).expect_ok("ADD after the failures");
    pod.call("DEL", &conf).expect_ok("DEL");
    assert!(netns.links().is_empty());
}

#[test]
fn concurrent_pods_share_one_daemon() {
    require_root();
    let scratch = Scratch::new();
    let (a, b) = (HostLink::expect("mtk"), HostLink::expect("mtk"));
    let daemon = Daemon::start(&scratch.join("run"), &[]);
    let conf = daemon.shim_conf(&two_bridges(&scratch, &a, &b));
    let netns: Vec<Netns> = (0..12).map(|_| Netns::new()).collect();
    let pods: Vec<Pod> = netns.iter().map(shim_pod).collect();

    let children: Vec<_> = pods.iter().map(|p| p.spawn("ADD", &conf)).collect();
    let mut addresses: Vec<String> = Vec::new();
    for (child, ns) in children.into_iter().zip(&netns) {
        collect(child).expect_ok("concurrent ADD");
        addresses.extend(ns.ipv4_of("eth0"));
        addresses.extend(ns.ipv4_of("net0"));
    }
    addresses.sort();
    addresses.dedup();
    assert_eq!(addresses.len(), 24, "every pod got its own two addresses");
    let children: Vec<_> = pods.iter().map(|p| p.spawn("DEL", &conf)).collect();
    for child in children {
        collect(child).expect_ok("concurrent DEL");
    }
    assert!(netns.iter().all(|ns| ns.links().is_empty()));
    assert_eq!(scratch.files("cache"), Vec::<String>::new());
    assert_eq!(scratch.leases("ipam"), Vec::<String>::new());
}

#[test]
fn with_chroot_dir_the_daemon_runs_in_the_root_it_is_given() {
    require_root();
    let scratch = Scratch::new();
    let (a, b) = (HostLink::expect("mtk"), HostLink::expect("mtk"));
    // What the thick DaemonSet does: the host's root bind-mounted into the daemon's own mount
    // namespace (here at `hostroot`) as a slave of the host's mounts (Kubernetes' HostToContainer
    // propagation: the network namespaces made later appear there too), and `--chroot-dir` naming it.
    let (root, run) = (scratch.join("hostroot"), scratch.join("run"));
    std::fs::create_dir(&root).unwrap();
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--mount", "--propagation", "slave", "sh", "-c"])
        .arg(r#"mount --rbind / "$1" && exec "$2" --chroot-dir "$1" --socket-dir "$3""#)
        .arg("sh")
        .arg(&root)
        .arg(support::thick::daemon_bin())
        .arg(&run);
    let daemon = Daemon::spawn(cmd, &run);
    assert_eq!(
        std::fs::read_link(format!("/proc/{}/root", daemon.pid())).unwrap(),
        root,
        "the daemon's root"
    );
    // Every path of the call (binDir, cniDir, IPAM dataDir, CNI_NETNS) is the host's, as given.
    let netns = Netns::new();
    let pod = shim_pod(&netns);
    let conf = daemon.shim_conf(&two_bridges(&scratch, &a, &b));
    pod.call("ADD", &conf)
        .expect_ok("ADD through the chrooted daemon");
    let mut links = netns.links();
    links.sort();
    assert_eq!(links, ["eth0", "net0"]);
    assert_eq!(scratch.files("cache").len(), 1);
    pod.call("DEL", &conf).expect_ok("DEL");
    assert!(netns.links().is_empty());
    assert_eq!(scratch.leases("ipam"), Vec::<String>::new());

    let bad = std::process::Command::new(support::thick::daemon_bin())
        .args(["--chroot-dir", "/nonexistent-root", "--socket-dir"])
        .arg(scratch.join("run2"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("--chroot-dir: cannot change root to /nonexistent-root"),
        "{stderr}"
    );
}

#[test]
fn without_a_daemon_the_shim_says_where_it_looked() {
    let scratch = Scratch::new();
    let socket_dir = scratch.join("nobody-here");
    let conf = json!({"cniVersion": "0.4.0", "name": "n", "type": "multus-shim",
        "socketDir": socket_dir, "delegates": [{"type": "bridge"}]});
    let netns = Netns::new();
    let (code, msg) = shim_pod(&netns).call("ADD", &conf).expect_err("ADD");
    assert_eq!(code, 11, "try again later: {msg}");
    assert!(
        msg.contains(&socket_dir.join("multus.sock").display().to_string()),
        "{msg}"
    );

    let version = shim_pod(&netns).call("VERSION", &conf).expect_ok("VERSION");
    assert_eq!(version["cniVersion"], "0.4.0");
    assert_eq!(version["supportedVersions"].as_array().unwrap().len(), 5);
}

#[test]
fn one_daemon_per_socket_and_sigterm_stops_it_cleanly() {
    require_root();
    let scratch = Scratch::new();
    let run = scratch.join("run");
    let mut first = Daemon::start(&run, &[]);
    let second = std::process::Command::new(support::thick::daemon_bin())
        .arg("--socket-dir")
        .arg(&run)
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("another multus-daemon is serving"),
        "{stderr}"
    );
    assert!(
        run.join("multus.sock").exists(),
        "the first daemon's socket stays"
    );

    assert_eq!(first.stop(), Some(0));
    assert!(
        !run.join("multus.sock").exists(),
        "the socket goes with the daemon"
    );
    assert!(first.log_text().contains("stopped by SIGTERM"));
    let bad = std::process::Command::new(support::thick::daemon_bin())
        .arg("--socket-dir")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
