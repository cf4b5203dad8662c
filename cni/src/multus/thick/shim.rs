//! `multus-shim`: forwards the runtime's call to `multus-daemon` and relays its answer.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{Request, Response, DEFAULT_SOCKET_DIR, SOCKET_NAME};
use crate::spec::{version_info_json, CniError, Version};

/// Runs one call: VERSION here, everything else in the daemon.
pub fn run() -> ExitCode {
    let mut stdin = Vec::new();
    let outcome = match std::io::stdin().read_to_end(&mut stdin) {
        Ok(_) => forward(cni_vars(), stdin),
        Err(e) => Err((CniError::io("cannot read stdin", e), Version::LATEST)),
    };
    let (success, stdout) = match outcome {
        Ok(response) => (response.success, response.stdout),
        Err((err, asked)) => (false, err.to_json(asked)),
    };
    let mut out = std::io::stdout().lock();
    // A runtime that closed our stdout cannot be told anything more; the exit code still reports.
    let _ = out.write_all(&stdout).and_then(|()| out.flush());
    if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The call's `CNI_*` variables.
fn cni_vars() -> std::collections::BTreeMap<String, String> {
    std::env::vars()
        .filter(|(name, _)| name.starts_with("CNI_"))
        .collect()
}

/// Answers VERSION, or sends the call to the daemon named by the configuration's `socketDir`.
fn forward(
    vars: std::collections::BTreeMap<String, String>,
    stdin: Vec<u8>,
) -> Result<Response, (CniError, Version)> {
    let conf: Option<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(&stdin).ok();
    let field = |key: &str| conf.as_ref()?.get(key)?.as_str().map(str::to_string);
    let asked = field("cniVersion")
        .and_then(|v| Version::parse(&v).ok())
        .unwrap_or(Version::LATEST);
    if vars.get("CNI_COMMAND").map(String::as_str) == Some("VERSION") {
        return Ok(Response {
            success: true,
            stdout: version_info_json(asked, &Version::ALL),
        });
    }
    let socket = socket_path(field("socketDir").as_deref());
    call(&socket, &Request { vars, stdin }).map_err(|e| (e, asked))
}

/// The daemon's socket for a configured `socketDir`.
fn socket_path(socket_dir: Option<&str>) -> PathBuf {
    Path::new(socket_dir.unwrap_or(DEFAULT_SOCKET_DIR)).join(SOCKET_NAME)
}

/// One round trip to the daemon on `socket`.
fn call(socket: &Path, request: &Request) -> Result<Response, CniError> {
    let mut stream = UnixStream::connect(socket).map_err(|e| {
        CniError::try_again_later(format!(
            "multus-daemon is not answering on {}: {e} (is the multus-daemon DaemonSet running on this node?)",
            socket.display()
        ))
    })?;
    let lost = |e: std::io::Error| {
        CniError::io(
            format!(
                "multus-daemon on {} closed the call before answering (see the daemon's log)",
                socket.display()
            ),
            e,
        )
    };
    stream.write_all(&request.encode()).map_err(lost)?;
    stream.shutdown(Shutdown::Write).map_err(lost)?;
    Response::read(stream).map_err(lost)
}
