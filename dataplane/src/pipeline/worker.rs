//! The per-lcore poll loop.

use super::stats::{CoreCounters, Generation};
use crate::firewall::{apply_rewrite, Action, PacketCount, Side};
use crate::{Mbuf, MbufBatch, RxQueue, TxQueue, BURST_SIZE};
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
                    );
                }
            }
            if idle {
                std::hint::spin_loop();
            }
        }
    }
}

/// Judges the burst in `batch` and forwards it: one pass over the mbufs (prefetch each frame's
/// header, count it, note its length and whether it is chained), then parse and classify every
/// frame into its counter slot (one rte_acl call per distinct table and IP version), count the burst
/// (one counter update per run of equal slots, the I/O counters once), rewrite the allowed frames,
/// free the dropped ones and send the rest. Nothing is allocated.
fn forward(
    generation: &Generation,
    core: usize,
    counters: &CoreCounters,
    lane: &mut Lane,
    batch: &mut MbufBatch,
) {
    let firewall = &generation.firewall;
    let ingress = lane.ingress;
    let mut slots = [0u32; BURST_SIZE];
    let mut lengths = [0u32; BURST_SIZE];
    let mut rx = PacketCount::default();
    let mut chained = false;
    for (length, m) in lengths.iter_mut().zip(batch.as_slice()) {
        m.prefetch();
        *length = m.pkt_len() as u32;
        rx.bytes += *length as u64;
        chained |= m.segments() > 1;
    }
    rx.packets = batch.len() as u64;
    counters.rx.add_count(rx);
    if chained {
        // Headers could straddle segments; the pool's data room is meant to prevent this.
        batch.retain(
            |m| m.segments() == 1,
            |m| counters.multi_segment.add(m.pkt_len()),
        );
        for (length, m) in lengths.iter_mut().zip(batch.as_slice()) {
            *length = m.pkt_len() as u32;
        }
    }
    {
        let mut frames: [&[u8]; BURST_SIZE] = [&[]; BURST_SIZE];
        for (frame, m) in frames.iter_mut().zip(batch.as_slice()) {
            *frame = m.data();
        }
        firewall.judge_frames(ingress, &frames[..batch.len()], &mut slots);
    }
    let rule_counters = &generation.counters[core];
    let mut run = (slots[0], PacketCount::default());
    let mut next = 0;
    let mut dropped = MbufBatch::new();
    let mut allowed = PacketCount::default();
    let rewrites = firewall.rewrites();
    batch.retain(
        |m| {
            let (slot, bytes) = (slots[next], lengths[next] as u64);
            next += 1;
            if slot != run.0 {
                rule_counters.add(run.0, run.1);
                run = (slot, PacketCount::default());
            }
            run.1.packets += 1;
            run.1.bytes += bytes;
            let info = firewall.slot_info(slot);
            if info.action != Action::Allow {
                return false;
            }
            if rewrites {
                if let Some(rewrite) = firewall.rewrite(info.table, ingress) {
                    apply_rewrite(rewrite, m.data_mut());
                }
            }
            allowed.packets += 1;
            allowed.bytes += bytes;
            true
        },
        |m| {
            // Cannot fail: the burst holds at most BURST_SIZE frames.
            let _ = dropped.push(m);
        },
    );
    dropped.clear();
    if run.1.packets > 0 {
        rule_counters.add(run.0, run.1);
    }
    for _ in 0..TX_RETRIES {
        if batch.is_empty() {
            break;
        }
        lane.tx.tx_burst(batch);
    }
    let failed = batch
        .as_slice()
        .iter()
        .fold(PacketCount::default(), |mut sum, m| {
            sum += one(m);
            sum
        });
    batch.clear();
    counters.tx.add_count(PacketCount {
        packets: allowed.packets - failed.packets,
        bytes: allowed.bytes - failed.bytes,
    });
    if failed.packets > 0 {
        counters.tx_failed.add_count(failed);
    }
}

/// One frame of `m`'s length, to count.
#[inline]
fn one(m: &Mbuf) -> PacketCount {
    PacketCount {
        packets: 1,
        bytes: m.pkt_len() as u64,
    }
}
