//! multus in Kubernetes mode when things go wrong: the API server down at ADD and at DEL (a control
//! plane of the test's own, really stopped), bad credentials (401) and missing rights (403), the pod
//! gone or recreated, namespace isolation, malformed annotations and network objects, a delegate
//! failing after others succeeded, and 20 pods at once. Runs in `make k8s`; needs root.

mod support;

use std::time::Instant;

use serde_json::json;
use support::k8s::PrivateControlPlane;
use support::multus_k8s::*;
use support::*;

/// A bridge NAD `cbr` (the cluster network) and a macvlan NAD `mv` on `master`.
fn networks(w: &World, cbr: &HostLink, master: &HostLink) {
    let ipam = w.scratch.join("ipam");
    w.nad(
        "cbr",
        json!({"cniVersion": "1.0.0", "type": "bridge", "bridge": cbr.name,
        "ipam": {"type": "host-local", "subnet": "10.94.0.0/16", "dataDir": ipam}}),
        json!({}),
    );
    w.nad(
        "mv",
        json!({"cniVersion": "1.0.0", "type": "macvlan", "master": master.name, "mode": "bridge",
        "ipam": {"type": "host-local", "subnet": "10.93.0.0/16", "dataDir": ipam}}),
        json!({}),
    );
}

#[test]
fn api_server_down_at_add_is_try_again_later_and_del_works_from_the_cache() {
    let scratch = Scratch::new();
    let (plane, cluster) = PrivateControlPlane::start(scratch.join("plane"), 26443, 22379);
    let w = World::on(cluster, "down");
    let (cbr, master) = (HostLink::expect("mtb"), HostLink::veth().up());
    networks(&w, &cbr, &master);
    let (conf, _) = w.multus_conf(json!({"clusterNetwork": "cbr"}));
    let netns = Netns::new();
    let up_pod = w.pod(
        "before",
        json!({"k8s.v1.cni.cncf.io/networks": "mv"}),
        &netns,
    );
    up_pod
        .call("ADD", &conf)
        .expect_ok("ADD while the API server is up");
    assert_eq!(sorted(netns.links()), ["eth0", "net1"]);
    let later = Netns::new();
    let down_pod = w.pod(
        "after",
        json!({"k8s.v1.cni.cncf.io/networks": "mv"}),
        &later,
    );

    plane.stop();
    let started = Instant::now();
    let (code, msg) = down_pod
        .call("ADD", &conf)
        .expect_err("ADD with the API server down");
    assert_eq!(code, 11, "{msg}");
    assert!(
        msg.contains("cannot reach the API server https://127.0.0.1:26443 (3 tries)"),
        "{msg}"
    );
    assert!(
        started.elapsed().as_secs() < 20,
        "the retry is bounded: {:?}",
        started.elapsed()
    );
    assert!(later.links().is_empty());

    up_pod
        .call("DEL", &conf)
        .expect_ok("DEL with the API server down");
    assert!(netns.links().is_empty());
    assert!(cbr.ports().is_empty());
    w.assert_nothing_left();
}

#[test]
fn credentials_refused_name_the_user_and_the_verb() {
    let w = World::new("auth");
    let (cbr, master) = (HostLink::expect("mtb"), HostLink::veth().up());
    networks(&w, &cbr, &master);
    let netns = Netns::new();
    let pod = w.pod("p", json!({}), &netns);

    let bad = w.cluster.kubeconfig_with_token(
        &w.scratch.join("bad.kubeconfig"),
        &w.cluster.server,
        "intruder",
        "not-a-token",
    );
    let (conf, _) = w.multus_conf(json!({"clusterNetwork": "cbr", "kubeconfig": bad}));
    let (code, msg) = pod.call("ADD", &conf).expect_err("ADD with a wrong token");
    assert_eq!(code, 110, "{msg}");
    assert!(
        msg.contains(&format!(
            "get pod {}/p: the API server {} refused the credentials of user \"intruder\"",
            w.ns, w.cluster.server
        )),
        "{msg}"
    );
    assert!(msg.contains("401 Unauthorized"), "{msg}");

    let token = w.cluster.token_of("nobody");
    let weak = w.cluster.kubeconfig_with_token(
        &w.scratch.join("weak.kubeconfig"),
        &w.cluster.server,
        "nobody",
        &token,
    );
    let (conf, _) = w.multus_conf(json!({"clusterNetwork": "cbr", "kubeconfig": weak}));
    let (code, msg) = pod.call("ADD", &conf).expect_err("ADD without rights");
    assert_eq!(code, 110, "{msg}");
    assert!(msg.contains("403 Forbidden"), "{msg}");
    assert!(
        msg.contains("User \"nobody\" cannot get resource \"pods\""),
        "{msg}"
    );

    let (conf, _) = w.multus_conf(
        json!({"clusterNetwork": "cbr", "kubeconfig": w.scratch.join("missing.kubeconfig")}),
    );
    let (code, msg) = pod
        .call("ADD", &conf)
        .expect_err("ADD with a missing kubeconfig");
    assert_eq!(code, 7, "{msg}");
    assert!(
        msg.starts_with(&format!(
            "kubeconfig: {}",
            w.scratch.join("missing.kubeconfig").display()
        )),
        "{msg}"
    );
    assert!(netns.links().is_empty());
    w.assert_nothing_left();
}

