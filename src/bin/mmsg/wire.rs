//! The sequence header `mmsg send` puts before each chunk and `mmsg sink` reads.
//!
//! 28 bytes, big-endian: magic `MMSG`, flags (bit 0: file data), 3 reserved bytes, chunk
//! size (payload bytes of every chunk but the last), sequence number, total chunks.

pub const LEN: usize = 28;
const MAGIC: &[u8; 4] = b"MMSG";
pub const FILE: u8 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub flags: u8,
    pub chunk: u32,
    pub seq: u64,
    pub total: u64,
}

impl Header {
    pub fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[..4].copy_from_slice(MAGIC);
        b[4] = self.flags;
        b[8..12].copy_from_slice(&self.chunk.to_be_bytes());
        b[12..20].copy_from_slice(&self.seq.to_be_bytes());
        b[20..28].copy_from_slice(&self.total.to_be_bytes());
        b
    }

    /// The header at the front of `datagram`, if it has one.
    pub fn decode(datagram: &[u8]) -> Option<Header> {
        if datagram.len() < LEN || &datagram[..4] != MAGIC {
            return None;
        }
        let u32_at =
            |i: usize| u32::from_be_bytes(datagram[i..i + 4].try_into().unwrap_or_default());
        let u64_at =
            |i: usize| u64::from_be_bytes(datagram[i..i + 8].try_into().unwrap_or_default());
        Some(Header {
            flags: datagram[4],
            chunk: u32_at(8),
            seq: u64_at(12),
            total: u64_at(20),
        })
    }
}

/// Deterministic payload byte `i` of generated packet `seq`, so a sink could check it.
pub fn generated_byte(seq: u64, i: usize) -> u8 {
    (seq.wrapping_mul(31).wrapping_add(i as u64)) as u8
}
