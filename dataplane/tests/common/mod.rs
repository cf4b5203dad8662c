//! Shared helpers for the DPDK integration tests. Each test runs in its own process
//! (cargo-nextest), since the EAL initialises once per process.
#![allow(dead_code)]

use dataplane::{Eal, EalBuilder, Mbuf, MbufBatch, Mempool, RxQueue};

/// EAL arguments for tests: two lcores, no PCI, no hugepages, a private file prefix.
pub fn test_eal_builder() -> EalBuilder {
    EalBuilder::new()
        .cores("0-1")
        .no_pci()
        .no_huge()
        .no_shconf()
        .memory_mb(256)
        .file_prefix(&format!("mptest{}", std::process::id()))
        .log_level("error")
}

/// Initialises the EAL with the given `--vdev` specs.
pub fn eal_with_vdevs(vdevs: &[&str]) -> Eal {
    vdevs
        .iter()
        .fold(test_eal_builder(), |b, v| b.vdev(v))
        .init()
        .expect("EAL init with test vdevs")
}

/// A frame of `len` bytes whose content identifies `seq` (Ethernet header + counter pattern).
pub fn frame(seq: u32, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[12..14].copy_from_slice(&0x88b5u16.to_be_bytes()); // local experimental ethertype
    f[14..18].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in f.iter_mut().enumerate().skip(18) {
        *b = (i as u32).wrapping_add(seq) as u8;
    }
    f
}

/// Frames 0..n with lengths cycling through 60..=1514.
pub fn frames(n: u32) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| frame(i, 60 + (i as usize * 97) % 1455))
        .collect()
}

/// Fills a batch with copies of `frames`, which must fit.
pub fn batch_of(pool: &Mempool, frames: &[Vec<u8>]) -> MbufBatch {
    let mut batch = MbufBatch::new();
    for f in frames {
        let m = Mbuf::from_bytes(pool, f).expect("mbuf for test frame");
        assert!(batch.push(m).is_ok(), "test batch overflow");
    }
    batch
}

/// Receives until `expected` frames came or a few thousand empty polls passed; returns their bytes.
pub fn receive(rx: &mut RxQueue, expected: usize) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut idle = 0;
    let mut batch = MbufBatch::new();
    while got.len() < expected && idle < 10_000 {
        if rx.rx_burst(&mut batch) == 0 {
            idle += 1;
            std::thread::yield_now();
        }
        got.extend(batch.drain().map(|m| m.data().to_vec()));
    }
    got
}

/// Asserts that every mbuf is back in the pool.
pub fn assert_no_leak(pool: &Mempool) {
    assert_eq!(
        pool.available(),
        pool.capacity(),
        "mbuf leak: {} of {} still in use",
        pool.in_use(),
        pool.capacity()
    );
}
