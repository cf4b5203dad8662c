//! The `cniVersion`s this crate speaks and the VERSION command's answer.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::CniError;

/// A CNI specification version this crate can read and write.
///
/// Ordered oldest to newest, so `v >= Version::V0_4_0` asks "does this version have CHECK".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// 0.3.0: the first version with the `interfaces`/`ips` result shape.
    V0_3_0,
    /// 0.3.1: as 0.3.0.
    V0_3_1,
    /// 0.4.0: adds CHECK and `prevResult` on DEL.
    V0_4_0,
    /// 1.0.0: drops the `version` field of `ips`.
    V1_0_0,
    /// 1.1.0: adds STATUS and GC, and new interface and route fields.
    V1_1_0,
}

impl Version {
    /// Every supported version, oldest first.
    pub const ALL: [Version; 5] = [
        Version::V0_3_0,
        Version::V0_3_1,
        Version::V0_4_0,
        Version::V1_0_0,
        Version::V1_1_0,
    ];

    /// The newest supported version.
    pub const LATEST: Version = Version::V1_1_0;

    /// The version assumed when a configuration has no `cniVersion`: the configs of the 2018 seed predate
    /// the field being common; 1.0.0 is the newest version every plugin packaged in Debian 12 speaks.
    pub const IMPLIED: Version = Version::V1_0_0;

    /// The version string, e.g. `"0.4.0"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V0_3_0 => "0.3.0",
            Version::V0_3_1 => "0.3.1",
            Version::V0_4_0 => "0.4.0",
            Version::V1_0_0 => "1.0.0",
            Version::V1_1_0 => "1.1.0",
        }
    }

    /// Parses a version string; code 1 (incompatible version) if it is not one of [`Version::ALL`].
    pub fn parse(s: &str) -> Result<Version, CniError> {
        Version::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| CniError::incompatible_version(s, &Version::ALL))
    }

    /// Whether this version has the CHECK command (0.4.0 and later).
    pub fn has_check(self) -> bool {
        self >= Version::V0_4_0
    }

    /// Whether this version has the STATUS and GC commands (1.1.0 and later).
    pub fn has_status_and_gc(self) -> bool {
        self >= Version::V1_1_0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Version::parse(&s)
            .map_err(|e| serde::de::Error::custom(format!("{} ({})", e.msg, e.details)))
    }
}

/// The VERSION command's answer: `{"cniVersion": <asked or latest>, "supportedVersions": [...]}`.
pub fn version_info_json(asked: Version, supported: &[Version]) -> Vec<u8> {
    let list: Vec<&str> = supported.iter().map(|v| v.as_str()).collect();
    serde_json::to_vec(
        &serde_json::json!({"cniVersion": asked.as_str(), "supportedVersions": list}),
    )
    .expect("a JSON value always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_supported_version() {
        for v in Version::ALL {
            assert_eq!(Version::parse(v.as_str()).unwrap(), v);
        }
    }

    #[test]
    fn rejects_unknown_versions_with_code_1() {
        for s in ["0.2.0", "0.1.0", "1.2.0", "", "1.0"] {
            let err = Version::parse(s).unwrap_err();
            assert_eq!(err.code, CniError::INCOMPATIBLE_VERSION, "{s}");
            assert!(err.details.contains("0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0"));
        }
    }

    #[test]
    fn feature_gates_follow_the_spec() {
        assert!(!Version::V0_3_1.has_check());
        assert!(Version::V0_4_0.has_check());
        assert!(!Version::V1_0_0.has_status_and_gc());
        assert!(Version::V1_1_0.has_status_and_gc());
    }

    #[test]
    fn version_info_lists_all_five() {
        let info: serde_json::Value =
            serde_json::from_slice(&version_info_json(Version::V0_4_0, &Version::ALL)).unwrap();
        assert_eq!(
            info,
            serde_json::json!({"cniVersion": "0.4.0",
                "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]})
        );
    }
}
