//! `Cidr`: an IP address with a prefix length, as CNI results write them (`"10.1.2.3/24"`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An interface address or a route destination: an address plus prefix length.
///
/// The host bits are kept (`10.1.2.3/24` is an address on a /24), as CNI results need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// The address.
    pub addr: IpAddr,
    /// The prefix length: at most 32 for IPv4, 128 for IPv6.
    pub prefix: u8,
}

impl Cidr {
    /// Whether the address is IPv4 (the `"version": "4"` of older results).
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not address/prefix"))?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IP address"))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| format!("{prefix:?} is not a prefix length"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(format!("prefix length {prefix} exceeds {max}"));
        }
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

crate::serde_text::serde_as_text!(Cidr);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_both_families() {
        for s in ["10.1.2.3/24", "0.0.0.0/0", "fd00::5/64", "::/0"] {
            assert_eq!(s.parse::<Cidr>().unwrap().to_string(), s);
        }
        assert!("10.1.2.3/24".parse::<Cidr>().unwrap().is_ipv4());
    }

    #[test]
    fn rejects_malformed_input() {
        for s in [
            "10.1.2.3",
            "10.1.2.3/33",
            "fd00::/129",
            "x/8",
            "10.0.0.0/",
            "/8",
            "",
        ] {
            assert!(s.parse::<Cidr>().is_err(), "{s}");
        }
    }
}
