//! Throughput of the `dataplane` crate against `dpdk-testpmd` (io mode), measured in the same run on
//! the same vdevs, alternating rounds so machine noise hits every side alike. Two workloads:
//! - `null`: io forwarding between `net_null0` and `net_null1` (pure rx/tx cost);
//! - `replay`: the seed's VLAN 210 traffic replayed forever by two `net_pcap` ports
//!   (`infinite_rx=1`), forwarded by testpmd (io), by our io loop, and judged by `vlan-firewall`
//!   with the seed's rules (`dataplane/tests/firewall_rules_vlan210.json`).
//!
//! - `acl`: `vlan-firewall` against DPDK's own ACL forwarder, `l3fwd --lookup=acl` (built from
//!   Debian's `dpdk-doc` examples by `benches/l3fwd/build.sh`), with the same ClassBench-style rules
//!   (acl, fw and ipc shapes at 10, 1 000 and 10 000 rules, and one allow-all rule fed each shape's
//!   1 000-rule traffic) and traffic on the same
//!   `net_pcap` vdevs, both measured through DPDK telemetry, after a check that both forward exactly
//!   the frames the reference model allows.
//! - `kernel`: the same rule sets and traffic through nftables on the kernel's netdev ingress hook
//!   between veths (`benches::kernel_path`), checked by its allow/drop counters, at saturation.
//!
//! - `cores`: the 1 000-rule sets of the acl case on two worker cores (one `net_pcap` queue pair
//!   each) against one, for both forwarders.
//!
//! `throughput [--seconds N] [--rounds N] [--quick] [--case io|acl|kernel]... [--sizes N,N..]
//! [--shapes acl,fw,ipc] [--out DIR]` prints a table per workload: median/min/max Mpps per side, the
//! ratios and the targets met or not, and writes `throughput.json`, `.png` and `.svg` into DIR.
//! `--sizes` and `--shapes` choose the rule sets of the acl and kernel cases (default 1, 10, 1 000
//! and 10 000 rules of every shape; size 1 is one allow-all rule). `--quick` (CI) runs every case for 1 round of 3 s unless told
//! otherwise. `throughput --chart JSON STEM` draws a results file's chart again. Our io loop runs in a child process of this binary
//! (`throughput --child`), because the EAL initialises once per process; `vlan-firewall` must sit next
//! to this binary (`make demo` builds both).

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use benches::acl_peer::{self, Forwarder, Forwarders};
use benches::kernel_path::{self, Bed};
use benches::report::{self, max, median, met, min, Case, Side as Measured};
use dataplane::firewall::classbench::Shape;
use dataplane::firewall::synth::{frame_for, Rng};
use dataplane::firewall::{parse_rule_file, Side};
use dataplane::{pcap, Eal, MbufBatch, Mempool, Port, PortConfig, RxQueue, TxQueue};
use std::path::{Path, PathBuf};

/// Where `throughput.json`, `throughput.png` and `throughput.svg` go unless `--out DIR` says.
const DEFAULT_OUT: &str = "/var/tmp/multiplane-bench";

/// Per-second samples taken before the rate settles are discarded.
const WARMUP_SAMPLES: usize = 1;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = if args.get(1).map(String::as_str) == Some("--child") {
        child(&args[2..])
    } else {
        parent(&args[1..])
    };
    if let Err(e) = result {
        eprintln!("throughput: {e}");
        std::process::exit(1);
    }
}

/// EAL memory arguments: 512 MB of hugepages when a hugetlbfs is mounted with that much free, else
/// `--no-huge`.
fn memory_args() -> Vec<String> {
    benches::eal_memory::args(512, 512, 1024)
}

/// The seed's VLAN 210 rule file (also shown in the README).
const SEED_RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../dataplane/tests/firewall_rules_vlan210.json"
);

/// Frames per replay file: enough to defeat caches, few enough to preload.
const REPLAY_FRAMES: usize = 2048;

/// Two ports, as EAL `--vdev` specs and the names to open them by.
struct Workload {
    name: &'static str,
    vdevs: [String; 2],
    ports: [String; 2],
}

impl Workload {
    fn eal_args(&self) -> Vec<String> {
        let mut args: Vec<String> = ["-l", "0-1", "--no-pci", "--log-level", "error"]
            .map(String::from)
            .to_vec();
        for vdev in &self.vdevs {
            args.extend(["--vdev".to_string(), vdev.clone()]);
        }
        args.extend(memory_args());
        args
    }
}

