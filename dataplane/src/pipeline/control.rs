//! Starting the pipeline on two ports, and the control side that serves [`Command`]s while it runs.

use super::stats::{CoreCounters, CoreStats, Drops, Generation, Stats};
use super::worker::{Lane, Worker};
use crate::firewall::{CountersSnapshot, RuleSet, Side};
use crate::{Eal, Error, Mempool, Port, PortConfig, Result};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The firewall's two data ports, opened and not yet configured.
pub struct FirewallPorts {
    /// Port A (e.g. `net0`).
    pub a: Port,
    /// Port B (e.g. `north`).
    pub b: Port,
}

/// A request to the running firewall.
pub enum Command {
    /// Swap in a new rule set. The reply, its generation number, comes once every core judges with it;
    /// if the rules cannot be compiled (DPDK heap exhausted), the reply is the error and the running
    /// rules stay.
    Update {
        /// The new rules (already validated).
        rules: RuleSet,
        /// Where the generation number (or the compile error) goes.
        reply: Sender<Result<u64>>,
    },
    /// Ask for a [`Stats`] snapshot, taken without pausing the workers.
    Stats {
        /// Where the snapshot goes.
        reply: Sender<Stats>,
    },
    /// Stop polling, free every mbuf, close the ports; [`run`] returns the final stats.
    Shutdown,
}

/// Sets the stop flag when dropped, so a worker that panics stops the others too.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// The control side's view of the workers.
struct Control {
    eal: Eal,
    started: Instant,
    stop: Arc<AtomicBool>,
    cores: Vec<Arc<CoreCounters>>,
    updates: Vec<Sender<Arc<Generation>>>,
    current: Arc<Generation>,
    /// Final counters of generations no core uses any more.
    retired: Vec<(u64, CountersSnapshot)>,
    /// Per core, its drops by reason under those generations.
    retired_drops: Vec<Drops>,
    /// Mbufs in use once the devices had started.
    held_by_devices_at_start: u32,
}

impl Control {
    fn serve(&mut self, commands: &Receiver<Command>) {
        loop {
            match commands.recv_timeout(Duration::from_millis(50)) {
                Ok(Command::Update { rules, reply }) => {
                    let id = self.update(rules);
                    let _ = reply.send(id);
                }
                Ok(Command::Stats { reply }) => {
                    let _ = reply.send(self.stats());
                }
                Ok(Command::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                    self.stop.store(true, Ordering::SeqCst);
                    return;
                }
                Err(RecvTimeoutError::Timeout) if self.stop.load(Ordering::SeqCst) => return,
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Publishes `rules` as the next generation and waits until every core uses it (or the workers stop).
    fn update(&mut self, rules: RuleSet) -> Result<u64> {
        let next = Arc::new(Generation::new(
            &self.eal,
            self.current.id + 1,
            rules,
            self.cores.len(),
        )?);
        for worker in &self.updates {
            let _ = worker.send(next.clone());
        }
        let adopted = |c: &Arc<CoreCounters>| c.generation.load(Ordering::Acquire) >= next.id;
        while !self.cores.iter().all(adopted) && !self.stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_micros(50));
        }
        let old = std::mem::replace(&mut self.current, next);
        // Every core switched after finishing its last burst with `old` (Release/Acquire on the
        // generation number), so its counters are final.
        self.retired.push((old.id, old.totals()));
        for (core, drops) in self.retired_drops.iter_mut().enumerate() {
            *drops += Drops::of(old.firewall.rules(), &old.counters[core].snapshot());
        }
        Ok(self.current.id)
    }

    fn stats(&self) -> Stats {
        let cores: Vec<CoreStats> = self
            .cores
            .iter()
            .enumerate()
            .map(|(i, c)| CoreStats::read(i, c, &self.current, self.retired_drops[i]))
            .collect();
        let mut current = CountersSnapshot::zero(self.current.firewall.rules());
        cores.iter().for_each(|c| current.merge(&c.verdicts));
        let mut by_generation = self.retired.clone();
        by_generation.push((self.current.id, current.clone()));
        Stats {
            elapsed: self.started.elapsed(),
            generation: self.current.id,
            cores,
            rules: self.current.firewall.rules().clone(),
            current,
            by_generation,
            held_by_devices_at_start: self.held_by_devices_at_start,
        }
    }
}

/// Runs the firewall on `cores` worker lcores until [`Command::Shutdown`] arrives (or every sender of
/// `commands` is gone), then returns the final stats with every mbuf freed and both ports closed.
///
/// Each port gets `cores` rx/tx queue pairs (RSS spreads flows over them where the device has it);
/// worker `i` polls rx queue `i` of both ports and sends on tx queue `i` of the other. Call this from the
/// main lcore; it blocks there while the workers run.
pub fn run(
    eal: &Eal,
    ports: FirewallPorts,
    pool: &Mempool,
    cores: usize,
    rules: RuleSet,
    commands: Receiver<Command>,
) -> Result<Stats> {
    let FirewallPorts { mut a, mut b } = ports;
    let queues = u16::try_from(cores)
        .ok()
        .filter(|&q| q > 0)
        .ok_or_else(|| Error::InvalidArgument {
            what: format!("cores must be 1-65535, not {cores}"),
        })?;
    let config = PortConfig::with_queues(queues);
    let (rx_a, tx_a) = a.configure(&config, pool)?;
    let (rx_b, tx_b) = b.configure(&config, pool)?;
    for port in [&mut a, &mut b] {
        // A bump in the wire must see every frame; vdevs that lack the switch receive everything anyway.
        let _ = port.set_promiscuous(true);
        port.start()?;
    }
    let held_by_devices_at_start = pool.in_use();
    let stop = Arc::new(AtomicBool::new(false));
    let first = Arc::new(Generation::new(eal, 1, rules, cores)?);
    let mut control = Control {
        eal: eal.clone(),
        started: Instant::now(),
        stop: stop.clone(),
        cores: Vec::new(),
        updates: Vec::new(),
        current: first.clone(),
        retired: Vec::new(),
        retired_drops: vec![Drops::default(); cores],
        held_by_devices_at_start,
    };
    let mut workers = Vec::with_capacity(cores);
    let queue_pairs = rx_a.into_iter().zip(tx_b).zip(rx_b.into_iter().zip(tx_a));
    for (core, ((rx_a, tx_b), (rx_b, tx_a))) in queue_pairs.enumerate() {
        let (update_tx, update_rx) = crossbeam_channel::unbounded();
        let counters = Arc::new(CoreCounters::default());
        control.cores.push(counters.clone());
        control.updates.push(update_tx);
        workers.push(Worker {
            core,
            lanes: [
                Lane {
                    ingress: Side::A,
                    rx: rx_a,
                    tx: tx_b,
                },
                Lane {
                    ingress: Side::B,
                    rx: rx_b,
                    tx: tx_a,
                },
            ],
            generation: first.clone(),
            updates: update_rx,
            counters,
            stop: stop.clone(),
        });
    }
    drop(first);
    let worked = std::thread::scope(|scope| {
        let control = scope.spawn(move || {
            control.serve(&commands);
            control
        });
        let worked = eal.run_on_workers(workers, |worker| {
            let stop = worker.stop.clone();
            let _stop_all = StopOnDrop(&stop);
            worker.run()
        });
        stop.store(true, Ordering::SeqCst);
        let control = control.join().expect("the control thread does not panic");
        worked.map(|_| control.stats())
    });
    drop((a, b)); // stops and closes both devices, which frees the mbufs their rings hold
    worked
}
