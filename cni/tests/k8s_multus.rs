//! multus in Kubernetes mode against the tier's real kube-apiserver: network objects (the seed's
//! `Network`s and NPWG NetworkAttachmentDefinitions), pod annotations, network-status, deviceID from
//! kubelet's PodResources API (served by the stub built from kubelet's own code), and the faults.
//! The runtime is Debian's libcni (the driver) or a direct call where the error code is checked.
//! Runs in `make k8s` (cni/tests/k8s/run.sh); needs root.

mod support;

use serde_json::json;
use support::multus_k8s::*;
use support::sriov_tree::*;
use support::*;

#[test]
fn seed_walkthrough_sections_4_1_to_4_3() {
    let w = World::new("seed");
    let mut tree = FakeTree::new();
    tree.add_pf(2);
    tree.add_pf(2);
    let (pf0, pf1) = (tree.pfs[0].name.clone(), tree.pfs[1].name.clone());
    let bridge = HostLink::expect("mtb");
    let ipam = w.scratch.join("ipam");
    // Section 4.1.3's objects. `bridge` stands in for flannel; the IPAM sections keep their leases
    // in the test's scratch directory instead of /var/lib/cni.
    let objects = format!(
        r#"
apiVersion: "kubernetes.com/v1"
kind: Network
metadata:
  name: flannel-conf
plugin: bridge
args: '[
  {{
    "bridge": "{bridge}", "isDefaultGateway": true,
    "ipam": {{"type": "host-local", "subnet": "192.168.42.0/24", "dataDir": "{ipam}"}}
  }}
]'
---
apiVersion: "kubernetes.com/v1"
kind: Network
metadata:
  name: sriov-conf
plugin: sriov
args: '[
  {{
    "if0": "{pf0}",
    "ipam": {{
      "type": "host-local",
      "subnet": "10.56.217.0/24",
      "rangeStart": "10.56.217.171",
      "rangeEnd": "10.56.217.181",
      "routes": [
        {{ "dst": "0.0.0.0/0" }}
      ],
      "gateway": "10.56.217.1",
      "dataDir": "{ipam}"
    }}
  }}
]'
---
apiVersion: "kubernetes.com/v1"
kind: Network
metadata:
  name: sriov-vlanid-l2enable-conf
plugin: sriov
args: '[
  {{
    "if0": "{pf1}",
    "vlan": 210,
    "if0name": "north",
    "l2enable": true
  }}
]'
"#,
        bridge = bridge.name,
        ipam = ipam.display()
    );
    w.cluster.apply_yaml(Some(&w.ns), &objects);
    // Section 4.2.2's configuration: only a kubeconfig.
    let (_, conf) = w.multus_conf(json!({}));
    let netns = Netns::new();
    let mut pod = w.pod(
        "multus-multi-net-pod",
        json!({"networks": SEED_ANNOTATION}),
        &netns,
    );
    pod.env = tree.env();

    let result = drive("add", &conf, &pod, &w.libcni_cache()).expect_ok("ADD through libcni");
    assert!(
        result["ips"][0]["address"]
            .as_str()
            .unwrap()
            .starts_with("192.168.42."),
        "{result}"
    );
    // Section 4.3: eth0 (flannel's stand-in), net0 with 10.56.217.171, north with no address.
    assert_eq!(sorted(netns.links()), ["eth0", "net0", "north"]);
    assert_eq!(netns.ipv4_of("net0"), ["10.56.217.171/24"]);
    assert!(netns.ipv4_of("north").is_empty());
    assert_eq!(tree.vf_config(1, 0).vlan, 210);
    let status = w.network_status("multus-multi-net-pod");
    let ns = &w.ns;
    assert_eq!(
        status_summary(&status),
        [
            (
                format!("{ns}/flannel-conf"),
                "eth0".into(),
                vec![netns.ipv4_of("eth0")[0]
                    .split('/')
                    .next()
                    .unwrap()
                    .to_string()],
                true
            ),
            (
                format!("{ns}/sriov-conf"),
                "net0".into(),
                vec!["10.56.217.171".to_string()],
                false
            ),
            (
                format!("{ns}/sriov-vlanid-l2enable-conf"),
                "north".into(),
                vec![],
                false
            ),
        ]
    );
    assert!(
        status[1]["mac"].as_str().is_some_and(|m| m.len() == 17),
        "{status:?}"
    );

    drive("del", &conf, &pod, &w.libcni_cache()).expect_ok("DEL through libcni");
    assert!(netns.links().is_empty());
    tree.assert_restored();

    // With a cluster network and default networks configured (as the installer's auto mode does),
    // the seed's pod still gets exactly its listed networks: they replace the cluster network.
    let cluster = HostLink::expect("mtb");
    w.nad(
        "cluster",
        json!({"cniVersion": "1.0.0", "type": "bridge", "bridge": cluster.name,
        "ipam": {"type": "host-local", "subnet": "10.90.0.0/24", "dataDir": ipam}}),
        json!({}),
    );
    let (_, conf) =
        w.multus_conf(json!({"clusterNetwork": "cluster", "defaultNetworks": ["cluster"]}));
    let netns = Netns::new();
    let mut pod = w.pod(
        "seed-on-a-cluster",
        json!({"networks": SEED_ANNOTATION}),
        &netns,
    );
    pod.env = tree.env();
    drive("add", &conf, &pod, &w.libcni_cache()).expect_ok("ADD with a cluster network");
    assert_eq!(sorted(netns.links()), ["eth0", "net0", "north"]);
    // host-local goes on from its last lease: the next address of the seed's range.
    assert_eq!(netns.ipv4_of("net0"), ["10.56.217.172/24"]);
    assert!(!cluster.exists(), "the cluster network's bridge was never made");
    drive("del", &conf, &pod, &w.libcni_cache()).expect_ok("DEL with a cluster network");
    assert!(netns.links().is_empty());
    tree.assert_restored();
    w.assert_nothing_left();
}

