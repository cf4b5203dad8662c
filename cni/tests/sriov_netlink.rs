//! netns + netlink against the real kernel: namespaces made with iproute2, links moved,
//! renamed, addressed and routed by our code, results read back both ways.

mod support;

use cni::netlink::{self, MacAddr, Netlink, Route};
use cni::netns::{self, NetNs};
use cni::spec::Cidr;
use support::{sh, HostLink, Netns};

#[test]
fn lists_link_names_inside_a_namespace() {
    let ns = Netns::new();
    let veth = HostLink::veth();
    let (a, b) = (veth.name.clone(), veth.peer());
    sh("ip", &["link", "set", &b, "netns", &ns.name]);
    let names = netlink::link_names_in(ns.path()).unwrap();
    assert!(names.contains(&b), "{names:?}");
    assert!(names.contains(&"lo".to_string()), "{names:?}");
    assert!(!names.contains(&a), "{names:?}");
}

#[test]
fn missing_namespace_is_reported_by_path() {
    let err = netlink::link_names_in("/run/netns/definitely-not-here").unwrap_err();
    assert!(
        err.to_string()
            .contains("/run/netns/definitely-not-here does not exist"),
        "{err}"
    );
}

#[test]
fn moves_renames_and_configures_a_link_in_a_pod_namespace() {
    let ns = Netns::new();
    let veth = HostLink::veth();
    let host_end = veth.name.clone();

    let mut nl = Netlink::open().unwrap();
    let link = nl.link_by_name(&host_end).unwrap().expect("veth exists");
    let pod = NetNs::open(ns.path()).unwrap();
    nl.move_to_netns(link.index, &pod).unwrap();
    assert_eq!(
        nl.link_by_name(&host_end).unwrap(),
        None,
        "gone from the host"
    );

    let mac: MacAddr = "02:11:22:33:44:55".parse().unwrap();
    let cidr: Cidr = "10.99.0.7/24".parse().unwrap();
    let route = Route {
        dst: "10.98.0.0/16".parse().unwrap(),
        gateway: Some("10.99.0.1".parse().unwrap()),
    };
    let seen = pod
        .run(|| -> Result<_, netlink::Error> {
            let mut nl = Netlink::open()?;
            let link = nl.link_by_name(&host_end)?.expect("arrived in pod");
            nl.rename(link.index, "net1")?;
            nl.set_mac(link.index, mac)?;
            nl.set_up(link.index, true)?;
            nl.add_address(link.index, cidr)?;
            nl.add_route(link.index, &route)?;
            let link = nl.link_by_name("net1")?.expect("renamed");
            let (addrs, routes) = (nl.addresses(link.index)?, nl.routes(link.index)?);
            Ok((link, addrs, routes))
        })
        .unwrap()
        .unwrap();
    let (link, addrs, routes) = seen;
    assert_eq!(link.mac, Some(mac));
    assert!(link.up);
    assert_eq!(addrs, vec![cidr]);
    assert!(routes.contains(&route), "{routes:?}");
    assert!(
        routes
            .iter()
            .any(|r| r.dst.to_string() == "10.99.0.0/24" && r.gateway.is_none()),
        "{routes:?}"
    );

    // iproute2 agrees.
    assert!(ns.ipv4_of("net1").contains(&"10.99.0.7/24".to_string()));

    // And back to the host under the original name.
    let host = NetNs::current().unwrap();
    pod.run(|| -> Result<(), netlink::Error> {
        let mut nl = Netlink::open()?;
        let link = nl.link_by_name("net1")?.expect("still there");
        nl.set_up(link.index, false)?;
        nl.rename(link.index, &host_end)?;
        nl.move_to_netns(link.index, &host)
    })
    .unwrap()
    .unwrap();
    assert!(nl.link_by_name(&host_end).unwrap().is_some());
    netns::check(ns.path()).unwrap();
}

#[test]
fn adding_the_same_address_twice_names_the_address() {
    let ns = Netns::new();
    let err = netns::run_in(ns.path(), || -> Result<(), netlink::Error> {
        let mut nl = Netlink::open()?;
        let lo = nl.link_by_name("lo")?.unwrap();
        nl.add_address(lo.index, "10.1.1.1/32".parse().unwrap())?;
        nl.add_address(lo.index, "10.1.1.1/32".parse().unwrap())
    })
    .unwrap()
    .unwrap_err();
    assert_eq!(err.errno(), Some(17));
    assert!(err.to_string().contains("add address 10.1.1.1/32"), "{err}");
}

/// Every VF setting reaches the kernel well formed: a link without VFs (a veth) answers each
/// one with EOPNOTSUPP from the driver hook, which the kernel only calls after the attribute
/// passed its size and range checks (a bad layout or byte order would be EINVAL/EPROTONOSUPPORT).
#[test]
fn pf_requests_are_well_formed_for_the_kernel() {
    use cni::netlink::{LinkState, NetlinkPf, PfControl, VfSetting, VlanProto};
    let veth = HostLink::veth();
    let pf = veth.name.as_str();
    let settings = [
        VfSetting::Mac {
            mac: "02:00:00:00:00:07".parse().unwrap(),
        },
        VfSetting::Vlan {
            vlan: 210,
            qos: 3,
            proto: VlanProto::Dot1Q,
        },
        VfSetting::Vlan {
            vlan: 210,
            qos: 0,
            proto: VlanProto::Dot1Ad,
        },
        VfSetting::SpoofCheck { on: false },
        VfSetting::Trust { on: true },
        VfSetting::LinkState {
            state: LinkState::Disable,
        },
        VfSetting::Rate { min: 0, max: 1000 },
    ];
    for setting in &settings {
        let err = NetlinkPf.set_vf(pf, 0, setting).unwrap_err();
        assert_eq!(err.errno(), Some(95), "{setting}: {err}");
        assert!(
            err.to_string()
                .starts_with(&format!("set VF 0 {setting} on PF {pf}")),
            "{err}"
        );
    }
    // The check is real: the kernel rejects a VF index past INT_MAX before the driver hook,
    // which it can only do if the index sits where the kernel reads it.
    // (The 802.1ad VLAN list is only parsed once the driver has the hook.)
    for setting in settings.iter().filter(|s| {
        !matches!(
            s,
            VfSetting::Vlan {
                proto: VlanProto::Dot1Ad,
                ..
            }
        )
    }) {
        let err = NetlinkPf.set_vf(pf, u32::MAX, setting).unwrap_err();
        assert_eq!(err.errno(), Some(22), "{setting}: {err}");
    }
    let err = NetlinkPf.vf_config(pf, 0).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("read VF 0 settings of PF {pf}")),
        "{err}"
    );
    let err = NetlinkPf.set_vf("nlnopf0", 0, &settings[0]).unwrap_err();
    assert_eq!(err.errno(), Some(19), "{err}");
}
