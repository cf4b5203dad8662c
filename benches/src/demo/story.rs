//! The demo's steps in order, and what it prints.

use super::cni::{leases, multus_conf, Pod, REFERENCE_PLUGINS};
use super::firewall::{Firewall, Pmd};
use super::generator::Generator;
use super::preflight;
use super::report::verdict;
use super::sys::{catch_interrupts, netns_exists, run, Netns, Scratch};
use benches::traffic::{expectations, Expected, KindTally};
use dataplane::firewall::{parse_rule_file, Action};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The seed's VLAN 210 rule file (the README's example).
const SEED_RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../dataplane/tests/firewall_rules_vlan210.json"
);

/// The line printed when the verdict holds.
pub const VERDICT_OK: &str = "verdict: allowed traffic arrived, denied traffic did not";

/// Command-line options.
pub struct Options {
    quick: bool,
    keep: bool,
    lab: bool,
}

impl Options {
    /// Parses `[--quick] [--keep] [--lab]`.
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options {
            quick: false,
            keep: false,
            lab: false,
        };
        for a in args {
            match a.as_str() {
                "--quick" => o.quick = true,
                "--keep" => o.keep = true,
                "--lab" => o.lab = true,
                other => {
                    return Err(format!(
                        "unknown argument {other:?}; usage: demo [--quick] [--keep] [--lab]"
                    ))
                }
            }
        }
        Ok(o)
    }

    fn frames_per_kind(&self) -> u64 {
        if self.quick {
            200
        } else {
            1000
        }
    }

    fn load_seconds(&self) -> f64 {
        if self.quick {
            1.0
        } else {
            3.0
        }
    }
}

/// A program built next to this one.
fn sibling(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let path = exe.with_file_name(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing: build it first (`make demo` does: cargo build --release -p cni --bin multus \
             -p dataplane --bin vlan-firewall -p benches)",
            path.display()
        ))
    }
}

/// Removes what an earlier demo that was killed left behind (namespaces and state of dead processes).
fn sweep_leftovers() {
    let alive = |pid: &str| Path::new("/proc").join(pid).exists();
    for (dir, prefix) in [("/run/netns", "mpdemo-"), ("/run", "multiplane-demo-")] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for name in entries.filter_map(|e| e.ok()?.file_name().into_string().ok()) {
            let Some(pid) = name.strip_prefix(prefix).and_then(|r| r.split('-').next()) else {
                continue;
            };
            if alive(pid) {
                continue;
            }
            let removed = if dir == "/run/netns" {
                run("ip", &["netns", "del", &name]).is_ok()
            } else {
                std::fs::remove_dir_all(Path::new(dir).join(&name)).is_ok()
            };
            if removed {
                println!("(removed {dir}/{name}, left by an interrupted demo)");
            }
        }
    }
}

/// Runs the demo; returns the exit code (0 when the verdict holds and nothing is left).
pub fn main_result(o: Options) -> Result<i32, String> {
    if o.lab {
        if !super::sys::is_root() {
            return Err("the lab boots a guest with VFs bound to vfio-pci and needs root: run `sudo make demo DEMO_ARGS=--lab`".into());
        }
        return super::lab::run();
    }
    preflight::check(!o.quick)?;
    if let Some(note) = preflight::hugepage_notice() {
        println!("{note}");
    }
    let bins = Bins {
        multus: sibling("multus")?,
        firewall: sibling("vlan-firewall")?,
        traffic: sibling("vlan-traffic")?,
    };
    catch_interrupts()?;
    sweep_leftovers();
    let id = std::process::id();
    let mut scratch = Scratch::create(PathBuf::from(format!("/run/multiplane-demo-{id}")))?;
    let mut node = Netns::create(&format!("mpdemo-{id}-node"))?;
    let mut pod = Netns::create(&format!("mpdemo-{id}-pod"))?;
    let code = story(&o, &bins, &scratch, &node, &pod)?;
    if o.keep {
        scratch.keep();
        node.keep();
        pod.keep();
        return Ok(code);
    }
    let (names, dir) = ([node.name.clone(), pod.name.clone()], scratch.path.clone());
    pod.delete()?;
    node.delete()?;
    drop(scratch);
    let left: Vec<String> = names.iter().filter(|n| netns_exists(n)).cloned().collect();
    if !left.is_empty() || dir.exists() {
        println!(
            "left behind: namespaces {left:?}, {} exists: {}",
            dir.display(),
            dir.exists()
        );
        return Ok(1);
    }
    println!(
        "      namespaces {} and {} deleted, {} removed: nothing is left",
        names[1],
        names[0],
        dir.display()
    );
    if !o.quick && code == 0 {
        benchmark()?;
    }
    Ok(code)
}

