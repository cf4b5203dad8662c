//! `Mbuf`, one owned packet buffer, and `MbufBatch`, a fixed-capacity burst of them.
//!
//! An mbuf moves between threads but is never shared by reference across them:
//! ```compile_fail
//! fn shared<T: Sync>() {}
//! shared::<dataplane::Mbuf>();
//! ```
//! ```
//! fn movable<T: Send>() {}
//! movable::<dataplane::Mbuf>();
//! movable::<dataplane::MbufBatch>();
//! ```

use std::mem::MaybeUninit;
use std::ptr::NonNull;

use crate::error::{Error, Result};
use crate::mempool::Mempool;

/// Largest burst a [`MbufBatch`] holds.
pub const BURST_SIZE: usize = 32;

/// One packet buffer, owned: freed back to its pool when dropped, moved into a transmit batch to
/// send it. `Send` (it may cross cores with its owner) but not `Sync`.
#[repr(transparent)]
pub struct Mbuf(NonNull<dpdk_sys::rte_mbuf>);

// SAFETY: an Mbuf is the unique owner of its rte_mbuf; moving it to another thread moves that
// ownership, and freeing from any thread is allowed by the mempool's MP/MC ops.
unsafe impl Send for Mbuf {}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf (refcount held by us); it is not used after this.
        unsafe { dpdk_sys::shim_rte_pktmbuf_free(self.0.as_ptr()) }
    }
}

impl Mbuf {
    /// Allocates an empty mbuf from `pool`.
    pub fn alloc(pool: &Mempool) -> Result<Mbuf> {
        // SAFETY: the pool pointer is valid while `pool` is borrowed.
        let ptr = unsafe { dpdk_sys::shim_rte_pktmbuf_alloc(pool.as_ptr()) };
        NonNull::new(ptr)
            .map(Mbuf)
            .ok_or_else(|| Error::dpdk("rte_pktmbuf_alloc", ENOBUFS))
    }

    /// Allocates an mbuf holding a copy of `bytes`.
    pub fn from_bytes(pool: &Mempool, bytes: &[u8]) -> Result<Mbuf> {
        let mut m = Mbuf::alloc(pool)?;
        m.append(bytes.len())?.copy_from_slice(bytes);
        Ok(m)
    }

    fn raw(&self) -> &dpdk_sys::rte_mbuf {
        // SAFETY: the pointer is valid and exclusively ours while `self` lives.
        unsafe { self.0.as_ref() }
    }

    /// Total packet length over all segments.
    pub fn pkt_len(&self) -> usize {
        self.raw().pkt_len as usize
    }

    /// Number of segments in the chain.
    pub fn segments(&self) -> u16 {
        self.raw().nb_segs
    }

    /// The port the packet was received on.
    pub fn rx_port(&self) -> u16 {
        self.raw().port
    }

    /// The first segment's data.
    pub fn data(&self) -> &[u8] {
        let m = self.raw();
        // SAFETY: buf_addr + data_off .. + data_len lies inside the mbuf's buffer, which we own.
        unsafe {
            std::slice::from_raw_parts(
                (m.buf_addr as *const u8).add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }

    /// Asks the CPU to start loading the first cache line of the data (a hint; no effect on results).
    #[inline]
    pub fn prefetch(&self) {
        #[cfg(target_arch = "x86_64")]
        {
            let m = self.raw();
            let at = (m.buf_addr as *const u8).wrapping_add(m.data_off as usize);
            // SAFETY: a prefetch is a hint that never faults, whatever the address; SSE is part of
            // the x86_64 baseline.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    at as *const i8,
                )
            };
        }
    }

