//! IPv6 headers and the common extension headers (hop-by-hop, routing, fragment, destination options).

use super::error::{be16, be32, ParseError};
use std::net::Ipv6Addr;

/// Next-header value of hop-by-hop options.
pub const EXT_HOP_BY_HOP: u8 = 0;
/// Next-header value of the routing header.
pub const EXT_ROUTING: u8 = 43;
/// Next-header value of the fragment header.
pub const EXT_FRAGMENT: u8 = 44;
/// Next-header value of destination options.
pub const EXT_DESTINATION: u8 = 60;
/// How many extension headers [`Ipv6Packet::upper_layer`] follows before giving up.
pub const MAX_EXT_HEADERS: usize = 8;

/// A zero-copy view of an IPv6 packet, bounded by its payload length.
#[derive(Debug, Clone)]
pub struct Ipv6Packet<T> {
    buffer: T,
}

/// Where the upper-layer protocol starts after the extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6UpperLayer {
    /// Protocol number of the upper layer (the last next-header value).
    pub protocol: u8,
    /// Offset of the upper-layer header within [`Ipv6Packet::payload`].
    pub offset: usize,
    /// False for a non-first fragment, whose payload does not start with the L4 header.
    pub carries_l4_header: bool,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Length of the fixed header.
    pub const HEADER_LEN: usize = 40;

    /// Wraps `buffer` after checking version and payload length against it.
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        if buffer.as_ref().len() < Self::HEADER_LEN {
            return Err(ParseError::TruncatedIpv6);
        }
        let packet = Ipv6Packet { buffer };
        if packet.version() != 6 {
            return Err(ParseError::BadIpv6Version);
        }
        if Self::HEADER_LEN + packet.payload_len() as usize > packet.buffer.as_ref().len() {
            return Err(ParseError::BadIpv6Length);
        }
        Ok(packet)
    }

    /// Version field (6 once checked).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// Traffic class.
    pub fn traffic_class(&self) -> u8 {
        ((be16(self.buffer.as_ref(), 0) >> 4) & 0xff) as u8
    }

    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        be32(self.buffer.as_ref(), 0) & 0x000f_ffff
    }

    /// Payload length (extension headers included).
    pub fn payload_len(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    /// Next-header value of the fixed header.
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[6]
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[7]
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        let mut a = [0; 16];
        a.copy_from_slice(&self.buffer.as_ref()[8..24]);
        Ipv6Addr::from(a)
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        let mut a = [0; 16];
        a.copy_from_slice(&self.buffer.as_ref()[24..40]);
        Ipv6Addr::from(a)
    }

    /// The payload (extension headers and upper layer), up to the payload length.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[Self::HEADER_LEN..Self::HEADER_LEN + self.payload_len() as usize]
    }

    /// Walks the extension-header chain (at most [`MAX_EXT_HEADERS`]) to the upper-layer protocol.
    pub fn upper_layer(&self) -> Result<Ipv6UpperLayer, ParseError> {
        let payload = self.payload();
        let mut protocol = self.next_header();
        let mut offset = 0;
        let mut carries_l4_header = true;
        for seen in 0..=MAX_EXT_HEADERS {
            if !Ipv6ExtHeader::<&[u8]>::is_extension(protocol) {
                return Ok(Ipv6UpperLayer {
                    protocol,
                    offset,
                    carries_l4_header,
                });
            }
            if seen == MAX_EXT_HEADERS {
                break;
            }
            if protocol == EXT_HOP_BY_HOP && seen > 0 {
                return Err(ParseError::Ipv6HopByHopNotFirst);
            }
            let ext = Ipv6ExtHeader::new_checked(&payload[offset..], protocol)?;
            if protocol == EXT_FRAGMENT && ext.frag_offset() != 0 {
                carries_l4_header = false;
            }
            offset += ext.header_len();
            protocol = ext.next_header();
        }
        Err(ParseError::Ipv6ExtChainTooLong)
    }
}

/// A zero-copy view of one IPv6 extension header of a kind this parser follows.
#[derive(Debug, Clone)]
pub struct Ipv6ExtHeader<T> {
    buffer: T,
    kind: u8,
}

impl<T: AsRef<[u8]>> Ipv6ExtHeader<T> {
    /// True for the next-header values this parser treats as extension headers.
    pub fn is_extension(next_header: u8) -> bool {
        matches!(
            next_header,
            EXT_HOP_BY_HOP | EXT_ROUTING | EXT_FRAGMENT | EXT_DESTINATION
        )
    }

    /// Wraps `buffer` as an extension header of type `kind` after checking its length.
    pub fn new_checked(buffer: T, kind: u8) -> Result<Self, ParseError> {
        if buffer.as_ref().len() < 8 {
            return Err(ParseError::TruncatedIpv6Ext);
        }
        let header = Ipv6ExtHeader { buffer, kind };
        if header.buffer.as_ref().len() < header.header_len() {
            return Err(ParseError::TruncatedIpv6Ext);
        }
        Ok(header)
    }

