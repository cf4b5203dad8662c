//! The C shim's exported static-inline functions work against the real DPDK libraries: bulk mbuf
//! allocation, mempool get/put, ring enqueue/dequeue, lcore id and rte_errno. Runs under
//! cargo-nextest (one EAL per process).

use std::ffi::{c_void, CString};
use std::ptr;

use dpdk_sys::*;

fn init_eal() {
    let args = ["shim-test", "-l", "0", "--no-pci", "--no-huge", "--no-shconf", "-m", "128", "--log-level", "error"];
    let owned: Vec<CString> = args.iter().map(|a| CString::new(*a).unwrap()).collect();
    let mut argv: Vec<*mut i8> = owned.iter().map(|s| s.as_ptr() as *mut i8).collect();
    // SAFETY: argv holds valid C strings that outlive the call; one init per test process.
    let rc = unsafe { rte_eal_init(argv.len() as i32, argv.as_mut_ptr()) };
    assert!(rc >= 0, "rte_eal_init failed");
}

#[test]
fn bulk_mbufs_mempool_and_ring_round_trip() {
    init_eal();
    // SAFETY: plain DPDK calls on objects created here, used per their documented contracts.
    unsafe {
        assert_eq!(shim_rte_lcore_id(), 0, "the init thread is the main lcore");
        let name = CString::new("shim_pool").unwrap();
        let pool = rte_pktmbuf_pool_create(name.as_ptr(), 255, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE as u16, 0);
        assert!(!pool.is_null());

        let mut mbufs = [ptr::null_mut::<rte_mbuf>(); 64];
        assert_eq!(shim_rte_pktmbuf_alloc_bulk(pool, mbufs.as_mut_ptr(), 64), 0);
        assert_eq!(rte_mempool_avail_count(pool), 255 - 64);
        let mut too_many = [ptr::null_mut::<rte_mbuf>(); 255];
        assert_ne!(shim_rte_pktmbuf_alloc_bulk(pool, too_many.as_mut_ptr(), 255), 0, "all-or-nothing");
        assert_eq!(rte_mempool_avail_count(pool), 255 - 64, "a failed bulk alloc takes nothing");

        let ring_name = CString::new("shim_ring").unwrap();
        let ring = rte_ring_create(ring_name.as_ptr(), 32, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
        assert!(!ring.is_null());
        let mut free_space = 0;
        let objs = mbufs.as_ptr() as *const *mut c_void;
        // A 32-slot ring holds 31 objects.
        assert_eq!(shim_rte_ring_enqueue_burst(ring, objs, 64, &mut free_space), 31);
        assert_eq!(free_space, 0);
        let mut out = [ptr::null_mut::<c_void>(); 64];
        let mut left = 0;
        assert_eq!(shim_rte_ring_dequeue_burst(ring, out.as_mut_ptr(), 64, &mut left), 31);
        assert_eq!(left, 0);
        assert_eq!(&out[..31], &mbufs.map(|m| m as *mut c_void)[..31], "FIFO order");
        rte_ring_free(ring);

        for m in mbufs {
            shim_rte_pktmbuf_free(m);
        }
        let mut raw = [ptr::null_mut::<c_void>(); 16];
        assert_eq!(shim_rte_mempool_get_bulk(pool, raw.as_mut_ptr(), 16), 0);
        assert_eq!(rte_mempool_avail_count(pool), 255 - 16);
        shim_rte_mempool_put_bulk(pool, raw.as_ptr(), 16);
        assert_eq!(rte_mempool_avail_count(pool), 255, "everything is back");

        let dup = rte_pktmbuf_pool_create(name.as_ptr(), 255, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE as u16, 0);
        assert!(dup.is_null());
        assert_eq!(shim_rte_errno(), 17, "EEXIST for a duplicate pool name");
        rte_mempool_free(pool);
    }
}

#[test]
fn rss_constants_are_the_composite_macros() {
    // SAFETY: constant-returning functions.
    let (ip, tcp, udp) = unsafe { (shim_rss_hf_ip(), shim_rss_hf_tcp(), shim_rss_hf_udp()) };
    const RSS_IPV4: u64 = 1 << 2; // RTE_ETH_RSS_IPV4 = RTE_BIT64(2)
    assert_ne!(ip & RSS_IPV4, 0, "RTE_ETH_RSS_IP includes IPv4");
    assert_eq!((ip & tcp, ip & udp, tcp & udp), (0, 0, 0), "the three sets are disjoint");
    assert!(tcp != 0 && udp != 0);
}

/// A frame of `len` bytes: destination and source MAC, then `ethertype`, then a counting payload.
fn frame(len: usize, ethertype: [u8; 2]) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len as u8).collect();
    if len >= 14 {
        f[12..14].copy_from_slice(&ethertype);
    }
    f
}

