//! The messages a batch is made of: where each goes or came from, and its buffers.

use std::io::{IoSlice, IoSliceMut};

use socket2::SockAddr;

use crate::control::{ControlBuffer, ControlMessage};
use crate::flags::MsgFlags;

/// One datagram to send with [`Socket::send_messages`](crate::Socket::send_messages),
/// gathered from `vectors` in order.
///
/// ```
/// use std::io::IoSlice;
/// use mmsg::OutputMessage;
///
/// let header = [0x80u8, 96, 0, 1];
/// let payload = b"frame data";
/// let vectors = [IoSlice::new(&header), IoSlice::new(payload)];
/// let message = OutputMessage::new(None, &vectors);
/// assert_eq!(message.len(), 14);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct OutputMessage<'a> {
    /// Where to send it; `None` sends to the connected peer.
    pub address: Option<&'a SockAddr>,
    /// The buffers the datagram is gathered from, in order. Empty: a 0-byte datagram.
    pub vectors: &'a [IoSlice<'a>],
    /// Written by `send_messages` for each message it sent: the bytes the OS took.
    pub bytes_sent: usize,
    /// Control messages sent with this message only.
    pub control_messages: &'a [ControlMessage<'a>],
}

impl<'a> OutputMessage<'a> {
    /// A message to `address` (or the connected peer) made of `vectors`, with no control
    /// messages.
    pub fn new(address: Option<&'a SockAddr>, vectors: &'a [IoSlice<'a>]) -> Self {
        OutputMessage {
            address,
            vectors,
            bytes_sent: 0,
            control_messages: &[],
        }
    }

    /// The same message with `control_messages` attached.
    ///
    /// ```
    /// use std::io::IoSlice;
    /// let v = [IoSlice::new(b"x")];
    /// let c = [mmsg::ControlMessage::UdpSegment(1200)];
    /// let m = mmsg::OutputMessage::new(None, &v).with_control_messages(&c);
    /// assert_eq!(m.control_messages.len(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_control_messages(mut self, control_messages: &'a [ControlMessage<'a>]) -> Self {
        self.control_messages = control_messages;
        self
    }

    /// Total bytes in the vectors.
    ///
    /// ```
    /// use std::io::IoSlice;
    /// let v = [IoSlice::new(b"ab"), IoSlice::new(b"cde")];
    /// assert_eq!(mmsg::OutputMessage::new(None, &v).len(), 5);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.vectors.iter().map(|v| v.len()).sum()
    }

    /// Whether the message is a 0-byte datagram.
    ///
    /// ```
    /// use std::io::IoSlice;
    /// let v = [IoSlice::new(b"")];
    /// assert!(mmsg::OutputMessage::new(None, &v).is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.vectors.iter().all(|v| v.is_empty())
    }
}

/// One datagram to receive with [`Socket::receive_messages`](crate::Socket::receive_messages),
/// scattered into `vectors` in order.
///
/// ```
/// use std::io::IoSliceMut;
/// use mmsg::InputMessage;
///
/// let mut buf = [0u8; 1500];
/// let mut vectors = [IoSliceMut::new(&mut buf)];
/// let message = InputMessage::new(&mut vectors);
/// assert_eq!(message.bytes_received, 0);
/// ```
#[derive(Debug)]
pub struct InputMessage<'a> {
    /// Written: the sender's address (`None` where the OS gives none, e.g. an unnamed Unix
    /// socket).
    pub address: Option<SockAddr>,
    /// The buffers the datagram is scattered into, in order.
    pub vectors: &'a mut [IoSliceMut<'a>],
    /// Written: bytes stored in the vectors (with `TRUNC`, the datagram was longer).
    pub bytes_received: usize,
    /// Written: the flags the OS returned, e.g. [`MsgFlags::TRUNC`].
    pub flags: MsgFlags,
    /// Where to put the control messages received with the datagram; `None` asks for none.
    pub control: Option<&'a mut ControlBuffer>,
}

impl<'a> InputMessage<'a> {
    /// A message that receives into `vectors`, asking for no control messages.
    pub fn new(vectors: &'a mut [IoSliceMut<'a>]) -> Self {
        InputMessage {
            address: None,
            vectors,
            bytes_received: 0,
            flags: MsgFlags::empty(),
            control: None,
        }
    }
}
