//! `ReceiveBatch`: owned, reusable receive buffers whose datagrams are handed out in place.

use std::net::SocketAddr;

use socket2::SockAddr;

use crate::control::{ControlBuffer, ReceivedControlMessage};
use crate::flags::MsgFlags;
use crate::sys::{self, BufferScratch, Received};

/// Buffers for [`Socket::receive_batch`](crate::Socket::receive_batch), with their metadata
/// (length, sender, flags, segment size, control messages) kept apart from the data, reused
/// from call to call without allocating.
///
/// Each buffer receives one datagram, or, with
/// [receive offload](crate::Socket::set_receive_offload) on, several datagrams of one sender
/// that the kernel coalesced: they lie back to back in the buffer, every one
/// [`segment_size`](Buffer::segment_size) bytes but the last, which may be shorter. Nothing
/// is copied: [`datagrams`](Self::datagrams) walks them in place, with their sender.
///
/// With offload on, give buffers of [`OFFLOAD_BUFFER_SIZE`](Self::OFFLOAD_BUFFER_SIZE)
/// bytes: the kernel coalesces up to that much and cuts (with [`MsgFlags::TRUNC`]) what does
/// not fit a smaller buffer.
///
/// ```
/// use std::io::IoSlice;
/// use mmsg::{Domain, MsgFlags, OutputMessage, ReceiveBatch, SockAddr, Socket, Type};
///
/// let receiver = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
/// receiver.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
/// let _ = receiver.set_receive_offload(true); // where the kernel has it
/// let to = receiver.local_address()?;
///
/// let sender = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
/// sender.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
/// let packets: Vec<[u8; 1200]> = (0..8u8).map(|i| [i; 1200]).collect();
/// let vectors: Vec<[IoSlice; 1]> = packets.iter().map(|p| [IoSlice::new(p)]).collect();
/// let mut batch: Vec<OutputMessage> =
///     vectors.iter().map(|v| OutputMessage::new(Some(&to), v)).collect();
/// assert_eq!(sender.send_messages(&mut batch, MsgFlags::empty(), None)?, 8);
///
/// // Made once, reused for every receive.
/// let mut buffers = ReceiveBatch::new(16, ReceiveBatch::OFFLOAD_BUFFER_SIZE);
/// let mut seen = 0u8;
/// while seen < 8 {
///     receiver.receive_batch(&mut buffers, MsgFlags::empty(), None)?;
///     for (from, datagram) in buffers.datagrams() {
///         assert_eq!(from, sender.local_address()?.as_socket());
///         assert_eq!(datagram, &[seen; 1200][..]);
///         seen += 1;
///     }
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ReceiveBatch {
    data: Box<[u8]>,
    size: usize,
    received: Box<[Received]>,
    senders: Box<[Option<SockAddr>]>,
    controls: Box<[ControlBuffer]>,
    /// Each filled buffer's segment size: the datagrams' size where it holds several, its
    /// length where it holds one.
    segments: Box<[usize]>,
    filled: usize,
    scratch: BufferScratch,
}

impl ReceiveBatch {
    /// The largest buffer the kernel coalesces datagrams into with receive offload on (a
    /// UDP datagram's size limit, rounded up).
    pub const OFFLOAD_BUFFER_SIZE: usize = 65_536;

    /// `buffers` buffers of `size` bytes each, allocated now, once.
    ///
    /// ```
    /// let batch = mmsg::ReceiveBatch::new(64, 2048);
    /// assert_eq!((batch.capacity(), batch.buffer_size(), batch.len()), (64, 2048, 0));
    /// ```
    pub fn new(buffers: usize, size: usize) -> ReceiveBatch {
        ReceiveBatch {
            data: vec![0; buffers.saturating_mul(size)].into_boxed_slice(),
            size,
            received: vec![Received::default(); buffers].into_boxed_slice(),
            senders: vec![None; buffers].into_boxed_slice(),
            controls: (0..buffers).map(|_| ControlBuffer::new()).collect(),
            segments: vec![0; buffers].into_boxed_slice(),
            filled: 0,
            scratch: BufferScratch::with_capacity(buffers),
        }
    }

