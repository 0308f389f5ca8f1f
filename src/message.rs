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
///
/// Addresses held as `std::net::SocketAddr` are converted once, outside the send loop, and
/// borrowed by every message to them; a batch of a fixed size can live on the stack. The
/// loop then allocates nothing and copies no address:
///
/// ```
/// use std::io::IoSlice;
/// use std::net::SocketAddr;
/// use mmsg::{MsgFlags, OutputMessage, SockAddr, Socket};
///
/// let receivers = [std::net::UdpSocket::bind("127.0.0.1:0")?, std::net::UdpSocket::bind("127.0.0.1:0")?];
/// let peers: Vec<SocketAddr> = receivers.iter().map(|r| r.local_addr()).collect::<Result<_, _>>()?;
/// let to: Vec<SockAddr> = peers.iter().map(|&a| SockAddr::from(a)).collect(); // once
///
/// let socket = Socket::from(std::net::UdpSocket::bind("127.0.0.1:0")?);
/// let mut payloads = [[0u8; 100]; 8];
/// for round in 0..3u8 {
///     for (i, p) in payloads.iter_mut().enumerate() {
///         p.fill(round * 8 + i as u8); // new contents each round, same buffers
///     }
///     let vectors: [[IoSlice; 1]; 8] = std::array::from_fn(|i| [IoSlice::new(&payloads[i])]);
///     let mut batch: [OutputMessage; 8] =
///         std::array::from_fn(|i| OutputMessage::new(Some(&to[i % 2]), &vectors[i]));
///     assert_eq!(socket.send_messages(&mut batch, MsgFlags::empty(), None)?, 8);
/// }
/// let mut buf = [0u8; 128];
/// assert_eq!(receivers[1].recv(&mut buf)?, 100);
/// assert_eq!(buf[0], 1); // round 0, message 1
/// # Ok::<(), std::io::Error>(())
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
/// The slice of vectors (`'v`) and the buffers behind them (`'b`) are borrowed separately,
/// so a receive loop keeps its `IoSliceMut` arrays and its messages across calls: made
/// once, reused for every receive, nothing allocated.
///
/// ```
/// use std::io::IoSliceMut;
/// use mmsg::{Domain, InputMessage, MsgFlags, SockAddr, Socket, Type};
///
/// let udp = || Socket::new(Domain::IPV4, Type::DGRAM, None);
/// let (a, b) = (udp()?, udp()?);
/// b.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
/// a.connect(&b.local_address()?, None)?;
/// let mut bufs = vec![[0u8; 1500]; 4];
/// let mut slots: Vec<[IoSliceMut; 1]> = bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
/// let mut messages: Vec<InputMessage> = slots.iter_mut().map(|s| InputMessage::new(s)).collect();
/// for round in 0..3u8 {
///     a.send(&[round; 10], None)?;
///     let n = b.receive_messages(&mut messages, MsgFlags::empty(), None)?;
///     assert_eq!((n, messages[0].bytes_received), (1, 10));
///     assert_eq!(&messages[0].vectors[0][..10], &[round; 10]);
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct InputMessage<'v, 'b> {
    /// Written: the sender's address (`None` where the OS gives none, e.g. an unnamed Unix
    /// socket). An address already here is overwritten in place.
    pub address: Option<SockAddr>,
    /// The buffers the datagram is scattered into, in order.
    pub vectors: &'v mut [IoSliceMut<'b>],
    /// Written: the bytes stored in the vectors. With [`MsgFlags::TRUNC`] among the
    /// *input* flags of the receive, the datagram's whole length instead, which is larger
    /// than the bytes stored where it did not fit (`TRUNC` is then set in `flags`).
    pub bytes_received: usize,
    /// Written: the flags the OS returned, e.g. [`MsgFlags::TRUNC`] where the datagram did
    /// not fit the vectors (the rest of it is lost).
    pub flags: MsgFlags,
    /// Where to put the control messages received with the datagram; `None` asks for none.
    /// With receive offload on, a datagram split out of a coalesced buffer carries that
    /// buffer's control messages, the
    /// [`UdpGroSegment`](crate::ReceivedControlMessage::UdpGroSegment) size among them.
    pub control: Option<&'v mut ControlBuffer>,
}

impl<'v, 'b> InputMessage<'v, 'b> {
    /// A message that receives into `vectors`, asking for no control messages.
    pub fn new(vectors: &'v mut [IoSliceMut<'b>]) -> Self {
        InputMessage {
            address: None,
            vectors,
            bytes_received: 0,
            flags: MsgFlags::empty(),
            control: None,
        }
    }

    /// The sender as a `std::net::SocketAddr`, where it is an IP address.
    ///
    /// ```
    /// use std::io::IoSliceMut;
    /// let r = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// r.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// let s = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// s.send_to(b"x", r.local_address()?.as_socket().unwrap())?;
    /// let mut buf = [0u8; 8];
    /// let mut v = [IoSliceMut::new(&mut buf)];
    /// let mut m = [mmsg::InputMessage::new(&mut v)];
    /// r.receive_messages(&mut m, mmsg::MsgFlags::empty(), None)?;
    /// assert_eq!(m[0].source(), Some(s.local_addr()?));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn source(&self) -> Option<std::net::SocketAddr> {
        self.address.as_ref().and_then(SockAddr::as_socket)
    }
}

/// The sender as `receive_from` reports it: one with no address (an unnamed Unix socket)
/// as an unnamed Unix address.
pub(crate) fn sender_or_unnamed(address: Option<SockAddr>) -> std::io::Result<SockAddr> {
    match address {
        Some(address) => Ok(address),
        #[cfg(unix)]
        None => SockAddr::unix(""),
        #[cfg(not(unix))]
        None => Err(std::io::Error::from(std::io::ErrorKind::AddrNotAvailable)),
    }
}
