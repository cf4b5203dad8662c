//! The long-running part: inotify on the conf dir, the kubeconfig's dir and the service account dir
//! (the kubelet rotates the token by swapping a symlink there); any change there reconciles. SIGTERM
//! and SIGINT arrive through a signalfd, so the loop is one `poll` with no handlers.

use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::installer::Installer;
use crate::log;

/// Blocks SIGTERM and SIGINT and returns a descriptor that reads them. Call before anything else
/// runs, so a signal can only end the process through the watch loop (and its cleanup).
pub fn block_signals() -> Result<SignalFd, String> {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGTERM);
    mask.add(Signal::SIGINT);
    mask.thread_block()
        .map_err(|e| format!("cannot block SIGTERM/SIGINT: {e}"))?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC).map_err(|e| format!("signalfd: {e}"))
}

/// Watches and reconciles until a signal arrives; returns the signal's name.
pub fn run(installer: &mut Installer, signals: &SignalFd) -> Result<String, String> {
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
        .map_err(|e| format!("inotify: {e}"))?;
    let events = AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_ATTRIB;
    let options = installer.options();
    let dirs = [
        options.cni_conf_dir.clone(),
        installer.kubeconfig_dir(),
        options.service_account_dir.clone(),
    ];
    for dir in dirs.iter().filter(|d| d.is_dir()) {
        inotify
            .add_watch(dir, events)
            .map_err(|e| format!("cannot watch {}: {e}", dir.display()))?;
    }
    log("watching for changes");
    loop {
        let mut fds = [
            PollFd::new(inotify.as_fd(), PollFlags::POLLIN),
            PollFd::new(signals.as_fd(), PollFlags::POLLIN),
        ];
        poll(&mut fds, PollTimeout::NONE).map_err(|e| format!("poll: {e}"))?;
        let ready = |fd: &PollFd| fd.revents().is_some_and(|r| r.contains(PollFlags::POLLIN));
        if ready(&fds[1]) {
            let signal = signals
                .read_signal()
                .map_err(|e| format!("reading a signal: {e}"))?;
            let name = signal
                .and_then(|s| Signal::try_from(s.ssi_signo as i32).ok())
                .map_or("a signal", Signal::as_str);
            return Ok(name.to_string());
        }
        if ready(&fds[0]) {
            drain(&inotify)?;
            if let Err(e) = installer.reconcile() {
                log(&format!("error: {e}"));
            }
        }
    }
}

/// Reads every pending event: one reconcile answers them all.
fn drain(inotify: &Inotify) -> Result<(), String> {
    loop {
        match inotify.read_events() {
            Ok(events) if !events.is_empty() => continue,
            Ok(_) | Err(Errno::EAGAIN) => return Ok(()),
            Err(e) => return Err(format!("inotify: {e}")),
        }
    }
}