    /// How many buffers there are.
    ///
    /// ```
    /// assert_eq!(mmsg::ReceiveBatch::new(8, 1500).capacity(), 8);
    /// ```
    pub fn capacity(&self) -> usize {
        self.received.len()
    }

    /// The size of each buffer in bytes.
    ///
    /// ```
    /// assert_eq!(mmsg::ReceiveBatch::new(8, 1500).buffer_size(), 1500);
    /// ```
    pub fn buffer_size(&self) -> usize {
        self.size
    }

    /// How many buffers the last receive filled.
    ///
    /// ```
    /// assert_eq!(mmsg::ReceiveBatch::new(8, 1500).len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.filled
    }

    /// Whether the last receive filled no buffer (or there was none yet).
    ///
    /// ```
    /// assert!(mmsg::ReceiveBatch::new(8, 1500).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// Filled buffer `index`, if the last receive filled that many.
    ///
    /// ```
    /// assert!(mmsg::ReceiveBatch::new(8, 1500).get(0).is_none());
    /// ```
    pub fn get(&self, index: usize) -> Option<Buffer<'_>> {
        (index < self.filled).then_some(Buffer { batch: self, index })
    }

    /// The filled buffers, in the order received.
    ///
    /// ```
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// s.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// s.send_to(&s.local_address()?, b"one", None)?; // to itself
    /// let mut batch = mmsg::ReceiveBatch::new(4, 16);
    /// s.receive_batch(&mut batch, mmsg::MsgFlags::empty(), None)?;
    /// let lengths: Vec<usize> = batch.buffers().map(|b| b.data().len()).collect();
    /// assert_eq!(lengths, [3]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn buffers(&self) -> impl ExactSizeIterator<Item = Buffer<'_>> + '_ {
        (0..self.filled).map(move |index| Buffer { batch: self, index })
    }

    /// Every datagram of the filled buffers, in order, with its sender as a
    /// `std::net::SocketAddr` (`None` for senders that are not IP, e.g. Unix sockets: see
    /// [`Buffer::source`]). Coalesced buffers are split here, in place.
    ///
    /// ```
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// s.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// let me = s.local_address()?;
    /// s.send_to(&me, b"one", None)?;
    /// s.send_to(&me, b"", None)?;
    /// let mut batch = mmsg::ReceiveBatch::new(4, 16);
    /// let mut got = Vec::new();
    /// while got.len() < 2 {
    ///     // Both in one call, or the second in another where it was still on its way.
    ///     s.receive_batch(&mut batch, mmsg::MsgFlags::empty(), None)?;
    ///     got.extend(batch.datagrams().map(|(from, d)| (from, d.to_vec())));
    /// }
    /// let from = me.as_socket();
    /// assert_eq!(got, [(from, b"one".to_vec()), (from, b"".to_vec())]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn datagrams(&self) -> impl Iterator<Item = (Option<SocketAddr>, &[u8])> + '_ {
        Datagrams {
            batch: self,
            next: 0,
            rest: &[],
            segment: 1,
            from: None,
            empty: false,
        }
    }

    // ---- for the receive engine ----

    /// Receives into every buffer (see `sys::recv_buffers`) and records segment sizes.
    pub(crate) fn fill(
        &mut self,
        fd: sys::RawSocket,
        flags: i32,
        batch_call: bool,
        syscalls: &std::sync::atomic::AtomicU64,
    ) -> (usize, Option<std::io::Error>) {
        self.filled = 0;
        let (filled, err) = sys::recv_buffers(
            fd,
            &mut self.scratch,
            &mut self.data,
            self.size,
            &mut self.controls,
            &mut self.senders,
            &mut self.received,
            flags,
            batch_call,
            syscalls,
        );
        for ((segment, received), control) in self
            .segments
            .iter_mut()
            .zip(&self.received[..filled])
            .zip(&self.controls[..filled])
        {
            let len = received.len;
            // Most buffers come with no control data at all: nothing to parse.
            let gro = (!control.is_empty())
                .then(|| {
                    control.messages().find_map(|m| match m {
                        ReceivedControlMessage::UdpGroSegment(size) => Some(usize::from(size)),
                        _ => None,
                    })
                })
                .flatten();
            *segment = gro.filter(|&s| s > 0 && s < len).unwrap_or(len);
        }
        self.filled = filled;
        (filled, err)
    }

    /// Forgets what the last receive filled.
    pub(crate) fn clear(&mut self) {
        self.filled = 0;
    }

    /// Puts one datagram into the next free buffer, as a receive would have (mmsg's own
    /// kept segments, handed over before anything new): cut to the buffer, with `TRUNC`,
    /// where it does not fit. Returns false when every buffer is full.
    pub(crate) fn push(
        &mut self,
        datagram: &[u8],
        sender: Option<&SockAddr>,
        flags: MsgFlags,
        control: &ControlBuffer,
    ) -> bool {
        let index = self.filled;
        if index >= self.capacity() {
            return false;
        }
        let len = datagram.len().min(self.size);
        let at = index * self.size;
        self.data[at..at + len].copy_from_slice(&datagram[..len]);
        let mut flags = flags - MsgFlags::TRUNC;
        if len < datagram.len() {
            flags |= MsgFlags::TRUNC;
        }
        self.received[index] = Received { len, flags };
        match (&mut self.senders[index], sender) {
            (Some(mine), Some(theirs)) => mine.clone_from(theirs),
            (mine, theirs) => *mine = theirs.cloned(),
        }
        self.controls[index].copy_from(control);
        self.segments[index] = len;
        self.filled += 1;
        true
    }
}