/// NADs for the NPWG tests: `cbr` (bridge, the cluster network), `mv` (macvlan on `master`), `st`
/// (static IPAM + tuning, taking `ips` and `mac` from the pod), `alt` (another bridge).
fn npwg_networks(w: &World, cbr: &HostLink, alt: &HostLink, master: &HostLink) {
    let ipam = w.scratch.join("ipam");
    w.nad("cbr", json!({"cniVersion": "1.0.0", "type": "bridge", "bridge": cbr.name, "isDefaultGateway": true,
        "ipam": {"type": "host-local", "subnet": "10.97.0.0/24", "dataDir": ipam}}), json!({}));
    w.nad("alt", json!({"cniVersion": "1.0.0", "type": "bridge", "bridge": alt.name, "isDefaultGateway": true,
        "ipam": {"type": "host-local", "subnet": "10.98.0.0/24", "dataDir": ipam}}), json!({}));
    w.nad(
        "mv",
        json!({"cniVersion": "1.0.0", "type": "macvlan", "master": master.name, "mode": "bridge",
        "ipam": {"type": "host-local", "subnet": "10.96.0.0/24", "dataDir": ipam}}),
        json!({}),
    );
    w.nad("st", json!({"cniVersion": "1.0.0", "name": "static-net", "plugins": [
        {"type": "macvlan", "master": master.name, "mode": "bridge", "ipam": {"type": "static"}, "capabilities": {"ips": true}},
        {"type": "tuning", "capabilities": {"mac": true}}]}), json!({}));
}

