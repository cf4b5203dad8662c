//! Receive and transmit queue handles: one handle per queue, `Send` but not `Sync`, bursting
//! through `&mut self`, so two cores can never poll the same queue.
//!
//! Sharing a queue between threads does not compile:
//! ```compile_fail
//! fn shared<T: Sync>() {}
//! shared::<dataplane::RxQueue>();
//! ```
//! ```compile_fail
//! fn shared<T: Sync>() {}
//! shared::<dataplane::TxQueue>();
//! ```
//! Moving one to the core that polls it does:
//! ```
//! fn movable<T: Send>() {}
//! movable::<dataplane::RxQueue>();
//! movable::<dataplane::TxQueue>();
//! ```

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::mbuf::MbufBatch;
use crate::port::PortShared;

/// Marker that makes a type `!Sync` while keeping it `Send`.
type NotSync = PhantomData<Cell<()>>;

/// A port's receive queue.
pub struct RxQueue {
    port: Arc<PortShared>,
    queue: u16,
    _not_sync: NotSync,
}

/// A port's transmit queue.
pub struct TxQueue {
    port: Arc<PortShared>,
    queue: u16,
    _not_sync: NotSync,
}

impl RxQueue {
    pub(crate) fn new(port: Arc<PortShared>, queue: u16) -> Self {
        RxQueue { port, queue, _not_sync: PhantomData }
    }

    /// The port id.
    pub fn port_id(&self) -> u16 {
        self.port.id
    }

    /// The queue index.
    pub fn queue_id(&self) -> u16 {
        self.queue
    }

    /// Receives up to the batch's free room; returns how many mbufs were added.
    pub fn rx_burst(&mut self, batch: &mut MbufBatch) -> usize {
        let (slots, room) = batch.spare_raw();
        if room == 0 {
            return 0;
        }
        // SAFETY: `slots` points to `room` writable mbuf-pointer slots; this handle is the only one
        // for (port, queue) and `&mut self` keeps it on one thread at a time.
        let n = unsafe { dpdk_sys::shim_rte_eth_rx_burst(self.port.id, self.queue, slots, room as u16) };
        // SAFETY: the PMD wrote `n` valid mbufs it no longer owns into those slots.
        unsafe { batch.commit_spare(n as usize) };
        n as usize
    }
}

impl TxQueue {
    pub(crate) fn new(port: Arc<PortShared>, queue: u16) -> Self {
        TxQueue { port, queue, _not_sync: PhantomData }
    }

    /// The port id.
    pub fn port_id(&self) -> u16 {
        self.port.id
    }

    /// The queue index.
    pub fn queue_id(&self) -> u16 {
        self.queue
    }

    /// Sends the batch's mbufs from the front; returns how many the device took. Those leave the
    /// batch; the ones it refused stay in the batch, in order, for the caller to retry or drop.
    pub fn tx_burst(&mut self, batch: &mut MbufBatch) -> usize {
        let (mbufs, len) = batch.held_raw();
        if len == 0 {
            return 0;
        }
        // SAFETY: `mbufs` holds `len` valid owned mbufs; this handle is the only one for the queue.
        let sent = unsafe { dpdk_sys::shim_rte_eth_tx_burst(self.port.id, self.queue, mbufs, len as u16) };
        batch.consume_front(sent as usize);
        sent as usize
    }
}
