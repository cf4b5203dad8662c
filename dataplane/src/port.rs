//! Ethernet ports: open by name, configure queues, start/stop, MAC, link, stats, VLAN filter.

use std::collections::HashSet;
use std::ffi::{CStr, CString};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::eal::Eal;
use crate::error::{Error, Result};
use crate::mempool::Mempool;
use crate::queue::{RxQueue, TxQueue};

/// Ports currently opened through [`Port::open`]: each port has one owner, so each queue has one
/// handle.
static OPEN_PORTS: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// How to configure a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// Receive queues (one per polling core).
    pub rx_queues: u16,
    /// Transmit queues.
    pub tx_queues: u16,
    /// Descriptors per receive queue (adjusted to the device's limits).
    pub rx_descriptors: u16,
    /// Descriptors per transmit queue (adjusted to the device's limits).
    pub tx_descriptors: u16,
}

impl PortConfig {
    /// `queues` rx and tx queue pairs with 1024 descriptors each.
    pub fn with_queues(queues: u16) -> Self {
        PortConfig { rx_queues: queues, tx_queues: queues, rx_descriptors: 1024, tx_descriptors: 1024 }
    }
}

/// What the device reports about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    /// PMD name, e.g. `net_ring` or `net_e1000_igb_vf`.
    pub driver: String,
    /// Most receive queues the device supports.
    pub max_rx_queues: u16,
    /// Most transmit queues the device supports.
    pub max_tx_queues: u16,
    /// RSS hash functions the device supports (`RTE_ETH_RSS_*` bits).
    pub rss_offloads: u64,
}

/// Link state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Carrier present.
    pub up: bool,
    /// Speed in Mb/s (0 when unknown).
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
}

/// Basic counters (`rte_eth_stats_get`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets dropped by the device because rx queues were full.
    pub rx_missed: u64,
    /// Erroneous received packets.
    pub rx_errors: u64,
    /// Failed transmissions.
    pub tx_errors: u64,
    /// Receive mbuf allocation failures.
    pub rx_nombuf: u64,
}

/// An rx callback DPDK runs inside `rte_eth_rx_burst` on one queue (see [`Port::set_vlan_filter`]).
struct RxCallback {
    queue: u16,
    handle: *const dpdk_sys::rte_eth_rxtx_callback,
}

// SAFETY: the handle is an opaque token DPDK gave us; it is only handed back to DPDK (remove, then
// free) while no queue of the port is polled, which does not depend on the thread doing it.
unsafe impl Send for RxCallback {}

/// State shared by a port and its queue handles; closing happens when the last one goes.
pub(crate) struct PortShared {
    pub(crate) id: u16,
    started: AtomicBool,
    pool: Mutex<Option<Mempool>>,
    rx_callbacks: Mutex<Vec<RxCallback>>,
    _eal: Eal,
}

impl Drop for PortShared {
    fn drop(&mut self) {
        self.stop_device();
        self.remove_rx_callbacks();
        // SAFETY: no queue handle and no Port exist any more, so nothing uses this port.
        unsafe { dpdk_sys::rte_eth_dev_close(self.id) };
        if let Some(set) = OPEN_PORTS.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            set.remove(&self.id);
        }
        // The pool (if any) is released after the device that referenced it is closed.
        self.pool.get_mut().unwrap_or_else(|e| e.into_inner()).take();
    }
}

impl PortShared {
    /// Stops the device if it runs. Callers guarantee no queue is being polled.
    fn stop_device(&self) -> i32 {
        if !self.started.swap(false, Ordering::SeqCst) {
            return 0;
        }
        // SAFETY: valid port id; the caller guarantees nothing polls the port.
        unsafe { dpdk_sys::rte_eth_dev_stop(self.id) }
    }

    /// Removes and frees the port's rx callbacks. Callers guarantee no queue is being polled.
    fn remove_rx_callbacks(&self) {
        for cb in self.rx_callbacks.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            // SAFETY: the handle came from rte_eth_add_rx_callback on this port and queue and is
            // removed once; nothing polls the queue, so DPDK no longer uses it and it can be freed.
            unsafe {
                dpdk_sys::rte_eth_remove_rx_callback(self.id, cb.queue, cb.handle);
                dpdk_sys::rte_free(cb.handle as *mut std::ffi::c_void);
            }
        }
    }
}