#[test]
fn bad_pods_and_network_objects_are_refused_with_what_is_wrong() {
    let w = World::new("bad");
    let (cbr, master) = (HostLink::expect("mtb"), HostLink::veth().up());
    networks(&w, &cbr, &master);
    w.nad("broken", json!(null), json!({}));
    w.cluster.apply(
        Some(&w.ns),
        json!({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": "garbled"}, "spec": {"config": "{\"type\": \"macvlan\", "}}),
    );
    let other = World::new("other");
    networks(&other, &cbr, &master);
    let (conf, _) = w.multus_conf(json!({"clusterNetwork": "cbr", "namespaceIsolation": true}));
    let ns = &w.ns;
    let cases = [
        ("k8s.v1.cni.cncf.io/networks", "mv,,mv".to_string(), 7,
            format!("pod {ns}/p0 annotation k8s.v1.cni.cncf.io/networks: element 1 (\"\"): name \"\" is not a valid object name")),
        ("k8s.v1.cni.cncf.io/networks", "[{\"name\": \"mv\"".to_string(), 7,
            format!("pod {ns}/p1 annotation k8s.v1.cni.cncf.io/networks: invalid JSON")),
        ("k8s.v1.cni.cncf.io/networks", "nope".to_string(), 7,
            format!("pod {ns}/p2 annotation k8s.v1.cni.cncf.io/networks[0]: network \"nope\" not found in namespace \"{ns}\"")),
        ("k8s.v1.cni.cncf.io/networks", format!("{}/mv", other.ns), 7,
            format!("pod {ns}/p3 annotation k8s.v1.cni.cncf.io/networks[0]: namespace isolation: a pod in namespace \"{ns}\" may not use network \"{}/mv\" (allowed: its own namespace and default)", other.ns)),
        ("k8s.v1.cni.cncf.io/networks", "garbled".to_string(), 7,
            format!("network-attachment-definition {ns}/garbled spec.config: invalid JSON: EOF while parsing")),
        ("k8s.v1.cni.cncf.io/networks", "broken".to_string(), 7,
            format!("network-attachment-definition {ns}/broken spec.config: empty, and no file in")),
        ("networks", "[{\"name\": \"missing-network\"}]".to_string(), 7,
            format!("pod {ns}/p6 annotation networks[0]: network \"missing-network\" not found in namespace \"{ns}\"")),
    ];
    for (i, (key, value, code, msg)) in cases.iter().enumerate() {
        let netns = Netns::new();
        let pod = w.pod(&format!("p{i}"), json!({*key: value}), &netns);
        let (got_code, got) = pod.call("ADD", &conf).expect_err(value);
        assert_eq!(got_code, *code as u64, "{got}");
        assert!(
            got.starts_with(msg.as_str()),
            "case {i}:\n got: {got}\nwant: {msg}"
        );
        assert!(
            netns.links().is_empty(),
            "case {i}: nothing is left in the pod"
        );
    }

    // A pod recreated under the same name: the runtime's UID is the old one.
    let netns = Netns::new();
    let mut pod = w.pod("recreated", json!({}), &netns);
    pod.args = pod.args.replace("K8S_POD_UID=", "K8S_POD_UID=0ld-");
    let (code, msg) = pod.call("ADD", &conf).expect_err("ADD for a recreated pod");
    assert_eq!(code, 3, "{msg}");
    assert!(msg.contains("it was deleted and recreated"), "{msg}");

    // A pod that does not exist.
    let mut ghost = Pod::new(&netns);
    ghost.args = support::k8s::pod_args(ns, "ghost", "x", &ghost.id);
    let (code, msg) = ghost.call("ADD", &conf).expect_err("ADD for a missing pod");
    assert_eq!(
        (code, msg.as_str()),
        (
            3,
            format!("pod {ns}/ghost not found in the API server").as_str()
        )
    );
    w.assert_nothing_left();
}

