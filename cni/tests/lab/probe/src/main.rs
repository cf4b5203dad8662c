//! `lab-probe <PCI address>`: opens one port with the `dataplane` crate the way a VNF would (EAL with
//! `-a <PCI>`, open by address, configure one queue pair, start, stop) and prints one line,
//! `driver=<PMD> mac=<MAC> link=<up|down> mbufs_in_use_after_stop=<N>`. The lab's DPDK-mode
//! scenario runs it on a VF that the `sriov` plugin bound to vfio-pci.

use std::process::ExitCode;

use dataplane::eal::EalBuilder;
use dataplane::error::Error;
use dataplane::mempool::Mempool;
use dataplane::port::{Port, PortConfig};

/// Mbufs in the probe's pool: more than the receive ring holds.
const POOL_MBUFS: u32 = 1023;
/// Descriptors per queue (the igbvf PMD accepts 32..4096 in steps of 8).
const DESCRIPTORS: u16 = 256;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, pci] = args.as_slice() else {
        eprintln!("usage: lab-probe <PCI address>");
        return ExitCode::from(2);
    };
    match probe(pci) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lab-probe: {pci}: {e:?}");
            ExitCode::FAILURE
        }
    }
}

fn probe(pci: &str) -> Result<String, Error> {
    let eal = EalBuilder::new().cores("0").allow(pci).in_memory().init()?;
    let mut port = Port::open(&eal, pci)?;
    let pool = Mempool::new(&eal, "lab_probe", POOL_MBUFS, 0)?;
    let driver = port.info()?.driver;
    let config = PortConfig { rx_queues: 1, tx_queues: 1, rx_descriptors: DESCRIPTORS, tx_descriptors: DESCRIPTORS };
    let queues = port.configure(&config, &pool)?;
    port.start()?;
    let mac = port.mac_address()?;
    let link = port.link()?;
    drop(queues);
    port.stop()?;
    let mac = mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    Ok(format!(
        "driver={driver} mac={mac} link={} mbufs_in_use_after_stop={}",
        if link.up { "up" } else { "down" },
        pool.in_use()
    ))
}
