//! Throughput of the `dataplane` crate against `dpdk-testpmd` (io mode), measured in the same run on
//! the same vdevs, alternating rounds so machine noise hits every side alike. Two workloads:
//! - `null`: io forwarding between `net_null0` and `net_null1` (pure rx/tx cost);
//! - `replay`: the seed's VLAN 210 traffic replayed forever by two `net_pcap` ports
//!   (`infinite_rx=1`), forwarded by testpmd (io), by our io loop, and judged by `vlan-firewall`
//!   with the seed's rules (`dataplane/tests/firewall_rules_vlan210.json`).
//!
//! `throughput [--seconds N] [--rounds N]` prints a table per workload: median/min/max Mpps per
//! side and the ratios. Our io loop runs in a child process of this binary (`throughput --child`),
//! because the EAL initialises once per process; `vlan-firewall` must sit next to this binary
//! (`make demo` builds both).

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use dataplane::firewall::synth::{frame_for, Rng};
use dataplane::firewall::{parse_rule_file, Side};
use dataplane::{pcap, Eal, MbufBatch, Mempool, Port, PortConfig, RxQueue, TxQueue};
use std::path::Path;

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

/// EAL memory arguments: hugepages when a hugetlbfs is mounted with free pages, else `--no-huge`.
fn memory_args() -> Vec<String> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let free_pages = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("HugePages_Free:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let mounted = std::fs::read_to_string("/proc/mounts").unwrap_or_default().contains(" hugetlbfs ");
    if mounted && free_pages >= 256 {
        ["--in-memory", "-m", "512"].map(String::from).to_vec()
    } else {
        ["--no-huge", "--no-shconf", "-m", "1024"].map(String::from).to_vec()
    }
}

/// The seed's VLAN 210 rule file (also shown in the README).
const SEED_RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../dataplane/tests/firewall_rules_vlan210.json");

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
        let mut args: Vec<String> = ["-l", "0-1", "--no-pci", "--log-level", "error"].map(String::from).to_vec();
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
        vdevs.push(format!("net_pcap{i},rx_pcap={},infinite_rx=1", file.display()));
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
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options { seconds: 4, rounds: 3 };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: std::num::ParseIntError| format!("{flag}: {e}");
        match flag.as_str() {
            "--seconds" => o.seconds = value.parse().map_err(bad)?,
            "--rounds" => o.rounds = value.parse().map_err(bad)?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if o.seconds <= WARMUP_SAMPLES as u64 {
        return Err(format!("--seconds must be more than {WARMUP_SAMPLES}"));
    }
    Ok(o)
}

fn parent(args: &[String]) -> Result<(), String> {
    let opts = parse(args)?;
    let firewall = std::env::current_exe().map_err(|e| e.to_string())?.with_file_name("vlan-firewall");
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
    for workload in [null_workload(), replay_workload(dir)?] {
        let with_firewall = workload.name.starts_with("replay");
        let (mut testpmd, mut ours, mut fw) = (Vec::new(), Vec::new(), Vec::new());
        for round in 1..=opts.rounds {
            testpmd.extend(run_testpmd(&workload, opts.seconds)?);
            ours.extend(run_child(&workload, opts.seconds)?);
            if with_firewall {
                fw.extend(run_firewall(firewall, &workload, opts.seconds)?);
            }
            eprintln!("throughput: {} round {round}/{} done", workload.name, opts.rounds);
        }
        println!();
        println!("{}", workload.name);
        println!("  1 worker lcore, {} rounds x {} s (first {WARMUP_SAMPLES} s of each dropped)", opts.rounds, opts.seconds);
        println!("  {:<34} {:>10} {:>10} {:>10}", "", "median", "min", "max");
        let row = |name: &str, s: &[f64]| {
            println!("  {name:<34} {:>10.3} {:>10.3} {:>10.3}  Mpps", median(s), min(s), max(s));
        };
        row("dpdk-testpmd (io)", &testpmd);
        row("multiplane dataplane (io)", &ours);
        println!("  ratio multiplane io / testpmd io (median): {:.2}", median(&ours) / median(&testpmd));
        if with_firewall {
            row("multiplane vlan-firewall (seed)", &fw);
            println!("  ratio vlan-firewall / testpmd io (median): {:.2}", median(&fw) / median(&testpmd));
        }
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
    let out = run_for(cmd, seconds)?;
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
    steady(samples, "dpdk-testpmd")
}

fn run_child(workload: &Workload, seconds: u64) -> Result<Vec<f64>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.arg("--child").arg(seconds.to_string()).args(&workload.ports).args(workload.eal_args());
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
    cmd.args(workload.eal_args()).args(["--", "--rules", SEED_RULES, "--stats-interval", "1"]);
    cmd.args(["--port-a", &workload.ports[0], "--port-b", &workload.ports[1]]);
    let out = run_for(cmd, seconds)?;
    let samples = out
        .lines()
        .filter_map(|l| l.split("last 1s: ").nth(1))
        .filter_map(|v| v.trim().trim_end_matches("Mpps").trim().parse().ok())
        .collect();
    steady(samples, "vlan-firewall")
}

/// Runs `cmd`, sends SIGINT after `seconds` (testpmd stops on it), returns stdout.
fn run_for(mut cmd: Command, seconds: u64) -> Result<String, String> {
    let name = format!("{:?}", cmd.get_program());
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().map_err(|e| format!("{name}: {e}"))?;
    let pid = child.id();
    let timer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(seconds));
        let _ = Command::new("kill").args(["-INT", &pid.to_string()]).status();
    });
    let out = child.wait_with_output().map_err(|e| format!("{name}: {e}"))?;
    drop(timer); // detached: it only signals a pid that has already exited at worst
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn steady(samples: Vec<f64>, who: &str) -> Result<Vec<f64>, String> {
    let steady: Vec<f64> = samples.into_iter().skip(WARMUP_SAMPLES).collect();
    if steady.is_empty() {
        return Err(format!("{who} printed no rate samples"));
    }
    Ok(steady)
}

fn median(s: &[f64]) -> f64 {
    let mut v = s.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn min(s: &[f64]) -> f64 {
    s.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(s: &[f64]) -> f64 {
    s.iter().copied().fold(f64::NEG_INFINITY, f64::max)
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
    let queues = (a_rx.remove(0), a_tx.remove(0), b_rx.remove(0), b_tx.remove(0));
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
        println!("port {} {}: rx {} tx {} tx_errors {}", port.id(), port.name(), s.rx_packets, s.tx_packets, s.tx_errors);
    }
    drop((a, b));
    Ok(pool.in_use())
}
