//! The VLAN-aware firewall VNF (the seed's Figure 3): frames from port A leave on port B and back,
//! judged by per-VLAN rule tables.
//!
//! `vlan-firewall [EAL args] -- --rules FILE --port-a NAME --port-b NAME [--cores N] [--stats-interval S]
//! [--data-room BYTES] [--vlan-filter]`
//!
//! `--vlan-filter` asks both ports' devices for the VLANs the rule file has tables for
//! ([`dataplane::Port::set_vlan_filter`]): an SR-IOV VF receives tagged frames only of the VLANs in
//! its filter. Tags the device strips are put back, so the rules see the frame as it was on the wire.
//! Tagged frames of other VLANs then never reach the firewall; untagged frames still do. A SIGHUP
//! reload does not change the filter.
//!
//! `--data-room` sets the bytes per mbuf (default a jumbo frame plus headroom); DPDK's `net_af_xdp` needs
//! mbufs that fit a 4 KiB page, e.g. `--data-room 2176`.
//!
//! NAME is a vdev name or a PCI address. Prints per-core rates and per-VLAN, per-rule counters every S
//! seconds (0 = never; default 5), reloads FILE on SIGHUP (a bad file keeps the running rules), and on
//! SIGINT/SIGTERM stops, frees every mbuf, prints the final counters and exits 0 (1 if any mbuf leaked:
//! in use after both devices closed, beyond what `net_af_xdp`, which never returns its rings' mbufs,
//! may keep).

use crossbeam_channel::{bounded, Sender};
use dataplane::firewall::{parse_rule_bytes, RuleSet, TableKey};
use dataplane::pipeline::{run, Command, FirewallPorts, Stats};
use dataplane::{Eal, Mempool, Port, BURST_SIZE};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::time::Duration;

const USAGE: &str =
    "usage: vlan-firewall [EAL args] -- --rules FILE --port-a NAME --port-b NAME [--cores N] [--stats-interval S] [--data-room BYTES] [--vlan-filter]";

/// Data room per mbuf: a 9216-byte jumbo frame plus DPDK's 128-byte headroom, so frames fit one segment.
const DATA_ROOM: u16 = 9216 + 128;

struct Options {
    rules: String,
    port_a: String,
    port_b: String,
    cores: usize,
    stats_interval: u64,
    data_room: u16,
    vlan_filter: bool,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let (mut rules, mut port_a, mut port_b) = (None, None, None);
    let (mut cores, mut stats_interval, mut data_room) = (1usize, 5u64, DATA_ROOM);
    let mut vlan_filter = false;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--vlan-filter" => vlan_filter = true,
            "--rules" => rules = Some(value()?),
            "--port-a" => port_a = Some(value()?),
            "--port-b" => port_b = Some(value()?),
            "--cores" => {
                let v = value()?;
                cores = v
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or(format!("--cores: {v:?} is not a positive number"))?;
            }
            "--stats-interval" => {
                let v = value()?;
                stats_interval = v
                    .parse()
                    .map_err(|_| format!("--stats-interval: {v:?} is not a number of seconds"))?;
            }
            "--data-room" => {
                let v = value()?;
                data_room = v.parse().ok().filter(|&n| n > 128).ok_or(format!(
                    "--data-room: {v:?} is not a byte count above the 128-byte headroom"
                ))?;
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let missing = |what: &str| format!("{what} is required\n{USAGE}");
    Ok(Options {
        rules: rules.ok_or_else(|| missing("--rules"))?,
        port_a: port_a.ok_or_else(|| missing("--port-a"))?,
        port_b: port_b.ok_or_else(|| missing("--port-b"))?,
        cores,
        stats_interval,
        data_room,
        vlan_filter,
    })
}

fn load_rules(path: &str) -> Result<RuleSet, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    parse_rule_bytes(&bytes).map_err(|e| format!("{path}: {e}"))
}

/// Turns signals into commands: SIGHUP reloads the rule file, SIGINT/SIGTERM shut down.
fn handle_signals(mut signals: Signals, path: String, commands: Sender<Command>) {
    for signal in signals.forever() {
        if signal != SIGHUP {
            let _ = commands.send(Command::Shutdown);
            return;
        }
        match load_rules(&path) {
            Err(e) => eprintln!("vlan-firewall: reload failed, keeping the running rules: {e}"),
            Ok(rules) => {
                let (reply, generation) = bounded(1);
                if commands.send(Command::Update { rules, reply }).is_err() {
                    return;
                }
                match generation.recv() {
                    Ok(Ok(id)) => {
                        eprintln!("vlan-firewall: reloaded {path}: rules generation {id}")
                    }
                    Ok(Err(e)) => eprintln!(
                        "vlan-firewall: reload failed, keeping the running rules: {path}: {e}"
                    ),
                    Err(_) => return,
                }
            }
        }
    }
}

/// Prints stats every `interval`, with the receive rate over the last interval, until `done` closes.
fn print_stats(
    interval: Duration,
    commands: Sender<Command>,
    done: crossbeam_channel::Receiver<()>,
) {
    let mut last_rx = 0;
    while let Err(crossbeam_channel::RecvTimeoutError::Timeout) = done.recv_timeout(interval) {
        let (reply, stats) = bounded(1);
        if commands.send(Command::Stats { reply }).is_err() {
            return;
        }
        let Ok(stats): Result<Stats, _> = stats.recv() else {
            return;
        };
        let rx = stats.rx().packets;
        println!(
            "{stats}  last {}s: {:.3} Mpps",
            interval.as_secs(),
            (rx - last_rx) as f64 / interval.as_secs_f64() / 1e6
        );
        last_rx = rx;
    }
}

