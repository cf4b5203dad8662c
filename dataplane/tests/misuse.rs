//! Misuse of the core is a typed error, never undefined behaviour.

mod common;

use common::*;
use dataplane::{Eal, Error, Mbuf, Mempool, Port, PortConfig};

#[test]
fn a_bad_vdev_name_fails_eal_init_with_a_dpdk_error() {
    let err = test_eal_builder().vdev("net_nosuchdriver0").init().err().expect("bogus vdev must fail");
    assert!(matches!(err, Error::Dpdk { op: "rte_eal_init", .. }), "{err:?}");
}

#[test]
fn a_second_eal_init_is_an_error() {
    let _eal = eal_with_vdevs(&["net_null0"]);
    let again = Eal::init(&["--no-huge"]).err().expect("second init must fail");
    assert_eq!(again, Error::EalAlreadyInitialized);
}

#[test]
fn an_unknown_port_is_port_not_found() {
    let eal = eal_with_vdevs(&["net_ring0"]);
    for name in ["net_ring7", "0000:99:00.0", "99:00.0"] {
        let err = Port::open(&eal, name).err().expect("unknown port");
        assert_eq!(err, Error::PortNotFound { name: name.to_owned() });
    }
}

#[test]
fn a_port_opens_once() {
    let eal = eal_with_vdevs(&["net_ring0"]);
    let _port = Port::open(&eal, "net_ring0").unwrap();
    assert!(matches!(Port::open(&eal, "net_ring0"), Err(Error::InvalidArgument { .. })));
}

#[test]
fn more_queues_than_the_device_has_is_a_queue_count_error() {
    let eal = eal_with_vdevs(&["net_ring0"]);
    let pool = Mempool::new(&eal, "pool", 1023, 0).unwrap();
    let mut port = Port::open(&eal, "net_ring0").unwrap();
    let max = port.info().unwrap().max_rx_queues;
    let err = port.configure(&PortConfig::with_queues(max + 1), &pool).err().expect("too many queues");
    assert_eq!(err, Error::QueueCount { kind: "rx", requested: max + 1, max });
    let zero = port.configure(&PortConfig::with_queues(0), &pool).err().expect("zero queues");
    assert!(matches!(zero, Error::QueueCount { requested: 0, .. }));
}

#[test]
fn a_port_with_live_queue_handles_cannot_stop_or_reconfigure() {
    let eal = eal_with_vdevs(&["net_ring0"]);
    let pool = Mempool::new(&eal, "pool", 1023, 0).unwrap();
    let mut port = Port::open(&eal, "net_ring0").unwrap();
    let queues = port.configure(&PortConfig::with_queues(1), &pool).unwrap();
    port.start().unwrap();
    assert_eq!(port.stop(), Err(Error::QueuesInUse));
    assert!(matches!(port.configure(&PortConfig::with_queues(1), &pool), Err(Error::QueuesInUse)));
    drop(queues);
    port.stop().unwrap();
    let (_rx, _tx) = port.configure(&PortConfig::with_queues(1), &pool).unwrap();
}

#[test]
fn mbuf_room_limits_are_errors_and_edits_work() {
    let eal = eal_with_vdevs(&[]);
    let pool = Mempool::new(&eal, "pool", 63, 0).unwrap();
    let mut m = Mbuf::alloc(&pool).unwrap();
    assert_eq!(m.pkt_len(), 0);
    let headroom = m.headroom();
    assert!(matches!(m.append(m.tailroom() + 1), Err(Error::MbufRoom { op: "append", .. })));
    assert!(matches!(m.prepend(headroom + 1), Err(Error::MbufRoom { op: "prepend", .. })));
    assert!(matches!(m.append(70_000), Err(Error::MbufRoom { op: "append", .. })));

    m.append(4).unwrap().copy_from_slice(&[1, 2, 3, 4]);
    m.prepend(2).unwrap().copy_from_slice(&[9, 8]);
    assert_eq!(m.data(), &[9, 8, 1, 2, 3, 4]);
    m.adj(1).unwrap();
    m.trim(2).unwrap();
    assert_eq!(m.data(), &[8, 1, 2]);
    m.data_mut()[0] = 7;
    assert_eq!((m.data(), m.pkt_len(), m.segments()), (&[7u8, 1, 2][..], 3, 1));
    assert!(matches!(m.adj(4), Err(Error::MbufRoom { op: "adj", .. })));
    assert!(matches!(m.trim(4), Err(Error::MbufRoom { op: "trim", .. })));
    assert_eq!(m.data(), &[7, 1, 2], "failed edits leave the data alone");
    drop(m);
    assert_no_leak(&pool);
}

#[test]
fn an_empty_pool_is_an_allocation_error_and_refills_on_drop() {
    let eal = eal_with_vdevs(&[]);
    let pool = Mempool::new(&eal, "pool", 127, 0).unwrap();
    let held: Vec<Mbuf> = (0..127).map(|_| Mbuf::alloc(&pool).unwrap()).collect();
    assert_eq!(pool.available(), 0);
    let err = Mbuf::alloc(&pool).err().expect("pool is empty");
    assert!(matches!(err, Error::Dpdk { op: "rte_pktmbuf_alloc", errno: 105, .. }), "{err:?}");
    drop(held);
    assert_no_leak(&pool);
}

#[test]
fn duplicate_mempool_names_are_dpdk_errors() {
    let eal = eal_with_vdevs(&[]);
    let _a = Mempool::new(&eal, "same", 63, 0).unwrap();
    let err = Mempool::new(&eal, "same", 63, 0).err().expect("duplicate name");
    assert!(matches!(err, Error::Dpdk { op: "rte_pktmbuf_pool_create", .. }), "{err:?}");
}
