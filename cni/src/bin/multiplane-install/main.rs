//! `multiplane-install`: the CNI installer that multiplane's DaemonSet runs on every node, in the
//! manner of Multus's entrypoint. It copies `multus` and `sriov` into the host's CNI bin dir
//! atomically, writes a kubeconfig from the pod's service account, writes the multus configuration
//! (by default `00-multus.conf` wrapping the first CNI config of the conf dir as the cluster
//! network, or a given file), then keeps both current until SIGTERM/SIGINT, and with
//! `--cleanup-config-on-exit` removes them on the way out. `--help` lists the flags.
//!
//! Exit codes: 0 done (or stopped by a signal), 1 failure, 2 bad flags.

mod files;
mod flags;
mod installer;
mod kubeconfig;
mod multus_conf;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use flags::{Command, Options};
use installer::{ConfState, Installer};

/// Prints one line of what the installer does to stderr (the pod's log).
fn log(message: &str) {
    eprintln!("multiplane-install: {message}");
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
        .unwrap_or_default();
    match flags::parse(&args, &exe_dir) {
        Ok(Command::Help) => {
            print!("{}", flags::USAGE);
            ExitCode::SUCCESS
        }
        Ok(Command::Install(options)) => match run(*options) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                log(&format!("error: {e}"));
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            log(&e.to_string());
            ExitCode::from(2)
        }
    }
}

fn run(options: Options) -> Result<(), String> {
    let signals = if options.once {
        None
    } else {
        Some(watch::block_signals()?)
    };
    let cleanup = options.cleanup_config_on_exit;
    let mut installer = Installer::new(options);
    installer.install_plugins()?;
    let state = installer.reconcile()?;
    let Some(signals) = signals else {
        return match state {
            ConfState::Current => Ok(()),
            ConfState::Waiting(reason) => Err(reason),
        };
    };
    let signal = watch::run(&mut installer, &signals)?;
    log(&format!("{signal} received"));
    if cleanup {
        installer.cleanup()?;
    }
    Ok(())
}
