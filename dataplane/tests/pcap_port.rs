//! Frames read by a `net_pcap` vdev from one file and sent on another come out byte for byte,
//! with byte-exact port counters.

mod common;

use common::*;
use dataplane::{pcap, Mempool, Port, PortConfig};

#[test]
fn pcap_in_equals_pcap_out_and_counters_match() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.pcap"), dir.path().join("out.pcap"));
    let mut sent = frames(500);
    sent.push(frame(9999, 60)); // minimum frame without FCS
    pcap::write(std::fs::File::create(&input).unwrap(), &sent).unwrap();

    let spec = format!("net_pcap0,rx_pcap={},tx_pcap={}", input.display(), output.display());
    let eal = eal_with_vdevs(&[&spec]);
    let pool = Mempool::new(&eal, "pool", 2047, 32).unwrap();
    let mut port = Port::open(&eal, "net_pcap0").unwrap();
    assert_eq!(port.info().unwrap().driver, "net_pcap");
    let (mut rxs, mut txs) = port.configure(&PortConfig::with_queues(1), &pool).unwrap();
    port.start().unwrap();

    let mut forwarded = 0;
    let mut batch = dataplane::MbufBatch::new();
    let mut idle = 0;
    while forwarded < sent.len() && idle < 10_000 {
        if rxs[0].rx_burst(&mut batch) == 0 {
            idle += 1;
        }
        while !batch.is_empty() {
            forwarded += txs[0].tx_burst(&mut batch);
        }
    }
    assert_eq!(forwarded, sent.len());

    let bytes: u64 = sent.iter().map(|f| f.len() as u64).sum();
    let stats = port.stats().unwrap();
    assert_eq!((stats.rx_packets, stats.tx_packets), (sent.len() as u64, sent.len() as u64));
    assert_eq!((stats.rx_bytes, stats.tx_bytes), (bytes, bytes));
    let xstats = port.xstats().unwrap();
    assert!(xstats.iter().any(|(name, v)| name == "rx_good_packets" && *v == sent.len() as u64), "{xstats:?}");

    drop((rxs, txs, port)); // closing the port flushes the pcap writer
    assert_no_leak(&pool);
    let written = pcap::read(std::fs::File::open(&output).unwrap()).unwrap();
    assert_eq!(written, sent);
}