fn null_workload() -> Workload {
    Workload {
        name: "null: io forwarding net_null0 <-> net_null1",
        vdevs: ["net_null0".into(), "net_null1".into()],
        ports: ["net_null0".into(), "net_null1".into()],
    }
}

/// Writes the seed scenario's traffic (frames aimed at the VLAN 210 rules, at most 1514 bytes) into
/// one pcap per arrival port under `dir`, and returns the replaying workload.
fn replay_workload(dir: &Path) -> Result<Workload, String> {
    let text = std::fs::read_to_string(SEED_RULES).map_err(|e| format!("{SEED_RULES}: {e}"))?;
    let rules = parse_rule_file(&text).map_err(|e| format!("{SEED_RULES}: {e}"))?;
    let mut rng = Rng::new(210);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    while a.len() < REPLAY_FRAMES || b.len() < REPLAY_FRAMES {
        let (side, frame) = frame_for(&mut rng, &rules);
        let list = if side == Side::A { &mut a } else { &mut b };
        if frame.len() <= 1514 && list.len() < REPLAY_FRAMES {
            list.push(frame);
        }
    }
    let mut vdevs = Vec::new();
    for (i, frames) in [a, b].iter().enumerate() {
        let file = dir.join(format!("port{i}.pcap"));
        let out = std::fs::File::create(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        pcap::write(out, frames).map_err(|e| format!("{}: {e}", file.display()))?;
        vdevs.push(format!(
            "net_pcap{i},rx_pcap={},infinite_rx=1",
            file.display()
        ));
    }
    Ok(Workload {
        name: "replay: seed VLAN 210 traffic from two net_pcap ports (infinite_rx)",
        vdevs: [vdevs[0].clone(), vdevs[1].clone()],
        ports: ["net_pcap0".into(), "net_pcap1".into()],
    })
}

struct Options {
    seconds: u64,
    rounds: u32,
    /// Cases to run (`io`, `acl`, `kernel`); empty = all.
    cases: Vec<String>,
    /// Where the JSON file and the chart go.
    out: PathBuf,
    /// Rule counts of the acl and kernel cases.
    sizes: Vec<usize>,
    /// ClassBench shapes of the acl and kernel cases; empty = all.
    shapes: Vec<String>,
}

impl Options {
    fn runs(&self, case: &str) -> bool {
        self.cases.is_empty() || self.cases.iter().any(|c| c == case)
    }

    /// The rule sets of the shapes asked for.
    fn select(&self, cases: Vec<acl_peer::RuleCase>) -> Vec<acl_peer::RuleCase> {
        let wanted = |c: &acl_peer::RuleCase| {
            self.shapes.is_empty() || self.shapes.iter().any(|s| s == c.shape.name())
        };
        cases.into_iter().filter(wanted).collect()
    }
}

fn parse(args: &[String]) -> Result<Options, String> {
    let quick = args.iter().any(|a| a == "--quick");
    let mut o = if quick {
        Options {
            seconds: 3,
            rounds: 1,
            cases: Vec::new(),
            out: PathBuf::from(DEFAULT_OUT),
            sizes: ACL_SIZES.to_vec(),
            shapes: Vec::new(),
        }
    } else {
        Options {
            seconds: 4,
            rounds: 3,
            cases: Vec::new(),
            out: PathBuf::from(DEFAULT_OUT),
            sizes: ACL_SIZES.to_vec(),
            shapes: Vec::new(),
        }
    };
    let mut it = args.iter().filter(|a| *a != "--quick");
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: std::num::ParseIntError| format!("{flag}: {e}");
        match flag.as_str() {
            "--seconds" => o.seconds = value.parse().map_err(bad)?,
            "--rounds" => o.rounds = value.parse().map_err(bad)?,
            "--case" if ["io", "acl", "kernel"].contains(&value.as_str()) => {
                o.cases.push(value.clone())
            }
            "--case" => return Err(format!("--case: {value:?} is not io, acl or kernel")),
            "--out" => o.out = PathBuf::from(value),
            "--sizes" => {
                let sizes: Result<Vec<usize>, _> = value.split(',').map(str::parse).collect();
                o.sizes = sizes.map_err(bad)?;
                if o.sizes.is_empty() || o.sizes.contains(&0) {
                    return Err(format!("--sizes: {value:?} must list rule counts above 0"));
                }
            }
            "--shapes" => {
                for shape in value.split(',') {
                    if !Shape::ALL.iter().any(|s| s.name() == shape) {
                        return Err(format!("--shapes: {shape:?} is not acl, fw or ipc"));
                    }
                    o.shapes.push(shape.to_string());
                }
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    if o.seconds <= WARMUP_SAMPLES as u64 {
        return Err(format!("--seconds must be more than {WARMUP_SAMPLES}"));
    }
    Ok(o)
}

fn parent(args: &[String]) -> Result<(), String> {
    if let [flag, json, out] = args {
        if flag == "--chart" {
            return chart_again(Path::new(json), Path::new(out));
        }
    }
    let opts = parse(args)?;
    let firewall = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .with_file_name("vlan-firewall");
    if !firewall.exists() {
        return Err(format!(
            "{} is missing: cargo build --release -p dataplane --bin vlan-firewall",
            firewall.display()
        ));
    }
    let dir = std::env::temp_dir().join(format!("multiplane-throughput-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = measure_all(&opts, &firewall, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn measure_all(opts: &Options, firewall: &Path, dir: &Path) -> Result<(), String> {
    let mut cases = Vec::new();
    if opts.runs("io") {
        measure_io(opts, firewall, dir, &mut cases)?;
    }
    if opts.runs("acl") {
        measure_acl_peer(opts, firewall, dir, &mut cases)?;
    }
    if opts.runs("kernel") {
        measure_kernel(opts, firewall, dir, &mut cases)?;
    }
    write_report(opts, &cases)
}

/// Writes the JSON file and the chart of `cases` into `--out`.
fn write_report(opts: &Options, cases: &[Case]) -> Result<(), String> {
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let meta = serde_json::json!({
        "rounds": opts.rounds,
        "seconds": opts.seconds,
        "warmup_seconds_dropped": WARMUP_SAMPLES,
        "cpu": cpu,
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
    });
    let json = opts.out.join("throughput.json");
    let text =
        serde_json::to_string_pretty(&report::to_json(meta, cases)).map_err(|e| e.to_string())?;
    std::fs::write(&json, text).map_err(|e| format!("{}: {e}", json.display()))?;
    let title = format!(
        "throughput, {} rounds x {} s, {cpu}",
        opts.rounds, opts.seconds
    );
    report::chart(cases, &title, &opts.out.join("throughput"))?;
    println!();
    println!(
        "results: {} and throughput.png / throughput.svg beside it",
        json.display()
    );
    Ok(())
}

/// `--chart JSON STEM`: draws the chart of a results file again, as STEM.png and STEM.svg.
fn chart_again(json: &Path, stem: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(json).map_err(|e| format!("{}: {e}", json.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", json.display()))?;
    let cases = report::from_json(&value)?;
    let meta = &value["meta"];
    let title = format!(
        "throughput, {} rounds x {} s, {}",
        meta["rounds"],
        meta["seconds"],
        meta["cpu"].as_str().unwrap_or("")
    );
    report::chart(&cases, &title, stem)
}

fn measure_io(
    opts: &Options,
    firewall: &Path,
    dir: &Path,
    cases: &mut Vec<Case>,
) -> Result<(), String> {
    for workload in [null_workload(), replay_workload(dir)?] {
        let with_firewall = workload.name.starts_with("replay");
        let (mut testpmd, mut ours, mut fw) = (Vec::new(), Vec::new(), Vec::new());
        for round in 1..=opts.rounds {
            testpmd.extend(run_testpmd(&workload, opts.seconds)?);
            ours.extend(run_child(&workload, opts.seconds)?);
            if with_firewall {
                fw.extend(run_firewall(firewall, &workload, opts.seconds)?);
            }
            eprintln!(
                "throughput: {} round {round}/{} done",
                workload.name, opts.rounds
            );
        }
        println!();
        println!("{}", workload.name);
        println!(
            "  1 worker lcore, {} rounds x {} s (first {WARMUP_SAMPLES} s of each dropped)",
            opts.rounds, opts.seconds
        );
        println!("  {:<34} {:>10} {:>10} {:>10}", "", "median", "min", "max");
        let row = |name: &str, s: &[f64]| {
            println!(
                "  {name:<34} {:>10.3} {:>10.3} {:>10.3}  Mpps",
                median(s),
                min(s),
                max(s)
            );
        };
        row("dpdk-testpmd (io)", &testpmd);
        row("multiplane dataplane (io)", &ours);
        let io = median(&ours) / median(&testpmd);
        println!(
            "  ratio multiplane io / testpmd io (median): {io:.2} (target >= 0.95: {})",
            met(io >= 0.95)
        );
        if with_firewall {
            row("multiplane vlan-firewall (seed)", &fw);
            println!(
                "  ratio vlan-firewall / testpmd io (median): {:.2}",
                median(&fw) / median(&testpmd)
            );
        }
        let side = |name: &str, samples: Vec<f64>| Measured {
            name: name.to_string(),
            samples,
        };
        let mut sides = vec![side("multiplane io", ours), side("testpmd io", testpmd)];
        if with_firewall {
            sides.push(side("vlan-firewall (seed rules)", fw));
        }
        let label = workload
            .name
            .split(':')
            .next()
            .unwrap_or(workload.name)
            .to_string();
        cases.push(Case {
            workload: "io".into(),
            label,
            sides,
            verdict: Some((io, ">= 0.95".into(), io >= 0.95)),
        });
    }
    Ok(())
}

/// Rule counts of the ClassBench-style sets (1: one allow-all rule, see `acl_peer::cases`).
const ACL_SIZES: [usize; 4] = [1, 10, 1000, 10000];

/// Rule count of the sets (one per shape) also measured on two worker cores.
const CORES_SIZE: usize = 1000;

/// Firewall vs `l3fwd --lookup=acl`: every rule set checked first (both forward exactly the
/// reference model's frames), then measured in alternating rounds (the order flips each round), on
/// one worker core, and the `CORES_SIZE` sets also on two.
fn measure_acl_peer(
    opts: &Options,
    firewall: &Path,
    dir: &Path,
    out: &mut Vec<Case>,
) -> Result<(), String> {
    let fwd = Forwarders {
        firewall: firewall.to_path_buf(),
        l3fwd: Some(benches::l3fwd::build()?),
        memory: memory_args(),
    };
    let cases = opts.select(acl_peer::cases(&dir.join("acl"), &opts.sizes)?);
    let mut forwarded = Vec::new();
    for case in &cases {
        forwarded.push(case.verify(&fwd)?);
        eprintln!(
            "throughput: {}: both forward the same {} of {} frames",
            case.label,
            forwarded.last().unwrap_or(&0),
            acl_peer::FRAMES
        );
    }
    // Per case: (firewall, l3fwd) on one core, and on two for the `CORES_SIZE` sets.
    let mut rates = vec![(Vec::new(), Vec::new()); cases.len()];
    let mut two = vec![(Vec::new(), Vec::new()); cases.len()];
    for round in 1..=opts.rounds {
        for ((case, (ours, peer)), (ours2, peer2)) in
            cases.iter().zip(rates.iter_mut()).zip(two.iter_mut())
        {
            let run = |side, cores| {
                steady(
                    case.measure(&fwd, side, cores, opts.seconds)?,
                    &format!("{side:?} {} on {cores} core(s)", case.label),
                )
            };
            let mut runs: Vec<(Forwarder, usize, &mut Vec<f64>)> =
                vec![(Forwarder::Firewall, 1, ours), (Forwarder::L3fwd, 1, peer)];
            if case.rules == CORES_SIZE {
                runs.extend([
                    (Forwarder::Firewall, 2, ours2),
                    (Forwarder::L3fwd, 2, peer2),
                ]);
            }
            if round % 2 == 0 {
                runs.reverse();
            }
            for (side, cores, samples) in runs {
                samples.extend(run(side, cores)?);
            }
        }
        eprintln!(
            "throughput: firewall vs l3fwd-acl round {round}/{} done",
            opts.rounds
        );
    }
    println!();
    println!("acl: vlan-firewall vs dpdk l3fwd --lookup=acl, same rules and flows, two net_pcap ports (infinite_rx)");
    println!(
        "  the firewall's rules sit in the VLAN {} table and its traffic carries that tag; l3fwd cannot match VLANs, so it gets the same rules and the same frames untagged (4 bytes shorter)",
        acl_peer::VLAN
    );
    println!(
        "  1 worker core each, {} rounds x {} s (first {WARMUP_SAMPLES} s of each dropped); checked on {} frames, measured on the first {}",
        opts.rounds,
        opts.seconds,
        acl_peer::FRAMES,
        acl_peer::RATE_FRAMES
    );
    println!("| rules | forwarded (both = model) | vlan-firewall Mpps median (min-max) | l3fwd-acl Mpps median (min-max) | ns/pkt firewall / l3fwd | ratio | target >= 1 |");
    println!("|---|---|---|---|---|---|---|");
    let ns = |s: &[f64]| 1e3 / median(s);
    let range = |s: &[f64]| format!("{:.2} ({:.2}-{:.2})", median(s), min(s), max(s));
    for ((case, (ours, peer)), n) in cases.iter().zip(&rates).zip(&forwarded) {
        let ratio = median(ours) / median(peer);
        println!(
            "| {} | {n} | {} | {} | {:.1} / {:.1} | {ratio:.2} | {} |",
            case.label,
            range(ours),
            range(peer),
            ns(ours),
            ns(peer),
            met(ratio >= 1.0)
        );
    }
    // Rule scaling: the largest set's cost per packet against the smallest's, per shape.
    // The 1-rule case allows everything (not a ClassBench set): scaling starts from the smallest set.
    let sets = || opts.sizes.iter().copied().filter(|&n| n > 1);
    let small = sets().min().unwrap_or(0);
    let large = sets().max().unwrap_or(0);
    for shape in cases.iter().filter(|c| c.rules == small && small < large) {
        let pick = |n| {
            cases
                .iter()
                .position(|c| c.shape == shape.shape && c.rules == n)
        };
        let (Some(s), Some(l)) = (pick(small), pick(large)) else {
            continue;
        };
        let (fw, l3) = (
            ns(&rates[l].0) / ns(&rates[s].0),
            ns(&rates[l].1) / ns(&rates[s].1),
        );
        println!(
            "  {}: cost per packet at {large} rules vs {small}: vlan-firewall {fw:.2}x (target <= 1.5: {}), l3fwd-acl {l3:.2}x",
            shape.shape.name(),
            met(fw <= 1.5)
        );
    }
    println!();
    println!("cores: the {CORES_SIZE}-rule sets on 2 worker cores (one net_pcap queue pair each, the queues replaying halves of the same frames) vs 1");
    println!("  this machine has {} CPUs in all: with 2 workers nothing is left for the rest (telemetry, other users), and net_pcap's replay (a copy per frame) runs on the workers themselves", std::thread::available_parallelism().map_or(0, |n| n.get()));
    println!("| rules | vlan-firewall 2 cores Mpps | scaling 2/1 | target >= 1.8 | l3fwd-acl 2 cores Mpps | scaling 2/1 | firewall / l3fwd on 2 cores |");
    println!("|---|---|---|---|---|---|---|");
    for ((case, (ours, peer)), (ours2, peer2)) in cases.iter().zip(&rates).zip(&two) {
        if ours2.is_empty() {
            continue;
        }
        let (fw, l3) = (median(ours2) / median(ours), median(peer2) / median(peer));
        println!(
            "| {} | {} | {fw:.2} | {} | {} | {l3:.2} | {:.2} |",
            case.label,
            range(ours2),
            met(fw >= 1.8),
            range(peer2),
            median(ours2) / median(peer2)
        );
        out.push(Case {
            workload: "cores".into(),
            label: format!("{} x2", case.label),
            sides: vec![
                Measured {
                    name: "vlan-firewall".into(),
                    samples: ours2.clone(),
                },
                Measured {
                    name: "l3fwd --lookup=acl".into(),
                    samples: peer2.clone(),
                },
            ],
            verdict: Some((fw, ">= 1.8 (firewall 2 cores / 1 core)".into(), fw >= 1.8)),
        });
    }
    for (case, (ours, peer)) in cases.iter().zip(rates) {
        let ratio = median(&ours) / median(&peer);
        out.push(Case {
            workload: "acl".into(),
            label: case.label.clone(),
            sides: vec![
                Measured {
                    name: "vlan-firewall".into(),
                    samples: ours,
                },
                Measured {
                    name: "l3fwd --lookup=acl".into(),
                    samples: peer,
                },
            ],
            verdict: Some((ratio, ">= 1".into(), ratio >= 1.0)),
        });
    }
    Ok(())
}

/// The kernel path (nftables on netdev ingress between veths, `benches::kernel_path`) with the acl
/// case's rule sets: each checked first (the chain's allow/drop counters equal the reference model's
/// on the checked frames, sent one per burst), then driven at saturation; the gain is our firewall's
/// Mpps on one core (from the acl case of this run) over the kernel's frames per CPU-second.
fn measure_kernel(
    opts: &Options,
    firewall: &Path,
    dir: &Path,
    out: &mut Vec<Case>,
) -> Result<(), String> {
    let cases = opts.select(acl_peer::cases(&dir.join("kernel"), &opts.sizes)?);
    let bed = Bed::new(&format!("mpk{}", std::process::id()))?;
    let memory = memory_args();
    let mut rows = Vec::new();
    for case in &cases {
        let rules = kernel_path::ruleset(case.rule_list(), Some(acl_peer::VLAN))?;
        let rules_file = case.file("nft.rules");
        bed.load(&rules, &rules_file)?;
        let allowed = case.expected().len() as u64;
        let before = bed.arrived()?;
        let gen = bed.generator(
            &case.file("traffic-vlan.pcap"),
            false,
            1,
            &memory,
            &case.file("gen-check.log"),
        )?;
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while bed.arrived()? - before < acl_peer::FRAMES as u64
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        gen.stop()?;
        let verdicts = bed.verdicts()?;
        let want = (allowed, acl_peer::FRAMES as u64 - allowed);
        if verdicts != want {
            return Err(format!(
                "{}: nftables allowed/dropped {verdicts:?}, the reference model {want:?}",
                case.label
            ));
        }
        eprintln!(
            "throughput: kernel {}: nftables allows {} and drops {} of {} frames, as the model",
            case.label,
            want.0,
            want.1,
            acl_peer::FRAMES
        );
        rows.push((Vec::new(), Vec::new()));
    }
    for round in 1..=opts.rounds {
        for (case, (mpps, ns)) in cases.iter().zip(rows.iter_mut()) {
            bed.load(
                &kernel_path::ruleset(case.rule_list(), Some(acl_peer::VLAN))?,
                &case.file("nft.rules"),
            )?;
            let gen = bed.generator(
                &case.file("rate-vlan.pcap"),
                true,
                32,
                &memory,
                &case.file("gen-rate.log"),
            )?;
            let samples = kernel_path::sample(&bed, opts.seconds)?;
            gen.stop()?;
            for s in samples.into_iter().skip(WARMUP_SAMPLES) {
                mpps.push(s.mpps);
                ns.push(s.ns_per_packet);
            }
        }
        eprintln!("throughput: kernel path round {round}/{} done", opts.rounds);
    }
    println!();
    println!("kernel: nftables netdev ingress on a veth, fwd to the next veth, same rules and traffic; generator testpmd io net_pcap -> net_af_packet on CPU 1");
    println!("  {} rounds x {} s; kernel CPU = system + irq + softirq of CPU 1 (includes the generator's AF_PACKET sends and both veth hops)", opts.rounds, opts.seconds);
    println!("  both judge the same frames tagged with VLAN {0}: the kernel's chain matches `vlan id {0}` on every rule, vlan-firewall holds the rules in its VLAN {0} table (its numbers from the acl case)", acl_peer::VLAN);
    println!("| rules | frames judged Mpps median (min-max) | kernel CPU ns/pkt median | kernel Mpps per core | vlan-firewall Mpps (1 core) | gain | target >= 10 |");
    println!("|---|---|---|---|---|---|---|");
    // Our side of the gain: the acl case's firewall on one core, or measured here when it did not run.
    let fwd = Forwarders {
        firewall: firewall.to_path_buf(),
        l3fwd: None,
        memory,
    };
    let mut ours = Vec::new();
    for case in &cases {
        let from_acl = out
            .iter()
            .find(|c| c.workload == "acl" && c.label == case.label);
        ours.push(match from_acl {
            Some(c) => c.sides[0].samples.clone(),
            None => {
                let mut samples = Vec::new();
                for _ in 0..opts.rounds {
                    samples.extend(steady(
                        case.measure(&fwd, Forwarder::Firewall, 1, opts.seconds)?,
                        "vlan-firewall",
                    )?);
                }
                samples
            }
        });
    }
    for ((case, (mpps, ns)), fw) in cases.iter().zip(rows).zip(ours) {
        let per_core = 1e3 / median(&ns);
        let ours = Some(median(&fw));
        let gain = ours.map(|o| o / per_core);
        println!(
            "| {} | {:.3} ({:.3}-{:.3}) | {:.0} | {per_core:.3} | {} | {} | {} |",
            case.label,
            median(&mpps),
            min(&mpps),
            max(&mpps),
            median(&ns),
            ours.map_or(String::new(), |o| format!("{o:.2}")),
            gain.map_or("-".into(), |g| format!("{g:.1}")),
            gain.map_or("-", |g| met(g >= 10.0)),
        );
        out.push(Case {
            workload: "kernel".into(),
            label: case.label.clone(),
            sides: vec![
                Measured {
                    name: "nftables (frames judged)".into(),
                    samples: mpps,
                },
                Measured {
                    name: "nftables per kernel CPU-second".into(),
                    samples: ns.iter().map(|n| 1e3 / n).collect(),
                },
                Measured {
                    name: "vlan-firewall".into(),
                    samples: fw,
                },
            ],
            verdict: gain.map(|g| {
                (
                    g,
                    ">= 10 (firewall Mpps / kernel Mpps per core)".into(),
                    g >= 10.0,
                )
            }),
        });
    }
    Ok(())
}

/// Runs testpmd for `seconds` with per-second stats; returns total Tx Mpps of each second.
fn run_testpmd(workload: &Workload, seconds: u64) -> Result<Vec<f64>, String> {
    let mut cmd = Command::new("dpdk-testpmd");
    cmd.args(workload.eal_args()).args([
        "--",
        "--forward-mode=io",
        "--nb-cores=1",
        "--total-num-mbufs=16383",
        "--stats-period",
        "1",
    ]);
    let out = run_for(cmd, seconds + STARTUP_SLACK)?;
    // Each "Port statistics" block has one "Tx-pps: N" line per port.
    let mut samples = Vec::new();
    for block in out.split("Port statistics").skip(1) {
        let tx: u64 = block
            .lines()
            .filter_map(|l| l.trim().strip_prefix("Tx-pps:"))
            .filter_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .sum();
        samples.push(tx as f64 / 1e6);
    }
    first(steady(samples, "dpdk-testpmd")?, seconds)
}

fn run_child(workload: &Workload, seconds: u64) -> Result<Vec<f64>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.arg("--child")
        .arg(seconds.to_string())
        .args(&workload.ports)
        .args(workload.eal_args());
    let out = run_for(cmd, seconds + 30)?;
    let samples = out
        .lines()
        .filter_map(|l| l.strip_prefix("mpps "))
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    steady(samples, "multiplane child")
}

/// Runs `vlan-firewall` with the seed's rules for `seconds`; returns its per-second rx Mpps (frames
/// judged).
fn run_firewall(firewall: &Path, workload: &Workload, seconds: u64) -> Result<Vec<f64>, String> {
    let mut cmd = Command::new(firewall);
    cmd.args(workload.eal_args())
        .args(["--", "--rules", SEED_RULES, "--stats-interval", "1"]);
    cmd.args([
        "--port-a",
        &workload.ports[0],
        "--port-b",
        &workload.ports[1],
    ]);
    let out = run_for(cmd, seconds + STARTUP_SLACK)?;
    let samples = out
        .lines()
        .filter_map(|l| l.split("last 1s: ").nth(1))
        .filter_map(|v| v.trim().trim_end_matches("Mpps").trim().parse().ok())
        .collect();
    first(steady(samples, "vlan-firewall")?, seconds)
}

/// Runs `cmd`, sends SIGINT after `seconds` unless it has exited by then (testpmd stops on it),
/// returns stdout.
fn run_for(mut cmd: Command, seconds: u64) -> Result<String, String> {
    let name = format!("{:?}", cmd.get_program());
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{name}: {e}"))?;
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (exited, wait) = std::sync::mpsc::channel::<()>();
    let timer = std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            wait.recv_timeout(Duration::from_secs(seconds))
        {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        }
    });
    let out = child.wait_with_output();
    drop(exited);
    let _ = timer.join();
    let out = out.map_err(|e| format!("{name}: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(3).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "{name} exited with {}: {}",
            out.status,
            tail.join(" | ")
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Seconds a program stopped by SIGINT gets beyond the measured ones: on a loaded machine its start
/// (EAL, mempool, ports) may take that long before the first sample.
const STARTUP_SLACK: u64 = 3;

/// The first steady samples of a `seconds`-long measurement, as many as the sides that stop themselves
/// give.
fn first(mut samples: Vec<f64>, seconds: u64) -> Result<Vec<f64>, String> {
    samples.truncate(seconds as usize - WARMUP_SAMPLES);
    Ok(samples)
}

fn steady(samples: Vec<f64>, who: &str) -> Result<Vec<f64>, String> {
    let steady: Vec<f64> = samples.into_iter().skip(WARMUP_SAMPLES).collect();
    if steady.is_empty() {
        return Err(format!("{who} printed no rate samples"));
    }
    Ok(steady)
}

/// Child: `--child SECONDS PORT_A PORT_B [EAL args]`: forwards both ways and prints `mpps X` every
/// second.
fn child(args: &[String]) -> Result<(), String> {
    let [seconds, a, b, eal_args @ ..] = args else {
        return Err("usage: --child SECONDS PORT_A PORT_B [EAL args]".into());
    };
    let seconds: u64 = seconds.parse().map_err(|_| "--child needs SECONDS")?;
    let eal = Eal::init(eal_args).map_err(|e| e.to_string())?;
    let leaked = forward_for(&eal, seconds, [a, b]).map_err(|e| e.to_string())?;
    if leaked != 0 {
        return Err(format!("{leaked} mbufs still in use after shutdown"));
    }
    Ok(())
}

/// Moves one burst from `rx` to `tx`, freeing what tx refuses; returns packets sent.
fn forward_burst(rx: &mut RxQueue, tx: &mut TxQueue, batch: &mut MbufBatch) -> u64 {
    rx.rx_burst(batch);
    let sent = tx.tx_burst(batch) as u64;
    batch.drain().for_each(drop);
    sent
}

/// Forwards for `seconds`, prints port stats, and returns how many mbufs are still in use.
fn forward_for(eal: &Eal, seconds: u64, ports: [&String; 2]) -> dataplane::Result<u32> {
    let pool = Mempool::new(eal, "fwd_pool", 16383, 256)?;
    let mut a = Port::open(eal, ports[0])?;
    let mut b = Port::open(eal, ports[1])?;
    let (mut a_rx, mut a_tx) = a.configure(&PortConfig::with_queues(1), &pool)?;
    let (mut b_rx, mut b_tx) = b.configure(&PortConfig::with_queues(1), &pool)?;
    a.start()?;
    b.start()?;

    let stop = AtomicBool::new(false);
    let forwarded = AtomicU64::new(0);
    let queues = (
        a_rx.remove(0),
        a_tx.remove(0),
        b_rx.remove(0),
        b_tx.remove(0),
    );
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut last = 0;
            for _ in 0..seconds {
                std::thread::sleep(Duration::from_secs(1));
                let now = forwarded.load(Ordering::Relaxed);
                println!("mpps {:.3}", (now - last) as f64 / 1e6);
                last = now;
            }
            stop.store(true, Ordering::Relaxed);
        });
        eal.run_on_workers(vec![queues], |(mut a_rx, mut a_tx, mut b_rx, mut b_tx)| {
            let mut batch = MbufBatch::new();
            let mut total = 0u64;
            while !stop.load(Ordering::Relaxed) {
                total += forward_burst(&mut a_rx, &mut b_tx, &mut batch);
                total += forward_burst(&mut b_rx, &mut a_tx, &mut batch);
                forwarded.store(total, Ordering::Relaxed);
            }
        })
    })?;
    for port in [&a, &b] {
        let s = port.stats()?;
        println!(
            "port {} {}: rx {} tx {} tx_errors {}",
            port.id(),
            port.name(),
            s.rx_packets,
            s.tx_packets,
            s.tx_errors
        );
    }
    drop((a, b));
    Ok(pool.in_use())
}
