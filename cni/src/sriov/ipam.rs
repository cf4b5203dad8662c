//! IPAM delegation with one concession to older IPAM plugins: a plugin that refuses
//! `cniVersion` 1.1.0 (code 1, e.g. Debian 12's host-local) is asked again in 1.0.0, which
//! 1.1.0 only extends, and its result is read back as 1.1.0.

use serde_json::Value;

use crate::invoke::ipam;
use crate::spec::{Call, CniError, CniResult, Version};

/// Runs `op` on `call`, retrying in 1.0.0 if the plugin does not speak 1.1.0.
fn with_fallback<T>(call: &Call, op: impl Fn(&Call) -> Result<T, CniError>) -> Result<T, CniError> {
    match op(call) {
        Err(e)
            if e.code == CniError::INCOMPATIBLE_VERSION
                && call.conf.cni_version == Version::V1_1_0 =>
        {
            let mut older = call.clone();
            older.conf.cni_version = Version::V1_0_0;
            older
                .conf
                .raw
                .insert("cniVersion".into(), Value::from(Version::V1_0_0.as_str()));
            op(&older)
        }
        other => other,
    }
}

/// IPAM ADD.
pub fn add(call: &Call) -> Result<CniResult, CniError> {
    with_fallback(call, ipam::add).map(|r| r.convert_to(call.conf.cni_version))
}

/// IPAM DEL.
pub fn del(call: &Call) -> Result<(), CniError> {
    with_fallback(call, ipam::del)
}

/// IPAM CHECK.
pub fn check(call: &Call) -> Result<(), CniError> {
    with_fallback(call, ipam::check)
}
