//! Fan-out: the same packets to many recipients, sharing the buffers.
//!
//! What GStreamer's multiudpsink does with `g_socket_send_messages`, as an API: the batch is
//! the packets in recipient-major order (every packet to recipient 0, then to recipient 1…),
//! so that consecutive datagrams share a destination and segmentation offload applies, and a
//! recipient that fails is set aside with its error while the others carry on.

use std::cell::Cell;
use std::io::{self, IoSlice};
use std::marker::PhantomData;

use socket2::SockAddr;

use crate::cancellable::Cancellable;
use crate::flags::MsgFlags;
use crate::send::{self, Batch, Outcome, Parts, SendIo};
use crate::socket::Socket;
use crate::sys;

/// One recipient of [`Socket::send_fanout`], with its progress through the packets.
///
/// ```
/// let r = mmsg::Recipient::new(mmsg::SockAddr::from("[::1]:5004".parse::<std::net::SocketAddr>().unwrap()));
/// assert!(r.is_pending(1));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Recipient {
    /// Where the packets go.
    pub address: SockAddr,
    /// How many packets, from the front, this recipient was sent. `send_fanout` carries on
    /// from here, so a call cut short can simply be made again.
    pub packets_sent: usize,
    /// The error that made `send_fanout` set this recipient aside: what the OS answered a
    /// send to it (`EACCES` for a broadcast address, `EINVAL` for port 0, `ENETUNREACH`
    /// with no route, `EMSGSIZE` for a packet too large for its family, ...). A recipient
    /// with an error is skipped until it is cleared. An unconnected UDP socket is not told
    /// of ICMP port-unreachable messages (Linux reports them to connected sockets only), so
    /// a recipient that went away is not detected this way.
    pub error: Option<io::Error>,
}

impl Recipient {
    /// A recipient at `address` that has been sent nothing yet.
    ///
    /// ```
    /// let r = mmsg::Recipient::new(mmsg::SockAddr::from("127.0.0.1:5004".parse::<std::net::SocketAddr>().unwrap()));
    /// assert_eq!((r.packets_sent, r.error.is_none()), (0, true));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(address: SockAddr) -> Recipient {
        Recipient {
            address,
            packets_sent: 0,
            error: None,
        }
    }

    /// Whether this recipient still has packets of `total` to be sent and has not failed.
    ///
    /// ```
    /// let mut r = mmsg::Recipient::new(mmsg::SockAddr::from("127.0.0.1:5004".parse::<std::net::SocketAddr>().unwrap()));
    /// r.packets_sent = 3;
    /// assert!(r.is_pending(4) && !r.is_pending(3));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_pending(&self, total: usize) -> bool {
        self.error.is_none() && self.packets_sent < total
    }

    /// Starts over: nothing sent, no error (to send the next batch of packets).
    ///
    /// ```
    /// let mut r = mmsg::Recipient::new(mmsg::SockAddr::from("127.0.0.1:5004".parse::<std::net::SocketAddr>().unwrap()));
    /// r.packets_sent = 3;
    /// r.reset();
    /// assert_eq!(r.packets_sent, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn reset(&mut self) {
        self.packets_sent = 0;
        self.error = None;
    }
}

impl Socket {
    /// Sends every packet to every recipient: in order for each recipient, with the packet
    /// buffers shared (nothing is copied), as few system calls as it takes.
    ///
    /// Each packet is a list of vectors gathered into one datagram (e.g. an RTP header and
    /// its payload). Each recipient continues from its `packets_sent`, which is advanced as
    /// packets go. A recipient the OS refuses (say `ECONNREFUSED`) gets the error in
    /// [`Recipient::error`] and is skipped; the others carry on. Returns how many datagrams
    /// this call sent, in all.
    ///
    /// In blocking mode the call returns when every recipient has all packets or has failed,
    /// or early on timeout or cancellation (with the count so far). In non-blocking mode it
    /// sends what fits. An error comes back only when nothing was sent: cancelled, timed out,
    /// `WouldBlock`, or bad input (`InvalidInput` naming the recipient or packet, checked
    /// before anything is sent).
    ///
    /// ```
    /// use std::io::IoSlice;
    /// use mmsg::{Domain, MsgFlags, Recipient, SockAddr, Socket, Type};
    ///
    /// let receivers: Vec<Socket> = (0..3)
    ///     .map(|_| {
    ///         let s = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    ///         s.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    ///         Ok(s)
    ///     })
    ///     .collect::<std::io::Result<_>>()?;
    /// let mut recipients: Vec<Recipient> = receivers
    ///     .iter()
    ///     .map(|r| Ok(Recipient::new(r.local_address()?)))
    ///     .collect::<std::io::Result<_>>()?;
    ///
    /// let payload = [0xAB; 1000];
    /// let headers = [[0u8, 1], [0, 2]];
    /// let packets: Vec<[IoSlice; 2]> =
    ///     headers.iter().map(|h| [IoSlice::new(h), IoSlice::new(&payload)]).collect();
    ///
    /// let sender = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    /// let sent = sender.send_fanout(&packets, &mut recipients, MsgFlags::empty(), None)?;
    /// assert_eq!(sent, 6);
    /// assert!(recipients.iter().all(|r| r.packets_sent == 2 && r.error.is_none()));
    ///
    /// let mut buf = [0u8; 2000];
    /// for r in &receivers {
    ///     for seq in [1, 2] {
    ///         let n = r.receive(&mut buf, None)?;
    ///         assert_eq!((n, buf[1]), (1002, seq));
    ///     }
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_fanout<'v, P: AsRef<[IoSlice<'v>]>>(
        &self,
        packets: &[P],
        recipients: &mut [Recipient],
        flags: MsgFlags,
        cancellable: Option<&Cancellable>,
    ) -> io::Result<usize> {
        send(
            &self.send_io(self.wait_for(flags)),
            packets,
            recipients,
            flags,
            cancellable,
        )
    }
}