impl std::fmt::Debug for ReceiveBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiveBatch")
            .field("capacity", &self.capacity())
            .field("buffer_size", &self.size)
            .field("filled", &self.buffers().collect::<Vec<_>>())
            .finish()
    }
}

/// [`ReceiveBatch::datagrams`]: the filled buffers cut segment by segment, each buffer's
/// sender converted once. (The walk of `buffers()` and `Buffer::datagrams()` chained, with
/// nothing but a cut per datagram.)
struct Datagrams<'a> {
    batch: &'a ReceiveBatch,
    /// The buffer after the current one.
    next: usize,
    /// What is left of the current buffer, its segment size and its sender.
    rest: &'a [u8],
    segment: usize,
    from: Option<SocketAddr>,
    /// The current buffer holds a 0-byte datagram, not yet handed out.
    empty: bool,
}

impl<'a> Iterator for Datagrams<'a> {
    type Item = (Option<SocketAddr>, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if !self.rest.is_empty() {
                let (datagram, rest) = self.rest.split_at(self.segment.min(self.rest.len()));
                self.rest = rest;
                return Some((self.from, datagram));
            }
            if self.empty {
                // One empty slice, as `Buffer::datagrams` yields it.
                self.empty = false;
                return Some((self.from, self.rest));
            }
            let buffer = self.batch.get(self.next)?;
            self.next += 1;
            self.rest = buffer.data();
            self.segment = buffer.segment_size().max(1);
            self.from = buffer.source_addr();
            self.empty = self.rest.is_empty();
        }
    }
}

/// One filled buffer of a [`ReceiveBatch`]: one datagram, or several coalesced.
#[derive(Clone, Copy)]
pub struct Buffer<'a> {
    batch: &'a ReceiveBatch,
    index: usize,
}

