//! Forwarding throughput of the `dataplane` crate against `dpdk-testpmd` (io mode), measured in
//! the same run on the same vdevs, alternating rounds so machine noise hits both sides alike.
//!
//! `throughput [--seconds N] [--rounds N]` prints one table: median/min/max Mpps per side and the
//! ratio. The multiplane side runs in a child process of this binary (`throughput --child ...`)
//! because the EAL initialises once per process.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use dataplane::{Eal, MbufBatch, Mempool, Port, PortConfig, RxQueue, TxQueue};

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

fn eal_args() -> Vec<String> {
    let mut args: Vec<String> = ["-l", "0-1", "--no-pci", "--vdev", "net_null0", "--vdev", "net_null1", "--log-level", "error"]
        .map(String::from)
        .to_vec();
    args.extend(memory_args());
    args
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
    let (mut ours, mut testpmd) = (Vec::new(), Vec::new());
    for round in 1..=opts.rounds {
        testpmd.extend(run_testpmd(opts.seconds)?);
        ours.extend(run_child(opts.seconds)?);
        eprintln!("throughput: round {round}/{} done", opts.rounds);
    }
    println!();
    println!("io forwarding net_null0 <-> net_null1, 1 worker lcore, {} rounds x {} s (first {WARMUP_SAMPLES} s of each dropped)", opts.rounds, opts.seconds);
    println!("{:<22} {:>10} {:>10} {:>10}", "", "median", "min", "max");
    let row = |name: &str, s: &[f64]| {
        println!("{name:<22} {:>10.3} {:>10.3} {:>10.3}  Mpps", median(s), min(s), max(s));
    };
    row("dpdk-testpmd (io)", &testpmd);
    row("multiplane dataplane", &ours);
    println!("ratio multiplane / testpmd (median): {:.2}", median(&ours) / median(&testpmd));
    Ok(())
}

/// Runs testpmd for `seconds` with per-second stats; returns total Tx Mpps of each second.
fn run_testpmd(seconds: u64) -> Result<Vec<f64>, String> {
    let mut cmd = Command::new("dpdk-testpmd");
    cmd.args(eal_args()).args([
        "--",
        "--forward-mode=io",
        "--nb-cores=1",
        "--total-num-mbufs=8191",
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

fn run_child(seconds: u64) -> Result<Vec<f64>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.arg("--child").arg(seconds.to_string()).args(eal_args());
    let out = run_for(cmd, seconds + 30)?;
    let samples = out
        .lines()
        .filter_map(|l| l.strip_prefix("mpps "))
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    steady(samples, "multiplane child")
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

/// Child: `--child SECONDS [EAL args]`: forwards both ways and prints `mpps X` every second.
fn child(args: &[String]) -> Result<(), String> {
    let seconds: u64 = args.first().and_then(|s| s.parse().ok()).ok_or("--child needs SECONDS")?;
    let eal = Eal::init(&args[1..]).map_err(|e| e.to_string())?;
    let leaked = forward_for(&eal, seconds).map_err(|e| e.to_string())?;
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
fn forward_for(eal: &Eal, seconds: u64) -> dataplane::Result<u32> {
    let pool = Mempool::new(eal, "fwd_pool", 8191, 256)?;
    let mut a = Port::open(eal, "net_null0")?;
    let mut b = Port::open(eal, "net_null1")?;
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
