//! ADD+DEL latency through libcni: `multus` with one bridge delegate vs the bridge plugin alone, measured
//! in the same run, alternating, in one network namespace; both as the `multus` binary (a process per
//! call) and as the thick plugin (`multus-shim` forwarding to a `multus-daemon` started by the bench).
//! With the Kubernetes tier's control plane in the environment (`make bench-multus` starts it), the
//! same two in Kubernetes mode: the same bridge as the cluster network NAD of a real pod (pod and NAD
//! read from the API server — or the daemon's watch caches — and network-status written on every ADD).
//! Prints each side, its ratio to the bridge alone and the target (<= 1.1x) met or not met, and with
//! the control plane up, how much CPU the API server and etcd spent per call of each side.
//!
//! The plugins come from `MULTUS_PLUGIN_DIR` when it is set (`make bench-multus` sets it to the static
//! build of `cni/build-static-plugins.sh`, the binaries the installer image ships); the run then also
//! times cargo's dynamically linked `multus` in config-file mode, to show what the static link saves.
//!
//! The Kubernetes target counts multus's own work and its lookups. Every ADD in Kubernetes mode also
//! writes network-status, one PATCH that, as in Multus, completes before ADD returns (its failure
//! fails the ADD); what that write costs is the API server's, so the same run times the same PATCH
//! alone (alternating with the other batches, through a client that keeps its connection, as the
//! daemon's does) and prints the Kubernetes sides both with it and less it.
//!
//!     cargo bench -p cni --bench multus_libcni        (root; ROUNDS=<n> per batch, default 20)

#[path = "../tests/support/mod.rs"]
mod support;

use serde_json::{json, Value};
use support::multus_k8s::World;
use support::thick::{shim_bin, Daemon};
use support::*;

const BATCHES: usize = 5;

/// The overhead target for multus over the bare delegate, in every mode.
const TARGET: f64 = 1.1;

/// Each round starts after an untimed pause of random length below this, at a random phase of the
/// kernel's timer tick (see the libcni driver's `-jitter`); a batch's figure is then its mean.
const JITTER: &str = "20ms";

/// Runs one batch of `rounds` ADD+DEL pairs for `pod`, its plugins looked up in `path`, and returns the
/// mean microseconds.
fn batch(side: &Side, pod: &Pod, rounds: usize, scratch: &Scratch) -> u64 {
    let mut cmd = libcni_in(
        &side.path,
        "bench",
        &side.conf_file,
        pod,
        &scratch.join("libcni-cache"),
    );
    cmd.args(["-n", &rounds.to_string(), "-jitter", JITTER]);
    let stats = run_with_stdin(cmd, b"").expect_ok("bench");
    stats["mean_us"].as_u64().unwrap()
}

