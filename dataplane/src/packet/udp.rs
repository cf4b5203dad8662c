//! UDP datagram headers.

use super::error::{be16, ParseError};

/// A zero-copy view of a UDP datagram, bounded by its length field.
#[derive(Debug, Clone)]
pub struct UdpPacket<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Length of the header.
    pub const HEADER_LEN: usize = 8;

    /// Wraps `buffer` after checking the length field against it.
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        if buffer.as_ref().len() < Self::HEADER_LEN {
            return Err(ParseError::TruncatedUdp);
        }
        let packet = UdpPacket { buffer };
        let len = packet.len() as usize;
        if len < Self::HEADER_LEN || len > packet.buffer.as_ref().len() {
            return Err(ParseError::TruncatedUdp);
        }
        Ok(packet)
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), 0)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// Length field: header plus payload.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    /// Checksum as stored.
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }

    /// Datagram payload, up to the length field.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[Self::HEADER_LEN..self.len() as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_header_and_payload() {
        let b = [0xc3, 0x50, 0, 53, 0, 10, 0xab, 0xcd, 1, 2, 0, 0];
        let u = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            (u.src_port(), u.dst_port(), u.len(), u.checksum()),
            (50000, 53, 10, 0xabcd)
        );
        assert_eq!(u.payload(), &[1, 2]);
    }

    #[test]
    fn rejects_bad_lengths() {
        assert_eq!(
            UdpPacket::new_checked(&[0u8; 7][..]).unwrap_err(),
            ParseError::TruncatedUdp
        );
        let b = [0, 1, 0, 2, 0, 9, 0, 0];
        assert_eq!(
            UdpPacket::new_checked(&b[..]).unwrap_err(),
            ParseError::TruncatedUdp
        );
        let b = [0, 1, 0, 2, 0, 7, 0, 0];
        assert_eq!(
            UdpPacket::new_checked(&b[..]).unwrap_err(),
            ParseError::TruncatedUdp
        );
    }
}