#[test]
fn npwg_annotations_cluster_network_and_default_network_override() {
    let w = World::new("npwg");
    let (cbr, alt, master) = (
        HostLink::expect("mtb"),
        HostLink::expect("mtb"),
        HostLink::veth().up(),
    );
    npwg_networks(&w, &cbr, &alt, &master);
    let (_, conf) = w.multus_conf(json!({"clusterNetwork": "cbr"}));
    let ns = w.ns.clone();

    // JSON form: @interface, static ips and a MAC through runtimeConfig, in order after the cluster network.
    let netns = Netns::new();
    let annotation = json!([{"name": "mv", "interface": "data0"},
        {"name": "st", "namespace": ns, "ips": ["10.99.0.5/24"], "mac": "02:00:00:aa:bb:01"}]);
    let pod = w.pod(
        "json-form",
        json!({"k8s.v1.cni.cncf.io/networks": annotation.to_string()}),
        &netns,
    );
    drive("add", &conf, &pod, &w.libcni_cache()).expect_ok("ADD json form");
    assert_eq!(sorted(netns.links()), ["data0", "eth0", "net2"]);
    assert_eq!(netns.ipv4_of("net2"), ["10.99.0.5/24"]);
    assert!(netns.ip("link show net2").contains("02:00:00:aa:bb:01"));
    assert!(netns.ipv4_of("eth0")[0].starts_with("10.97.0."));
    let status = w.network_status("json-form");
    let summary = status_summary(&status);
    assert_eq!(
        summary
            .iter()
            .map(|s| (s.0.clone(), s.1.clone(), s.3))
            .collect::<Vec<_>>(),
        [
            (format!("{ns}/cbr"), "eth0".into(), true),
            (format!("{ns}/mv"), "data0".into(), false),
            (format!("{ns}/st"), "net2".into(), false),
        ]
    );
    assert_eq!(summary[2].2, ["10.99.0.5"]);
    assert_eq!(status[2]["mac"], "02:00:00:aa:bb:01");
    drive("del", &conf, &pod, &w.libcni_cache()).expect_ok("DEL json form");
    assert!(netns.links().is_empty());

    // Comma form, the same network twice (net1, then an explicit name).
    let netns = Netns::new();
    let pod = w.pod(
        "comma-form",
        json!({"k8s.v1.cni.cncf.io/networks": format!("mv, {ns}/mv@m2")}),
        &netns,
    );
    drive("add", &conf, &pod, &w.libcni_cache()).expect_ok("ADD comma form");
    assert_eq!(sorted(netns.links()), ["eth0", "m2", "net1"]);
    assert_eq!(w.network_status("comma-form").len(), 3);
    drive("del", &conf, &pod, &w.libcni_cache()).expect_ok("DEL comma form");

    // No annotation: the cluster network only.
    let netns = Netns::new();
    let pod = w.pod("plain", json!({}), &netns);
    drive("add", &conf, &pod, &w.libcni_cache()).expect_ok("ADD plain");
    assert_eq!(netns.links(), ["eth0"]);
    assert_eq!(
        status_summary(&w.network_status("plain"))[0].0,
        format!("{ns}/cbr")
    );
    drive("del", &conf, &pod, &w.libcni_cache()).expect_ok("DEL plain");

    // The default-network annotation replaces the cluster network.
    let netns = Netns::new();
    let pod = w.pod(
        "override",
        json!({"v1.multus-cni.io/default-network": "alt"}),
        &netns,
    );
    drive("add", &conf, &pod, &w.libcni_cache()).expect_ok("ADD override");
    assert!(netns.ipv4_of("eth0")[0].starts_with("10.98.0."));
    assert_eq!(
        status_summary(&w.network_status("override"))[0].0,
        format!("{ns}/alt")
    );
    assert_eq!(alt.ports().len(), 1);
    assert!(cbr.ports().is_empty());
    drive("del", &conf, &pod, &w.libcni_cache()).expect_ok("DEL override");

    // default-route: the selected network takes the pod's default route from the cluster network.
    let netns = Netns::new();
    let annotation = json!([{"name": "mv", "default-route": ["10.96.0.1"]}]);
    let pod = w.pod(
        "routed",
        json!({"k8s.v1.cni.cncf.io/networks": annotation.to_string()}),
        &netns,
    );
    drive("add", &conf, &pod, &w.libcni_cache()).expect_ok("ADD default-route");
    let defaults = netns.ip("-4 route show default");
    assert_eq!(defaults.lines().count(), 1, "{defaults}");
    assert!(
        defaults.starts_with("default via 10.96.0.1 dev net1"),
        "{defaults}"
    );
    let status = status_summary(&w.network_status("routed"));
    assert_eq!(
        status
            .iter()
            .map(|s| (s.1.as_str(), s.3))
            .collect::<Vec<_>>(),
        [("eth0", false), ("net1", true)]
    );
    drive("del", &conf, &pod, &w.libcni_cache()).expect_ok("DEL default-route");

    // A gateway that is not an address is refused before anything runs.
    let netns = Netns::new();
    let annotation = json!([{"name": "mv", "default-route": ["gateway-1"]}]);
    let pod = w.pod(
        "badroute",
        json!({"k8s.v1.cni.cncf.io/networks": annotation.to_string()}),
        &netns,
    );
    let (code, msg) = pod
        .call("ADD", &w.multus_conf(json!({"clusterNetwork": "cbr"})).0)
        .expect_err("bad default-route");
    assert_eq!(code, 7, "{msg}");
    assert!(
        msg.contains("default-route: \"gateway-1\" is not an IP address"),
        "{msg}"
    );
    assert!(netns.links().is_empty());

    assert!(cbr.ports().is_empty() && alt.ports().is_empty());
    w.assert_nothing_left();
}

