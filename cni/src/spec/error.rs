//! The CNI error type: a spec error code, a message and details, printed as CNI error JSON on stdout.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Version;

/// A CNI error as the spec defines it (`code`, `msg`, `details`).
///
/// Codes 1-99 are reserved by the spec (the constants below); 100 and up are a plugin's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniError {
    /// Spec error code (see the associated constants).
    pub code: u32,
    /// Short message for humans; names the offending field or variable.
    pub msg: String,
    /// Longer explanation, often the underlying cause; may be empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub details: String,
}

impl CniError {
    /// Code 1: the plugin does not speak the requested `cniVersion`.
    pub const INCOMPATIBLE_VERSION: u32 = 1;
    /// Code 2: a configuration field the plugin does not support.
    pub const UNSUPPORTED_FIELD: u32 = 2;
    /// Code 3: the container is unknown or does not exist.
    pub const UNKNOWN_CONTAINER: u32 = 3;
    /// Code 4: a required `CNI_*` environment variable is missing or invalid.
    pub const INVALID_ENV: u32 = 4;
    /// Code 5: an I/O failure (files, processes).
    pub const IO_FAILURE: u32 = 5;
    /// Code 6: stdin or a result could not be decoded (not JSON, wrong shape).
    pub const DECODE: u32 = 6;
    /// Code 7: the network configuration is invalid.
    pub const INVALID_CONFIG: u32 = 7;
    /// Code 11: try again later (a transient condition, e.g. a readiness file not there yet).
    pub const TRY_AGAIN_LATER: u32 = 11;
    /// Code 50 (STATUS): the plugin is not available to add containers.
    pub const NOT_AVAILABLE: u32 = 50;
    /// Code 999: an internal failure without a better code (the value libcni's skel uses).
    pub const INTERNAL: u32 = 999;

    /// An error with any code.
    pub fn new(code: u32, msg: impl Into<String>, details: impl Into<String>) -> Self {
        CniError {
            code,
            msg: msg.into(),
            details: details.into(),
        }
    }

    /// Code 7 naming the field: `msg` becomes `"<field>: <problem>"`.
    pub fn invalid_config(field: &str, problem: impl fmt::Display) -> Self {
        Self::new(Self::INVALID_CONFIG, format!("{field}: {problem}"), "")
    }

    /// Code 4 naming the environment variable.
    pub fn invalid_env(var: &str, problem: impl fmt::Display) -> Self {
        Self::new(Self::INVALID_ENV, format!("{var}: {problem}"), "")
    }

    /// Code 6: what could not be decoded and why.
    pub fn decode(what: &str, cause: impl fmt::Display) -> Self {
        Self::new(
            Self::DECODE,
            format!("cannot decode {what}"),
            cause.to_string(),
        )
    }

    /// Code 5: what failed, with the I/O error as details.
    pub fn io(what: impl Into<String>, cause: impl fmt::Display) -> Self {
        Self::new(Self::IO_FAILURE, what, cause.to_string())
    }

    /// Code 11: a transient condition; the runtime should retry later.
    pub fn try_again_later(msg: impl Into<String>) -> Self {
        Self::new(Self::TRY_AGAIN_LATER, msg, "")
    }

    /// Code 1: `requested` is not among `supported`.
    pub fn incompatible_version(requested: &str, supported: &[Version]) -> Self {
        let list: Vec<&str> = supported.iter().map(|v| v.as_str()).collect();
        Self::new(
            Self::INCOMPATIBLE_VERSION,
            format!("cniVersion: incompatible CNI version {requested:?}"),
            format!("supported versions: {}", list.join(", ")),
        )
    }

    /// Code 999 for failures that have no better spec code.
    pub fn internal(msg: impl Into<String>) -> Self {
        Self::new(Self::INTERNAL, msg, "")
    }

    /// The same error with `context` prepended to the message (`"<context>: <msg>"`).
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.msg = format!("{context}: {}", self.msg);
        self
    }

    /// The CNI error JSON for a runtime that asked for `version`.
    pub fn to_json(&self, version: Version) -> Vec<u8> {
        #[derive(Serialize)]
        struct Wire<'a> {
            #[serde(rename = "cniVersion")]
            cni_version: &'a str,
            #[serde(flatten)]
            error: &'a CniError,
        }
        serde_json::to_vec(&Wire {
            cni_version: version.as_str(),
            error: self,
        })
        .expect("a CniError always serialises")
    }

    /// Decodes a CNI error JSON (as a failed plugin prints it); `None` if `bytes` is not one.
    pub fn from_json(bytes: &[u8]) -> Option<Self> {
        let err: CniError = serde_json::from_slice(bytes).ok()?;
        (err.code != 0).then_some(err)
    }
}

impl fmt::Display for CniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.msg, self.code)?;
        if !self.details.is_empty() {
            write!(f, ": {}", self.details)?;
        }
        Ok(())
    }
}

impl std::error::Error for CniError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_spec_error_json() {
        let err = CniError::invalid_config("delegates[1].type", "missing");
        let json: serde_json::Value =
            serde_json::from_slice(&err.to_json(Version::V1_0_0)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"cniVersion": "1.0.0", "code": 7, "msg": "delegates[1].type: missing"})
        );
    }

    #[test]
    fn round_trips_through_json() {
        let err = CniError::new(11, "not ready", "file /x missing");
        assert_eq!(
            CniError::from_json(&err.to_json(Version::V0_4_0)),
            Some(err)
        );
    }

    #[test]
    fn a_result_is_not_an_error() {
        assert_eq!(
            CniError::from_json(br#"{"cniVersion":"1.0.0","ips":[]}"#),
            None
        );
        assert_eq!(CniError::from_json(b"garbage"), None);
    }

    #[test]
    fn context_prefixes_message() {
        let err = CniError::try_again_later("wait").context("delegate 0 (bridge)");
        assert_eq!(err.msg, "delegate 0 (bridge): wait");
        assert_eq!(err.code, CniError::TRY_AGAIN_LATER);
    }
}
