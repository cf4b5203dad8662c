//! `multus-daemon`: serves multus calls from `multus-shim` on a unix socket, one thread per call, with
//! the process's Kubernetes clients kept between calls ([`crate::k8s::share_clients`]).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};

use super::{Request, Response, DEFAULT_SOCKET_DIR, SOCKET_NAME};
use crate::k8s::{share_clients, Credentials, Kube};
use crate::multus::Multus;
use crate::spec::dispatch;

/// How long a starting daemon waits for its first list of pods and NADs.
const SYNC: Duration = Duration::from_secs(10);
/// How long a stopping daemon lets calls in flight finish.
const DRAIN: Duration = Duration::from_secs(30);

/// What the daemon serves and for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The directory of `multus.sock` (created 0700).
    pub socket_dir: PathBuf,
    /// A kubeconfig to connect with (and start watching) before the first call.
    pub kubeconfig: Option<PathBuf>,
    /// The node whose pods are watched (`--node-name`, else `MULTUS_NODE_NAME`); all pods when unset.
    pub node: Option<String>,
    /// The host's root as mounted in the daemon's container (`--chroot-dir`, Multus's `chrootDir`):
    /// the daemon changes its root to it before anything else, so that every path it is given —
    /// the socket dir, kubeconfigs, `binDir`, `CNI_NETNS`, IPAM state, sysfs — and every delegate it
    /// runs is the host's, as for the plugin binary the runtime runs.
    pub chroot_dir: Option<PathBuf>,
}

impl Options {
    /// Parses `[--socket-dir DIR] [--kubeconfig FILE] [--node-name NAME] [--chroot-dir DIR]`, each
    /// also as `--flag=VALUE`.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        node_from_env: Option<String>,
    ) -> Result<Options, String> {
        let mut options = Options {
            socket_dir: PathBuf::from(DEFAULT_SOCKET_DIR),
            kubeconfig: None,
            node: node_from_env.filter(|n| !n.is_empty()),
            chroot_dir: None,
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            // `--flag VALUE` or `--flag=VALUE`.
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
                None => (arg, None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| format!("{flag}: needs a value"))
            };
            match flag.as_str() {
                "--socket-dir" => options.socket_dir = PathBuf::from(value()?),
                "--kubeconfig" => options.kubeconfig = Some(PathBuf::from(value()?)),
                "--node-name" => options.node = Some(value()?),
                "--chroot-dir" => options.chroot_dir = Some(PathBuf::from(value()?)),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(options)
    }
}

/// Calls being served, so that a stop can wait for them.
#[derive(Default)]
struct InFlight {
    count: Mutex<usize>,
    idle: Condvar,
}

/// Serves until SIGTERM or SIGINT; then stops listening, lets calls in flight finish (up to 30 s) and
/// returns the signal's name.
pub fn serve(options: &Options) -> Result<String, String> {
    // Blocked before any thread exists, so that only `wait` below receives them (delegates are
    // spawned with an empty mask).
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    signals
        .thread_block()
        .map_err(|e| format!("cannot block SIGTERM/SIGINT: {e}"))?;
    if let Some(root) = &options.chroot_dir {
        nix::unistd::chroot(root)
            .and_then(|()| nix::unistd::chdir("/"))
            .map_err(|e| {
                format!(
                    "--chroot-dir: cannot change root to {}: {e}",
                    root.display()
                )
            })?;
    }

    share_clients(options.node.clone());
    if let Some(kubeconfig) = &options.kubeconfig {
        let started = Instant::now();
        let kube =
            Kube::for_call(Credentials::Kubeconfig(kubeconfig)).map_err(|e| e.to_string())?;
        if kube.caches_synced(SYNC) {
            eprintln!(
                "multus-daemon: pods and NADs listed in {:.0} ms",
                started.elapsed().as_secs_f64() * 1e3
            );
        } else {
            eprintln!("multus-daemon: pods and NADs not listed after {SYNC:?}: lookups go to the API server until they are");
        }
    }
    let socket = options.socket_dir.join(SOCKET_NAME);
    let listener = listen(&options.socket_dir, &socket)?;
    eprintln!(
        "multus-daemon: serving on {} (pods of {})",
        socket.display(),
        options
            .node
            .as_deref()
            .map_or("every node".into(), |n| format!("node {n}"))
    );
    let in_flight = Arc::new(InFlight::default());
    let accepting = Arc::clone(&in_flight);
    std::thread::Builder::new()
        .name("accept".into())
        .spawn(move || accept(&listener, &accepting))
        .map_err(|e| format!("cannot start the accept thread: {e}"))?;

    let signal = signals
        .wait()
        .map_err(|e| format!("waiting for signals: {e}"))?;
    let _ = fs::remove_file(&socket);
    let deadline = Instant::now() + DRAIN;
    let mut count = in_flight.count.lock().unwrap_or_else(|e| e.into_inner());
    while *count > 0 && Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        count = in_flight
            .idle
            .wait_timeout(count, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    if *count > 0 {
        eprintln!("multus-daemon: stopping with {count} call(s) unfinished after {DRAIN:?}");
    }
    Ok(signal.as_str().to_string())
}

/// Binds the socket in a root-only directory; a socket left by a daemon that died is replaced, one
/// that still answers is refused.
fn listen(dir: &Path, socket: &Path) -> Result<UnixListener, String> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("--socket-dir: cannot create {}: {e}", dir.display()))?;
    if UnixStream::connect(socket).is_ok() {
        return Err(format!(
            "another multus-daemon is serving on {}",
            socket.display()
        ));
    }
    match fs::remove_file(socket) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("cannot replace {}: {e}", socket.display()))
        }
        _ => {}
    }
    let listener = UnixListener::bind(socket)
        .map_err(|e| format!("cannot listen on {}: {e}", socket.display()))?;
    fs::set_permissions(socket, fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot restrict {}: {e}", socket.display()))?;
    Ok(listener)
}