/// An mbuf from `pool` holding `bytes`.
///
/// # Safety
/// `pool` is a valid pktmbuf pool with free mbufs and room for `bytes`.
unsafe fn mbuf_with(pool: *mut rte_mempool, bytes: &[u8]) -> *mut rte_mbuf {
    let m = shim_rte_pktmbuf_alloc(pool);
    assert!(!m.is_null());
    let dst = shim_rte_pktmbuf_append(m, bytes.len() as u16);
    assert!(!dst.is_null());
    ptr::copy_nonoverlapping(bytes.as_ptr(), dst as *mut u8, bytes.len());
    m
}

/// The bytes an mbuf holds (one segment).
///
/// # Safety
/// `m` is a valid single-segment mbuf.
unsafe fn bytes_of(m: *const rte_mbuf) -> Vec<u8> {
    let data = ((*m).buf_addr as *const u8).add((*m).data_off as usize);
    std::slice::from_raw_parts(data, (*m).data_len as usize).to_vec()
}

#[test]
fn stripped_vlan_tags_are_put_back_and_frames_that_cannot_take_one_are_freed() {
    init_eal();
    let stripped_flags = u64::from(RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED);
    // SAFETY: plain DPDK calls on mbufs allocated here from a pool created here.
    unsafe {
        let name = CString::new("vlan_pool").unwrap();
        let pool = rte_pktmbuf_pool_create(name.as_ptr(), 63, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE as u16, 0);
        assert!(!pool.is_null());
        let ipv4 = frame(60, [0x08, 0x00]);
        // A frame the device stripped of VLAN 210 priority 5, an untagged one, one too short for a tag.
        let stripped = mbuf_with(pool, &ipv4);
        (*stripped).ol_flags |= stripped_flags;
        (*stripped).vlan_tci = (5 << 13) | 210;
        let untagged = mbuf_with(pool, &ipv4);
        let runt = mbuf_with(pool, &ipv4[..10]);
        (*runt).ol_flags |= stripped_flags;
        (*runt).vlan_tci = 210;
        let mut pkts = [stripped, runt, untagged];

        assert_eq!(shim_restore_vlan_tags(pkts.as_mut_ptr(), 3), 2, "the runt is dropped");
        assert_eq!(pkts[..2], [stripped, untagged], "the rest keep their order at the front");
        let mut tagged = ipv4[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0xa0, 0xd2]);
        tagged.extend_from_slice(&ipv4[12..]);
        assert_eq!(bytes_of(stripped), tagged, "the tag (TPID 0x8100, TCI 0xa0d2) sits after the MACs");
        assert_eq!((*stripped).ol_flags & u64::from(RTE_MBUF_F_RX_VLAN_STRIPPED), 0, "no longer stripped");
        assert_eq!(bytes_of(untagged), ipv4, "a frame that was not stripped is untouched");

        shim_rte_pktmbuf_free(stripped);
        shim_rte_pktmbuf_free(untagged);
        assert_eq!(rte_mempool_avail_count(pool), 63, "the runt was freed, nothing leaked");
        rte_mempool_free(pool);
    }
}
