//! 802.1Q / 802.1ad VLAN tags: the four bytes after a TPID (tag control information + inner EtherType).

use super::error::{be16, ParseError};

/// Highest VLAN ID usable on the wire (4095 is reserved).
pub const MAX_VLAN_ID: u16 = 4094;

/// A zero-copy view of one VLAN tag (TCI and the EtherType that follows it) and its payload.
#[derive(Debug, Clone)]
pub struct VlanTag<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanTag<T> {
    /// Length of the tag after the TPID: TCI (2) + inner EtherType (2).
    pub const HEADER_LEN: usize = 4;

    /// Wraps `buffer` (which starts right after the TPID) after checking it holds a whole tag.
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        if buffer.as_ref().len() < Self::HEADER_LEN {
            return Err(ParseError::TruncatedVlan);
        }
        Ok(VlanTag { buffer })
    }

    /// Priority code point (3 bits).
    pub fn pcp(&self) -> u8 {
        self.buffer.as_ref()[0] >> 5
    }

    /// Drop eligible indicator.
    pub fn dei(&self) -> bool {
        self.buffer.as_ref()[0] & 0x10 != 0
    }

    /// VLAN identifier (12 bits).
    pub fn vid(&self) -> u16 {
        be16(self.buffer.as_ref(), 0) & 0x0fff
    }

    /// EtherType of what follows the tag (another TPID for QinQ).
    pub fn ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// Everything after the tag.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[Self::HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanTag<T> {
    /// Rewrites the VLAN ID, keeping priority and DEI. Only the low 12 bits of `vid` are used.
    pub fn set_vid(&mut self, vid: u16) {
        let b = self.buffer.as_mut();
        let tci = (be16(b, 0) & 0xf000) | (vid & 0x0fff);
        b[0..2].copy_from_slice(&tci.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tci_and_rewrites_vid_only() {
        let mut bytes = [0b1011_0000, 210, 0x08, 0x00, 0xde, 0xad];
        let mut tag = VlanTag::new_checked(&mut bytes[..]).unwrap();
        assert_eq!(
            (tag.pcp(), tag.dei(), tag.vid(), tag.ethertype()),
            (5, true, 210, 0x0800)
        );
        assert_eq!(tag.payload(), &[0xde, 0xad]);
        tag.set_vid(0x0abc);
        assert_eq!((tag.pcp(), tag.dei(), tag.vid()), (5, true, 0x0abc));
    }

    #[test]
    fn short_tag_is_an_error() {
        assert_eq!(
            VlanTag::new_checked(&[0u8; 3][..]).unwrap_err(),
            ParseError::TruncatedVlan
        );
    }
}
