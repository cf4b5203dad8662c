//! ICMP and ICMPv6 messages, which share their header layout (type, code, checksum, four more bytes).

use super::error::{be16, ParseError};

/// A zero-copy view of an ICMP or ICMPv6 message; the IP header's protocol says which.
#[derive(Debug, Clone)]
pub struct IcmpPacket<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// Length of the header: type, code, checksum and the 4-byte rest-of-header.
    pub const HEADER_LEN: usize = 8;

    /// Wraps `buffer` after checking it holds a whole header.
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        if buffer.as_ref().len() < Self::HEADER_LEN {
            return Err(ParseError::TruncatedIcmp);
        }
        Ok(IcmpPacket { buffer })
    }

    /// Message type.
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// Message code.
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    /// Checksum as stored.
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// The four type-specific bytes after the checksum (identifier and sequence for echo).
    pub fn rest_of_header(&self) -> &[u8] {
        &self.buffer.as_ref()[4..8]
    }

    /// Message body after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[Self::HEADER_LEN..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_echo_request() {
        let b = [8, 0, 0xf7, 0xfe, 0, 1, 0, 2, 0x61];
        let m = IcmpPacket::new_checked(&b[..]).unwrap();
        assert_eq!((m.msg_type(), m.code(), m.checksum()), (8, 0, 0xf7fe));
        assert_eq!(m.rest_of_header(), &[0, 1, 0, 2]);
        assert_eq!(m.payload(), &[0x61]);
        assert_eq!(
            IcmpPacket::new_checked(&b[..7]).unwrap_err(),
            ParseError::TruncatedIcmp
        );
    }
}
