//! Work on worker lcores: queues move to the core that polls them, results and panics come back.

mod common;

use common::*;
use dataplane::{lcore, Error, MbufBatch, Mempool, Port, PortConfig};

#[test]
fn a_worker_forwards_between_two_null_ports_and_counters_agree() {
    let eal = eal_with_vdevs(&["net_null0", "net_null1"]);
    let pool = Mempool::new(&eal, "pool", 4095, 64).unwrap();
    let mut a = Port::open(&eal, "net_null0").unwrap();
    let mut b = Port::open(&eal, "net_null1").unwrap();
    let (mut a_rx, _a_tx) = a.configure(&PortConfig::with_queues(1), &pool).unwrap();
    let (_b_rx, mut b_tx) = b.configure(&PortConfig::with_queues(1), &pool).unwrap();
    a.start().unwrap();
    b.start().unwrap();

    const TARGET: u64 = 100_000;
    let work = vec![(a_rx.remove(0), b_tx.remove(0))];
    let results = eal
        .run_on_workers(work, |(mut rx, mut tx)| {
            let mut batch = MbufBatch::new();
            let (mut received, mut sent, mut dropped) = (0u64, 0u64, 0u64);
            while received < TARGET {
                received += rx.rx_burst(&mut batch) as u64;
                sent += tx.tx_burst(&mut batch) as u64;
                dropped += batch.len() as u64;
                batch.drain().for_each(drop);
            }
            (lcore::current_lcore(), received, sent, dropped)
        })
        .unwrap();
    let (lcore_id, received, sent, dropped) = results[0];
    assert_eq!(lcore_id, eal.worker_lcores()[0], "the job ran on the worker lcore");
    assert_eq!(received, sent + dropped);
    assert_eq!(a.stats().unwrap().rx_packets, received);
    assert_eq!(b.stats().unwrap().tx_packets, sent);
    drop((a, b));
    assert_no_leak(&pool);
}

#[test]
fn a_worker_panic_is_an_error_and_the_others_finish() {
    let eal = eal_with_vdevs(&[]);
    let err = eal
        .run_on_workers(vec![1u32], |n| {
            if n == 1 {
                panic!("worker {n} gave up");
            }
            n
        })
        .expect_err("the panic is reported");
    assert_eq!(err, Error::WorkerPanicked { lcore: 1, message: "worker 1 gave up".into() });
    // The lcore is usable again afterwards.
    assert_eq!(eal.run_on_workers(vec![20u32], |n| n + 1).unwrap(), vec![21]);
}

#[test]
fn more_jobs_than_workers_is_an_error() {
    let eal = eal_with_vdevs(&[]);
    let err = eal.run_on_workers(vec![1, 2], |n: i32| n).err().unwrap();
    assert_eq!(err, Error::NotEnoughLcores { requested: 2, available: 1 });
}
