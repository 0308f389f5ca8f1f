//! Control (ancillary) messages: those sent with a message, and those received with one.

use std::fmt;
#[cfg(unix)]
use std::os::fd::{BorrowedFd, OwnedFd};

use crate::sys::cmsg;

/// A control message sent with one [`OutputMessage`](crate::OutputMessage).
///
/// ```
/// use std::io::IoSlice;
/// let tos = 0x10i32.to_ne_bytes();
/// // IPPROTO_IP and IP_TOS (Linux's numbers: Raw messages are in the OS's own terms).
/// let c = [mmsg::ControlMessage::Raw { level: 0, kind: 1, data: &tos }];
/// let v = [IoSlice::new(b"x")];
/// let m = mmsg::OutputMessage::new(None, &v).with_control_messages(&c);
/// assert_eq!(m.control_messages.len(), 1);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub enum ControlMessage<'a> {
    /// UDP generic segmentation offload (`UDP_SEGMENT`, Linux): the kernel cuts the
    /// message's payload into datagrams of this many bytes (the last may be shorter).
    UdpSegment(u16),
    /// Passes open file descriptors to the peer of a Unix socket (`SCM_RIGHTS`; Unix only).
    #[cfg(unix)]
    Rights(&'a [BorrowedFd<'a>]),
    /// Any other control message, given to the OS as it is.
    Raw {
        /// `cmsg_level`, e.g. `libc::IPPROTO_IP` (on Windows, `IPPROTO_IP` of `windows-sys`).
        level: i32,
        /// `cmsg_type`, e.g. `libc::IP_TOS`.
        kind: i32,
        /// The payload, copied into the control buffer unchanged.
        data: &'a [u8],
    },
}

impl ControlMessage<'_> {
    /// Length of the payload in bytes.
    pub(crate) fn data_len(&self) -> usize {
        match self {
            ControlMessage::UdpSegment(_) => std::mem::size_of::<cmsg::SegmentData>(),
            #[cfg(unix)]
            ControlMessage::Rights(fds) => std::mem::size_of_val(*fds),
            ControlMessage::Raw { data, .. } => data.len(),
        }
    }
}

