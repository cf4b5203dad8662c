//! The VF MAC in kernel mode against a PF that behaves like igb (the journal PF): once the PF
//! imposes a MAC on an untrusted VF, the VF's netdev may not change its own (EADDRNOTAVAIL).
//! The plugin gives the netdev its MAC first, then has the PF impose it, and undoes both.

mod support;

use serde_json::json;
use support::sriov_tree::*;
use support::*;

use cni::netlink::{JournalPf, MacAddr, Netlink, PfControl, VfConfig, VfSetting};

/// `mac` given each way the runtime can give it, to an untrusted VF: the pod's netdev has it,
/// the PF imposes it, and DEL gives both back.
#[test]
fn a_mac_from_each_source_reaches_an_untrusted_vf() {
    let mut tree = FakeTree::new();
    tree.add_pf(3);
    let pf = tree.pfs[0].clone();
    let ns = Netns::new();
    let sources = [
        ("mac", "02:00:00:00:aa:00"),
        ("runtimeConfig.mac", "02:00:00:00:aa:01"),
        ("CNI_ARGS MAC", "02:00:00:00:aa:02"),
    ];
    let mut pods = Vec::new();
    for (i, (source, mac)) in sources.into_iter().enumerate() {
        let vf = &pf.vfs[i];
        let mut pod = tree.pod(&ns);
        pod.ifname = format!("net{i}");
        let mut conf = conf("1.0.0", json!({"deviceID": vf.addr, "vlan": 210}));
        match source {
            "mac" => conf["mac"] = json!(mac),
            "runtimeConfig.mac" => conf["runtimeConfig"] = json!({ "mac": mac }),
            _ => pod.args = format!("IgnoreUnknown=1;MAC={mac}"),
        }
        let result = pod.call("ADD", &conf).expect_ok(source);
        assert_eq!(result["interfaces"][0]["mac"], mac, "{source}");
        let link = ns.ip(&format!("-o link show net{i}"));
        assert!(
            link.contains(mac) && link.contains(",UP"),
            "{source}: {link}"
        );
        let imposed = tree.vf_config(0, vf.index);
        assert_eq!(imposed.mac.to_string(), mac, "{source}: PF imposes it");
        assert!(!imposed.trust, "{source}: the VF stays untrusted");
        conf["prevResult"] = result;
        pod.call("CHECK", &conf).expect_ok(source);
        pods.push((pod, conf));
    }
    for (pod, conf) in &pods {
        pod.call("DEL", conf).expect_ok("DEL");
    }
    assert!(ns.links().is_empty());
    tree.assert_restored();
}

