//! `Port::set_vlan_filter` on a device without a VLAN filter (`net_ring`): bad ids and the missing
//! capability are errors that name the port; an empty filter leaves the port as it was.

mod common;

use common::*;
use dataplane::{Mempool, Port, PortConfig};

#[test]
fn a_vlan_filter_needs_valid_ids_and_a_device_that_filters() {
    let eal = eal_with_vdevs(&["net_ring0"]);
    let pool = Mempool::new(&eal, "pool", 1023, 0).unwrap();
    let mut port = Port::open(&eal, "net_ring0").unwrap();

    let err = port.set_vlan_filter(&[210, 4096]).unwrap_err().to_string();
    assert!(
        err.contains("port net_ring0: vlan filter: VLAN id 4096 is outside 1-4095"),
        "{err}"
    );
    let err = port.set_vlan_filter(&[210]).unwrap_err().to_string();
    assert!(
        err.contains("port net_ring0: vlan filter: the net_ring device has no VLAN filter"),
        "{err}"
    );
    assert!(
        port.vlan_filter().is_empty(),
        "a refused filter is not kept"
    );

    port.set_vlan_filter(&[]).unwrap();
    let (rx, tx) = port.configure(&PortConfig::with_queues(1), &pool).unwrap();
    port.start().unwrap();
    drop((rx, tx));
    drop(port);
    assert_no_leak(&pool);
}