    /// The first segment's data, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        let (addr, off, len) = {
            let m = self.raw();
            (
                m.buf_addr as *mut u8,
                m.data_off as usize,
                m.data_len as usize,
            )
        };
        // SAFETY: as in `data`, and `&mut self` makes this the only view of the buffer.
        unsafe { std::slice::from_raw_parts_mut(addr.add(off), len) }
    }

    /// Free bytes before the data.
    pub fn headroom(&self) -> usize {
        // SAFETY: reads fields of our own mbuf.
        unsafe { dpdk_sys::shim_rte_pktmbuf_headroom(self.0.as_ptr()) as usize }
    }

    /// Free bytes after the data of the last segment.
    pub fn tailroom(&self) -> usize {
        // SAFETY: reads fields of our own mbuf.
        unsafe { dpdk_sys::shim_rte_pktmbuf_tailroom(self.0.as_ptr()) as usize }
    }

    /// Extends the packet by `len` bytes at the end and returns them (uninitialised contents
    /// are whatever the buffer held; callers overwrite them).
    pub fn append(&mut self, len: usize) -> Result<&mut [u8]> {
        let len16 = u16::try_from(len).map_err(|_| Error::MbufRoom { op: "append", len })?;
        // SAFETY: our mbuf; returns NULL when the last segment lacks tailroom.
        let p = unsafe { dpdk_sys::shim_rte_pktmbuf_append(self.0.as_ptr(), len16) };
        if p.is_null() {
            return Err(Error::MbufRoom { op: "append", len });
        }
        // SAFETY: DPDK returned a pointer to `len` bytes inside our buffer.
        Ok(unsafe { std::slice::from_raw_parts_mut(p as *mut u8, len) })
    }

    /// Extends the packet by `len` bytes at the front (into the headroom) and returns them.
    pub fn prepend(&mut self, len: usize) -> Result<&mut [u8]> {
        let len16 = u16::try_from(len).map_err(|_| Error::MbufRoom { op: "prepend", len })?;
        // SAFETY: our mbuf; returns NULL when the headroom is too small.
        let p = unsafe { dpdk_sys::shim_rte_pktmbuf_prepend(self.0.as_ptr(), len16) };
        if p.is_null() {
            return Err(Error::MbufRoom { op: "prepend", len });
        }
        // SAFETY: DPDK returned a pointer to `len` bytes at the new start of our data.
        Ok(unsafe { std::slice::from_raw_parts_mut(p as *mut u8, len) })
    }

    /// Removes `len` bytes from the front of the packet.
    pub fn adj(&mut self, len: usize) -> Result<()> {
        let len16 = u16::try_from(len).map_err(|_| Error::MbufRoom { op: "adj", len })?;
        // SAFETY: our mbuf; returns NULL when the first segment is shorter than len.
        let p = unsafe { dpdk_sys::shim_rte_pktmbuf_adj(self.0.as_ptr(), len16) };
        if p.is_null() {
            return Err(Error::MbufRoom { op: "adj", len });
        }
        Ok(())
    }

    /// Removes `len` bytes from the end of the packet.
    pub fn trim(&mut self, len: usize) -> Result<()> {
        let len16 = u16::try_from(len).map_err(|_| Error::MbufRoom { op: "trim", len })?;
        // SAFETY: our mbuf; returns -1 when the last segment is shorter than len.
        let rc = unsafe { dpdk_sys::shim_rte_pktmbuf_trim(self.0.as_ptr(), len16) };
        if rc != 0 {
            return Err(Error::MbufRoom { op: "trim", len });
        }
        Ok(())
    }
}

/// Linux's ENOBUFS: `rte_pktmbuf_alloc` reports an empty pool only by returning NULL.
const ENOBUFS: i32 = 105;

/// Up to [`BURST_SIZE`] mbufs, laid out as DPDK's burst functions want them. Dropping the batch
/// frees what it still holds.
pub struct MbufBatch {
    mbufs: [MaybeUninit<Mbuf>; BURST_SIZE],
    len: usize,
}

impl Default for MbufBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl MbufBatch {
    /// An empty batch.
    pub fn new() -> Self {
        MbufBatch {
            mbufs: [const { MaybeUninit::uninit() }; BURST_SIZE],
            len: 0,
        }
    }

    /// Number of mbufs held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room left.
    pub fn free_slots(&self) -> usize {
        BURST_SIZE - self.len
    }

    /// Adds an mbuf; gives it back when the batch is full.
    pub fn push(&mut self, m: Mbuf) -> std::result::Result<(), Mbuf> {
        if self.len == BURST_SIZE {
            return Err(m);
        }
        self.mbufs[self.len].write(m);
        self.len += 1;
        Ok(())
    }