struct Bins {
    multus: PathBuf,
    firewall: PathBuf,
    traffic: PathBuf,
}

/// The node's links: a veth pair per data interface; the inner ends go to the pod.
const DATA_LINKS: [(&str, &str); 2] = [("dp-net0", "out-net0"), ("dp-north", "out-north")];

fn story(
    o: &Options,
    bins: &Bins,
    scratch: &Scratch,
    node: &Netns,
    pod_ns: &Netns,
) -> Result<i32, String> {
    let text = std::fs::read_to_string(SEED_RULES).map_err(|e| format!("{SEED_RULES}: {e}"))?;
    let rules = parse_rule_file(&text).map_err(|e| format!("{SEED_RULES}: {e}"))?;
    let rules_file = scratch.join("rules.json");
    std::fs::write(&rules_file, &text).map_err(|e| format!("{}: {e}", rules_file.display()))?;
    for (inner, outer) in DATA_LINKS {
        node.ip(&["link", "add", inner, "type", "veth", "peer", "name", outer])?;
        node.ip(&["link", "set", outer, "up"])?;
    }
    println!("multiplane demo: a pod with three interfaces from multus, the seed's VLAN 210 firewall in it");
    println!(
        "  node: network namespace {} (standing in for the host); pod: {}",
        node.name, pod_ns.name
    );

    let pod = Pod {
        multus: bins.multus.clone(),
        node,
        netns: pod_ns,
        container_id: format!("demo-{}", std::process::id()),
        conf: multus_conf(
            "demo-br0",
            [DATA_LINKS[0].0, DATA_LINKS[1].0],
            &scratch.path,
        ),
    };
    let started = Instant::now();
    let result = pod.add()?;
    println!("[1/5] CNI ADD through multus ({} ms): eth0 from bridge + host-local, net0 and north from host-device", started.elapsed().as_millis());
    println!("      ip -br addr, in the pod:");
    for line in pod_ns.exec("ip", &["-br", "addr"])?.lines() {
        println!("        {line}");
    }
    let del_file = scratch.join("del.json");
    std::fs::write(&del_file, pod.del_conf(&result).to_string()).map_err(|e| e.to_string())?;

    let code = traffic(o, bins, node, pod_ns, &rules_file, &expectations(&rules))?;

    if o.keep {
        print_cleanup(&pod, &del_file, scratch);
        return Ok(code);
    }
    pod.del(&result)?;
    let (links, held, cache) = (
        pod_ns.links()?,
        leases(&scratch.join("ipam")),
        files(&scratch.join("multus")),
    );
    let returned = DATA_LINKS
        .iter()
        .all(|(inner, _)| node.ip(&["link", "show", inner]).is_ok());
    println!(
        "[5/5] CNI DEL through multus: pod links {links:?}, IP leases {held:?}, multus cache {cache:?}, \
         net0/north back on the node: {returned}"
    );
    if !links.is_empty() || !held.is_empty() || !cache.is_empty() || !returned {
        return Ok(1);
    }
    Ok(code)
}

fn files(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect()
}

