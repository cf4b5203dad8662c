//! TCP segment headers.

use super::error::{be16, be32, ParseError};

/// TCP flag bit FIN.
pub const TCP_FIN: u8 = 0x01;
/// TCP flag bit SYN.
pub const TCP_SYN: u8 = 0x02;
/// TCP flag bit RST.
pub const TCP_RST: u8 = 0x04;
/// TCP flag bit PSH.
pub const TCP_PSH: u8 = 0x08;
/// TCP flag bit ACK.
pub const TCP_ACK: u8 = 0x10;
/// TCP flag bit URG.
pub const TCP_URG: u8 = 0x20;
/// TCP flag bit ECE.
pub const TCP_ECE: u8 = 0x40;
/// TCP flag bit CWR.
pub const TCP_CWR: u8 = 0x80;

/// A zero-copy view of a TCP segment.
#[derive(Debug, Clone)]
pub struct TcpPacket<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Length of the header without options.
    pub const MIN_HEADER_LEN: usize = 20;

    /// Wraps `buffer` after checking the data offset against it.
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        if buffer.as_ref().len() < Self::MIN_HEADER_LEN {
            return Err(ParseError::TruncatedTcp);
        }
        let packet = TcpPacket { buffer };
        if packet.data_offset() < 5 {
            return Err(ParseError::BadTcpDataOffset);
        }
        if packet.header_len() > packet.buffer.as_ref().len() {
            return Err(ParseError::TruncatedTcp);
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

    /// Sequence number.
    pub fn seq_number(&self) -> u32 {
        be32(self.buffer.as_ref(), 4)
    }

    /// Acknowledgement number.
    pub fn ack_number(&self) -> u32 {
        be32(self.buffer.as_ref(), 8)
    }

    /// Data offset in 32-bit words.
    pub fn data_offset(&self) -> u8 {
        self.buffer.as_ref()[12] >> 4
    }

    /// Header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        self.data_offset() as usize * 4
    }

    /// The eight flag bits (CWR..FIN); see the `TCP_*` constants.
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[13]
    }

    /// Receive window.
    pub fn window(&self) -> u16 {
        be16(self.buffer.as_ref(), 14)
    }

    /// Checksum as stored.
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 16)
    }

    /// Urgent pointer.
    pub fn urgent(&self) -> u16 {
        be16(self.buffer.as_ref(), 18)
    }

    /// Option bytes.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[Self::MIN_HEADER_LEN..self.header_len()]
    }

    /// Segment payload.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_header_options_and_payload() {
        let mut b = vec![
            0x1f,
            0x90,
            0,
            80,
            0,
            0,
            0,
            1,
            0,
            0,
            0,
            2,
            0x60,
            TCP_SYN | TCP_ACK,
            1,
            0,
            0,
            0,
            0,
            0,
        ];
        b.extend_from_slice(&[2, 4, 5, 0xb4, 7, 7]);
        let t = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            (t.src_port(), t.dst_port(), t.seq_number(), t.ack_number()),
            (8080, 80, 1, 2)
        );
        assert_eq!(
            (t.header_len(), t.flags(), t.window()),
            (24, TCP_SYN | TCP_ACK, 256)
        );
        assert_eq!(t.options(), &[2, 4, 5, 0xb4]);
        assert_eq!(t.payload(), &[7, 7]);
    }

    #[test]
    fn rejects_bad_offsets() {
        let mut b = [0u8; 20];
        b[12] = 0x40;
        assert_eq!(
            TcpPacket::new_checked(&b[..]).unwrap_err(),
            ParseError::BadTcpDataOffset
        );
        b[12] = 0xf0;
        assert_eq!(
            TcpPacket::new_checked(&b[..]).unwrap_err(),
            ParseError::TruncatedTcp
        );
        assert_eq!(
            TcpPacket::new_checked(&b[..19]).unwrap_err(),
            ParseError::TruncatedTcp
        );
    }
}
