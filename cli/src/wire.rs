//! The sequence header `mmsg send` puts before each datagram's payload, read by `mmsg sink`.
//!
//! 36 bytes, big-endian:
//!
//! | bytes  | field                                                               |
//! | ------ | ------------------------------------------------------------------- |
//! | 0..4   | magic `MMSG`                                                        |
//! | 4      | version (1)                                                         |
//! | 5      | flags: bit 0 file data, bit 1 last datagram of the stream           |
//! | 6..8   | reserved, zero                                                      |
//! | 8..12  | chunk: payload bytes of every datagram but the last                 |
//! | 12..20 | sequence number, from 0                                             |
//! | 20..28 | total datagrams in the stream (0: not known, sent until interrupted) |
//! | 28..36 | file length in bytes (0 for generated data)                         |
//!
//! File data: the payload of datagram `seq` is the file's bytes from `seq * chunk`.
//! Generated data: payload byte `i` of datagram `seq` is [`generated_byte`]`(seq, i)`.

/// Length of the header.
pub const LEN: usize = 36;
const MAGIC: &[u8; 4] = b"MMSG";
const VERSION: u8 = 1;
/// Flag: the payload is file data.
pub const FILE: u8 = 1;
/// Flag: the last datagram of the stream.
pub const LAST: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub flags: u8,
    pub chunk: u32,
    pub seq: u64,
    pub total: u64,
    pub length: u64,
}

impl Header {
    pub fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[..4].copy_from_slice(MAGIC);
        b[4] = VERSION;
        b[5] = self.flags;
        b[8..12].copy_from_slice(&self.chunk.to_be_bytes());
        b[12..20].copy_from_slice(&self.seq.to_be_bytes());
        b[20..28].copy_from_slice(&self.total.to_be_bytes());
        b[28..36].copy_from_slice(&self.length.to_be_bytes());
        b
    }

    /// The header at the front of `datagram`, if it has one.
    pub fn decode(datagram: &[u8]) -> Option<Header> {
        let b: &[u8; LEN] = datagram.get(..LEN)?.try_into().ok()?;
        if &b[..4] != MAGIC || b[4] != VERSION {
            return None;
        }
        let u64_at = |i: usize| {
            let mut n = [0u8; 8];
            n.copy_from_slice(&b[i..i + 8]);
            u64::from_be_bytes(n)
        };
        Some(Header {
            flags: b[5],
            chunk: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            seq: u64_at(12),
            total: u64_at(20),
            length: u64_at(28),
        })
    }

    pub fn is_file(&self) -> bool {
        self.flags & FILE != 0
    }

    /// Whether `other` belongs to the same stream (same kind, chunk, total and length).
    pub fn same_stream(&self, other: &Header) -> bool {
        (self.flags & FILE, self.chunk, self.total, self.length)
            == (other.flags & FILE, other.chunk, other.total, other.length)
    }

    /// The payload length datagram `self.seq` must have, for file data.
    pub fn expected_file_payload(&self) -> Option<u64> {
        let start = self.seq.checked_mul(u64::from(self.chunk))?;
        if self.seq >= self.total || start > self.length {
            return None;
        }
        Some((self.length - start).min(u64::from(self.chunk)))
    }
}

/// Payload byte `i` of generated datagram `seq`: varies with both, so a payload that is
/// shifted, swapped with another datagram's or cut shows.
pub fn generated_byte(seq: u64, i: usize) -> u8 {
    let x =
        seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i as u64).wrapping_mul(0xA24B_AED4_963E_E407);
    (x >> 56) as u8 ^ (i as u8)
}

/// Fills `payload` with generated datagram `seq`'s bytes.
pub fn fill_generated(seq: u64, payload: &mut [u8]) {
    for (i, b) in payload.iter_mut().enumerate() {
        *b = generated_byte(seq, i);
    }
}

/// Whether `payload` holds generated datagram `seq`'s bytes.
pub fn is_generated(seq: u64, payload: &[u8]) -> bool {
    payload
        .iter()
        .enumerate()
        .all(|(i, &b)| b == generated_byte(seq, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let h = Header {
            flags: FILE | LAST,
            chunk: 1164,
            seq: 0x0102_0304_0506_0708,
            total: u64::MAX,
            length: 12_345_678,
        };
        let mut datagram = h.encode().to_vec();
        datagram.extend_from_slice(b"payload");
        assert_eq!(Header::decode(&datagram), Some(h));
        assert_eq!(Header::decode(&datagram[..LEN - 1]), None);
        datagram[0] = b'X';
        assert_eq!(Header::decode(&datagram), None);
    }

    #[test]
    fn file_payload_lengths() {
        let h = |seq| Header {
            flags: FILE,
            chunk: 10,
            seq,
            total: 3,
            length: 25,
        };
        assert_eq!(h(0).expected_file_payload(), Some(10));
        assert_eq!(h(2).expected_file_payload(), Some(5));
        assert_eq!(h(3).expected_file_payload(), None);
    }

    #[test]
    fn generated_payloads_differ_by_seq_and_offset() {
        let mut a = [0u8; 64];
        let mut b = [0u8; 64];
        fill_generated(1, &mut a);
        fill_generated(2, &mut b);
        assert_ne!(a, b);
        assert!(is_generated(1, &a) && !is_generated(2, &a));
        assert!(!is_generated(1, &a[1..]));
    }
}