fn traffic(
    o: &Options,
    bins: &Bins,
    node: &Netns,
    pod: &Netns,
    rules: &Path,
    expected: &[Expected],
) -> Result<i32, String> {
    let prefix = format!("mpdemo{}", std::process::id());
    let af_xdp = match preflight::af_xdp_switched_off() {
        Some(switch) => Err(format!("switched off by {switch}")),
        None => Firewall::start(
            pod,
            &bins.firewall,
            rules,
            Pmd::AfXdp,
            &format!("{prefix}fw"),
        ),
    };
    let mut fw = match af_xdp {
        Ok(fw) => fw,
        Err(e) => {
            println!("      AF_XDP is unavailable ({e}); falling back to net_af_packet (the same DPDK app on AF_PACKET sockets, slower); AF_XDP needs a kernel with XDP sockets (CONFIG_XDP_SOCKETS) and DPDK's net_af_xdp PMD (`apt-get install librte-net-af-xdp23`)");
            Firewall::start(
                pod,
                &bins.firewall,
                rules,
                Pmd::AfPacket,
                &format!("{prefix}fw"),
            )?
        }
    };
    println!("[2/5] vlan-firewall runs in the pod: net0 = port A, north = port B, DPDK {} PMD, 1 worker core, rules {}", fw.pmd.driver(), SEED_RULES.rsplit('/').next().unwrap_or(SEED_RULES));
    let outer = [DATA_LINKS[0].1, DATA_LINKS[1].1];
    let count = o.frames_per_kind();
    let (mut generator, tallies) = Generator::start(
        node,
        &bins.traffic,
        rules,
        outer,
        count,
        &format!("{prefix}gen"),
    )?;
    let report = fw.fresh_report()?;
    println!("[3/5] vlan-traffic on the node sends {count} frames of each kind into out-net0 (A) and out-north (B):");
    print_kinds(expected, &tallies);
    println!("      vlan-firewall's counters (non-zero lines, as it reports them):");
    report.counters.iter().for_each(|l| println!("      {l}"));
    let judged = verdict(expected, &tallies, &report);

    let load = generator.load(o.load_seconds())?;
    let after = fw.fresh_report()?;
    generator.finish()?;
    let pmd = fw.pmd.driver();
    let mbufs = fw.stop()?;
    let mpps = |n: u64| n as f64 / load.seconds / 1e6;
    println!(
        "[4/5] load, {} s of the mix back to back: sent {:.3} Mpps, vlan-firewall judged {:.3} Mpps ({} over veth, 1 core), {:.3} Mpps of allowed frames arrived; {}",
        load.seconds,
        mpps(load.sent),
        mpps(after.rx - report.rx),
        pmd,
        mpps(load.arrived),
        mbufs
    );
    match judged {
        Ok(()) => {
            println!(
                "{VERDICT_OK} (every kind as the rules' model says; the firewall's counters agree)"
            );
            Ok(0)
        }
        Err(problems) => {
            println!("verdict: FAILED");
            problems.iter().for_each(|p| println!("  {p}"));
            Ok(1)
        }
    }
}

fn print_kinds(expected: &[Expected], tallies: &[KindTally]) {
    println!(
        "      {:<52} {:<6} {:<34} {:>6} {:>8}",
        "frame", "rules", "decided by", "sent", "arrived"
    );
    for (e, t) in expected.iter().zip(tallies) {
        let (action, side) = (
            if e.action == Action::Allow {
                "allow"
            } else {
                "drop"
            },
            format!("{:?}", e.kind.ingress),
        );
        let name = format!("{} ({side}->)", e.kind.name);
        println!(
            "      {name:<52} {action:<6} {:<34} {:>6} {:>8}",
            e.decided_by, t.sent, t.arrived
        );
    }
}

fn print_cleanup(pod: &Pod, del_file: &Path, scratch: &Scratch) {
    println!(
        "[5/5] --keep: the pod stays up. Look around with `ip netns exec {} ip -br addr`.",
        pod.netns.name
    );
    println!(
        "      To remove it (CNI DEL as the runtime sends it, then the namespaces and state):"
    );
    println!(
        "        ip netns exec {} env CNI_COMMAND=DEL CNI_CONTAINERID={} CNI_NETNS={} CNI_IFNAME=eth0 CNI_PATH={REFERENCE_PLUGINS} {} < {}",
        pod.node.name,
        pod.container_id,
        pod.netns.path().display(),
        pod.multus.display(),
        del_file.display()
    );
    println!(
        "        ip netns del {}; ip netns del {}; rm -r {}",
        pod.netns.name,
        pod.node.name,
        scratch.path.display()
    );
}

/// The short benchmark table (`super::bench`), its files in a directory removed afterwards.
fn benchmark() -> Result<(), String> {
    let exe = sibling("throughput")?;
    let dir = Scratch::create(
        std::env::temp_dir().join(format!("multiplane-demo-bench-{}", std::process::id())),
    )?;
    super::bench::run(&exe, &dir.path)
}
