//! ADD racing DEL of the same container (outside the CNI contract, but runtimes do it after a
//! timeout): whichever runs second sees the first's whole work, so the state after the race is
//! either the pod fully attached (and cached) or nothing at all, and a final DEL leaves nothing.
//! Real plugins in real namespaces; needs root.

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;

const PAIRS: usize = 60;

#[test]
fn add_racing_del_of_the_same_container_never_leaks() {
    let (scratch, b1, b2) = (
        Scratch::new(),
        HostLink::expect("mtb"),
        HostLink::expect("mtb"),
    );
    let ipam = scratch.join("ipam");
    let conf = json!({"cniVersion": "1.0.0", "name": "mt-race", "type": "multus",
        "binDir": REFERENCE_PLUGINS, "cniDir": scratch.join("cache"), "delegates": [
            bridge_delegate(&b1, "10.248.0.0/24", &ipam), bridge_delegate(&b2, "10.249.0.0/24", &ipam)]});
    let namespaces: Vec<Netns> = (0..PAIRS).map(|_| Netns::new()).collect();
    let pods: Vec<Pod> = namespaces.iter().map(Pod::new).collect();
    // DEL starts 0-29 ms after ADD, so that it lands at every point of the ADD.
    let outcomes: Vec<(bool, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = pods
            .iter()
            .enumerate()
            .map(|(i, pod)| {
                let conf = &conf;
                s.spawn(move || {
                    let add = pod.spawn("ADD", conf);
                    std::thread::sleep(Duration::from_millis((i * 7 % 30) as u64));
                    let del = collect(pod.spawn("DEL", conf));
                    (collect(add).ok, del.ok)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let mut attached = 0;
    for ((pod, netns), (add_ok, del_ok)) in pods.iter().zip(&namespaces).zip(&outcomes) {
        assert!(del_ok, "DEL of {} failed", pod.id);
        let cached = scratch.files("cache").contains(&format!("{}:eth0", pod.id));
        let mut links = netns.links();
        links.sort();
        if cached {
            // ADD ran after DEL: the pod is fully attached and the runtime was told so.
            assert!(add_ok, "{}: cached although ADD failed", pod.id);
            assert_eq!(links, vec!["eth0", "net0"], "{}", pod.id);
            attached += 1;
        } else {
            assert_eq!(
                links,
                Vec::<String>::new(),
                "{}: links left without a cache (ADD ok: {add_ok})",
                pod.id
            );
        }
    }
    assert_eq!(scratch.leases("ipam").len(), 2 * attached);
    assert_eq!(b1.ports().len() + b2.ports().len(), 2 * attached);
    println!("{attached} of {PAIRS} ADDs ran after their DEL");

    std::thread::scope(|s| {
        for pod in &pods {
            s.spawn(|| pod.call("DEL", &conf).expect_ok("final DEL"));
        }
    });
    for netns in &namespaces {
        assert_eq!(netns.links(), Vec::<String>::new());
    }
    assert_eq!(scratch.leases("ipam"), Vec::<String>::new());
    assert_eq!(scratch.files("cache"), Vec::<String>::new());
    if b1.exists() {
        assert_eq!(b1.ports(), Vec::<String>::new());
    }
    if b2.exists() {
        assert_eq!(b2.ports(), Vec::<String>::new());
    }
}