impl<'a> Buffer<'a> {
    /// All the bytes received into this buffer: one datagram, or several back to back.
    ///
    /// ```
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// s.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// s.send_to(&s.local_address()?, b"abc", None)?; // to itself
    /// let mut batch = mmsg::ReceiveBatch::new(1, 16);
    /// s.receive_batch(&mut batch, mmsg::MsgFlags::empty(), None)?;
    /// assert_eq!(batch.get(0).unwrap().data(), b"abc");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn data(&self) -> &'a [u8] {
        let at = self.index * self.batch.size;
        let len = self.batch.received[self.index].len.min(self.batch.size);
        &self.batch.data[at..at + len]
    }

    /// The size of each datagram in [`data`](Self::data) (the last may be shorter); the
    /// whole length where the buffer holds one datagram.
    ///
    /// ```
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// s.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// s.send_to(&s.local_address()?, b"abc", None)?; // to itself
    /// let mut batch = mmsg::ReceiveBatch::new(1, 16);
    /// s.receive_batch(&mut batch, mmsg::MsgFlags::empty(), None)?;
    /// assert_eq!(batch.get(0).unwrap().segment_size(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn segment_size(&self) -> usize {
        self.batch.segments[self.index]
    }

    /// The datagrams of this buffer, in place. A 0-byte datagram is one empty slice.
    ///
    /// ```
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// s.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// s.send_to(&s.local_address()?, b"abc", None)?; // to itself
    /// let mut batch = mmsg::ReceiveBatch::new(1, 16);
    /// s.receive_batch(&mut batch, mmsg::MsgFlags::empty(), None)?;
    /// assert_eq!(batch.get(0).unwrap().datagrams().collect::<Vec<_>>(), [b"abc"]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn datagrams(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let data = self.data();
        let segment = self.segment_size().max(1);
        let empty = data.is_empty().then_some(&data[..0]);
        data.chunks(segment).chain(empty)
    }

    /// How many datagrams [`datagrams`](Self::datagrams) yields.
    ///
    /// ```
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// s.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// s.send_to(&s.local_address()?, b"", None)?; // to itself
    /// let mut batch = mmsg::ReceiveBatch::new(1, 16);
    /// s.receive_batch(&mut batch, mmsg::MsgFlags::empty(), None)?;
    /// assert_eq!(batch.get(0).unwrap().datagram_count(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn datagram_count(&self) -> usize {
        self.data()
            .len()
            .div_ceil(self.segment_size().max(1))
            .max(1)
    }

    /// The sender, as the OS gave it (`None` for an unnamed Unix socket).
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// let (a, b) = mmsg::Socket::pair(mmsg::Domain::UNIX, mmsg::Type::DGRAM, None)?;
    /// a.send(b"x", None)?;
    /// let mut batch = mmsg::ReceiveBatch::new(1, 16);
    /// b.receive_batch(&mut batch, mmsg::MsgFlags::empty(), None)?;
    /// assert!(batch.get(0).unwrap().source().is_none()); // socketpair peers have no name
    /// # }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn source(&self) -> Option<&'a SockAddr> {
        self.batch.senders[self.index].as_ref()
    }

    /// The sender as a `std::net::SocketAddr`, where it is an IP address.
    ///
    /// ```
    /// let r = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// r.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// let s = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// s.send_to(b"x", r.local_address()?.as_socket().unwrap())?;
    /// let mut batch = mmsg::ReceiveBatch::new(1, 16);
    /// r.receive_batch(&mut batch, mmsg::MsgFlags::empty(), None)?;
    /// assert_eq!(batch.get(0).unwrap().source_addr(), Some(s.local_addr()?));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn source_addr(&self) -> Option<SocketAddr> {
        self.source().and_then(SockAddr::as_socket)
    }

    /// The flags the OS returned, e.g. [`MsgFlags::TRUNC`] where the buffer was too small.
    ///
    /// ```
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// s.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// s.send_to(&s.local_address()?, b"too long", None)?; // to itself
    /// let mut batch = mmsg::ReceiveBatch::new(1, 4);
    /// s.receive_batch(&mut batch, mmsg::MsgFlags::empty(), None)?;
    /// assert!(batch.get(0).unwrap().flags().contains(mmsg::MsgFlags::TRUNC));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn flags(&self) -> MsgFlags {
        self.batch.received[self.index].flags
    }

    /// The control messages received with this buffer (with offload, the
    /// [`UdpGroSegment`](crate::ReceivedControlMessage::UdpGroSegment) size among them).
    ///
    /// ```
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// s.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// s.send_to(&s.local_address()?, b"x", None)?; // to itself
    /// let mut batch = mmsg::ReceiveBatch::new(1, 16);
    /// s.receive_batch(&mut batch, mmsg::MsgFlags::empty(), None)?;
    /// assert!(batch.get(0).unwrap().control().is_empty()); // no options on: nothing came
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn control(&self) -> &'a ControlBuffer {
        &self.batch.controls[self.index]
    }
}

impl std::fmt::Debug for Buffer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buffer")
            .field("len", &self.data().len())
            .field("segment_size", &self.segment_size())
            .field("source", &self.source())
            .field("flags", &self.flags())
            .finish()
    }
}