/// An Ethernet port owned by this process. Queue handles come from [`Port::configure`].
pub struct Port {
    shared: Arc<PortShared>,
    name: String,
    vlan_filter: Vec<u16>,
}

impl Port {
    /// Opens the port called `name`: a vdev name (`net_ring0`) or a PCI address
    /// (`0000:03:00.1`, or the short `03:00.1`).
    pub fn open(eal: &Eal, name: &str) -> Result<Port> {
        let full = normalise_pci_name(name);
        let c_name = CString::new(full.as_str()).map_err(|_| Error::InvalidArgument {
            what: format!("port name {name:?} contains a NUL byte"),
        })?;
        let mut id = 0u16;
        // SAFETY: c_name is a valid C string; id is a valid out pointer.
        let rc = unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(c_name.as_ptr(), &mut id) };
        if rc != 0 {
            return Err(Error::PortNotFound { name: name.to_owned() });
        }
        let mut open = OPEN_PORTS.lock().unwrap_or_else(|e| e.into_inner());
        if !open.get_or_insert_with(HashSet::new).insert(id) {
            return Err(Error::InvalidArgument { what: format!("port {name:?} is already open") });
        }
        Ok(Port {
            shared: Arc::new(PortShared {
                id,
                started: AtomicBool::new(false),
                pool: Mutex::new(None),
                rx_callbacks: Mutex::new(Vec::new()),
                _eal: eal.clone(),
            }),
            name: full,
            vlan_filter: Vec::new(),
        })
    }

    /// The DPDK port id.
    pub fn id(&self) -> u16 {
        self.shared.id
    }

    /// The name the port was opened by (PCI addresses in full form).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Driver name and queue limits.
    pub fn info(&self) -> Result<PortInfo> {
        let info = self.raw_info()?;
        // SAFETY: driver_name points to a static string of the PMD.
        let driver = unsafe { CStr::from_ptr(info.driver_name) }.to_string_lossy().into_owned();
        Ok(PortInfo {
            driver,
            max_rx_queues: info.max_rx_queues,
            max_tx_queues: info.max_tx_queues,
            rss_offloads: info.flow_type_rss_offloads,
        })
    }

    /// Sets the VLANs whose tagged frames the device should receive, applied by the next
    /// [`Port::configure`]; an empty list (the default) leaves the device's VLAN filter off.
    ///
    /// An SR-IOV virtual function only receives tagged frames of the VLANs in its filter (the PF's
    /// switch drops the others), so a VLAN-aware application on a VF must ask for its VLANs. With a
    /// filter, `configure` enables `RTE_ETH_RX_OFFLOAD_VLAN_FILTER`, adds every id with
    /// `rte_eth_dev_vlan_filter` (an igb VF asks its PF over the mailbox; the PF then also strips
    /// those tags on receive), and installs an rx callback that puts tags the device stripped
    /// (`RTE_MBUF_F_RX_VLAN_STRIPPED`) back into the frame: received frames read as they were on the
    /// wire whatever the NIC does. Untagged frames are not affected by the filter.
    ///
    /// Fails, naming the port, when an id is outside 1-4095 or the device has no VLAN filter
    /// (virtual devices such as `net_ring` or `net_af_packet` receive every VLAN anyway).
    pub fn set_vlan_filter(&mut self, vlans: &[u16]) -> Result<()> {
        let ids = vlan_ids(vlans).map_err(|what| Error::InvalidArgument {
            what: format!("port {}: vlan filter: {what}", self.name),
        })?;
        if !ids.is_empty() {
            let info = self.raw_info()?;
            // SAFETY: the shim function only returns a constant.
            if info.rx_offload_capa & unsafe { dpdk_sys::shim_rx_offload_vlan_filter() } == 0 {
                let driver = self.info()?.driver;
                return Err(Error::InvalidArgument {
                    what: format!(
                        "port {}: vlan filter: the {driver} device has no VLAN filter (RTE_ETH_RX_OFFLOAD_VLAN_FILTER)",
                        self.name
                    ),
                });
            }
        }
        self.vlan_filter = ids;
        Ok(())
    }

    /// The VLANs set by [`Port::set_vlan_filter`], ascending.
    pub fn vlan_filter(&self) -> &[u16] {
        &self.vlan_filter
    }

    fn raw_info(&self) -> Result<dpdk_sys::rte_eth_dev_info> {
        let mut info = MaybeUninit::<dpdk_sys::rte_eth_dev_info>::zeroed();
        // SAFETY: info is a valid out pointer; the port id is valid while we own the port.
        let rc = unsafe { dpdk_sys::rte_eth_dev_info_get(self.id(), info.as_mut_ptr()) };
        Error::check("rte_eth_dev_info_get", rc)?;
        // SAFETY: rte_eth_dev_info_get filled the struct on success (and it was zeroed before).
        Ok(unsafe { info.assume_init() })
    }

    fn ensure_no_queue_handles(&self) -> Result<()> {
        if Arc::strong_count(&self.shared) > 1 {
            return Err(Error::QueuesInUse);
        }
        Ok(())
    }

    /// Configures the port with the given queues, receiving into `pool`; RSS over IP/TCP/UDP is
    /// enabled when there is more than one rx queue and the device supports it. Stops the port
    /// first if it runs. Fails with [`Error::QueuesInUse`] while earlier queue handles are alive.
    pub fn configure(&mut self, config: &PortConfig, pool: &Mempool) -> Result<(Vec<RxQueue>, Vec<TxQueue>)> {
        self.ensure_no_queue_handles()?;
        let info = self.raw_info()?;
        if config.rx_queues == 0 || config.rx_queues > info.max_rx_queues {
            return Err(Error::QueueCount { kind: "rx", requested: config.rx_queues, max: info.max_rx_queues });
        }
        if config.tx_queues == 0 || config.tx_queues > info.max_tx_queues {
            return Err(Error::QueueCount { kind: "tx", requested: config.tx_queues, max: info.max_tx_queues });
        }
        let id = self.id();
        Error::check("rte_eth_dev_stop", self.shared.stop_device())?;

        self.shared.remove_rx_callbacks();
        let mut conf = dpdk_sys::rte_eth_conf::default();
        if !self.vlan_filter.is_empty() {
            // SAFETY: the shim function only returns a constant.
            conf.rxmode.offloads |= unsafe { dpdk_sys::shim_rx_offload_vlan_filter() };
        }
        if config.rx_queues > 1 {
            // SAFETY: the shim functions only return constants.
            let wanted = unsafe {
                dpdk_sys::shim_rss_hf_ip() | dpdk_sys::shim_rss_hf_tcp() | dpdk_sys::shim_rss_hf_udp()
            };
            let hf = wanted & info.flow_type_rss_offloads;
            if hf != 0 {
                conf.rxmode.mq_mode = dpdk_sys::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_RSS;
                conf.rx_adv_conf.rss_conf.rss_hf = hf;
            }
        }
        // SAFETY: conf is a valid, initialised configuration; the port is stopped.
        let rc = unsafe { dpdk_sys::rte_eth_dev_configure(id, config.rx_queues, config.tx_queues, &conf) };
        Error::check("rte_eth_dev_configure", rc)?;

        let (mut rx_desc, mut tx_desc) = (config.rx_descriptors, config.tx_descriptors);
        // SAFETY: valid port id and out pointers.
        let rc = unsafe { dpdk_sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rx_desc, &mut tx_desc) };
        Error::check("rte_eth_dev_adjust_nb_rx_tx_desc", rc)?;
        // SAFETY: valid port id.
        let socket = unsafe { dpdk_sys::rte_eth_dev_socket_id(id) }.max(0) as u32;
        for q in 0..config.rx_queues {
            // SAFETY: configured port, queue index in range, NULL conf means device defaults, and the
            // pool outlives the queue (PortShared keeps a clone until the port is closed).
            let rc = unsafe {
                dpdk_sys::rte_eth_rx_queue_setup(id, q, rx_desc, socket, std::ptr::null(), pool.as_ptr())
            };
            Error::check("rte_eth_rx_queue_setup", rc)?;
        }
        for q in 0..config.tx_queues {
            // SAFETY: configured port, queue index in range, NULL conf means device defaults.
            let rc = unsafe { dpdk_sys::rte_eth_tx_queue_setup(id, q, tx_desc, socket, std::ptr::null()) };
            Error::check("rte_eth_tx_queue_setup", rc)?;
        }
        *self.shared.pool.lock().unwrap_or_else(|e| e.into_inner()) = Some(pool.clone());
        self.apply_vlan_filter(config.rx_queues)?;

        let rx = (0..config.rx_queues).map(|q| RxQueue::new(self.shared.clone(), q)).collect();
        let tx = (0..config.tx_queues).map(|q| TxQueue::new(self.shared.clone(), q)).collect();
        Ok((rx, tx))
    }

    /// Adds the VLAN filter's ids to the configured device and the tag-restoring rx callback to each
    /// of its `rx_queues` queues.
    fn apply_vlan_filter(&mut self, rx_queues: u16) -> Result<()> {
        if self.vlan_filter.is_empty() {
            return Ok(());
        }
        let id = self.id();
        for &vlan in &self.vlan_filter {
            // SAFETY: valid, configured port with RTE_ETH_RX_OFFLOAD_VLAN_FILTER enabled.
            let rc = unsafe { dpdk_sys::rte_eth_dev_vlan_filter(id, vlan, 1) };
            Error::check("rte_eth_dev_vlan_filter", rc)?;
        }
        let mut callbacks = self.shared.rx_callbacks.lock().unwrap_or_else(|e| e.into_inner());
        for queue in 0..rx_queues {
            // SAFETY: valid, configured port and queue index; no queue handle polls it yet.
            let handle = unsafe { dpdk_sys::shim_add_vlan_restore_callback(id, queue) };
            if handle.is_null() {
                // SAFETY: reads the calling thread's rte_errno.
                let errno = unsafe { dpdk_sys::shim_rte_errno() };
                return Err(Error::dpdk("rte_eth_add_rx_callback", -errno.max(1)));
            }
            callbacks.push(RxCallback { queue, handle });
        }
        Ok(())
    }

    /// Starts the device.
    pub fn start(&mut self) -> Result<()> {
        // SAFETY: valid, configured port id.
        let rc = unsafe { dpdk_sys::rte_eth_dev_start(self.id()) };
        Error::check("rte_eth_dev_start", rc)?;
        self.shared.started.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Stops the device. Fails with [`Error::QueuesInUse`] while queue handles are alive.
    pub fn stop(&mut self) -> Result<()> {
        self.ensure_no_queue_handles()?;
        Error::check("rte_eth_dev_stop", self.shared.stop_device()).map(drop)
    }

    /// Turns promiscuous mode on or off.
    pub fn set_promiscuous(&mut self, on: bool) -> Result<()> {
        // SAFETY: valid port id.
        let rc = unsafe {
            if on {
                dpdk_sys::rte_eth_promiscuous_enable(self.id())
            } else {
                dpdk_sys::rte_eth_promiscuous_disable(self.id())
            }
        };
        Error::check("rte_eth_promiscuous_enable/disable", rc).map(drop)
    }

    /// True when promiscuous mode is on.
    pub fn promiscuous(&self) -> bool {
        // SAFETY: valid port id.
        unsafe { dpdk_sys::rte_eth_promiscuous_get(self.id()) == 1 }
    }

    /// The port's MAC address.
    pub fn mac_address(&self) -> Result<[u8; 6]> {
        let mut mac = dpdk_sys::rte_ether_addr::default();
        // SAFETY: valid port id and out pointer.
        let rc = unsafe { dpdk_sys::rte_eth_macaddr_get(self.id(), &mut mac) };
        Error::check("rte_eth_macaddr_get", rc)?;
        Ok(mac.addr_bytes)
    }

    /// Link state, without waiting for autonegotiation.
    pub fn link(&self) -> Result<Link> {
        let mut link = dpdk_sys::rte_eth_link::default();
        // SAFETY: valid port id and out pointer.
        let rc = unsafe { dpdk_sys::rte_eth_link_get_nowait(self.id(), &mut link) };
        Error::check("rte_eth_link_get_nowait", rc)?;
        Ok(Link {
            up: link.link_status() == 1,
            speed_mbps: link.link_speed,
            full_duplex: link.link_duplex() == 1,
        })
    }

    /// Basic counters.
    pub fn stats(&self) -> Result<PortStats> {
        let mut s = dpdk_sys::rte_eth_stats::default();
        // SAFETY: valid port id and out pointer.
        let rc = unsafe { dpdk_sys::rte_eth_stats_get(self.id(), &mut s) };
        Error::check("rte_eth_stats_get", rc)?;
        Ok(PortStats {
            rx_packets: s.ipackets,
            tx_packets: s.opackets,
            rx_bytes: s.ibytes,
            tx_bytes: s.obytes,
            rx_missed: s.imissed,
            rx_errors: s.ierrors,
            tx_errors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// Resets the basic counters.
    pub fn reset_stats(&mut self) -> Result<()> {
        // SAFETY: valid port id.
        let rc = unsafe { dpdk_sys::rte_eth_stats_reset(self.id()) };
        Error::check("rte_eth_stats_reset", rc).map(drop)
    }

    /// Extended counters by name (`rte_eth_xstats_get_names` / `rte_eth_xstats_get`).
    pub fn xstats(&self) -> Result<Vec<(String, u64)>> {
        let id = self.id();
        // SAFETY: a NULL array with size 0 asks for the count.
        let n = unsafe { dpdk_sys::rte_eth_xstats_get_names(id, std::ptr::null_mut(), 0) };
        let n = Error::check("rte_eth_xstats_get_names", n)? as usize;
        let mut names = vec![dpdk_sys::rte_eth_xstat_name::default(); n];
        let mut values = vec![dpdk_sys::rte_eth_xstat::default(); n];
        // SAFETY: both arrays hold n elements.
        let got = unsafe { dpdk_sys::rte_eth_xstats_get_names(id, names.as_mut_ptr(), n as u32) };
        let got_names = Error::check("rte_eth_xstats_get_names", got)? as usize;
        // SAFETY: as above.
        let got = unsafe { dpdk_sys::rte_eth_xstats_get(id, values.as_mut_ptr(), n as u32) };
        let got_values = Error::check("rte_eth_xstats_get", got)? as usize;
        let count = got_names.min(got_values).min(n);
        Ok(values[..count]
            .iter()
            .filter_map(|v| {
                let name = names.get(v.id as usize)?;
                // SAFETY: DPDK writes NUL-terminated names into the fixed-size array.
                let name = unsafe { CStr::from_ptr(name.name.as_ptr()) }.to_string_lossy().into_owned();
                Some((name, v.value))
            })
            .collect())
    }
}

/// Checks VLAN ids (1-4095) and returns them sorted without duplicates.
fn vlan_ids(vlans: &[u16]) -> std::result::Result<Vec<u16>, String> {
    if let Some(bad) = vlans.iter().find(|&&v| v == 0 || v > 4095) {
        return Err(format!("VLAN id {bad} is outside 1-4095"));
    }
    let mut ids = vlans.to_vec();
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Expands a short PCI address (`03:00.1`) to DPDK's device name (`0000:03:00.1`); other names
/// are returned unchanged.
fn normalise_pci_name(name: &str) -> String {
    let b = name.as_bytes();
    let short_pci = b.len() == 7
        && b[2] == b':'
        && b[5] == b'.'
        && name.chars().enumerate().all(|(i, c)| matches!(i, 2 | 5) || c.is_ascii_hexdigit());
    if short_pci {
        format!("0000:{name}")
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::{normalise_pci_name, vlan_ids};

    #[test]
    fn vlan_ids_are_checked_sorted_and_deduplicated() {
        assert_eq!(vlan_ids(&[210, 100, 210]), Ok(vec![100, 210]));
        assert_eq!(vlan_ids(&[]), Ok(vec![]));
        assert_eq!(vlan_ids(&[1, 4095]), Ok(vec![1, 4095]));
        assert_eq!(vlan_ids(&[210, 0]), Err("VLAN id 0 is outside 1-4095".to_string()));
        assert_eq!(vlan_ids(&[4096]), Err("VLAN id 4096 is outside 1-4095".to_string()));
    }

    #[test]
    fn short_pci_addresses_get_a_domain() {
        assert_eq!(normalise_pci_name("03:00.1"), "0000:03:00.1");
        assert_eq!(normalise_pci_name("0000:03:00.1"), "0000:03:00.1");
        assert_eq!(normalise_pci_name("net_ring0"), "net_ring0");
        assert_eq!(normalise_pci_name("zz:00.1"), "zz:00.1");
    }
}
