//! The thick plugin: `multus-daemon` runs multus for the whole node, `multus-shim` is the CNI binary the
//! runtime calls (Multus's "thick plugin" split). The shim is small and starts fast; the daemon keeps its
//! Kubernetes client, its connection and watch caches of the node's pods and of NADs between calls, so
//! an ADD in Kubernetes mode costs no lookup request. Delegates still run as processes, from the daemon.
//!
//! The shim's configuration is multus's own with `"type": "multus-shim"` and, optionally, `socketDir`
//! (default `/run/multus`, the socket being `multus.sock` in it, as in Multus). The shim forwards the
//! call unchanged — every `CNI_*` variable and stdin — over the unix socket, and prints what the daemon
//! answers with the daemon's exit status. VERSION is answered by the shim itself.
//!
//! Wire format, one call per connection: the shim sends a JSON object of the variables, a newline and
//! stdin's bytes, then shuts down its write half; the daemon answers `0\n` (success) or `1\n` and the
//! bytes for stdout, then closes.

pub mod daemon;
pub mod shim;

use std::collections::BTreeMap;
use std::io::{self, Read};

/// Where the daemon listens unless configured otherwise (Multus's default `socketDir`).
pub const DEFAULT_SOCKET_DIR: &str = "/run/multus";
/// The socket's file name in the socket directory.
pub const SOCKET_NAME: &str = "multus.sock";

/// Bound on a request (variables plus configuration): a CNI configuration is kilobytes.
const MAX_REQUEST: u64 = 16 << 20;

/// One forwarded plugin call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The runtime's `CNI_*` variables.
    pub vars: BTreeMap<String, String>,
    /// The network configuration from stdin.
    pub stdin: Vec<u8>,
}

impl Request {
    /// The bytes the shim sends.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec(&self.vars).expect("a string map always serialises");
        bytes.push(b'\n');
        bytes.extend_from_slice(&self.stdin);
        bytes
    }

    /// Reads one request to the end of the stream.
    pub fn read(reader: impl Read) -> io::Result<Request> {
        let mut bytes = Vec::new();
        reader.take(MAX_REQUEST + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_REQUEST {
            return Err(invalid(format!("request larger than {MAX_REQUEST} bytes")));
        }
        let (head, stdin) = split_line(&bytes)?;
        let vars =
            serde_json::from_slice(head).map_err(|e| invalid(format!("request variables: {e}")))?;
        Ok(Request {
            vars,
            stdin: stdin.to_vec(),
        })
    }
}

/// The daemon's answer: the plugin's exit status and stdout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Exit status 0 when true, 1 otherwise.
    pub success: bool,
    /// What the plugin prints.
    pub stdout: Vec<u8>,
}

impl Response {
    /// The bytes the daemon sends.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = if self.success { b"0\n" } else { b"1\n" }.to_vec();
        bytes.extend_from_slice(&self.stdout);
        bytes
    }

    /// Reads one response to the end of the stream.
    pub fn read(mut reader: impl Read) -> io::Result<Response> {
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes)?;
        let (head, stdout) = split_line(&bytes)?;
        let success = match head {
            b"0" => true,
            b"1" => false,
            _ => return Err(invalid("the answer has no exit status".to_string())),
        };
        Ok(Response {
            success,
            stdout: stdout.to_vec(),
        })
    }
}

fn split_line(bytes: &[u8]) -> io::Result<(&[u8], &[u8])> {
    let end = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| invalid("truncated (no header line)".to_string()))?;
    Ok((&bytes[..end], &bytes[end + 1..]))
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_survive_the_wire() {
        let request = Request {
            vars: [("CNI_COMMAND", "ADD"), ("CNI_ARGS", "K8S_POD_NAME=a\nb")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            stdin: b"{\"name\":\"n\"}\n\xff".to_vec(),
        };
        assert_eq!(Request::read(&request.encode()[..]).unwrap(), request);
        let response = Response {
            success: false,
            stdout: b"{\"code\":7}\n".to_vec(),
        };
        assert_eq!(Response::read(&response.encode()[..]).unwrap(), response);
    }

    #[test]
    fn truncated_or_foreign_bytes_are_refused() {
        assert!(Request::read(&b"{\"CNI_COMMAND\":"[..]).is_err());
        assert!(Request::read(&b"[1]\n{}"[..]).is_err());
        assert!(Response::read(&b""[..]).is_err());
        assert!(Response::read(&b"HTTP/1.1 200 OK\r\n"[..]).is_err());
    }
}
