//! The one error type of the packet views: why a byte sequence is not the header it claims to be.

use std::fmt;

/// Why a frame could not be parsed. Each variant is also a drop reason that the firewall counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ParseError {
    /// Shorter than an Ethernet II header.
    TruncatedEthernet,
    /// An 802.1Q/802.1ad tag is cut off.
    TruncatedVlan,
    /// More VLAN tags than the parser accepts (two: QinQ).
    TooManyVlanTags,
    /// ARP packet shorter than its declared address lengths.
    TruncatedArp,
    /// Shorter than the IPv4 fixed header or its IHL.
    TruncatedIpv4,
    /// IPv4 version field is not 4.
    BadIpv4Version,
    /// IPv4 IHL below 5 (20 bytes).
    BadIpv4Ihl,
    /// IPv4 total length smaller than the header or larger than the frame.
    BadIpv4Length,
    /// Shorter than the IPv6 fixed header.
    TruncatedIpv6,
    /// IPv6 version field is not 6.
    BadIpv6Version,
    /// IPv6 payload length larger than the frame.
    BadIpv6Length,
    /// An IPv6 extension header is cut off.
    TruncatedIpv6Ext,
    /// More IPv6 extension headers than the parser follows (a loop or an attack).
    Ipv6ExtChainTooLong,
    /// A hop-by-hop options header that is not the first extension header.
    Ipv6HopByHopNotFirst,
    /// TCP header cut off, or its data offset points past the segment.
    TruncatedTcp,
    /// TCP data offset below 5 (20 bytes).
    BadTcpDataOffset,
    /// UDP header cut off, or its length field disagrees with the datagram.
    TruncatedUdp,
    /// ICMP or ICMPv6 header cut off.
    TruncatedIcmp,
}

impl ParseError {
    /// Every variant, in declaration order: the index of a variant here is its counter slot.
    pub const ALL: [ParseError; 18] = [
        Self::TruncatedEthernet,
        Self::TruncatedVlan,
        Self::TooManyVlanTags,
        Self::TruncatedArp,
        Self::TruncatedIpv4,
        Self::BadIpv4Version,
        Self::BadIpv4Ihl,
        Self::BadIpv4Length,
        Self::TruncatedIpv6,
        Self::BadIpv6Version,
        Self::BadIpv6Length,
        Self::TruncatedIpv6Ext,
        Self::Ipv6ExtChainTooLong,
        Self::Ipv6HopByHopNotFirst,
        Self::TruncatedTcp,
        Self::BadTcpDataOffset,
        Self::TruncatedUdp,
        Self::TruncatedIcmp,
    ];

    /// The counter slot of this reason: its position in [`ParseError::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// A short snake_case name, used in stats output.
    pub fn name(self) -> &'static str {
        match self {
            Self::TruncatedEthernet => "truncated_ethernet",
            Self::TruncatedVlan => "truncated_vlan",
            Self::TooManyVlanTags => "too_many_vlan_tags",
            Self::TruncatedArp => "truncated_arp",
            Self::TruncatedIpv4 => "truncated_ipv4",
            Self::BadIpv4Version => "bad_ipv4_version",
            Self::BadIpv4Ihl => "bad_ipv4_ihl",
            Self::BadIpv4Length => "bad_ipv4_length",
            Self::TruncatedIpv6 => "truncated_ipv6",
            Self::BadIpv6Version => "bad_ipv6_version",
            Self::BadIpv6Length => "bad_ipv6_length",
            Self::TruncatedIpv6Ext => "truncated_ipv6_ext",
            Self::Ipv6ExtChainTooLong => "ipv6_ext_chain_too_long",
            Self::Ipv6HopByHopNotFirst => "ipv6_hop_by_hop_not_first",
            Self::TruncatedTcp => "truncated_tcp",
            Self::BadTcpDataOffset => "bad_tcp_data_offset",
            Self::TruncatedUdp => "truncated_udp",
            Self::TruncatedIcmp => "truncated_icmp",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for ParseError {}

/// Reads a big-endian u16 at `at`; callers have checked the bounds in `new_checked`.
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Reads a big-endian u32 at `at`; callers have checked the bounds in `new_checked`.
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
