//! PCI addresses in the kernel's `dddd:bb:dd.f` form.

use std::fmt;
use std::str::FromStr;

/// A validated PCI address (domain:bus:device.function), stored in canonical lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PciAddr(String);

impl PciAddr {
    /// The address as sysfs spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PciAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not a PCI address (want dddd:bb:dd.f, e.g. 0000:03:10.1)");
        let hex = |part: &str, len: usize| {
            part.len() == len && part.chars().all(|c| c.is_ascii_hexdigit())
        };
        let (domain, rest) = s.split_once(':').ok_or_else(bad)?;
        let (bus, rest) = rest.split_once(':').ok_or_else(bad)?;
        let (device, function) = rest.split_once('.').ok_or_else(bad)?;
        let device_ok = hex(device, 2) && u8::from_str_radix(device, 16).is_ok_and(|d| d < 32);
        let function_ok = function.len() == 1 && matches!(function.as_bytes()[0], b'0'..=b'7');
        if !(hex(domain, 4) && hex(bus, 2) && device_ok && function_ok) {
            return Err(bad());
        }
        Ok(PciAddr(s.to_ascii_lowercase()))
    }
}

impl fmt::Display for PciAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

crate::serde_text::serde_as_text!(PciAddr);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_canonical_and_upper_case() {
        assert_eq!(
            "0000:03:10.1".parse::<PciAddr>().unwrap().as_str(),
            "0000:03:10.1"
        );
        assert_eq!(
            "0000:AF:1F.7".parse::<PciAddr>().unwrap().as_str(),
            "0000:af:1f.7"
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "03:10.1",
            "0000:03:10",
            "0000:03:20.0",
            "0000:03:10.8",
            "0000:3:10.1",
            "000g:03:10.1",
            "0000:03:10.1 ",
        ] {
            assert!(bad.parse::<PciAddr>().is_err(), "{bad:?}");
        }
    }
}
