//! The thick plugin in Kubernetes mode against the tier's real kube-apiserver: `multus-daemon` keeps
//! its client and watch caches, so an ADD reads the pod and its NADs without a request; a pod deleted
//! and recreated under the same name is never served from a stale cache.

mod support;

use serde_json::{json, Value};
use support::multus_k8s::{status_summary, World};
use support::thick::{shim_bin, Daemon};
use support::*;

/// A bridge NAD config on `bridge` with leases in the world's scratch space.
fn bridge_nad(w: &World, bridge: &HostLink, subnet: &str) -> Value {
    json!({"cniVersion": "1.0.0", "type": "bridge", "bridge": bridge.name,
        "ipam": {"type": "host-local", "subnet": subnet, "dataDir": w.scratch.join("ipam")}})
}

/// A ServiceAccount that may list and watch pods and NADs and write pod status, but not GET a pod or
/// a NAD; a kubeconfig with its token.
fn watch_only_kubeconfig(w: &World) -> std::path::PathBuf {
    let name = "watch-only";
    w.cluster.apply(
        Some(&w.ns),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}),
    );
    let role = format!("{}-{name}", w.ns);
    w.cluster.apply(
        None,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": role}, "rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]},
            {"apiGroups": [""], "resources": ["pods/status"], "verbs": ["get", "patch", "update"]},
            {"apiGroups": ["k8s.cni.cncf.io"], "resources": ["network-attachment-definitions"], "verbs": ["list", "watch"]}]}),
    );
    w.cluster.apply(
        None,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": role},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": w.ns}]}),
    );
    let token = w.cluster.service_account_token(&w.ns, name);
    w.cluster.kubeconfig_with_token(
        &w.scratch.join("watch-only.kubeconfig"),
        &w.cluster.server,
        name,
        &token,
    )
}

#[test]
fn add_reads_the_pod_and_its_networks_from_the_daemons_watch_caches() {
    let w = World::new("thick");
    let (cbr, data) = (HostLink::expect("mtb"), HostLink::expect("mtb"));
    w.nad("cbr", bridge_nad(&w, &cbr, "10.93.0.0/24"), json!({}));
    w.nad("data", bridge_nad(&w, &data, "10.94.0.0/24"), json!({}));
    let kubeconfig = watch_only_kubeconfig(&w);
    let (conf, _) = w.multus_conf(json!({"clusterNetwork": "cbr", "kubeconfig": kubeconfig}));
    let netns = Netns::new();
    let pod = w.pod(
        "cached",
        json!({"k8s.v1.cni.cncf.io/networks": "data"}),
        &netns,
    );

    // multus itself must GET the pod, which this account may not do.
    let (code, msg) = pod.call("ADD", &conf).expect_err("thin multus ADD");
    assert_eq!(code, 110, "{msg}");
    assert!(msg.contains("get pod") && msg.contains("403"), "{msg}");

    let daemon = Daemon::start(
        &w.scratch.join("run"),
        &[
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--node-name",
            "tier-node",
        ],
    );
    assert!(
        daemon.log_text().contains("pods and NADs listed in"),
        "{}",
        daemon.log_text()
    );
    let shim = Pod {
        binary: shim_bin(),
        ..pod.clone()
    };
    let thick_conf = daemon.shim_conf(&conf);
    let result = shim
        .call("ADD", &thick_conf)
        .expect_ok("ADD through the daemon");
    assert_eq!(result["interfaces"][2]["name"], "eth0", "{result}");
    let mut links = netns.links();
    links.sort();
    assert_eq!(links, ["eth0", "net1"]);
    let status = status_summary(&w.network_status("cached"));
    assert_eq!(status.len(), 2, "{status:?}");
    assert_eq!(status[1].0, format!("{}/data", w.ns));
    assert!(status[1].2[0].starts_with("10.94.0."), "{status:?}");

    shim.call("DEL", &thick_conf).expect_ok("DEL");
    assert!(netns.links().is_empty());
    w.assert_nothing_left();
}

