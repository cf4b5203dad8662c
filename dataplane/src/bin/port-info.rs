//! Opens one DPDK port and prints what the device reports, as one JSON object: a probe for
//! "can this VF (or vdev) be driven by DPDK here?".
//!
//! `port-info [EAL args] -- NAME` where NAME is a vdev name or a PCI address, e.g.
//! `port-info -l 0 --in-memory -a 0000:01:10.0 -- 0000:01:10.0`. With `--start` it also
//! configures one queue pair, starts the port and reports the link.

use dataplane::{Eal, Mempool, Port, PortConfig};

fn main() {
    let code = match run() {
        Ok(json) => {
            println!("{json}");
            0
        }
        Err(e) => {
            eprintln!("port-info: {e}");
            1
        }
    };
    std::process::exit(code);
}

fn run() -> Result<String, String> {
    let (eal, args) = Eal::from_command_line(std::env::args()).map_err(|e| e.to_string())?;
    let start = args.iter().any(|a| a == "--start");
    let names: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let [name] = names[..] else {
        return Err("usage: port-info [EAL args] -- [--start] NAME".into());
    };
    let mut port = Port::open(&eal, name).map_err(|e| e.to_string())?;
    let info = port.info().map_err(|e| e.to_string())?;
    let mac = port.mac_address().map_err(|e| e.to_string())?;
    let mac = mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    let mut json = format!(
        "{{\"name\":\"{}\",\"port_id\":{},\"driver\":\"{}\",\"mac\":\"{mac}\",\"max_rx_queues\":{},\"max_tx_queues\":{}",
        port.name(),
        port.id(),
        info.driver,
        info.max_rx_queues,
        info.max_tx_queues
    );
    if start {
        let pool = Mempool::new(&eal, "port_info_pool", 2047, 0).map_err(|e| e.to_string())?;
        let queues = port.configure(&PortConfig::with_queues(1), &pool).map_err(|e| e.to_string())?;
        port.start().map_err(|e| e.to_string())?;
        let link = port.link().map_err(|e| e.to_string())?;
        json.push_str(&format!(",\"started\":true,\"link_up\":{},\"speed_mbps\":{}", link.up, link.speed_mbps));
        drop(queues);
        port.stop().map_err(|e| e.to_string())?;
    }
    json.push('}');
    Ok(json)
}