fn accept(listener: &UnixListener, in_flight: &Arc<InFlight>) {
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                eprintln!("multus-daemon: accept: {e}");
                continue;
            }
        };
        *in_flight.count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        let in_flight = Arc::clone(in_flight);
        let spawned = std::thread::Builder::new()
            .name("call".into())
            .spawn(move || {
                serve_call(stream);
                let mut count = in_flight.count.lock().unwrap_or_else(|e| e.into_inner());
                *count -= 1;
                in_flight.idle.notify_all();
            });
        if let Err(e) = spawned {
            eprintln!("multus-daemon: cannot start a thread for a call: {e}");
        }
    }
}

/// Reads one call, runs multus on it and answers.
fn serve_call(mut stream: UnixStream) {
    let started = Instant::now();
    let request = match Request::read(&stream) {
        Ok(request) => request,
        Err(e) => {
            eprintln!("multus-daemon: unreadable call: {e}");
            return;
        }
    };
    // `dispatch` turns a panic in multus into error JSON, so a call never takes the daemon down.
    let outcome = dispatch(
        &Multus,
        |name: &str| request.vars.get(name).cloned(),
        &request.stdin,
    );
    let response = Response {
        success: outcome.success,
        stdout: outcome.stdout,
    };
    let var = |name: &str| request.vars.get(name).map_or("-", String::as_str);
    eprintln!(
        "multus-daemon: {} {}/{} {} in {:.1} ms",
        var("CNI_COMMAND"),
        var("CNI_CONTAINERID"),
        var("CNI_IFNAME"),
        if response.success { "ok" } else { "failed" },
        started.elapsed().as_secs_f64() * 1e3
    );
    if let Err(e) = stream.write_all(&response.encode()) {
        eprintln!("multus-daemon: the shim left before the answer: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: Option<&str>) -> Result<Options, String> {
        Options::parse(args.iter().map(|a| a.to_string()), env.map(str::to_string))
    }

    #[test]
    fn flags_override_the_defaults_and_the_environment() {
        let o = parse(&[], Some("node-a")).unwrap();
        assert_eq!(o.socket_dir, Path::new("/run/multus"));
        assert_eq!((o.kubeconfig, o.node.as_deref()), (None, Some("node-a")));
        let o = parse(
            &[
                "--socket-dir",
                "/tmp/m",
                "--kubeconfig",
                "/k",
                "--node-name",
                "b",
                "--chroot-dir=/hostroot",
            ],
            Some("a"),
        )
        .unwrap();
        assert_eq!(o.chroot_dir.as_deref(), Some(Path::new("/hostroot")));
        assert_eq!(o.socket_dir, Path::new("/tmp/m"));
        assert_eq!(o.kubeconfig.as_deref(), Some(Path::new("/k")));
        assert_eq!(o.node.as_deref(), Some("b"));
    }

    #[test]
    fn bad_flags_are_named() {
        assert_eq!(
            parse(&["--node-name"], None).unwrap_err(),
            "--node-name: needs a value"
        );
        assert_eq!(
            parse(&["--socket-dir="], None).unwrap_err(),
            "--socket-dir: needs a value"
        );
        assert_eq!(
            parse(&["--socket"], None).unwrap_err(),
            "unknown argument \"--socket\""
        );
    }
}
