//! The per-lcore poll loop.

use super::stats::{CoreCounters, Generation};
use crate::firewall::{Action, PacketCount, Side, Verdict};
use crate::packet::{parse_flow, Flow, ParseError};
use crate::{MbufBatch, RxQueue, TxQueue};
use crossbeam_channel::Receiver;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// How many times a worker offers refused frames to a full tx queue before dropping them.
const TX_RETRIES: usize = 64;

/// One direction of traffic on one core: frames received on `rx` arrived on `ingress` and leave on `tx`.
pub(crate) struct Lane {
    pub(crate) ingress: Side,
    pub(crate) rx: RxQueue,
    pub(crate) tx: TxQueue,
}

/// Everything one worker lcore owns.
pub(crate) struct Worker {
    pub(crate) core: usize,
    pub(crate) lanes: [Lane; 2],
    pub(crate) generation: Arc<Generation>,
    pub(crate) updates: Receiver<Arc<Generation>>,
    pub(crate) counters: Arc<CoreCounters>,
    pub(crate) stop: Arc<AtomicBool>,
}

impl Worker {
    /// Polls both lanes until `stop` is set. Takes a new generation only between bursts. Returns with
    /// no mbuf held: every received frame has been sent or freed.
    pub(crate) fn run(mut self) {
        let mut batch = MbufBatch::new();
        let mut scratch = Scratch::default();
        self.counters
            .generation
            .store(self.generation.id, Ordering::Release);
        while !self.stop.load(Ordering::Relaxed) {
            if let Ok(next) = self.updates.try_recv() {
                self.generation = next;
                self.counters
                    .generation
                    .store(self.generation.id, Ordering::Release);
            }
            let mut idle = true;
            for lane in &mut self.lanes {
                if lane.rx.rx_burst(&mut batch) > 0 {
                    idle = false;
                    forward(
                        &self.generation,
                        self.core,
                        &self.counters,
                        lane,
                        &mut batch,
                        &mut scratch,
                    );
                }
            }
            if idle {
                std::hint::spin_loop();
            }
        }
    }
}

/// Per-burst working space, allocated once per worker.
#[derive(Default)]
struct Scratch {
    flows: Vec<Result<Flow, ParseError>>,
    verdicts: Vec<Verdict>,
}

/// Parses the burst in `batch`, classifies it in one go, counts and rewrites each frame, frees what is
/// dropped and sends what is allowed.
fn forward(
    generation: &Generation,
    core: usize,
    counters: &CoreCounters,
    lane: &mut Lane,
    batch: &mut MbufBatch,
    scratch: &mut Scratch,
) {
    let rule_counters = &generation.counters[core];
    let firewall = &generation.firewall;
    scratch.flows.clear();
    for m in batch.as_slice() {
        counters.rx.add(m.pkt_len());
        // Headers could straddle segments; the pool's data room is meant to prevent this.
        if m.segments() == 1 {
            scratch.flows.push(parse_flow(m.data()));
        }
    }
    firewall.classify_burst(lane.ingress, &scratch.flows, &mut scratch.verdicts);
    let mut verdicts = scratch.verdicts.iter();
    batch.retain(
        |m| {
            if m.segments() > 1 {
                counters.multi_segment.add(m.pkt_len());
                return false;
            }
            let verdict = *verdicts
                .next()
                .expect("one verdict per single-segment frame");
            firewall.count_and_rewrite(rule_counters, lane.ingress, verdict, m.data_mut());
            verdict.action == Action::Allow
        },
        drop,
    );
    let allowed = batch
        .as_slice()
        .iter()
        .fold(PacketCount::default(), |mut sum, m| {
            sum += PacketCount {
                packets: 1,
                bytes: m.pkt_len() as u64,
            };
            sum
        });
    for _ in 0..TX_RETRIES {
        if batch.is_empty() {
            break;
        }
        lane.tx.tx_burst(batch);
    }
    let mut failed = PacketCount::default();
    for m in batch.drain() {
        failed += PacketCount {
            packets: 1,
            bytes: m.pkt_len() as u64,
        };
    }
    counters.tx.add_count(PacketCount {
        packets: allowed.packets - failed.packets,
        bytes: allowed.bytes - failed.bytes,
    });
    counters.tx_failed.add_count(failed);
}
