//! Encoding control messages to send and parsing those received.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::control::ControlMessage;

/// `CMSG_SPACE(data_len)`: bytes one control message takes, padding included.
pub(crate) fn space(data_len: usize) -> usize {
    // SAFETY: CMSG_SPACE is arithmetic on its argument only.
    unsafe { libc::CMSG_SPACE(data_len as libc::c_uint) as usize }
}

/// `CMSG_LEN(data_len)`: the `cmsg_len` of a message with this much data.
fn len(data_len: usize) -> usize {
    // SAFETY: CMSG_LEN is arithmetic on its argument only.
    unsafe { libc::CMSG_LEN(data_len as libc::c_uint) as usize }
}

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
            ControlMessage::UdpSegment(_) => udp_segment(),
            ControlMessage::Rights(_) => (libc::SOL_SOCKET, libc::SCM_RIGHTS),
            ControlMessage::Raw { level, kind, .. } => (*level, *kind),
        };
        // SAFETY: `offset` is a multiple of the cmsghdr alignment (each step is CMSG_SPACE,
        // itself aligned, from an 8-byte-aligned base) and the steps add up to at most
        // `capacity` (checked above), so the header and its `data_len` bytes of data lie
        // inside `buf`.
        unsafe {
            let header = base.add(offset).cast::<libc::cmsghdr>();
            (*header).cmsg_len = len(data_len) as _;
            (*header).cmsg_level = level;
            (*header).cmsg_type = kind;
            let data = libc::CMSG_DATA(header);
            match message {
                ControlMessage::UdpSegment(size) => {
                    std::ptr::copy_nonoverlapping(size.to_ne_bytes().as_ptr(), data, 2)
                }
                ControlMessage::Rights(fds) => {
                    for (i, fd) in fds.iter().enumerate() {
                        let raw = fd.as_raw_fd().to_ne_bytes();
                        let at = data.add(i * size_of::<libc::c_int>());
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
pub(crate) fn adopt_fds(bytes: &[u8]) -> Vec<OwnedFd> {
    Iter::new(bytes)
        .filter(|(level, kind, _)| *level == libc::SOL_SOCKET && *kind == libc::SCM_RIGHTS)
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

#[cfg(any(target_os = "linux", target_os = "android"))]
fn udp_segment() -> (libc::c_int, libc::c_int) {
    (libc::SOL_UDP, libc::UDP_SEGMENT)
}

/// Elsewhere there is no UDP_SEGMENT: send something the kernel refuses with an error.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn udp_segment() -> (libc::c_int, libc::c_int) {
    (libc::IPPROTO_UDP, -1)
}

/// Control messages mmsg understands, by level and type.
pub(crate) enum Known {
    /// `UDP_GRO`'s segment size (Linux and Android only).
    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
    UdpGro(u16),
    /// This many descriptors.
    Rights(usize),
    Other,
}

pub(crate) fn classify(level: i32, kind: i32, data: &[u8]) -> Known {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if level == libc::SOL_UDP && kind == libc::UDP_GRO {
        return match data.len() {
            2 => Known::UdpGro(u16::from_ne_bytes([data[0], data[1]])),
            4 => Known::UdpGro(i32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as u16),
            _ => Known::Other,
        };
    }
    if level == libc::SOL_SOCKET && kind == libc::SCM_RIGHTS {
        return Known::Rights(data.len() / size_of::<libc::c_int>());
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
        if rest.len() < size_of::<libc::cmsghdr>() {
            return None;
        }
        // SAFETY: `rest` holds at least one cmsghdr's bytes; read_unaligned needs no alignment.
        let header: libc::cmsghdr = unsafe { std::ptr::read_unaligned(rest.as_ptr().cast()) };
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
