//! IPv4 headers, with options and fragments.

use super::error::{be16, be32, ParseError};
use std::net::Ipv4Addr;

/// A zero-copy view of an IPv4 packet, bounded by its total length (Ethernet padding is excluded).
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Length of the header without options.
    pub const MIN_HEADER_LEN: usize = 20;

    /// Wraps `buffer` after checking version, IHL and total length against it.
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        if b.len() < Self::MIN_HEADER_LEN {
            return Err(ParseError::TruncatedIpv4);
        }
        let packet = Ipv4Packet { buffer };
        if packet.version() != 4 {
            return Err(ParseError::BadIpv4Version);
        }
        if packet.ihl() < 5 {
            return Err(ParseError::BadIpv4Ihl);
        }
        let available = packet.buffer.as_ref().len();
        if available < packet.header_len() {
            return Err(ParseError::TruncatedIpv4);
        }
        let total = packet.total_len() as usize;
        if total < packet.header_len() || total > available {
            return Err(ParseError::BadIpv4Length);
        }
        Ok(packet)
    }

    /// Version field (4 once checked).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// Internet header length in 32-bit words.
    pub fn ihl(&self) -> u8 {
        self.buffer.as_ref()[0] & 0x0f
    }

    /// Header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        self.ihl() as usize * 4
    }

    /// Differentiated services code point.
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[1] >> 2
    }

    /// Explicit congestion notification bits.
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[1] & 0x03
    }

    /// Total length of header plus payload.
    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// Identification field (groups fragments).
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    /// The don't-fragment flag.
    pub fn dont_frag(&self) -> bool {
        self.buffer.as_ref()[6] & 0x40 != 0
    }

    /// The more-fragments flag.
    pub fn more_frags(&self) -> bool {
        self.buffer.as_ref()[6] & 0x20 != 0
    }

    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (be16(self.buffer.as_ref(), 6) & 0x1fff) << 3
    }

    /// True unless this is a non-first fragment, i.e. the payload starts with the L4 header.
    pub fn carries_l4_header(&self) -> bool {
        self.frag_offset() == 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[8]
    }

    /// Protocol number of the payload.
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[9]
    }

    /// Header checksum as stored.
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 10)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(be32(self.buffer.as_ref(), 12))
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(be32(self.buffer.as_ref(), 16))
    }

    /// Option bytes between the fixed header and the payload.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[Self::MIN_HEADER_LEN..self.header_len()]
    }

    /// The payload, up to the total length.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..self.total_len() as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid IPv4 header (with `options`) carrying `payload` with protocol `proto`.
    fn ipv4(proto: u8, options: &[u8], payload: &[u8]) -> Vec<u8> {
        let hlen = 20 + options.len();
        let total = (hlen + payload.len()) as u16;
        let mut b = vec![
            0x40 | (hlen / 4) as u8,
            0,
            0,
            0,
            0,
            1,
            0,
            0,
            64,
            proto,
            0,
            0,
            10,
            0,
            0,
            1,
            192,
            168,
            1,
            2,
        ];
        b[2..4].copy_from_slice(&total.to_be_bytes());
        b.extend_from_slice(options);
        b.extend_from_slice(payload);
        b
    }

    #[test]
    fn reads_fields_options_and_payload_without_padding() {
        let mut b = ipv4(17, &[1, 1, 1, 1], &[9, 9, 9]);
        b.extend_from_slice(&[0; 10]); // Ethernet padding
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            (p.version(), p.ihl(), p.header_len(), p.protocol(), p.ttl()),
            (4, 6, 24, 17, 64)
        );
        assert_eq!(p.src_addr(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 168, 1, 2));
        assert_eq!(p.options(), &[1, 1, 1, 1]);
        assert_eq!(p.payload(), &[9, 9, 9]);
        assert!(p.carries_l4_header());
    }

    #[test]
    fn fragments() {
        let mut b = ipv4(6, &[], &[0; 8]);
        b[6] = 0x20; // MF, offset 0: first fragment
        let first = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(first.more_frags() && first.carries_l4_header());
        b[6] = 0x00;
        b[7] = 0x03; // offset 24 bytes
        let later = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(later.frag_offset(), 24);
        assert!(!later.carries_l4_header());
    }

    #[test]
    fn rejects_bad_headers_by_reason() {
        let good = ipv4(6, &[], &[0; 4]);
        assert_eq!(
            Ipv4Packet::new_checked(&good[..19]).unwrap_err(),
            ParseError::TruncatedIpv4
        );
        let mut b = good.clone();
        b[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            ParseError::BadIpv4Ihl
        );
        b[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            ParseError::BadIpv4Version
        );
        b[0] = 0x4f; // 60-byte header in a 24-byte packet
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            ParseError::TruncatedIpv4
        );
        let mut b = good.clone();
        b[2..4].copy_from_slice(&100u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            ParseError::BadIpv4Length
        );
        b[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            ParseError::BadIpv4Length
        );
    }
}
