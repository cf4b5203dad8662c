//! Typed errors for the safe DPDK core; DPDK failures carry `rte_errno` and its text.

use std::ffi::CStr;
use std::fmt;

/// Everything the safe core can fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// `Eal::init` was called while an EAL already exists (or existed) in this process.
    EalAlreadyInitialized,
    /// An argument could not be passed to DPDK (e.g. it contains a NUL byte).
    InvalidArgument {
        /// What was wrong, naming the argument.
        what: String,
    },
    /// No ethdev port with this name exists.
    PortNotFound {
        /// The name that was looked up (vdev name or PCI address).
        name: String,
    },
    /// More queues were requested than the device supports.
    QueueCount {
        /// "rx" or "tx".
        kind: &'static str,
        /// Number requested.
        requested: u16,
        /// Device limit from `rte_eth_dev_info_get`.
        max: u16,
    },
    /// The port cannot be stopped or reconfigured while queue handles are alive.
    QueuesInUse,
    /// An mbuf operation ran out of room (append/prepend) or data (adj/trim).
    MbufRoom {
        /// The operation.
        op: &'static str,
        /// Bytes requested.
        len: usize,
    },
    /// A worker lcore panicked; the panic message is kept.
    WorkerPanicked {
        /// The lcore the worker ran on.
        lcore: u32,
        /// Panic payload as text.
        message: String,
    },
    /// More work items than worker lcores.
    NotEnoughLcores {
        /// Work items given.
        requested: usize,
        /// Worker lcores available.
        available: usize,
    },
    /// A DPDK call failed.
    Dpdk {
        /// The DPDK function that failed.
        op: &'static str,
        /// The errno value (positive).
        errno: i32,
        /// `rte_strerror(errno)`.
        text: String,
    },
}

impl Error {
    /// Builds an error for `op` from a positive errno value, with DPDK's text for it.
    pub(crate) fn dpdk(op: &'static str, errno: i32) -> Self {
        let errno = errno.abs();
        // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated string.
        let text = unsafe { CStr::from_ptr(dpdk_sys::rte_strerror(errno)) }
            .to_string_lossy()
            .into_owned();
        Error::Dpdk { op, errno, text }
    }

    /// Builds an error for `op` from the current thread's `rte_errno`.
    pub(crate) fn from_rte_errno(op: &'static str) -> Self {
        // SAFETY: reads the calling thread's per-lcore rte_errno variable.
        let errno = unsafe { dpdk_sys::shim_rte_errno() };
        Self::dpdk(op, errno)
    }

    /// Maps a DPDK return code (negative errno on failure) to a result.
    pub(crate) fn check(op: &'static str, rc: i32) -> Result<u32> {
        if rc < 0 {
            Err(Self::dpdk(op, rc))
        } else {
            Ok(rc as u32)
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::EalAlreadyInitialized => {
                write!(f, "the EAL is already initialised in this process (it initialises once)")
            }
            Error::InvalidArgument { what } => write!(f, "invalid argument: {what}"),
            Error::PortNotFound { name } => write!(f, "no DPDK port named {name:?}"),
            Error::QueueCount { kind, requested, max } => {
                write!(f, "{requested} {kind} queues requested, the device supports at most {max}")
            }
            Error::QueuesInUse => write!(f, "the port's queue handles are still alive"),
            Error::MbufRoom { op, len } => write!(f, "mbuf {op} of {len} bytes does not fit"),
            Error::WorkerPanicked { lcore, message } => {
                write!(f, "worker on lcore {lcore} panicked: {message}")
            }
            Error::NotEnoughLcores { requested, available } => write!(
                f,
                "{requested} workers requested but only {available} worker lcores exist (see -l)"
            ),
            Error::Dpdk { op, errno, text } => write!(f, "{op} failed: {text} (rte_errno {errno})"),
        }
    }
}

impl std::error::Error for Error {}

/// Result with the core's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