/// A VF whose PF already imposes another MAC cannot take the configured one (igb lets it only
/// after its driver reloads): ADD fails saying so, and nothing is left changed.
#[test]
fn a_mac_the_pf_forbids_fails_cleanly() {
    let mut tree = FakeTree::new();
    tree.add_pf(1);
    let vf = tree.pfs[0].vfs[0].clone();
    let operator: MacAddr = "02:00:00:00:0b:01".parse().unwrap();
    tree.journal()
        .set_vf(&tree.pfs[0].name, 0, &VfSetting::Mac { mac: operator })
        .unwrap();
    let ns = Netns::new();
    let pod = tree.pod(&ns);
    let conf = conf(
        "1.0.0",
        json!({"deviceID": vf.addr, "vlan": 5, "mac": "02:00:00:00:0b:02",
               "ipam": host_local(&tree, "10.87.0.0/24")}),
    );
    let reply = pod.call("ADD", &conf);
    let details = reply.json["details"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (code, msg) = reply.expect_err("ADD");
    assert_eq!(
        (code, msg),
        (
            5,
            format!("cannot give {} the MAC 02:00:00:00:0b:02", vf.netdev)
        )
    );
    assert!(
        details.ends_with(
            "Cannot assign requested address (os error 99) (the PF imposes another MAC on the VF)"
        ),
        "{details}"
    );
    assert!(ns.links().is_empty());
    assert_eq!(
        FakeTree::host_mac(&vf.netdev),
        vf.mac,
        "netdev MAC unchanged"
    );
    assert!(host_links().contains(&vf.netdev), "netdev keeps its name");
    assert_eq!(
        tree.sent(),
        vec![VfSetting::Mac { mac: operator }],
        "PF untouched"
    );
    assert!(tree.state_files("alloc").is_empty());
    assert!(tree.state_files("attachments").is_empty());
    assert!(tree.scratch.leases("ipam").is_empty());
}

/// A trusted VF may change its MAC under an imposed one; DEL gives the PF back exactly the
/// MAC it imposed (and leaves trust as it was), and the netdev its own.
#[test]
fn del_gives_back_a_mac_the_pf_imposed_before() {
    let mut tree = FakeTree::new();
    tree.add_pf(1);
    let vf = tree.pfs[0].vfs[0].clone();
    let pf = tree.pfs[0].name.clone();
    let operator: MacAddr = "02:00:00:00:0c:01".parse().unwrap();
    tree.journal()
        .set_vf(&pf, 0, &VfSetting::Mac { mac: operator })
        .unwrap();
    tree.journal()
        .set_vf(&pf, 0, &VfSetting::Trust { on: true })
        .unwrap();
    let before = tree.vf_config(0, 0);
    let ns = Netns::new();
    let pod = tree.pod(&ns);
    let conf = conf(
        "1.0.0",
        json!({"deviceID": vf.addr, "mac": "02:00:00:00:0c:02", "trust": "on"}),
    );
    pod.call("ADD", &conf).expect_ok("ADD");
    assert!(ns.ip("-o link show net1").contains("02:00:00:00:0c:02"));
    assert_eq!(tree.vf_config(0, 0).mac.to_string(), "02:00:00:00:0c:02");
    pod.call("DEL", &conf).expect_ok("DEL");
    assert_eq!(tree.vf_config(0, 0), before);
    assert_eq!(
        tree.sent_text()[2..],
        ["mac 02:00:00:00:0c:02", "mac 02:00:00:00:0c:01"],
        "trust was already on: untouched"
    );
    assert_eq!(FakeTree::host_mac(&vf.netdev), vf.mac);
    assert!(tree.state_files("attachments").is_empty());
}

/// The journal PF judges a netdev's own MAC change as igb does, and makes it on the real link.
#[test]
fn the_journal_pf_refuses_what_igb_refuses() {
    require_root();
    let scratch = Scratch::new();
    let pf = JournalPf::new(scratch.join("journal"));
    let link = HostLink::veth();
    let index = Netlink::open()
        .unwrap()
        .link_by_name(&link.name)
        .unwrap()
        .unwrap()
        .index;
    let mac = |text: &str| -> MacAddr { text.parse().unwrap() };
    let live = || FakeTree::host_mac(&link.name);

    pf.set_netdev_mac("pf0", 1, index, mac("02:00:00:00:0d:01"))
        .expect("nothing imposed");
    assert_eq!(live(), "02:00:00:00:0d:01");

    let imposed = mac("02:00:00:00:0d:02");
    pf.set_vf("pf0", 1, &VfSetting::Mac { mac: imposed })
        .unwrap();
    let err = pf
        .set_netdev_mac("pf0", 1, index, mac("02:00:00:00:0d:03"))
        .unwrap_err();
    assert_eq!(err.errno(), Some(99), "{err}");
    assert_eq!(
        err.to_string(),
        format!("set MAC of link #{index} to 02:00:00:00:0d:03: Cannot assign requested address (os error 99)")
    );
    assert_eq!(live(), "02:00:00:00:0d:01", "refused: unchanged");
    pf.set_netdev_mac("pf0", 1, index, mac("02:00:00:00:0d:01"))
        .expect("an unchanged MAC never reaches the PF");
    pf.set_netdev_mac("pf0", 2, index, mac("02:00:00:00:0d:04"))
        .expect("another VF's imposed MAC does not matter");
    assert_eq!(live(), "02:00:00:00:0d:04");

    pf.set_vf("pf0", 1, &VfSetting::Trust { on: true }).unwrap();
    pf.set_netdev_mac("pf0", 1, index, mac("02:00:00:00:0d:05"))
        .expect("trusted");
    assert_eq!(live(), "02:00:00:00:0d:05");

    pf.set_vf("pf0", 1, &VfSetting::Trust { on: false })
        .unwrap();
    pf.set_vf("pf0", 1, &VfSetting::Mac { mac: MacAddr::ZERO })
        .unwrap();
    assert_eq!(pf.vf_config("pf0", 1).unwrap(), VfConfig::default());
    pf.set_netdev_mac("pf0", 1, index, mac("02:00:00:00:0d:06"))
        .expect("imposition removed");
    assert_eq!(live(), "02:00:00:00:0d:06");
}