#[test]
fn default_networks_skip_system_namespaces_and_cluster_network_from_conf_dir() {
    let w = World::new("defn");
    let (cbr, alt, master) = (
        HostLink::expect("mtb"),
        HostLink::expect("mtb"),
        HostLink::veth().up(),
    );
    npwg_networks(&w, &cbr, &alt, &master);
    // The cluster network as a file in confDir, named by its network name.
    std::fs::create_dir_all(w.scratch.join("net.d")).unwrap();
    let file_net = json!({"cniVersion": "1.0.0", "name": "filenet", "type": "bridge", "bridge": alt.name,
        "ipam": {"type": "host-local", "subnet": "10.95.0.0/24", "dataDir": w.scratch.join("ipam")}});
    std::fs::write(
        w.scratch.join("net.d/10-filenet.conf"),
        file_net.to_string(),
    )
    .unwrap();
    let (_, conf) = w.multus_conf(json!({"clusterNetwork": "filenet", "defaultNetworks": ["mv"]}));

    let netns = Netns::new();
    let pod = w.pod("with-defaults", json!({}), &netns);
    drive("add", &conf, &pod, &w.libcni_cache()).expect_ok("ADD");
    assert_eq!(sorted(netns.links()), ["eth0", "net1"]);
    assert!(netns.ipv4_of("eth0")[0].starts_with("10.95.0."));
    assert_eq!(
        status_summary(&w.network_status("with-defaults"))[0].0,
        "filenet"
    );
    drive("del", &conf, &pod, &w.libcni_cache()).expect_ok("DEL");

    // In a system namespace the default networks are left out.
    let (_, conf) = w.multus_conf(
        json!({"clusterNetwork": "filenet", "defaultNetworks": ["mv"], "systemNamespaces": [w.ns]}),
    );
    let netns = Netns::new();
    let pod = w.pod("system", json!({}), &netns);
    drive("add", &conf, &pod, &w.libcni_cache()).expect_ok("ADD system");
    assert_eq!(netns.links(), ["eth0"]);
    drive("del", &conf, &pod, &w.libcni_cache()).expect_ok("DEL system");
    w.assert_nothing_left();
}

#[test]
fn device_id_from_kubelet_pod_resources_reaches_sriov() {
    let w = World::new("devid");
    let mut tree = FakeTree::new();
    tree.add_pf(3);
    let chosen = tree.pfs[0].vfs[2].addr.clone();
    w.nad(
        "sriov-net",
        json!({"cniVersion": "1.0.0", "type": "sriov", "vlan": 100,
               "ipam": {"type": "host-local", "subnet": "10.56.218.0/24", "dataDir": w.scratch.join("ipam")}}),
        json!({"k8s.v1.cni.cncf.io/resourceName": "intel.com/intel_sriov_netdevice"}),
    );
    let bridge = HostLink::expect("mtb");
    w.nad("cbr", json!({"cniVersion": "1.0.0", "type": "bridge", "bridge": bridge.name,
        "ipam": {"type": "host-local", "subnet": "10.97.1.0/24", "dataDir": w.scratch.join("ipam")}}), json!({}));
    let stub = PodResourcesStub::start(
        &w.scratch.join(""),
        &json!([
            {"namespace": "elsewhere", "name": "vnf", "containers": [{"name": "c", "devices": [
                {"resource": "intel.com/intel_sriov_netdevice", "ids": [tree.pfs[0].vfs[0].addr]}]}]},
            {"namespace": w.ns, "name": "vnf", "containers": [{"name": "c", "devices": [
                {"resource": "example.com/other", "ids": ["0000:99:00.0"]},
                {"resource": "intel.com/intel_sriov_netdevice", "ids": [chosen]}]}]}
        ]),
    );
    let (_, conf) =
        w.multus_conf(json!({"clusterNetwork": "cbr", "podResourcesSocket": stub.socket}));
    let netns = Netns::new();
    let mut pod = w.pod(
        "vnf",
        json!({"k8s.v1.cni.cncf.io/networks": "sriov-net"}),
        &netns,
    );
    pod.env = tree.env();
    drive("add", &conf, &pod, &w.libcni_cache()).expect_ok("ADD");
    assert_eq!(sorted(netns.links()), ["eth0", "net1"]);
    assert_eq!(
        tree.state_files("alloc"),
        std::slice::from_ref(&chosen),
        "the VF kubelet allocated is the one attached"
    );
    assert_eq!(tree.vf_config(0, 2).vlan, 100);
    let status = w.network_status("vnf");
    assert_eq!(
        status[1]["device-info"],
        json!({"type": "pci", "version": "1.1.0", "pci": {"pci-address": chosen}})
    );
    drive("del", &conf, &pod, &w.libcni_cache()).expect_ok("DEL");
    tree.assert_restored();
    w.assert_nothing_left();

    // Two networks of the resource, one device allocated: refused, naming the resource; nothing left.
    let netns = Netns::new();
    let mut pod = w.pod(
        "greedy",
        json!({"k8s.v1.cni.cncf.io/networks": "sriov-net,sriov-net"}),
        &netns,
    );
    pod.env = tree.env();
    let (code, msg) = pod
        .call(
            "ADD",
            &w.multus_conf(json!({"clusterNetwork": "cbr", "podResourcesSocket": stub.socket}))
                .0,
        )
        .expect_err("ADD without enough devices");
    assert_eq!(code, 7, "{msg}");
    assert!(
        msg.contains("kubelet allocated 0 device(s) of intel.com/intel_sriov_netdevice to pod"),
        "{msg}"
    );
    assert!(netns.links().is_empty());
    w.assert_nothing_left();
}

