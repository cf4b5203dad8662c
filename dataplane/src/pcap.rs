//! Classic pcap files (microsecond, Ethernet link type): enough to feed `net_pcap` vdevs and read
//! back what they wrote, in tests, benches and tools.

use std::io::{self, Read, Write};

const MAGIC_USEC: u32 = 0xa1b2_c3d4;
const LINKTYPE_ETHERNET: u32 = 1;
/// Largest frame we accept when reading (jumbo frames included).
pub const MAX_SNAPLEN: u32 = 65_535;

/// Writes a pcap file header followed by `frames`, with increasing timestamps.
pub fn write<W: Write>(mut out: W, frames: &[Vec<u8>]) -> io::Result<()> {
    let mut header = Vec::with_capacity(24);
    header.extend_from_slice(&MAGIC_USEC.to_le_bytes());
    header.extend_from_slice(&2u16.to_le_bytes());
    header.extend_from_slice(&4u16.to_le_bytes());
    header.extend_from_slice(&0i32.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&MAX_SNAPLEN.to_le_bytes());
    header.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    out.write_all(&header)?;
    for (i, frame) in frames.iter().enumerate() {
        let len = u32::try_from(frame.len()).map_err(|_| invalid("frame longer than 4 GiB"))?;
        let mut rec = Vec::with_capacity(16);
        rec.extend_from_slice(&((i / 1_000_000) as u32).to_le_bytes());
        rec.extend_from_slice(&((i % 1_000_000) as u32).to_le_bytes());
        rec.extend_from_slice(&len.to_le_bytes());
        rec.extend_from_slice(&len.to_le_bytes());
        out.write_all(&rec)?;
        out.write_all(frame)?;
    }
    out.flush()
}

/// Reads every frame of a pcap file (either byte order, microsecond or nanosecond magic).
pub fn read<R: Read>(mut input: R) -> io::Result<Vec<Vec<u8>>> {
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes)?;
    let header = bytes.get(..24).ok_or_else(|| invalid("pcap file shorter than its header"))?;
    let magic = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
    let little = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        _ => return Err(invalid("not a pcap file (bad magic)")),
    };
    let u32_at = |b: &[u8], at: usize| {
        let raw: [u8; 4] = b[at..at + 4].try_into().expect("4 bytes");
        if little {
            u32::from_le_bytes(raw)
        } else {
            u32::from_be_bytes(raw)
        }
    };
    let mut frames = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        let rec = bytes.get(at..at + 16).ok_or_else(|| invalid("truncated pcap record header"))?;
        let caplen = u32_at(rec, 8);
        if caplen > MAX_SNAPLEN {
            return Err(invalid("pcap record longer than the snap length"));
        }
        let start = at + 16;
        let frame = bytes
            .get(start..start + caplen as usize)
            .ok_or_else(|| invalid("truncated pcap record"))?;
        frames.push(frame.to_vec());
        at = start + caplen as usize;
    }
    Ok(frames)
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_frames_in_order() {
        let frames = vec![vec![1u8; 60], vec![2u8; 1514], vec![], vec![3u8; 9000]];
        let mut file = Vec::new();
        write(&mut file, &frames).unwrap();
        assert_eq!(read(&file[..]).unwrap(), frames);
    }

    #[test]
    fn truncated_and_foreign_files_are_errors() {
        let mut file = Vec::new();
        write(&mut file, &[vec![7u8; 100]]).unwrap();
        assert!(read(&file[..file.len() - 1]).is_err());
        assert!(read(&file[..10]).is_err());
        assert!(read(&b"GIF89a..........................."[..]).is_err());
    }
}