#[test]
fn a_failing_network_rolls_back_the_others_and_del_survives_the_pods_deletion() {
    let w = World::new("roll");
    let (cbr, master) = (HostLink::expect("mtb"), HostLink::veth().up());
    networks(&w, &cbr, &master);
    w.nad("nomaster", json!({"cniVersion": "1.0.0", "type": "macvlan", "master": "absent0",
        "ipam": {"type": "host-local", "subnet": "10.92.0.0/16", "dataDir": w.scratch.join("ipam")}}), json!({}));
    let (conf, _) = w.multus_conf(json!({"clusterNetwork": "cbr"}));

    let netns = Netns::new();
    let pod = w.pod(
        "fails",
        json!({"k8s.v1.cni.cncf.io/networks": "mv,nomaster"}),
        &netns,
    );
    let (_, msg) = pod
        .call("ADD", &conf)
        .expect_err("ADD with a failing network");
    assert!(msg.contains("nomaster"), "{msg}");
    assert!(netns.links().is_empty(), "eth0 and net1 were rolled back");
    assert!(cbr.ports().is_empty());
    assert!(
        w.network_status("fails").is_empty(),
        "no network-status for a failed ADD"
    );
    w.assert_nothing_left();

    let netns = Netns::new();
    let pod = w.pod(
        "deleted",
        json!({"k8s.v1.cni.cncf.io/networks": "mv"}),
        &netns,
    );
    pod.call("ADD", &conf).expect_ok("ADD");
    w.cluster.delete("v1", "Pod", Some(&w.ns), "deleted");
    pod.call("DEL", &conf)
        .expect_ok("DEL after the pod was deleted");
    pod.call("DEL", &conf).expect_ok("second DEL");
    assert!(netns.links().is_empty());
    w.assert_nothing_left();
}

#[test]
fn twenty_pods_added_at_once_each_get_network_status_and_leave_nothing() {
    let w = World::new("many");
    let (cbr, master) = (HostLink::expect("mtb"), HostLink::veth().up());
    networks(&w, &cbr, &master);
    let (_, conf) = w.multus_conf(json!({"clusterNetwork": "cbr"}));
    let pods: Vec<(Netns, Pod, String)> = (0..20)
        .map(|i| {
            let netns = Netns::new();
            let name = format!("pod-{i}");
            let pod = w.pod(&name, json!({"k8s.v1.cni.cncf.io/networks": "mv"}), &netns);
            (netns, pod, name)
        })
        .collect();
    let children: Vec<_> = pods
        .iter()
        .map(|(_, pod, _)| spawn_with_stdin(libcni("add", &conf, pod, &w.libcni_cache()), b""))
        .collect();
    for child in children {
        collect(child).expect_ok("concurrent ADD");
    }
    let mut addresses = Vec::new();
    for (netns, _, name) in &pods {
        assert_eq!(sorted(netns.links()), ["eth0", "net1"]);
        let status = status_summary(&w.network_status(name));
        assert_eq!(status.len(), 2, "{name}: {status:?}");
        addresses.extend(status.into_iter().flat_map(|s| s.2));
    }
    let unique_addresses: std::collections::HashSet<_> = addresses.iter().collect();
    assert_eq!(
        unique_addresses.len(),
        40,
        "every interface got its own address"
    );
    let children: Vec<_> = pods
        .iter()
        .map(|(_, pod, _)| spawn_with_stdin(libcni("del", &conf, pod, &w.libcni_cache()), b""))
        .collect();
    for child in children {
        collect(child).expect_ok("concurrent DEL");
    }
    for (netns, _, _) in &pods {
        assert!(netns.links().is_empty());
    }
    assert!(cbr.ports().is_empty());
    w.assert_nothing_left();
}
