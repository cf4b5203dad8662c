//! ARP packets (any hardware/protocol address sizes).

use super::error::{be16, ParseError};

/// A zero-copy view of an ARP packet.
#[derive(Debug, Clone)]
pub struct ArpPacket<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Length of the fixed part: types, address lengths, operation.
    pub const FIXED_LEN: usize = 8;

    /// Wraps `buffer` after checking it holds the fixed part and all four addresses.
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        if b.len() < Self::FIXED_LEN {
            return Err(ParseError::TruncatedArp);
        }
        let packet = ArpPacket { buffer };
        if packet.buffer.as_ref().len() < packet.packet_len() {
            return Err(ParseError::TruncatedArp);
        }
        Ok(packet)
    }

    /// Length of the whole packet implied by its address lengths.
    pub fn packet_len(&self) -> usize {
        Self::FIXED_LEN + 2 * (self.hardware_len() as usize + self.protocol_len() as usize)
    }

    /// Hardware type (1 = Ethernet).
    pub fn hardware_type(&self) -> u16 {
        be16(self.buffer.as_ref(), 0)
    }

    /// Protocol type (an EtherType; 0x0800 = IPv4).
    pub fn protocol_type(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// Hardware address length in bytes.
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[4]
    }

    /// Protocol address length in bytes.
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[5]
    }

    /// Operation (1 = request, 2 = reply).
    pub fn operation(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }

    fn field(&self, index: usize) -> &[u8] {
        let (h, p) = (self.hardware_len() as usize, self.protocol_len() as usize);
        let starts = [0, h, h + p, 2 * h + p, 2 * (h + p)];
        let lens = [h, p, h, p];
        let at = Self::FIXED_LEN + starts[index];
        &self.buffer.as_ref()[at..at + lens[index]]
    }

    /// Sender hardware address.
    pub fn sender_hardware_addr(&self) -> &[u8] {
        self.field(0)
    }

    /// Sender protocol address.
    pub fn sender_protocol_addr(&self) -> &[u8] {
        self.field(1)
    }

    /// Target hardware address.
    pub fn target_hardware_addr(&self) -> &[u8] {
        self.field(2)
    }

    /// Target protocol address.
    pub fn target_protocol_addr(&self) -> &[u8] {
        self.field(3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_ethernet_ipv4_request() {
        let mut b = vec![0, 1, 8, 0, 6, 4, 0, 1];
        b.extend_from_slice(&[2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
        let arp = ArpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            (arp.hardware_type(), arp.protocol_type(), arp.operation()),
            (1, 0x0800, 1)
        );
        assert_eq!(arp.sender_hardware_addr(), &[2, 0, 0, 0, 0, 1]);
        assert_eq!(arp.sender_protocol_addr(), &[10, 0, 0, 1]);
        assert_eq!(arp.target_protocol_addr(), &[10, 0, 0, 2]);
        assert_eq!(
            ArpPacket::new_checked(&b[..27]).unwrap_err(),
            ParseError::TruncatedArp
        );
    }

    #[test]
    fn huge_declared_lengths_are_truncation_not_panic() {
        let b = [0, 1, 8, 0, 255, 255, 0, 1, 0, 0];
        assert_eq!(
            ArpPacket::new_checked(&b[..]).unwrap_err(),
            ParseError::TruncatedArp
        );
    }
}