    /// Removes the last mbuf.
    pub fn pop(&mut self) -> Option<Mbuf> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        // SAFETY: slot `len` was initialised and is now outside the live range.
        Some(unsafe { self.mbufs[self.len].assume_init_read() })
    }

    /// The mbufs held.
    pub fn as_slice(&self) -> &[Mbuf] {
        // SAFETY: the first `len` slots are initialised; MaybeUninit<Mbuf> has Mbuf's layout.
        unsafe { std::slice::from_raw_parts(self.mbufs.as_ptr() as *const Mbuf, self.len) }
    }

    /// The mbufs held, writable.
    pub fn as_mut_slice(&mut self) -> &mut [Mbuf] {
        // SAFETY: as in `as_slice`, with exclusive access through `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.mbufs.as_mut_ptr() as *mut Mbuf, self.len) }
    }

    /// Keeps the mbufs for which `keep` returns true, in order; hands the others to `reject`.
    pub fn retain(
        &mut self,
        mut keep: impl FnMut(&mut Mbuf) -> bool,
        mut reject: impl FnMut(Mbuf),
    ) {
        let old_len = self.len;
        self.len = 0;
        for i in 0..old_len {
            // SAFETY: slot i < old_len is initialised and read exactly once here.
            let mut m = unsafe { self.mbufs[i].assume_init_read() };
            if keep(&mut m) {
                self.mbufs[self.len].write(m);
                self.len += 1;
            } else {
                reject(m);
            }
        }
    }

    /// Frees every mbuf held, all in one call.
    pub fn clear(&mut self) {
        let (mbufs, len) = self.held_raw();
        if len == 0 {
            return;
        }
        // SAFETY: the first `len` slots hold valid mbufs we own; forgetting them (len = 0) right after
        // hands their ownership to DPDK, which frees them.
        unsafe { dpdk_sys::rte_pktmbuf_free_bulk(mbufs, len as u32) };
        self.len = 0;
    }

    /// Removes every mbuf, in order.
    pub fn drain(&mut self) -> impl Iterator<Item = Mbuf> + '_ {
        let n = std::mem::replace(&mut self.len, 0);
        // SAFETY: slots < n are initialised and each is read once; len is already 0 so a
        // partially consumed iterator leaks nothing twice (unread mbufs are freed by DrainRest).
        DrainRest {
            slots: &mut self.mbufs[..n],
            next: 0,
        }
    }

    /// Pointer to the first slot and number of free slots after the held mbufs, for rx bursts.
    pub(crate) fn spare_raw(&mut self) -> (*mut *mut dpdk_sys::rte_mbuf, usize) {
        let p = self.mbufs[self.len..].as_mut_ptr() as *mut *mut dpdk_sys::rte_mbuf;
        (p, self.free_slots())
    }

    /// Records that an rx burst wrote `n` mbufs into the spare slots.
    ///
    /// # Safety
    /// The `n` slots after the held ones must hold valid mbufs owned by nobody else.
    pub(crate) unsafe fn commit_spare(&mut self, n: usize) {
        debug_assert!(self.len + n <= BURST_SIZE);
        self.len += n;
    }

    /// Pointer to the held mbufs, for tx bursts.
    pub(crate) fn held_raw(&mut self) -> (*mut *mut dpdk_sys::rte_mbuf, usize) {
        (
            self.mbufs.as_mut_ptr() as *mut *mut dpdk_sys::rte_mbuf,
            self.len,
        )
    }

    /// Forgets the first `n` mbufs (their ownership went to the device) and moves the rest to
    /// the front.
    pub(crate) fn consume_front(&mut self, n: usize) {
        debug_assert!(n <= self.len);
        let rest = self.len - n;
        if rest > 0 && n > 0 {
            // SAFETY: moves the initialised slots n..len to 0..rest (ptr::copy handles overlap); the
            // first n were handed to the device and must not be read again.
            unsafe { std::ptr::copy(self.mbufs.as_ptr().add(n), self.mbufs.as_mut_ptr(), rest) };
        }
        self.len = rest;
    }
}

impl Drop for MbufBatch {
    fn drop(&mut self) {
        for m in self.drain() {
            drop(m);
        }
    }
}

/// Iterator returned by [`MbufBatch::drain`]; frees whatever it did not yield when dropped.
struct DrainRest<'a> {
    slots: &'a mut [MaybeUninit<Mbuf>],
    next: usize,
}

impl Iterator for DrainRest<'_> {
    type Item = Mbuf;

    fn next(&mut self) -> Option<Mbuf> {
        let slot = self.slots.get(self.next)?;
        self.next += 1;
        // SAFETY: each initialised slot is read exactly once (next only grows).
        Some(unsafe { slot.assume_init_read() })
    }
}

impl Drop for DrainRest<'_> {
    fn drop(&mut self) {
        for m in self.by_ref() {
            drop(m);
        }
    }
}
