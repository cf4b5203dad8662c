//! Packet-buffer pools (`rte_pktmbuf_pool_create`).

use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::eal::{keep_memory_alive, Eal};
use crate::error::{Error, Result};

/// Data room of each mbuf: DPDK's default (2048 bytes of data + 128 bytes of headroom).
pub const DEFAULT_DATA_ROOM: u16 = dpdk_sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16;

/// A pool of packet mbufs. Clones share the pool; it is freed when the last clone goes, unless
/// mbufs from it are still alive (then it is kept, never freed under them).
#[derive(Clone)]
pub struct Mempool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    ptr: NonNull<dpdk_sys::rte_mempool>,
    capacity: u32,
    _eal: Eal,
}

// SAFETY: rte_mempool get/put are multi-producer/multi-consumer safe with the default ring ops,
// and the pool pointer is never mutated from Rust.
unsafe impl Send for PoolInner {}
// SAFETY: as above; shared references only call thread-safe DPDK functions.
unsafe impl Sync for PoolInner {}

impl Drop for PoolInner {
    fn drop(&mut self) {
        // SAFETY: the pool is valid until freed below.
        let in_use = unsafe { dpdk_sys::rte_mempool_in_use_count(self.ptr.as_ptr()) };
        if in_use == 0 {
            // SAFETY: no mbuf of this pool is alive and no port references it (ports hold a clone).
            unsafe { dpdk_sys::rte_mempool_free(self.ptr.as_ptr()) };
        } else {
            keep_memory_alive();
        }
    }
}

impl Mempool {
    /// Creates a pool of `capacity` mbufs with a per-lcore cache of `cache_size` and the default
    /// data room, on the caller's NUMA socket. `name` must be unique in the process.
    pub fn new(eal: &Eal, name: &str, capacity: u32, cache_size: u32) -> Result<Mempool> {
        Self::with_data_room(eal, name, capacity, cache_size, DEFAULT_DATA_ROOM)
    }

    /// As [`Mempool::new`] with an explicit data room per mbuf (headroom included).
    pub fn with_data_room(
        eal: &Eal,
        name: &str,
        capacity: u32,
        cache_size: u32,
        data_room: u16,
    ) -> Result<Mempool> {
        let c_name = CString::new(name).map_err(|_| Error::InvalidArgument {
            what: format!("mempool name {name:?} contains a NUL byte"),
        })?;
        // SAFETY: c_name is a valid C string for the duration of the call; the EAL is initialised.
        let ptr = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create(
                c_name.as_ptr(),
                capacity,
                cache_size,
                0,
                data_room,
                dpdk_sys::rte_socket_id() as i32,
            )
        };
        let ptr = NonNull::new(ptr).ok_or_else(|| Error::from_rte_errno("rte_pktmbuf_pool_create"))?;
        Ok(Mempool { inner: Arc::new(PoolInner { ptr, capacity, _eal: eal.clone() }) })
    }

    /// Number of mbufs the pool was created with.
    pub fn capacity(&self) -> u32 {
        self.inner.capacity
    }

    /// Number of mbufs currently free (in the pool and in per-lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is alive while `self` is.
        unsafe { dpdk_sys::rte_mempool_avail_count(self.as_ptr()) }
    }

    /// Number of mbufs currently allocated.
    pub fn in_use(&self) -> u32 {
        self.capacity() - self.available()
    }

    /// True when every mbuf is back in the pool (nothing leaked).
    pub fn is_full(&self) -> bool {
        self.available() == self.capacity()
    }

    pub(crate) fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.inner.ptr.as_ptr()
    }
}
