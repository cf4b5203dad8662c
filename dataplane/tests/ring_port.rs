//! Packets through a `net_ring` vdev (its tx ring feeds its own rx): counts, bytes and stats
//! match, refused transmissions come back to the caller, nothing leaks.

mod common;

use common::*;
use dataplane::{Mbuf, MbufBatch, Mempool, Port, PortConfig, BURST_SIZE};

#[test]
fn packets_out_equal_packets_in_and_port_stats_agree() {
    let eal = eal_with_vdevs(&["net_ring0"]);
    let pool = Mempool::new(&eal, "pool", 4095, 0).unwrap();
    let mut port = Port::open(&eal, "net_ring0").unwrap();
    let (mut rxs, mut txs) = port.configure(&PortConfig::with_queues(1), &pool).unwrap();
    port.start().unwrap();
    let (rx, tx) = (&mut rxs[0], &mut txs[0]);

    let sent = frames(1000);
    let mut received = Vec::new();
    for chunk in sent.chunks(BURST_SIZE) {
        let mut batch = batch_of(&pool, chunk);
        assert_eq!(tx.tx_burst(&mut batch), chunk.len(), "ring must accept a burst it has room for");
        assert!(batch.is_empty());
        received.extend(receive(rx, chunk.len()));
    }
    assert_eq!(received, sent, "every frame comes back, in order, byte for byte");

    // net_ring counts packets but not bytes (the pcap test checks byte counters).
    let stats = port.stats().unwrap();
    assert_eq!((stats.tx_packets, stats.rx_packets), (1000, 1000));
    assert_eq!(stats.tx_errors, 0);
    assert_no_leak(&pool);
}

#[test]
fn refused_transmissions_stay_with_the_caller_and_nothing_leaks() {
    let eal = eal_with_vdevs(&["net_ring0"]);
    let pool = Mempool::new(&eal, "pool", 8191, 0).unwrap();
    let mut port = Port::open(&eal, "net_ring0").unwrap();
    let (mut rxs, mut txs) = port.configure(&PortConfig::with_queues(1), &pool).unwrap();
    port.start().unwrap();
    let (rx, tx) = (&mut rxs[0], &mut txs[0]);

    // Fill the ring without receiving until the device refuses part of a burst.
    let mut accepted = 0usize;
    let mut leftover = None;
    for round in 0..1000u32 {
        let chunk: Vec<_> = (0..BURST_SIZE as u32).map(|i| frame(round * 100 + i, 64)).collect();
        let mut batch = batch_of(&pool, &chunk);
        let sent = tx.tx_burst(&mut batch);
        accepted += sent;
        if sent < BURST_SIZE {
            // What was refused is still ours, in order, starting with the first unsent frame.
            assert_eq!(batch.len(), BURST_SIZE - sent);
            assert_eq!(batch.as_slice()[0].data(), &chunk[sent][..]);
            leftover = Some(batch);
            break;
        }
    }
    let leftover = leftover.expect("a ring vdev must fill up");
    assert!(pool.in_use() as usize >= accepted + leftover.len());
    drop(leftover); // refused mbufs are freed by their owner

    let got = receive(rx, accepted);
    assert_eq!(got.len(), accepted, "everything the ring accepted comes out");
    let stats = port.stats().unwrap();
    assert_eq!(stats.tx_packets as usize, accepted);
    assert_eq!(stats.rx_packets as usize, accepted);
    assert_no_leak(&pool);

    // A refused batch that is simply dropped frees its mbufs too.
    let mut batch = MbufBatch::new();
    batch.push(Mbuf::alloc(&pool).unwrap()).ok().unwrap();
    drop(batch);
    assert_no_leak(&pool);
}

#[test]
fn port_properties_are_readable_and_settable() {
    let eal = eal_with_vdevs(&["net_ring0", "net_null0"]);
    let pool = Mempool::new(&eal, "pool", 1023, 0).unwrap();
    let mut ring = Port::open(&eal, "net_ring0").unwrap();
    let null = Port::open(&eal, "net_null0").unwrap();
    assert_eq!((ring.name(), null.name()), ("net_ring0", "net_null0"));
    assert_ne!(ring.id(), null.id());
    let info = ring.info().unwrap();
    assert_eq!(info.driver, "net_ring");
    assert!(info.max_rx_queues >= 1 && info.max_tx_queues >= 1);

    let mac = ring.mac_address().unwrap();
    assert_eq!(mac[0] & 0x01, 0, "unicast MAC: {mac:02x?}");
    assert_ne!(mac, null.mac_address().unwrap(), "each vdev has its own MAC");

    let _queues = ring.configure(&PortConfig::with_queues(1), &pool).unwrap();
    ring.start().unwrap();
    assert!(ring.link().unwrap().up, "a started ring port has link");
    ring.set_promiscuous(true).unwrap();
    assert!(ring.promiscuous());
    ring.set_promiscuous(false).unwrap();
    assert!(!ring.promiscuous());
}
