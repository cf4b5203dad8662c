//! The DPDK Environment Abstraction Layer: initialised once per process, cleaned up when the last
//! handle (the [`Eal`] and every pool and port made from it) is gone.

use std::ffi::{c_char, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};

/// Set by the first `Eal::init` of the process: DPDK cannot be initialised twice, even after
/// `rte_eal_cleanup`.
static INITIALISED: AtomicBool = AtomicBool::new(false);

/// Set when memory had to be leaked on purpose (a mempool dropped while mbufs from it were still
/// alive): the EAL must then not be cleaned up, since those mbufs point into its memory.
static MEMORY_STILL_REFERENCED: AtomicBool = AtomicBool::new(false);

/// Records that some DPDK memory outlives its owner, so `rte_eal_cleanup` must be skipped.
pub(crate) fn keep_memory_alive() {
    MEMORY_STILL_REFERENCED.store(true, Ordering::SeqCst);
}

/// A handle on the initialised EAL. Clones share it; pools and ports hold one, so the EAL is
/// cleaned up only after all of them are dropped.
#[derive(Clone)]
pub struct Eal {
    _core: Arc<EalCore>,
}

struct EalCore;

impl Drop for EalCore {
    fn drop(&mut self) {
        if !MEMORY_STILL_REFERENCED.load(Ordering::SeqCst) {
            // SAFETY: every pool and port holds an `Eal`, so none is alive any more; mbufs can only
            // outlive their pool by setting MEMORY_STILL_REFERENCED, checked above.
            unsafe { dpdk_sys::rte_eal_cleanup() };
        }
    }
}

impl Eal {
    /// Initialises the EAL from EAL arguments (without the program name).
    /// A second call in the same process fails with [`Error::EalAlreadyInitialized`].
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Eal> {
        let mut owned = vec![CString::new("multiplane").expect("no NUL")];
        for arg in args {
            let arg = arg.as_ref();
            owned.push(CString::new(arg).map_err(|_| Error::InvalidArgument {
                what: format!("EAL argument {arg:?} contains a NUL byte"),
            })?);
        }
        if INITIALISED
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(Error::EalAlreadyInitialized);
        }
        // rte_eal_init may permute argv; give it pointers into `owned`, which outlives the call.
        let mut argv: Vec<*mut c_char> = owned.iter().map(|s| s.as_ptr() as *mut c_char).collect();
        // SAFETY: argv holds argc valid NUL-terminated strings that live until the call returns;
        // INITIALISED guarantees this is the only rte_eal_init call in the process.
        let rc = unsafe { dpdk_sys::rte_eal_init(argv.len() as i32, argv.as_mut_ptr()) };
        if rc < 0 {
            return Err(Error::from_rte_errno("rte_eal_init"));
        }
        Ok(Eal { _core: Arc::new(EalCore) })
    }

    /// Initialises the EAL from a testpmd-style command line: `prog [EAL args] -- [app args]`.
    /// Returns the EAL and the application arguments after `--`.
    pub fn from_command_line<I: IntoIterator<Item = String>>(args: I) -> Result<(Eal, Vec<String>)> {
        let mut args = args.into_iter().skip(1);
        let eal_args: Vec<String> = args.by_ref().take_while(|a| a != "--").collect();
        let eal = Eal::init(&eal_args)?;
        Ok((eal, args.collect()))
    }

    /// Bytes currently allocated from DPDK's malloc heaps, summed over every NUMA socket: what
    /// `rte_malloc` users (mempools, rings, ACL contexts) hold. Before/after differences measure them.
    pub fn heap_allocated(&self) -> usize {
        // SAFETY: pure query of the EAL's socket table, initialised by `init`.
        let sockets = unsafe { dpdk_sys::rte_socket_count() };
        (0..sockets)
            .map(|idx| {
                let mut stats = dpdk_sys::rte_malloc_socket_stats::default();
                // SAFETY: `idx` is below rte_socket_count(); `stats` is a valid out-parameter.
                let rc = unsafe {
                    let socket = dpdk_sys::rte_socket_id_by_idx(idx);
                    dpdk_sys::rte_malloc_get_socket_stats(socket, &mut stats)
                };
                if rc == 0 {
                    stats.heap_allocsz_bytes
                } else {
                    0
                }
            })
            .sum()
    }

    /// The worker lcores (every enabled lcore except the main one), in id order.
    pub fn worker_lcores(&self) -> Vec<u32> {
        let mut lcores = Vec::new();
        let mut id = u32::MAX; // rte_get_next_lcore(-1, ...) starts from the first lcore
        loop {
            // SAFETY: pure query of the EAL's lcore table, initialised by `init`.
            id = unsafe { dpdk_sys::rte_get_next_lcore(id, 1, 0) };
            if id >= dpdk_sys::RTE_MAX_LCORE {
                return lcores;
            }
            lcores.push(id);
        }
    }
}

/// Options for [`Eal::init`], named after the EAL's own command-line flags.
#[derive(Debug, Clone, Default)]
pub struct EalBuilder {
    args: Vec<String>,
}

impl EalBuilder {
    /// An empty argument list.
    pub fn new() -> Self {
        Self::default()
    }

    fn flag(mut self, flag: &str) -> Self {
        self.args.push(flag.to_owned());
        self
    }

    fn option(mut self, flag: &str, value: &str) -> Self {
        self.args.push(flag.to_owned());
        self.args.push(value.to_owned());
        self
    }

    /// `-l LIST`: the lcores to run on, e.g. `0-1`; the first is the main lcore.
    pub fn cores(self, list: &str) -> Self {
        self.option("-l", list)
    }

    /// `--vdev SPEC`: a virtual device, e.g. `net_ring0` or `net_pcap0,rx_pcap=in.pcap`.
    pub fn vdev(self, spec: &str) -> Self {
        self.option("--vdev", spec)
    }

    /// `-a PCI`: allow (probe) this PCI device only.
    pub fn allow(self, pci: &str) -> Self {
        self.option("-a", pci)
    }

    /// `--no-pci`: do not scan the PCI bus.
    pub fn no_pci(self) -> Self {
        self.flag("--no-pci")
    }

    /// `--in-memory`: no shared files at all (needs hugepages; cannot be combined with `--no-huge`).
    pub fn in_memory(self) -> Self {
        self.flag("--in-memory")
    }

    /// `--no-huge`: anonymous memory instead of hugepages (use with `memory_mb`).
    pub fn no_huge(self) -> Self {
        self.flag("--no-huge")
    }

    /// `--no-shconf`: no shared config file (for `--no-huge` runs).
    pub fn no_shconf(self) -> Self {
        self.flag("--no-shconf")
    }

    /// `-m MB`: memory to reserve.
    pub fn memory_mb(self, mb: u32) -> Self {
        self.option("-m", &mb.to_string())
    }

    /// `--file-prefix NAME`: runtime file prefix, so several DPDK processes can coexist.
    pub fn file_prefix(self, prefix: &str) -> Self {
        self.option("--file-prefix", prefix)
    }

    /// `--log-level LEVEL`, e.g. `notice` or `pmd.net.ring:debug`.
    pub fn log_level(self, level: &str) -> Self {
        self.option("--log-level", level)
    }

    /// Any other EAL argument, passed as is.
    pub fn arg(self, arg: &str) -> Self {
        self.flag(arg)
    }

    /// The argument list as built.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// Initialises the EAL with these arguments.
    pub fn init(self) -> Result<Eal> {
        Eal::init(&self.args)
    }
}