/// Sends every packet to every recipient (see `Socket::send_fanout`).
pub(crate) fn send<'v, P: AsRef<[IoSlice<'v>]>>(
    io: &SendIo<'_>,
    packets: &[P],
    recipients: &mut [Recipient],
    flags: MsgFlags,
    cancellable: Option<&Cancellable>,
) -> io::Result<usize> {
    if let Some(c) = cancellable {
        c.check()?;
    }
    let map_v4 = validate(io.family, packets, recipients)?;
    let flags = flags.bits() | sys::MSG_NOSIGNAL;
    let total = packets.len();
    let mut sent = 0;
    loop {
        let Some(first) = recipients.iter().position(|r| r.is_pending(total)) else {
            return Ok(sent);
        };
        if sent > 0 && cancellable.is_some_and(Cancellable::is_cancelled) {
            return Ok(sent);
        }
        let mut batch = FanoutBatch::new(packets, &recipients[first..]);
        match send::attempt(io, &mut batch, 0, map_v4, flags, cancellable) {
            Outcome::Sent(_) => {
                let count = batch.sent;
                sent += count;
                advance(packets.len(), &mut recipients[first..], count);
            }
            // The first pending recipient's next packet was refused: set it aside.
            Outcome::Failed(e) => recipients[first].error = Some(e),
            Outcome::Stopped(e) => return send::partial(sent, e),
        }
    }
}

/// Checks packets and recipients before anything is sent; returns whether IPv4 addresses
/// must be IPv4-mapped.
fn validate<'v, P: AsRef<[IoSlice<'v>]>>(
    family: i32,
    packets: &[P],
    recipients: &[Recipient],
) -> io::Result<bool> {
    for (index, packet) in packets.iter().enumerate() {
        send::check_vectors(packet.as_ref().len()).map_err(|why| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("packet {index}: {why}"),
            )
        })?;
    }
    let mut map_v4 = false;
    for (index, recipient) in recipients.iter().enumerate() {
        map_v4 |= send::check_address(family, &recipient.address).map_err(|why| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("recipient {index}: {why}"),
            )
        })?;
    }
    Ok(map_v4)
}

/// Credits `count` datagrams, sent in batch order, to the pending recipients.
fn advance(total: usize, recipients: &mut [Recipient], mut count: usize) {
    for recipient in recipients.iter_mut().filter(|r| r.is_pending(total)) {
        if count == 0 {
            break;
        }
        let step = count.min(total - recipient.packets_sent);
        recipient.packets_sent += step;
        count -= step;
    }
}

/// The pending (recipient, packet) pairs in recipient-major order, seen as a batch.
struct FanoutBatch<'p, 'r, 'v, P> {
    packets: &'p [P],
    recipients: &'r [Recipient],
    len: usize,
    /// The last position looked up, `(index, recipient, packet)`: the send path walks the
    /// batch in order, so each lookup moves it forward a little.
    cursor: Cell<(usize, usize, usize)>,
    /// How many datagrams from the front were sent.
    sent: usize,
    vectors: PhantomData<IoSlice<'v>>,
}

impl<'p, 'r, P> FanoutBatch<'p, 'r, '_, P> {
    /// `recipients[0]` must be pending.
    fn new(packets: &'p [P], recipients: &'r [Recipient]) -> Self {
        let total = packets.len();
        let len = recipients
            .iter()
            .filter(|r| r.is_pending(total))
            .map(|r| total - r.packets_sent)
            .sum();
        let start = (0, 0, recipients.first().map_or(0, |r| r.packets_sent));
        FanoutBatch {
            packets,
            recipients,
            len,
            cursor: Cell::new(start),
            sent: 0,
            vectors: PhantomData,
        }
    }

    /// The recipient and packet of datagram `index` (less than `len`).
    fn locate(&self, index: usize) -> (usize, usize) {
        let total = self.packets.len();
        let (mut at, mut r, mut p) = self.cursor.get();
        if index < at {
            (at, r, p) = (0, 0, self.recipients[0].packets_sent);
        }
        while index - at >= total - p {
            at += total - p;
            r += 1;
            while !self.recipients[r].is_pending(total) {
                r += 1;
            }
            p = self.recipients[r].packets_sent;
        }
        p += index - at;
        at = index;
        self.cursor.set((at, r, p));
        (r, p)
    }
}

impl<'v, P: AsRef<[IoSlice<'v>]>> Batch for FanoutBatch<'_, '_, 'v, P> {
    fn len(&self) -> usize {
        self.len
    }
    fn set_bytes_sent(&mut self, index: usize, _bytes: usize) {
        self.sent = self.sent.max(index + 1);
    }
    fn message(&self, index: usize) -> Parts<'_> {
        let (recipient, packet) = self.locate(index);
        Parts {
            address: Some(&self.recipients[recipient].address),
            vectors: self.packets[packet].as_ref(),
            control_messages: &[],
        }
    }
}
