//! Encoding control messages to send and parsing those received: the same walk over
//! `cmsghdr` (Unix) or `WSACMSGHDR` (Windows) buffers, with the OS's header layout and
//! numbers from `os::cmsg`.

use std::io;
use std::mem::size_of;
#[cfg(unix)]
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::os::cmsg::{self as os, len, Header};
pub(crate) use super::os::cmsg::{space, SegmentData};
use crate::control::ControlMessage;

/// Words of buffer (aligned for `cmsghdr`) needed to hold `bytes`.
pub(crate) fn words(bytes: usize) -> usize {
    bytes.div_ceil(size_of::<u64>())
}

/// Views an aligned control buffer as bytes.
pub(crate) fn as_bytes(words: &[u64]) -> &[u8] {
    // SAFETY: the bytes of a live `[u64]`, of exactly its size; every bit pattern is a valid
    // u8 and u8 has no alignment requirement.
    unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), std::mem::size_of_val(words)) }
}

/// Writes `messages` into `buf` (zeroed, aligned) as a control buffer; returns its length
/// in bytes. Never truncates: where the messages do not all fit (the send path sizes `buf`
/// from the same messages, so only a payload too large for the lengths' arithmetic, over
/// `MAX_DATA`, can make them not fit), nothing is written and the answer is an error, which
/// fails that message as the kernel's own refusal would.
pub(crate) fn encode(buf: &mut [u64], messages: &[ControlMessage<'_>]) -> io::Result<usize> {
    let capacity = std::mem::size_of_val(buf);
    let needed: usize = messages.iter().map(|m| space(m.data_len())).sum();
    if needed > capacity || messages.iter().any(|m| m.data_len() > MAX_DATA) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("control messages need {needed} bytes, more than the {capacity} given"),
        ));
    }
    let base = buf.as_mut_ptr().cast::<u8>();
    let mut offset = 0;
    for message in messages {
        let data_len = message.data_len();
        let step = space(data_len);
        let (level, kind) = match message {
            ControlMessage::UdpSegment(_) => os::udp_segment(),
            #[cfg(unix)]
            ControlMessage::Rights(_) => os::RIGHTS,
            ControlMessage::Raw { level, kind, .. } => (*level, *kind),
        };
        // SAFETY: `offset` is a multiple of the cmsghdr alignment (each step is CMSG_SPACE,
        // itself aligned, from an 8-byte-aligned base) and the steps add up to at most
        // `capacity` (checked above), so the header and its `data_len` bytes of data lie
        // inside `buf`.
        unsafe {
            let header = base.add(offset).cast::<Header>();
            (*header).cmsg_len = len(data_len) as _;
            (*header).cmsg_level = level;
            (*header).cmsg_type = kind;
            let data = os::data(header);
            match message {
                ControlMessage::UdpSegment(size) => {
                    let bytes = os::udp_segment_data(*size);
                    std::ptr::copy_nonoverlapping(bytes.as_ref().as_ptr(), data, data_len)
                }
                #[cfg(unix)]
                ControlMessage::Rights(fds) => {
                    for (i, fd) in fds.iter().enumerate() {
                        let raw = fd.as_raw_fd().to_ne_bytes();
                        let at = data.add(i * size_of::<RawFd>());
                        std::ptr::copy_nonoverlapping(raw.as_ptr(), at, raw.len());
                    }
                }
                ControlMessage::Raw { data: bytes, .. } => {
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), data, bytes.len())
                }
            }
        }
        offset += step;
    }
    Ok(offset)
}

/// The largest payload of one control message mmsg sends: far above any kernel's limit on
/// ancillary data (Linux's `optmem_max` is 20 KiB by default), low enough that the sizes
/// computed from it cannot overflow.
pub(crate) const MAX_DATA: usize = 1 << 20;

/// Takes ownership of the descriptors of the `SCM_RIGHTS` messages in `bytes`, a control
/// buffer the kernel wrote for this process. The caller hands each buffer's descriptors out
/// once (`ControlBuffer` records that it did), so each descriptor gets one owner.
#[cfg(unix)]
pub(crate) fn adopt_fds(bytes: &[u8]) -> Vec<OwnedFd> {
    Iter::new(bytes)
        .filter(|(level, kind, _)| (*level, *kind) == os::RIGHTS)
        .flat_map(|(_, _, data)| {
            data.chunks_exact(size_of::<RawFd>())
                .map(|c| RawFd::from_ne_bytes(c.try_into().unwrap_or([0xff; 4])))
        })
        .filter(|&raw| raw >= 0)
        // SAFETY: the kernel installed these descriptors in this process when it wrote the
        // buffer, and nothing else owns them: the caller adopts a buffer's descriptors once.
        .map(|raw| unsafe { OwnedFd::from_raw_fd(raw) })
        .collect()
}

/// Control messages mmsg understands, by level and type.
pub(crate) enum Known {
    /// `UDP_GRO`'s segment size (Linux and Android only).
    UdpGro(u16),
    /// This many descriptors.
    #[cfg(unix)]
    Rights(usize),
    Other,
}

pub(crate) fn classify(level: i32, kind: i32, data: &[u8]) -> Known {
    if os::is_udp_gro(level, kind) {
        return match data.len() {
            2 => Known::UdpGro(u16::from_ne_bytes([data[0], data[1]])),
            4 => Known::UdpGro(i32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as u16),
            _ => Known::Other,
        };
    }
    #[cfg(unix)]
    if (level, kind) == os::RIGHTS {
        return Known::Rights(data.len() / size_of::<RawFd>());
    }
    Known::Other
}

/// Walks a received control buffer: `(level, type, data)` for each message.
pub(crate) struct Iter<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Iter<'a> {
    /// `bytes` must start at a `cmsghdr`-aligned address (a `ControlBuffer`'s does).
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Iter { bytes, offset: 0 }
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = (i32, i32, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.bytes.get(self.offset..)?;
        if rest.len() < size_of::<Header>() {
            return None;
        }
        // SAFETY: `rest` holds at least one header's bytes; read_unaligned needs no alignment.
        let header: Header = unsafe { std::ptr::read_unaligned(rest.as_ptr().cast()) };
        let total = header.cmsg_len as usize;
        let data_start = len(0);
        if total < data_start || total > rest.len() {
            return None;
        }
        let data = &rest[data_start..total];
        self.offset += space(total - data_start);
        Some((header.cmsg_level, header.cmsg_type, data))
    }
}
