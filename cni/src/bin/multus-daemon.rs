//! `multus-daemon`: runs multus for every pod of the node, for `multus-shim` (see `cni::multus::thick`).
//!
//!     multus-daemon [--socket-dir /run/multus] [--kubeconfig FILE] [--node-name NAME] [--chroot-dir DIR]
//!
//! In a container (docker/manifests/multus-thick.yaml), `--chroot-dir` names the host's root as
//! mounted there: the daemon then runs as if on the host.
//!
//! `--node-name` defaults to `MULTUS_NODE_NAME`. Exit codes: 0 stopped by SIGTERM/SIGINT, 1 failure,
//! 2 bad arguments.

use std::process::ExitCode;

use cni::multus::thick::daemon::{serve, Options};

fn main() -> ExitCode {
    let options = match Options::parse(
        std::env::args().skip(1),
        std::env::var("MULTUS_NODE_NAME").ok(),
    ) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("multus-daemon: {e}\nusage: multus-daemon [--socket-dir DIR] [--kubeconfig FILE] [--node-name NAME] [--chroot-dir DIR]");
            return ExitCode::from(2);
        }
    };
    match serve(&options) {
        Ok(signal) => {
            eprintln!("multus-daemon: stopped by {signal}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("multus-daemon: {e}");
            ExitCode::FAILURE
        }
    }
}
