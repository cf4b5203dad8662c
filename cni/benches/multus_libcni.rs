//! ADD+DEL latency through libcni: `multus` with one bridge delegate vs the bridge plugin alone, measured
//! in the same run, alternating, in one network namespace. Prints both and the overhead ratio. With the
//! Kubernetes tier's control plane in the environment (`make bench-multus` starts it), a third side:
//! multus in Kubernetes mode, the same bridge as the cluster network NAD of a real pod (pod and NAD
//! read from the API server, network-status written back on every ADD).
//!
//!     cargo bench -p cni --bench multus_libcni        (root; ROUNDS=<n> per batch, default 20)

#[path = "../tests/support/mod.rs"]
mod support;

use serde_json::json;
use support::multus_k8s::World;
use support::*;

const BATCHES: usize = 5;

/// Runs one batch of `rounds` ADD+DEL pairs for `pod` and returns the median microseconds.
fn batch(conf_file: &std::path::Path, pod: &Pod, rounds: usize, scratch: &Scratch) -> u64 {
    let mut cmd = libcni("bench", conf_file, pod, &scratch.join("libcni-cache"));
    cmd.args(["-n", &rounds.to_string()]);
    let stats = run_with_stdin(cmd, b"").expect_ok("bench");
    stats["median_us"].as_u64().unwrap()
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let (netns, scratch, bridge) = (Netns::new(), Scratch::new(), HostLink::expect("mtb"));
    let delegate = bridge_delegate(&bridge, "10.250.0.0/24", &scratch.join("ipam"));
    let mut alone = delegate.clone();
    alone.as_object_mut().unwrap().extend(
        json!({"cniVersion": "1.0.0", "name": "bench-bridge"})
            .as_object()
            .unwrap()
            .clone(),
    );
    let multus = json!({"cniVersion": "1.0.0", "name": "bench-multus", "type": "multus", "binDir": REFERENCE_PLUGINS,
        "cniDir": scratch.join("cache"), "delegates": [delegate]});
    let (alone_file, multus_file) = (scratch.join("bridge.conf"), scratch.join("multus.conf"));
    std::fs::write(&alone_file, alone.to_string()).unwrap();
    std::fs::write(&multus_file, multus.to_string()).unwrap();
    let kubernetes = std::env::var_os("K8S_SERVER").map(|_| {
        let world = World::new("bench");
        world.nad("cluster", alone.clone(), json!({}));
        let (_, file) =
            world.multus_conf(json!({"clusterNetwork": "cluster", "binDir": REFERENCE_PLUGINS}));
        let mut pod = world.pod("bench-pod", json!({}), &netns);
        pod.id = "k8s".into();
        (world, file, pod)
    });

    let (mut bridge_us, mut multus_us, mut k8s_us) = (Vec::new(), Vec::new(), Vec::new());
    for b in 0..BATCHES {
        let pod = |id: String| Pod {
            id,
            ..Pod::new(&netns)
        };
        bridge_us.push(batch(&alone_file, &pod(format!("br{b}")), rounds, &scratch));
        multus_us.push(batch(
            &multus_file,
            &pod(format!("mu{b}")),
            rounds,
            &scratch,
        ));
        if let Some((_, file, pod)) = &kubernetes {
            let pod = Pod {
                id: format!("k8s{b}"),
                ..pod.clone()
            };
            k8s_us.push(batch(file, &pod, rounds, &scratch));
        }
    }
    assert!(
        netns.links().is_empty() && scratch.leases("ipam").is_empty(),
        "the benchmark left state behind"
    );
    let (b, m) = (median(bridge_us.clone()), median(multus_us.clone()));
    println!("ADD+DEL through libcni, {BATCHES} alternating batches of {rounds} rounds (median of batch medians):");
    println!(
        "  bridge alone            {:>8.2} ms   batches {bridge_us:?} us",
        b as f64 / 1000.0
    );
    println!(
        "  multus + bridge         {:>8.2} ms   batches {multus_us:?} us",
        m as f64 / 1000.0
    );
    let verdict = |ratio: f64| if ratio <= TARGET { "met" } else { "not met" };
    let ratio = m as f64 / b as f64;
    println!(
        "  ratio multus/bridge     {ratio:>8.3}x   (target <= {TARGET}x: {})",
        verdict(ratio)
    );
    match kubernetes {
        Some((world, _, _)) => {
            let k = median(k8s_us.clone());
            println!(
                "  multus, Kubernetes mode {:>8.2} ms   batches {k8s_us:?} us",
                k as f64 / 1000.0
            );
            let ratio = k as f64 / b as f64;
            println!(
                "  ratio k8s-mode/bridge   {ratio:>8.3}x   (target <= {TARGET}x: {}); over config-file mode {:.2} ms",
                verdict(ratio),
                (k as f64 - m as f64) / 1000.0
            );
            world.assert_nothing_left();
        }
        None => println!(
            "  multus, Kubernetes mode: not measured (no K8S_SERVER; `make bench-multus` starts the tier)"
        ),
    }
}

/// The overhead target for multus over the bare delegate, in both modes.
const TARGET: f64 = 1.1;
