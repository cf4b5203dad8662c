//! `make demo`: what multiplane does, end to end, on a plain machine (root, no SR-IOV NIC, no cluster).
//!
//! `demo [--quick] [--keep] [--lab]`
//!
//! `--quick` sends fewer frames and skips the benchmark table (the test's mode); `--keep` leaves the pod
//! up and prints how to remove it; `--lab` runs the firewall story on emulated SR-IOV VFs in the lab
//! guest (`cni/tests/lab`, the seed's Figure 3).

#[path = "../demo/mod.rs"]
mod demo;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match demo::Options::parse(&args).and_then(demo::main_result) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("demo: {e}");
            1
        }
    };
    std::process::exit(code);
}