#[test]
fn in_cluster_service_account_credentials_without_a_kubeconfig() {
    let w = World::new("incl");
    let bridge = HostLink::expect("mtb");
    w.nad("cbr", json!({"cniVersion": "1.0.0", "type": "bridge", "bridge": bridge.name,
        "ipam": {"type": "host-local", "subnet": "10.91.0.0/24", "dataDir": w.scratch.join("ipam")}}), json!({}));
    // The service-account files a pod sees, in a private mount namespace where /run is a fresh tmpfs
    // (the netns directory bound back in), so that /var/run/secrets/kubernetes.io/serviceaccount holds
    // them only for this multus call.
    let sa = w.scratch.join("sa");
    std::fs::create_dir_all(&sa).unwrap();
    std::fs::write(sa.join("token"), w.cluster.token_of("admin")).unwrap();
    std::fs::copy(w.cluster.state.join("pki/ca.crt"), sa.join("ca.crt")).unwrap();
    std::fs::write(sa.join("namespace"), &w.ns).unwrap();
    let inner = w.scratch.join("inner.sh");
    std::fs::write(&inner, format!(
        "#!/bin/sh\nset -e\nmkdir -p {old}\nmount --rbind /run {old}\nmount -t tmpfs tmpfs /run\n\
         mkdir -p /run/netns /run/secrets/kubernetes.io/serviceaccount\nmount --rbind {old}/netns /run/netns\n\
         cp {sa}/* /run/secrets/kubernetes.io/serviceaccount/\nexec {multus}\n",
        old = w.scratch.join("oldrun").display(), sa = sa.display(), multus = multus_bin().display())).unwrap();
    let outer = w.scratch.join("multus-in-pod");
    std::fs::write(
        &outer,
        format!(
            "#!/bin/sh\nexec unshare --mount --propagation private /bin/sh {}\n",
            inner.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&outer, std::fs::Permissions::from_mode(0o755)).unwrap();

    let (mut conf, _) = w.multus_conf(json!({"clusterNetwork": "cbr"}));
    conf.as_object_mut().unwrap().remove("kubeconfig");
    let netns = Netns::new();
    let mut pod = w.pod("in-cluster", json!({}), &netns);
    pod.binary = outer;
    let port = w.cluster.server.rsplit(':').next().unwrap().to_string();
    pod.env = vec![
        ("KUBERNETES_SERVICE_HOST".into(), "127.0.0.1".into()),
        ("KUBERNETES_SERVICE_PORT".into(), port),
    ];
    pod.call("ADD", &conf)
        .expect_ok("ADD with in-cluster credentials");
    assert_eq!(netns.links(), ["eth0"]);
    assert_eq!(status_summary(&w.network_status("in-cluster"))[0].1, "eth0");

    // Outside a pod (no service account) the error says so.
    let plain = Pod {
        binary: multus_bin(),
        env: vec![],
        ..pod.clone()
    };
    let (code, msg) = plain
        .call("ADD", &conf)
        .expect_err("ADD without credentials");
    assert_eq!(code, 7, "{msg}");
    assert!(
        msg.starts_with("kubeconfig: none given and no in-cluster service account"),
        "{msg}"
    );

    pod.call("DEL", &conf).expect_ok("DEL");
    assert!(netns.links().is_empty());
    w.assert_nothing_left();
}