fn main_result() -> Result<(), String> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let split = argv.iter().position(|a| a == "--").ok_or(USAGE)?;
    let options = parse_options(&argv[split + 1..])?;
    let rules = load_rules(&options.rules)?;
    let eal = Eal::init(&argv[..split]).map_err(|e| e.to_string())?;
    let workers = eal.worker_lcores().len();
    if workers < options.cores {
        return Err(format!(
            "--cores {} needs {} worker lcores; the EAL has {workers} (add lcores with -l)",
            options.cores, options.cores
        ));
    }
    let capacity = (2 * options.cores as u32 * (2048 + 64) + 1024).next_power_of_two() - 1;
    let pool = Mempool::with_data_room(&eal, "vlan-firewall", capacity, 256, options.data_room)
        .map_err(|e| e.to_string())?;
    let vlans: Vec<u16> = rules
        .tables
        .keys()
        .filter_map(|key| match key {
            TableKey::Vlan(id) if options.vlan_filter => Some(*id),
            _ => None,
        })
        .collect();
    let open = |name: &str| {
        let mut port = Port::open(&eal, name).map_err(|e| format!("{name}: {e}"))?;
        port.set_vlan_filter(&vlans)
            .map_err(|e| format!("--vlan-filter: {e}"))?;
        Ok::<_, String>(port)
    };
    let ports = FirewallPorts {
        a: open(&options.port_a)?,
        b: open(&options.port_b)?,
    };
    let mut keeps_rings = false;
    for port in [&ports.a, &ports.b] {
        let info = port.info().map_err(|e| e.to_string())?;
        keeps_rings |= info.driver == KEEPS_RINGS_AFTER_CLOSE;
    }

    let (commands, command_rx) = crossbeam_channel::unbounded();
    let signals = Signals::new([SIGINT, SIGTERM, SIGHUP]).map_err(|e| format!("signals: {e}"))?;
    let signal_handle = signals.handle();
    let (done_tx, done_rx) = bounded::<()>(0);
    let final_stats = std::thread::scope(|scope| {
        let signal_commands = commands.clone();
        let path = options.rules.clone();
        scope.spawn(move || handle_signals(signals, path, signal_commands));
        if options.stats_interval > 0 {
            let stats_commands = commands.clone();
            let interval = Duration::from_secs(options.stats_interval);
            scope.spawn(move || print_stats(interval, stats_commands, done_rx));
        }
        drop(commands);
        let filter = if vlans.is_empty() {
            String::new()
        } else {
            format!(", device VLAN filter {vlans:?}")
        };
        eprintln!(
            "vlan-firewall: {} <-> {} on {} core(s), {} table(s){filter}; SIGHUP reloads {}, SIGINT/SIGTERM stop",
            options.port_a,
            options.port_b,
            options.cores,
            rules.tables.len(),
            options.rules
        );
        let result = run(&eal, ports, &pool, options.cores, rules, command_rx);
        signal_handle.close();
        drop(done_tx);
        result
    });
    let stats = final_stats.map_err(|e| e.to_string())?;
    println!("final:\n{stats}");
    let in_use = pool.in_use();
    // net_af_xdp never returns what its rings hold, even on rte_eth_dev_close: the fill rings it
    // primed at start (before anything was polled: all of it is the device's), plus what traffic left
    // in flight at the end (frames awaiting transmit completion, fill-ring top-ups), at most a burst per
    // queue. Every other device gives everything back, so there any mbuf still in use is a leak.
    let kept = if keeps_rings {
        let queues = 2 * options.cores as u32;
        stats.held_by_devices_at_start + queues * BURST_SIZE as u32
    } else {
        0
    };
    let note = if keeps_rings {
        format!(
            " ({KEEPS_RINGS_AFTER_CLOSE} keeps up to {kept}: {} in its fill rings from the start, a burst in flight per queue)",
            stats.held_by_devices_at_start
        )
    } else {
        String::new()
    };
    println!(
        "mbufs in use after shutdown: {in_use} of {}{note}",
        pool.capacity()
    );
    leak_check(in_use, kept)
}

/// The PMD whose fill rings keep their mbufs after the device is closed (DPDK 22.11's `net_af_xdp`
/// frees its UMEM's bookkeeping on close, not the mbufs sitting in its fill ring).
const KEEPS_RINGS_AFTER_CLOSE: &str = "net_af_xdp";

/// Fails when more mbufs are in use after shutdown than the devices may keep (`kept`).
fn leak_check(in_use: u32, kept: u32) -> Result<(), String> {
    match in_use.checked_sub(kept) {
        Some(0) | None => Ok(()),
        Some(leaked) if kept == 0 => Err(format!("{leaked} mbufs leaked")),
        Some(leaked) => Err(format!(
            "{leaked} mbufs leaked (beyond the {kept} the devices may keep)"
        )),
    }
}

fn main() {
    if let Err(e) = main_result() {
        eprintln!("vlan-firewall: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::leak_check;

    #[test]
    fn any_mbuf_beyond_what_the_devices_keep_is_a_leak() {
        assert_eq!(leak_check(0, 0), Ok(()));
        assert_eq!(leak_check(1, 0), Err("1 mbufs leaked".to_string()));
        assert_eq!(leak_check(4098, 4160), Ok(()));
        assert_eq!(
            leak_check(4161, 4160),
            Err("1 mbufs leaked (beyond the 4160 the devices may keep)".to_string())
        );
    }
}