/// Bytes of control buffer needed to send `messages`, with alignment padding.
pub(crate) fn space(messages: &[ControlMessage<'_>]) -> usize {
    messages.iter().map(|m| cmsg::space(m.data_len())).sum()
}

/// Room for the control messages received with one [`InputMessage`](crate::InputMessage).
///
/// Give one to [`InputMessage::control`](crate::InputMessage::control) to receive control
/// messages (for instance file descriptors on a Unix socket, or UDP GRO segment sizes);
/// without one, the kernel's control data is not asked for. File descriptors received into
/// the buffer belong to it until `take_fds` (Unix only) hands them out; the ones never
/// taken are closed when the buffer is reused or dropped, so none leak.
///
/// ```
/// # #[cfg(unix)] {
/// use std::io::{IoSlice, IoSliceMut};
/// use std::os::fd::AsFd;
/// use mmsg::{ControlBuffer, ControlMessage, Domain, InputMessage, MsgFlags, Socket, Type};
///
/// let (a, b) = Socket::pair(Domain::UNIX, Type::DGRAM, None)?;
/// let file = std::fs::File::open("/dev/null")?;
/// let fds = [file.as_fd()];
/// let data = [IoSlice::new(b"fd")];
/// a.send_message(None, &data, &[ControlMessage::Rights(&fds)], MsgFlags::empty(), None)?;
///
/// let mut buf = [0u8; 8];
/// let mut vectors = [IoSliceMut::new(&mut buf)];
/// let mut control = ControlBuffer::new();
/// let mut message = InputMessage::new(&mut vectors);
/// message.control = Some(&mut control);
/// b.receive_messages(std::slice::from_mut(&mut message), MsgFlags::empty(), None)?;
/// drop(message);
/// assert_eq!(control.take_fds().len(), 1);
/// # }
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ControlBuffer {
    /// Aligned for `cmsghdr`, which the kernel requires of the control buffer.
    buf: [u64; ControlBuffer::WORDS],
    len: usize,
    /// Whether the descriptors received were handed out (always, where there are none).
    #[cfg_attr(not(unix), allow(dead_code))]
    fds_taken: bool,
}

impl ControlBuffer {
    const WORDS: usize = 64;
    /// Capacity in bytes (room for about 120 file descriptors, or many small messages).
    pub const CAPACITY: usize = Self::WORDS * 8;

    /// An empty buffer.
    ///
    /// ```
    /// let b = mmsg::ControlBuffer::new();
    /// assert!(b.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> Self {
        ControlBuffer {
            buf: [0; Self::WORDS],
            len: 0,
            fds_taken: false,
        }
    }

    /// Bytes of control data the last receive wrote.
    ///
    /// ```
    /// let b = mmsg::ControlBuffer::new();
    /// assert_eq!(b.len(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the last receive wrote no control data.
    ///
    /// ```
    /// assert!(mmsg::ControlBuffer::new().is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The received control messages, parsed.
    ///
    /// ```
    /// assert_eq!(mmsg::ControlBuffer::new().messages().count(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn messages(&self) -> impl Iterator<Item = ReceivedControlMessage<'_>> + '_ {
        cmsg::Iter::new(self.bytes()).map(|(level, kind, data)| {
            match cmsg::classify(level, kind, data) {
                cmsg::Known::UdpGro(size) => ReceivedControlMessage::UdpGroSegment(size),
                #[cfg(unix)]
                cmsg::Known::Rights(count) if !self.fds_taken => {
                    ReceivedControlMessage::Rights(count)
                }
                _ => ReceivedControlMessage::Raw { level, kind, data },
            }
        })
    }

    /// Takes ownership of the file descriptors received (`SCM_RIGHTS`), in order (Unix
    /// only).
    ///
    /// ```
    /// let mut b = mmsg::ControlBuffer::new();
    /// assert!(b.take_fds().is_empty()); // nothing received yet
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[cfg(unix)]
    pub fn take_fds(&mut self) -> Vec<OwnedFd> {
        if self.fds_taken {
            return Vec::new();
        }
        self.fds_taken = true;
        cmsg::adopt_fds(self.bytes())
    }

    /// Closes descriptors nobody took and empties the buffer, ready for the next receive.
    pub(crate) fn clear(&mut self) {
        // Every receive clears every buffer it hands the kernel, and most hold nothing:
        // those cost a compare, not a parse.
        if self.len > 0 {
            #[cfg(unix)]
            drop(self.take_fds());
            self.len = 0;
        }
        self.fds_taken = false;
    }

    /// The buffer handed to the kernel for a receive.
    pub(crate) fn as_mut_bytes(&mut self) -> &mut [u64] {
        &mut self.buf
    }

    /// Called after a receive wrote `len` bytes.
    pub(crate) fn set_len(&mut self, len: usize) {
        self.len = len.min(Self::CAPACITY);
        self.fds_taken = false;
    }

    /// Makes this buffer hold a copy of `other`'s control data (not its descriptors, which
    /// stay with `other`).
    pub(crate) fn copy_from(&mut self, other: &ControlBuffer) {
        self.clear();
        let bytes = other.bytes();
        for (word, chunk) in self.buf.iter_mut().zip(bytes.chunks(8)) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            *word = u64::from_ne_bytes(w);
        }
        self.len = bytes.len();
        // Descriptors belong to `other`; this copy must never close them.
        self.fds_taken = true;
    }

    fn bytes(&self) -> &[u8] {
        &cmsg::as_bytes(&self.buf)[..self.len]
    }
}

impl Default for ControlBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ControlBuffer {
    fn drop(&mut self) {
        self.clear();
    }
}

impl fmt::Debug for ControlBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.messages()).finish()
    }
}

/// One control message received, as [`ControlBuffer::messages`] yields it.
///
/// ```
/// let m = mmsg::ReceivedControlMessage::UdpGroSegment(1200);
/// assert_eq!(m, mmsg::ReceivedControlMessage::UdpGroSegment(1200));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceivedControlMessage<'a> {
    /// UDP GRO (`UDP_GRO`): the message was several datagrams of this size coalesced.
    UdpGroSegment(u16),
    /// This many file descriptors were received (`SCM_RIGHTS`); take them with
    /// `ControlBuffer::take_fds` (Unix only).
    #[cfg(unix)]
    Rights(usize),
    /// Any other control message, as the kernel wrote it.
    Raw {
        /// `cmsg_level`.
        level: i32,
        /// `cmsg_type`.
        kind: i32,
        /// The payload.
        data: &'a [u8],
    },
}