#[test]
fn a_pod_recreated_under_the_same_name_gets_its_own_networks() {
    let w = World::new("thickre");
    let (cbr, a, b) = (
        HostLink::expect("mtb"),
        HostLink::expect("mtb"),
        HostLink::expect("mtb"),
    );
    w.nad("cbr", bridge_nad(&w, &cbr, "10.95.0.0/24"), json!({}));
    w.nad("net-a", bridge_nad(&w, &a, "10.96.0.0/24"), json!({}));
    w.nad("net-b", bridge_nad(&w, &b, "10.97.0.0/24"), json!({}));
    let (conf, _) = w.multus_conf(json!({"clusterNetwork": "cbr"}));
    let daemon = Daemon::start(
        &w.scratch.join("run"),
        &["--kubeconfig", w.cluster.kubeconfig.to_str().unwrap()],
    );
    let conf = daemon.shim_conf(&conf);
    let netns = Netns::new();
    let networks = |net: &str| json!({"k8s.v1.cni.cncf.io/networks": net});

    let first = Pod {
        binary: shim_bin(),
        ..w.pod("again", networks("net-a"), &netns)
    };
    first.call("ADD", &conf).expect_ok("ADD of the first pod");
    assert!(netns.ipv4_of("net1")[0].starts_with("10.96.0."));
    first.call("DEL", &conf).expect_ok("DEL of the first pod");

    w.cluster.delete("v1", "Pod", Some(&w.ns), "again");
    // Recreated at once: the daemon's cache may still hold the first pod, whose UID is not this one's.
    let second = Pod {
        binary: shim_bin(),
        ..w.pod("again", networks("net-b"), &netns)
    };
    assert_ne!(first.args, second.args);
    second
        .call("ADD", &conf)
        .expect_ok("ADD of the recreated pod");
    assert!(
        netns.ipv4_of("net1")[0].starts_with("10.97.0."),
        "net1 is net-b's: {:?}",
        netns.ipv4_of("net1")
    );
    second.call("DEL", &conf).expect_ok("DEL");
    assert!(netns.links().is_empty());
    w.assert_nothing_left();
}

#[test]
fn a_rewritten_kubeconfig_gets_a_new_client() {
    let w = World::new("thicktok");
    let cbr = HostLink::expect("mtb");
    w.nad("cbr", bridge_nad(&w, &cbr, "10.95.0.0/24"), json!({}));
    // The installer renews the token in place: first a token the API server does not know.
    let kubeconfig = w.cluster.kubeconfig_with_token(
        &w.scratch.join("renewed.kubeconfig"),
        &w.cluster.server,
        "multus",
        "not-a-token",
    );
    let (conf, _) = w.multus_conf(json!({"clusterNetwork": "cbr", "kubeconfig": kubeconfig}));
    let daemon = Daemon::start(&w.scratch.join("run"), &[]);
    let thick_conf = daemon.shim_conf(&conf);
    let netns = Netns::new();
    let shim = Pod {
        binary: shim_bin(),
        ..w.pod("renewed", json!({}), &netns)
    };
    let (code, msg) = shim
        .call("ADD", &thick_conf)
        .expect_err("ADD with a bad token");
    assert_eq!(code, 110, "{msg}");
    assert!(msg.contains("401"), "{msg}");
    assert!(netns.links().is_empty());

    // Rewritten with the admin token (a later modification time), the next call connects anew.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let token = w.cluster.token_of("admin");
    w.cluster
        .kubeconfig_with_token(&kubeconfig, &w.cluster.server, "multus", &token);
    shim.call("ADD", &thick_conf)
        .expect_ok("ADD after the renewal");
    assert_eq!(netns.links(), ["eth0"]);
    assert_eq!(status_summary(&w.network_status("renewed")).len(), 1);
    shim.call("DEL", &thick_conf).expect_ok("DEL");
    w.assert_nothing_left();
}
