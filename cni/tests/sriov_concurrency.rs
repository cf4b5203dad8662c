//! 50 pods race for 4 free VFs through the real binary: exactly 4 win, 46 fail cleanly with
//! code 11, and after DEL of all 50 nothing is left (records, leases, PF settings, netdevs).

mod support;

use serde_json::json;
use support::sriov_tree::*;
use support::*;

const PODS: usize = 50;
const VFS: u32 = 4;

#[test]
fn fifty_concurrent_adds_for_four_vfs() {
    let mut tree = FakeTree::new();
    tree.add_pf(VFS);
    let pf = tree.pfs[0].clone();
    let conf = conf(
        "1.0.0",
        json!({"if0": pf.name, "vlan": 100, "ipam": host_local(&tree, "10.79.0.0/24")}),
    );
    let namespaces: Vec<Netns> = (0..PODS).map(|_| Netns::new()).collect();
    let pods: Vec<Pod> = namespaces.iter().map(|ns| tree.pod(ns)).collect();

    let children: Vec<_> = pods.iter().map(|p| p.spawn("ADD", &conf)).collect();
    let replies: Vec<Reply> = children.into_iter().map(collect).collect();

    let winners: Vec<usize> = (0..PODS).filter(|&i| replies[i].ok).collect();
    assert_eq!(winners.len(), VFS as usize, "exactly one pod per VF");
    for (i, reply) in replies.iter().enumerate().filter(|(_, r)| !r.ok) {
        assert_eq!(reply.json["code"], 11, "pod {i}: {}", reply.json);
        assert_eq!(
            reply.json["msg"], "if0: no free VF (4 VFs, all allocated)",
            "pod {i}"
        );
        assert!(namespaces[i].links().is_empty(), "pod {i} got nothing");
    }
    let mut ips: Vec<String> = winners
        .iter()
        .map(|&i| {
            replies[i].json["ips"][0]["address"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), VFS as usize, "distinct addresses");
    assert_eq!(tree.state_files("alloc").len(), VFS as usize);
    assert_eq!(tree.state_files("attachments").len(), VFS as usize);
    assert_eq!(
        tree.scratch.leases("ipam").len(),
        VFS as usize,
        "losers released their IPAM leases"
    );
    for &i in &winners {
        assert_eq!(namespaces[i].links(), vec!["net1".to_string()]);
    }

    let children: Vec<_> = pods.iter().map(|p| p.spawn("DEL", &conf)).collect();
    for (i, reply) in children.into_iter().map(collect).enumerate() {
        assert!(reply.ok, "DEL {i}: {} {}", reply.json, reply.stderr);
    }
    tree.assert_restored();
}
