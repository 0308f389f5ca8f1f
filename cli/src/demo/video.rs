//! A synthetic RTP video stream: frames of full-size packets and a shorter last one, each
//! packet a 12-byte RTP header and a payload whose bytes derive from the packet's number,
//! so that a receiver can check every byte.

use std::io::IoSlice;

use crate::wire;

pub const RTP_HEADER: usize = 12;
/// Payload bytes of every packet of a frame but the last.
pub const FULL_PAYLOAD: usize = 1200;
pub const PAYLOAD_TYPE: u8 = 96;
pub const SSRC: u32 = 0x6d6d_7367;
/// The first RTP sequence number: near the top, so every run crosses the 16-bit wrap.
pub const FIRST_SEQ: u16 = 65_000;
/// RTP video clock rate.
const CLOCK: u64 = 90_000;

/// The RTP sequence number of stream packet `n`.
pub fn rtp_seq(n: u64) -> u16 {
    FIRST_SEQ.wrapping_add(n as u16)
}

/// A frame's packets: headers and one payload buffer they slice.
#[derive(Default)]
pub struct Frame {
    /// Stream number of the frame's first packet.
    pub first_packet: u64,
    pub headers: Vec<[u8; RTP_HEADER]>,
    payload: Vec<u8>,
    /// Payload length of each packet.
    sizes: Vec<usize>,
}

impl Frame {
    /// Makes this frame number `index` of a stream at `fps`, its first packet being stream
    /// packet `first_packet`. Reuses the buffers.
    pub fn build(&mut self, index: u64, fps: u32, first_packet: u64) {
        let (count, last) = shape(index, fps);
        self.first_packet = first_packet;
        self.headers.clear();
        self.sizes.clear();
        self.payload.clear();
        let timestamp = (index * CLOCK / u64::from(fps.max(1))) as u32;
        for i in 0..count {
            let n = first_packet + i as u64;
            let size = if i + 1 == count { last } else { FULL_PAYLOAD };
            self.headers
                .push(rtp_header(rtp_seq(n), timestamp, i + 1 == count));
            self.sizes.push(size);
            let start = self.payload.len();
            self.payload.resize(start + size, 0);
            wire::fill_generated(n, &mut self.payload[start..]);
        }
    }

    pub fn len(&self) -> usize {
        self.sizes.len()
    }

    /// Each packet as two vectors, header and payload, sharing the frame's buffers.
    pub fn packets(&self) -> Vec<[IoSlice<'_>; 2]> {
        let mut at = 0;
        self.headers
            .iter()
            .zip(&self.sizes)
            .map(|(h, &size)| {
                let payload = &self.payload[at..at + size];
                at += size;
                [IoSlice::new(h), IoSlice::new(payload)]
            })
            .collect()
    }

    /// Packets `range`, each copied into one contiguous datagram (what `std` can send).
    pub fn datagrams(&self, range: std::ops::Range<usize>) -> Vec<Vec<u8>> {
        self.packets()
            .get(range)
            .unwrap_or_default()
            .iter()
            .map(|[h, p]| [&h[..], &p[..]].concat())
            .collect()
    }
}

/// Packets in frame `index` and the last one's payload size: a key frame a second (three
/// times larger), 40 to 60 packets otherwise; the last packet 200 to 1099 bytes.
fn shape(index: u64, fps: u32) -> (usize, usize) {
    let noise = mix(index);
    let base = 40 + (noise % 21) as usize;
    let count = if index.is_multiple_of(u64::from(fps.max(1))) {
        base * 3
    } else {
        base
    };
    (count, 200 + ((noise >> 16) % 900) as usize)
}

/// A well-mixed hash of `x` (splitmix64's finaliser).
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn rtp_header(seq: u16, timestamp: u32, marker: bool) -> [u8; RTP_HEADER] {
    let mut h = [0u8; RTP_HEADER];
    h[0] = 0x80; // version 2, no padding, no extension, no CSRC
    h[1] = PAYLOAD_TYPE | if marker { 0x80 } else { 0 };
    h[2..4].copy_from_slice(&seq.to_be_bytes());
    h[4..8].copy_from_slice(&timestamp.to_be_bytes());
    h[8..12].copy_from_slice(&SSRC.to_be_bytes());
    h
}

/// The RTP sequence number of a datagram of this stream, if it is one (version 2, our
/// payload type and SSRC).
pub fn parse_seq(datagram: &[u8]) -> Option<u16> {
    let h = datagram.get(..RTP_HEADER)?;
    let ours = h[0] == 0x80 && h[1] & 0x7f == PAYLOAD_TYPE && h[8..12] == SSRC.to_be_bytes();
    ours.then(|| u16::from_be_bytes([h[2], h[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_full_packets_and_a_shorter_last_one() {
        let mut f = Frame::default();
        f.build(1, 30, 100);
        let packets = f.packets();
        assert!((40..=60).contains(&packets.len()));
        let (last, rest) = packets.split_last().unwrap();
        assert!(rest.iter().all(|[_, p]| p.len() == FULL_PAYLOAD));
        assert!(last[1].len() < FULL_PAYLOAD && !last[1].is_empty());
        assert_eq!(last[0][1], 0x80 | PAYLOAD_TYPE);
        assert_eq!(parse_seq(&f.datagrams(0..1)[0]), Some(rtp_seq(100)));
        assert!(wire::is_generated(101, &packets[1][1]));
        let datagrams = f.datagrams(0..f.len());
        assert_eq!(datagrams[1][..RTP_HEADER], f.headers[1]);
        assert_eq!(datagrams[1][RTP_HEADER..], packets[1][1][..]);
    }

    #[test]
    fn key_frames_are_larger() {
        let mut f = Frame::default();
        f.build(30, 30, 0);
        assert!(f.len() >= 120);
    }
}
