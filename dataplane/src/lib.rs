//! The safe DPDK core that VNFs link: EAL, mempools, mbufs, ports, queues and lcore workers; the
//! zero-copy packet views; and the VLAN-aware firewall.
//!
//! Ownership follows DPDK's rules by type: an [`Mbuf`] owns one rte_mbuf and is handed to a
//! transmit queue by move; [`RxQueue`]/[`TxQueue`] are `Send` but not `Sync` and burst through
//! `&mut self`, so one queue can never be polled from two cores.
#![warn(missing_docs)]

pub mod eal;
pub mod error;
pub mod firewall;
pub mod lcore;
pub mod mbuf;
pub mod mempool;
pub mod packet;
pub mod pcap;
pub mod pipeline;
pub mod port;
pub mod queue;

pub use eal::{Eal, EalBuilder};
pub use error::{Error, Result};
pub use mbuf::{Mbuf, MbufBatch, BURST_SIZE};
pub use mempool::Mempool;
pub use port::{Link, Port, PortConfig, PortInfo, PortStats};
pub use queue::{RxQueue, TxQueue};