/// CPU time (user + system, clock ticks of 10 ms) used so far by the control plane on this machine:
/// every `kube-apiserver` and `etcd` process, from `/proc/<pid>/stat`.
fn control_plane_ticks() -> u64 {
    let mut ticks = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if !matches!(comm.trim_end(), "kube-apiserver" | "etcd") {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // After "pid (comm) ": state is field 3, utime field 14 and stime field 15 (proc(5)).
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        ticks += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    }
    ticks
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

/// One batch of `rounds` network-status PATCHes of `pod`'s status, as multus writes them after ADD;
/// returns the median microseconds.
fn patch_batch(world: &World, pod: &str, rounds: usize) -> u64 {
    use k8s_openapi::api::core::v1::Pod as KubePod;
    use kube::api::{Api, Patch, PatchParams};
    let api: Api<KubePod> = Api::namespaced(world.cluster.client.clone(), &world.ns);
    let status = json!([{"name": "multus-cni-network", "interface": "eth0", "ips": ["10.250.0.2"],
        "mac": "0a:58:0a:fa:00:02", "default": true, "dns": {}}]);
    let mut times: Vec<u64> = (0..rounds)
        .map(|round| {
            // A value that changes every round, as every ADD's does: the API server writes each one.
            let mut value = status.clone();
            value[0]["ips"][0] = json!(format!("10.250.0.{}", 2 + round % 200));
            let patch = Patch::Merge(json!({"metadata": {"annotations": {
                "k8s.v1.cni.cncf.io/network-status": value.to_string()}}}));
            let start = std::time::Instant::now();
            world
                .cluster
                .block_on(api.patch_status(pod, &PatchParams::default(), &patch))
                .expect("PATCH of the bench pod's status");
            start.elapsed().as_micros() as u64
        })
        .collect();
    times.sort_unstable();
    times[times.len() / 2]
}

/// One measured side: a configuration file, the pod it is called for and where its plugins are.
struct Side {
    label: &'static str,
    conf_file: std::path::PathBuf,
    pod: Pod,
    path: String,
    batches: Vec<u64>,
    /// The control plane's CPU ticks during this side's batches.
    control_plane: u64,
}

fn write_conf(scratch: &Scratch, name: &str, conf: &Value) -> std::path::PathBuf {
    let file = scratch.join(name);
    std::fs::write(&file, conf.to_string()).unwrap();
    file
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
    let kubernetes = std::env::var_os("K8S_SERVER").map(|_| {
        let world = World::new("bench");
        world.nad("cluster", alone.clone(), json!({}));
        let (conf, _) =
            world.multus_conf(json!({"clusterNetwork": "cluster", "binDir": REFERENCE_PLUGINS}));
        let pod = world.pod("bench-pod", json!({}), &netns);
        (world, conf, pod)
    });
    let daemon = Daemon::start(&scratch.join("run"), &[]);
    let k8s_daemon = kubernetes.as_ref().map(|(world, _, _)| {
        let kubeconfig = world.cluster.kubeconfig.to_str().unwrap().to_string();
        Daemon::start(&scratch.join("run-k8s"), &["--kubeconfig", &kubeconfig])
    });

    let plain = Pod::new(&netns);
    let shim = Pod {
        binary: shim_bin(),
        ..plain.clone()
    };
    let plugin_dir = std::env::var("MULTUS_PLUGIN_DIR").ok();
    let path = match &plugin_dir {
        Some(dir) => format!("{dir}:{REFERENCE_PLUGINS}"),
        None => cni_path(),
    };
    let side = |label, name: &str, conf: &Value, pod: &Pod| Side {
        label,
        conf_file: write_conf(&scratch, name, conf),
        pod: pod.clone(),
        path: path.clone(),
        batches: Vec::new(),
        control_plane: 0,
    };
    let mut sides = vec![
        side("bridge alone", "bridge.conf", &alone, &plain),
        side("multus, config file", "multus.conf", &multus, &plain),
        side(
            "thick, config file",
            "thick.conf",
            &daemon.shim_conf(&multus),
            &shim,
        ),
    ];
    if plugin_dir.is_some() {
        sides.push(Side {
            path: cni_path(),
            ..side(
                "multus, config, dynamic",
                "multus-dynamic.conf",
                &multus,
                &plain,
            )
        });
    }
    if let (Some((_, conf, pod)), Some(k8s_daemon)) = (&kubernetes, &k8s_daemon) {
        sides.push(side("multus, Kubernetes", "multus-k8s.conf", conf, pod));
        let pod = Pod {
            binary: shim_bin(),
            ..pod.clone()
        };
        sides.push(side(
            "thick, Kubernetes",
            "thick-k8s.conf",
            &k8s_daemon.shim_conf(conf),
            &pod,
        ));
    }
    let (mut patches, mut patch_ticks) = (Vec::new(), 0);
    let count = sides.len();
    for b in 0..BATCHES {
        // Each round starts one side later, so that no side always follows the same one (a batch
        // that leaves the API server work to finish, e.g. its garbage collection, slows the next).
        for i in (0..count).map(|k| (k + b) % count) {
            let s = &mut sides[i];
            let pod = Pod {
                id: format!("s{i}b{b}"),
                ..s.pod.clone()
            };
            let before = control_plane_ticks();
            let median = batch(s, &pod, rounds, &scratch);
            s.batches.push(median);
            s.control_plane += control_plane_ticks() - before;
        }
        if let Some((world, _, _)) = &kubernetes {
            let before = control_plane_ticks();
            patches.push(patch_batch(world, "bench-pod", rounds));
            patch_ticks += control_plane_ticks() - before;
        }
    }
    assert!(
        netns.links().is_empty() && scratch.leases("ipam").is_empty(),
        "the benchmark left state behind"
    );
    println!("ADD+DEL through libcni, {BATCHES} alternating batches of {rounds} rounds at random tick phases (median of batch means),");
    match &plugin_dir {
        Some(dir) => println!("plugins from {dir} (static); \"dynamic\": cargo's build, dynamically linked:"),
        None => println!("plugins: cargo's build, dynamically linked (`make bench-multus` times the static build):"),
    }
    let bridge_ms = median(sides[0].batches.clone()) as f64 / 1000.0;
    for s in &sides {
        let ms = median(s.batches.clone()) as f64 / 1000.0;
        let ratio = ms / bridge_ms;
        let verdict = match s.label {
            "bridge alone" => String::new(),
            _ if ratio <= TARGET => format!("{ratio:.3}x  (target <= {TARGET}x: met)"),
            _ => format!("{ratio:.3}x  (target <= {TARGET}x: not met)"),
        };
        println!(
            "  {:<24} {ms:>8.2} ms  {verdict:<34} batches {:?} us",
            s.label, s.batches
        );
    }
    if !patches.is_empty() {
        let patch_ms = median(patches.clone()) as f64 / 1000.0;
        println!(
            "  {:<24} {patch_ms:>8.2} ms  (the API server's write alone)          batches {patches:?} us",
            "network-status PATCH"
        );
        // What each call costs the API server and etcd, beside its latency: the write's handling
        // (admission, etcd's commit, the watch events it sends) is CPU taken from the same 2 cores.
        let per_call = |ticks: u64| ticks as f64 * 10.0 / (BATCHES * rounds) as f64;
        println!(
            "  control plane CPU (kube-apiserver + etcd) per call, ms: {}, network-status PATCH {:.2}",
            sides
                .iter()
                .map(|s| format!("{} {:.2}", s.label, per_call(s.control_plane)))
                .collect::<Vec<_>>()
                .join(", "),
            per_call(patch_ticks)
        );
        for s in sides.iter().filter(|s| s.label.ends_with("Kubernetes")) {
            let ratio = (median(s.batches.clone()) as f64 / 1000.0 - patch_ms) / bridge_ms;
            let met = if ratio <= TARGET { "met" } else { "not met" };
            println!(
                "  {:<24} {ratio:.3}x less the PATCH  (target <= {TARGET}x for multus's own work and lookups: {met})",
                s.label
            );
        }
    }
    if kubernetes.is_none() {
        println!(
            "  Kubernetes mode: not measured (no K8S_SERVER; `make bench-multus` starts the tier)"
        );
    }
    if let Some((world, _, _)) = kubernetes {
        world.assert_nothing_left();
    }
}