    /// Next-header value.
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// Header length in bytes (fixed 8 for the fragment header).
    pub fn header_len(&self) -> usize {
        if self.kind == EXT_FRAGMENT {
            8
        } else {
            (self.buffer.as_ref()[1] as usize + 1) * 8
        }
    }

    /// Fragment offset in bytes (fragment header only; 0 otherwise).
    pub fn frag_offset(&self) -> u16 {
        if self.kind == EXT_FRAGMENT {
            be16(self.buffer.as_ref(), 2) & 0xfff8
        } else {
            0
        }
    }

    /// More-fragments flag (fragment header only; false otherwise).
    pub fn more_frags(&self) -> bool {
        self.kind == EXT_FRAGMENT && self.buffer.as_ref()[3] & 1 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid IPv6 packet from 2001:db8::1 to 2001:db8::2 whose chain starts with `next` and holds `payload`.
    fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0x60, 0, 0, 0, 0, 0, next, 64];
        b[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        b.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        b.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        b.extend_from_slice(payload);
        b
    }

    fn upper(packet: &[u8]) -> Ipv6UpperLayer {
        Ipv6Packet::new_checked(packet)
            .unwrap()
            .upper_layer()
            .unwrap()
    }

    #[test]
    fn reads_fixed_header() {
        let b = ipv6(17, &[1, 2, 3]);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            (p.version(), p.payload_len(), p.next_header(), p.hop_limit()),
            (6, 3, 17, 64)
        );
        assert_eq!(p.src_addr(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.payload(), &[1, 2, 3]);
        let up = p.upper_layer().unwrap();
        assert_eq!(
            up,
            Ipv6UpperLayer {
                protocol: 17,
                offset: 0,
                carries_l4_header: true
            }
        );
    }

    #[test]
    fn follows_extension_chain() {
        // hop-by-hop (8) -> routing (16) -> fragment (8, offset 0) -> dest opts (8) -> TCP
        let mut chain = vec![EXT_ROUTING, 0, 0, 0, 0, 0, 0, 0];
        chain.extend_from_slice(&[EXT_FRAGMENT, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        chain.extend_from_slice(&[EXT_DESTINATION, 0, 0, 1, 0, 0, 0, 7]);
        chain.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 0]);
        chain.extend_from_slice(&[0xaa; 20]);
        let b = ipv6(EXT_HOP_BY_HOP, &chain);
        let up = upper(&b);
        assert_eq!(
            up,
            Ipv6UpperLayer {
                protocol: 6,
                offset: 40,
                carries_l4_header: true
            }
        );
    }

    #[test]
    fn later_fragment_has_no_l4_header() {
        let b = ipv6(EXT_FRAGMENT, &[17, 0, 0x05, 0x01, 0, 0, 0, 9, 0xbb, 0xbb]);
        let up = upper(&b);
        assert_eq!(
            up,
            Ipv6UpperLayer {
                protocol: 17,
                offset: 8,
                carries_l4_header: false
            }
        );
    }

    #[test]
    fn chain_errors_by_reason() {
        // destination options pointing at destination options, forever
        let looped: Vec<u8> = (0..20)
            .flat_map(|_| [EXT_DESTINATION, 0, 0, 0, 0, 0, 0, 0])
            .collect();
        let b = ipv6(EXT_DESTINATION, &looped);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            p.upper_layer().unwrap_err(),
            ParseError::Ipv6ExtChainTooLong
        );

        let b = ipv6(
            EXT_ROUTING,
            &[EXT_HOP_BY_HOP, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0],
        );
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            p.upper_layer().unwrap_err(),
            ParseError::Ipv6HopByHopNotFirst
        );

        let b = ipv6(EXT_ROUTING, &[6, 4, 0, 0, 0, 0, 0, 0]); // claims 40 bytes
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.upper_layer().unwrap_err(), ParseError::TruncatedIpv6Ext);
    }

    #[test]
    fn rejects_bad_fixed_headers() {
        let b = ipv6(17, &[1, 2, 3]);
        assert_eq!(
            Ipv6Packet::new_checked(&b[..39]).unwrap_err(),
            ParseError::TruncatedIpv6
        );
        assert_eq!(
            Ipv6Packet::new_checked(&b[..42]).unwrap_err(),
            ParseError::BadIpv6Length
        );
        let mut v4 = b.clone();
        v4[0] = 0x40;
        assert_eq!(
            Ipv6Packet::new_checked(&v4[..]).unwrap_err(),
            ParseError::BadIpv6Version
        );
    }
}
