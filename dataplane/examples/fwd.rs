//! Forwards packets between two ports in both directions (testpmd's `io` mode) on one worker
//! lcore, printing Mpps every second and port stats at the end.
//!
//! `fwd [EAL args] -- [--port-a NAME] [--port-b NAME] [--seconds N]`
//! e.g. `fwd -l 0-1 --no-pci --no-huge -m 512 --vdev net_null0 --vdev net_null1 -- --seconds 5`

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dataplane::{Eal, MbufBatch, Mempool, Port, PortConfig, RxQueue, TxQueue};

struct Options {
    port_a: String,
    port_b: String,
    seconds: u64,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options { port_a: "net_null0".into(), port_b: "net_null1".into(), seconds: 5 };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--port-a" => o.port_a = value()?,
            "--port-b" => o.port_b = value()?,
            "--seconds" => o.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

/// Moves one burst from `rx` to `tx`; what tx refuses is freed. Returns (received, sent).
fn forward(rx: &mut RxQueue, tx: &mut TxQueue, batch: &mut MbufBatch) -> (u64, u64) {
    let received = rx.rx_burst(batch) as u64;
    let sent = tx.tx_burst(batch) as u64;
    batch.drain().for_each(drop);
    (received, sent)
}

fn main() {
    let (eal, app_args) = Eal::from_command_line(std::env::args()).unwrap_or_else(|e| {
        eprintln!("fwd: {e}");
        std::process::exit(1)
    });
    let opts = parse(&app_args).unwrap_or_else(|e| {
        eprintln!("fwd: {e}");
        std::process::exit(2)
    });
    if let Err(e) = run(&eal, &opts) {
        eprintln!("fwd: {e}");
        std::process::exit(1);
    }
}

fn run(eal: &Eal, opts: &Options) -> dataplane::Result<()> {
    let pool = Mempool::new(eal, "fwd_pool", 8191, 256)?;
    let mut a = Port::open(eal, &opts.port_a)?;
    let mut b = Port::open(eal, &opts.port_b)?;
    let (mut a_rx, mut a_tx) = a.configure(&PortConfig::with_queues(1), &pool)?;
    let (mut b_rx, mut b_tx) = b.configure(&PortConfig::with_queues(1), &pool)?;
    a.start()?;
    b.start()?;

    let stop = AtomicBool::new(false);
    let forwarded = AtomicU64::new(0);
    let queues = (a_rx.remove(0), a_tx.remove(0), b_rx.remove(0), b_tx.remove(0));
    let started = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut last = 0;
            for _ in 0..opts.seconds {
                std::thread::sleep(Duration::from_secs(1));
                let now = forwarded.load(Ordering::Relaxed);
                println!("fwd: {:>8.3} Mpps", (now - last) as f64 / 1e6);
                last = now;
            }
            stop.store(true, Ordering::Relaxed);
        });
        eal.run_on_workers(vec![queues], |(mut a_rx, mut a_tx, mut b_rx, mut b_tx)| {
            let mut batch = MbufBatch::new();
            let mut sent_total = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let (_, ab) = forward(&mut a_rx, &mut b_tx, &mut batch);
                let (_, ba) = forward(&mut b_rx, &mut a_tx, &mut batch);
                sent_total += ab + ba;
                forwarded.store(sent_total, Ordering::Relaxed);
            }
        })
    })?;
    let secs = started.elapsed().as_secs_f64();
    let total = forwarded.load(Ordering::Relaxed);
    println!("fwd: forwarded {total} packets in {secs:.2} s = {:.3} Mpps", total as f64 / secs / 1e6);
    for port in [&a, &b] {
        let s = port.stats()?;
        println!(
            "fwd: port {} ({}): rx {} tx {} rx_missed {} tx_errors {} rx_nombuf {}",
            port.id(), port.name(), s.rx_packets, s.tx_packets, s.rx_missed, s.tx_errors, s.rx_nombuf
        );
    }
    drop((a, b));
    println!("fwd: mbufs in use after shutdown: {}", pool.in_use());
    Ok(())
}
