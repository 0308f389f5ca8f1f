//! Async support on tokio: the same batched calls, awaiting readiness instead of polling.

use std::io::{self, IoSlice};
use std::task::{Context, Poll};

use socket2::SockAddr;
use tokio::io::Interest;

use crate::fanout::Recipient;
use crate::flags::MsgFlags;
use crate::message::{InputMessage, OutputMessage};
use crate::receive_batch::ReceiveBatch;
use crate::send::Wait;
use crate::socket::Socket;
use crate::{recv, send, sys};

/// A [`Socket`] registered with tokio's reactor (cargo feature `tokio`).
///
/// Every call tries the socket without waiting and, where it would block, awaits readiness
/// from the runtime: the socket's own blocking mode and timeout play no part (switching it
/// to blocking through [`get_ref`](Self::get_ref) changes nothing here). Use
/// `tokio::time::timeout` for deadlines, and dropping the future for cancellation; each
/// method says what dropping it mid-way means ("Cancel safety", as in tokio's docs).
///
/// Besides the whole-batch futures there are one-attempt forms: `try_*` (no waiting,
/// `WouldBlock` when nothing could be done) and `poll_*` (for hand-written futures and
/// other runtimes' traits), each returning how much went, so nothing is ever unaccounted.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use std::io::{IoSlice, IoSliceMut};
/// use mmsg::{AsyncSocket, Domain, InputMessage, MsgFlags, OutputMessage, SockAddr, Socket, Type};
///
/// let loopback = SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap());
/// let (a, b) = (Socket::new(Domain::IPV4, Type::DGRAM, None)?, Socket::new(Domain::IPV4, Type::DGRAM, None)?);
/// b.bind(&loopback)?;
/// a.connect(&b.local_address()?, None)?;
/// let (a, b) = (AsyncSocket::new(a)?, AsyncSocket::new(b)?);
/// let v = [IoSlice::new(b"ping")];
/// let mut out = [OutputMessage::new(None, &v); 3];
/// assert_eq!(a.send_messages(&mut out, MsgFlags::empty()).await?, 3);
///
/// let mut bufs = [[0u8; 8]; 3];
/// let [x, y, z] = &mut bufs;
/// let (mut vx, mut vy, mut vz) =
///     ([IoSliceMut::new(x)], [IoSliceMut::new(y)], [IoSliceMut::new(z)]);
/// let mut input =
///     [InputMessage::new(&mut vx), InputMessage::new(&mut vy), InputMessage::new(&mut vz)];
/// let mut got = 0;
/// while got < 3 {
///     got += b.receive_messages(&mut input[got..], MsgFlags::empty()).await?;
/// }
/// assert!(input.iter().all(|m| m.bytes_received == 4));
/// # Ok(())
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[derive(Debug)]
pub struct AsyncSocket {
    fd: sys::tokio::Registered,
}

impl AsyncSocket {
    /// Registers `socket` with the current tokio runtime (call from within one). The socket
    /// is switched to non-blocking mode, which its own calls through
    /// [`get_ref`](Self::get_ref) then follow; this type's calls never block either way.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// assert!(s.is_blocking());
    /// let s = mmsg::AsyncSocket::new(s)?;
    /// assert!(!s.get_ref().is_blocking());
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(socket: Socket) -> io::Result<AsyncSocket> {
        socket.set_blocking(false);
        let fd = sys::tokio::Registered::new(socket)?;
        Ok(AsyncSocket { fd })
    }

    /// The socket, for its other methods (options, addresses, non-blocking calls).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use mmsg::{AsyncSocket, Domain, SockAddr, Socket, Type};
    /// let udp = || Socket::new(Domain::IPV4, Type::DGRAM, None);
    /// let (a, b) = (udp()?, udp()?);
    /// b.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// a.connect(&b.local_address()?, None)?;
    /// let a = AsyncSocket::new(a)?;
    /// assert_eq!(a.get_ref().remote_address()?, b.local_address()?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_ref(&self) -> &Socket {
        self.fd.get_ref()
    }

    /// Takes the socket back out of the reactor.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// s.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// let s = mmsg::AsyncSocket::new(s)?.into_inner();
    /// assert_eq!(s.send_to(&s.local_address()?, b"sync again", None)?, 10);
    /// # Ok(())
    /// # }
    /// ```
    pub fn into_inner(self) -> Socket {
        self.fd.into_inner()
    }

    /// Waits until the socket may be readable; then try `try_receive_*`. Cancel safe.
    ///
    /// The readiness stays recorded until a `try_*` call finds the socket would block: a
    /// receive made through [`get_ref`](Self::get_ref) instead does not clear it (on
    /// Windows, nor re-arm the reactor), so a loop around `readable` must use `try_*`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use mmsg::{AsyncSocket, Domain, SockAddr, Socket, Type};
    /// let udp = || Socket::new(Domain::IPV4, Type::DGRAM, None);
    /// let (a, b) = (udp()?, udp()?);
    /// b.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// a.connect(&b.local_address()?, None)?;
    /// let b = AsyncSocket::new(b)?;
    /// a.send(b"x", None)?;
    /// b.readable().await?;
    /// let mut buf = [0u8; 4];
    /// assert_eq!(b.get_ref().receive(&mut buf, None)?, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn readable(&self) -> io::Result<()> {
        self.fd.ready(Interest::READABLE).await
    }

    /// Waits until the socket may be writable; then try `try_send_*`. Cancel safe. As with
    /// [`readable`](Self::readable), only a `try_*` call clears the readiness.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use std::io::IoSlice;
    /// use mmsg::{AsyncSocket, Domain, MsgFlags, OutputMessage, SockAddr, Socket, Type};
    /// let s = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    /// s.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// let me = s.local_address()?;
    /// let s = AsyncSocket::new(s)?;
    /// s.writable().await?;
    /// let v = [IoSlice::new(b"x")];
    /// let mut batch = [OutputMessage::new(Some(&me), &v)]; // to itself
    /// assert_eq!(s.try_send_messages(&mut batch, MsgFlags::empty())?, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn writable(&self) -> io::Result<()> {
        self.fd.ready(Interest::WRITABLE).await
    }

    /// Sends the whole batch (see [`Socket::send_messages`]), awaiting room as needed.
    /// An error after some messages went ends the call with their count, as in blocking
    /// mode; an error the kernel reports only once comes back from the next call.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropped after some messages went, the future cannot say how many
    /// (`bytes_sent` is written only for the sent ones, but a 0-byte datagram leaves it 0
    /// either way). Where the future may be dropped (in `select!`, under a timeout), loop
    /// over [`try_send_messages`](Self::try_send_messages) after
    /// [`writable`](Self::writable), or use [`poll_send_messages`](Self::poll_send_messages).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use std::io::IoSlice;
    /// use mmsg::{AsyncSocket, Domain, MsgFlags, OutputMessage, SockAddr, Socket, Type};
    /// let udp = || Socket::new(Domain::IPV4, Type::DGRAM, None);
    /// let (a, b) = (udp()?, udp()?);
    /// b.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// a.connect(&b.local_address()?, None)?;
    /// let a = AsyncSocket::new(a)?;
    /// let v = [IoSlice::new(b"x")];
    /// let mut batch = [OutputMessage::new(None, &v); 4];
    /// assert_eq!(a.send_messages(&mut batch, MsgFlags::empty()).await?, 4);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send_messages(
        &self,
        messages: &mut [OutputMessage<'_>],
        flags: MsgFlags,
    ) -> io::Result<usize> {
        if messages.is_empty() {
            return self.try_send_messages(messages, flags);
        }
        let mut sent = 0;
        while sent < messages.len() {
            let rest = &mut messages[sent..];
            match self
                .fd
                .async_io(Interest::WRITABLE, |s| Self::send_once(s, rest, flags))
                .await
            {
                Ok(n) => sent += n,
                Err(e) if sent > 0 => {
                    // The count so far; the error (taken from the socket where it was kept
                    // by the last attempt) is the next call's, as in blocking mode.
                    self.get_ref().keep_send_error(e);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    }

    /// One attempt at sending `messages` without waiting: the count sent from the front
    /// (`bytes_sent` written for those), or `WouldBlock` when none could be, or when the
    /// runtime has not yet seen the socket writable (await [`writable`](Self::writable)
    /// first). Cancel safe (nothing to cancel).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use std::io::IoSlice;
    /// use mmsg::{AsyncSocket, Domain, MsgFlags, OutputMessage, SockAddr, Socket, Type};
    /// let udp = || Socket::new(Domain::IPV4, Type::DGRAM, None);
    /// let (a, b) = (udp()?, udp()?);
    /// b.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// a.connect(&b.local_address()?, None)?;
    /// let a = AsyncSocket::new(a)?;
    /// let v = [IoSlice::new(b"x")];
    /// let mut batch = [OutputMessage::new(None, &v); 4];
    /// let mut sent = 0;
    /// while sent < batch.len() {
    ///     a.writable().await?;
    ///     match a.try_send_messages(&mut batch[sent..], MsgFlags::empty()) {
    ///         Ok(n) => sent += n,
    ///         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
    ///         Err(e) => return Err(e),
    ///     }
    /// }
    /// assert!(batch.iter().all(|m| m.bytes_sent == 1));
    /// # Ok(())
    /// # }
    /// ```
    pub fn try_send_messages(
        &self,
        messages: &mut [OutputMessage<'_>],
        flags: MsgFlags,
    ) -> io::Result<usize> {
        self.fd
            .try_io(Interest::WRITABLE, |s| Self::send_once(s, messages, flags))
    }

    /// Polls one attempt at sending `messages`: `Ready` with the count sent from the front
    /// (or an error, none sent), `Pending` with the task woken when there may be room.
    /// For hand-written futures and other runtimes' I/O traits; cancel safe.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use std::io::IoSlice;
    /// use mmsg::{AsyncSocket, Domain, MsgFlags, OutputMessage, SockAddr, Socket, Type};
    /// let udp = || Socket::new(Domain::IPV4, Type::DGRAM, None);
    /// let (a, b) = (udp()?, udp()?);
    /// b.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// a.connect(&b.local_address()?, None)?;
    /// let a = AsyncSocket::new(a)?;
    /// let v = [IoSlice::new(b"x")];
    /// let mut batch = [OutputMessage::new(None, &v); 2];
    /// let n = std::future::poll_fn(|cx| a.poll_send_messages(cx, &mut batch, MsgFlags::empty()))
    ///     .await?;
    /// assert_eq!(n, 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn poll_send_messages(
        &self,
        cx: &mut Context<'_>,
        messages: &mut [OutputMessage<'_>],
        flags: MsgFlags,
    ) -> Poll<io::Result<usize>> {
        self.fd.poll_io(cx, Interest::WRITABLE, |s| {
            Self::send_once(s, messages, flags)
        })
    }

    /// Sends every packet to every recipient (see [`Socket::send_fanout`]), awaiting room.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: each recipient's progress is recorded in its
    /// [`packets_sent`](Recipient::packets_sent) as packets go, so a dropped call can be
    /// made again and carries on where it stopped.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use std::io::IoSlice;
    /// let r = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// r.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// let s = mmsg::AsyncSocket::new(mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?)?;
    /// let packets = [[IoSlice::new(b"p1")], [IoSlice::new(b"p2")]];
    /// let mut to = [mmsg::Recipient::new(r.local_address()?)];
    /// assert_eq!(s.send_fanout(&packets, &mut to, mmsg::MsgFlags::empty()).await?, 2);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send_fanout<'v, P: AsRef<[IoSlice<'v>]>>(
        &self,
        packets: &[P],
        recipients: &mut [Recipient],
        flags: MsgFlags,
    ) -> io::Result<usize> {
        let mut sent = 0;
        loop {
            match self
                .fd
                .async_io(Interest::WRITABLE, |s| {
                    Self::fanout_once(s, packets, recipients, flags)
                })
                .await
            {
                Ok(n) => sent += n,
                Err(_) if sent > 0 => break,
                Err(e) => return Err(e),
            }
            if !recipients.iter().any(|r| r.is_pending(packets.len())) {
                break;
            }
        }
        Ok(sent)
    }

    /// One attempt at [`send_fanout`](Self::send_fanout) without waiting: the datagrams
    /// sent (progress in each recipient), or `WouldBlock` when none could be.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use std::io::IoSlice;
    /// let r = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// r.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// let s = mmsg::AsyncSocket::new(mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?)?;
    /// let packets = [[IoSlice::new(b"p1")]];
    /// let mut to = [mmsg::Recipient::new(r.local_address()?)];
    /// s.writable().await?; // until the runtime has seen the socket ready, try_* would block
    /// assert_eq!(s.try_send_fanout(&packets, &mut to, mmsg::MsgFlags::empty())?, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn try_send_fanout<'v, P: AsRef<[IoSlice<'v>]>>(
        &self,
        packets: &[P],
        recipients: &mut [Recipient],
        flags: MsgFlags,
    ) -> io::Result<usize> {
        self.fd.try_io(Interest::WRITABLE, |s| {
            Self::fanout_once(s, packets, recipients, flags)
        })
    }

    /// Sends one datagram to `address`. Cancel safe: the datagram went or it did not.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let r = mmsg::AsyncSocket::new(mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?)?;
    /// r.get_ref().bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// let s = mmsg::AsyncSocket::new(mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?)?;
    /// assert_eq!(s.send_to(&r.get_ref().local_address()?, b"hi").await?, 2);
    /// let mut buf = [0u8; 4];
    /// assert_eq!(r.receive_from(&mut buf).await?.0, 2);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send_to(&self, address: &SockAddr, buffer: &[u8]) -> io::Result<usize> {
        let vectors = [IoSlice::new(buffer)];
        let mut message = [OutputMessage::new(Some(address), &vectors)];
        self.fd
            .async_io(Interest::WRITABLE, |s| {
                Self::send_once(s, &mut message, MsgFlags::empty())
            })
            .await?;
        Ok(message[0].bytes_sent)
    }

    /// Awaits the first datagram, then takes what else is queued (see
    /// [`Socket::receive_messages`]).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: datagrams are taken only in the last, synchronous step, so a dropped
    /// future took none.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use std::io::IoSliceMut;
    /// use mmsg::{AsyncSocket, Domain, InputMessage, MsgFlags, SockAddr, Socket, Type};
    /// let udp = || Socket::new(Domain::IPV4, Type::DGRAM, None);
    /// let (a, b) = (udp()?, udp()?);
    /// b.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// a.connect(&b.local_address()?, None)?;
    /// let b = AsyncSocket::new(b)?;
    /// a.send(b"one", None)?;
    /// let mut buf = [0u8; 8];
    /// let mut v = [IoSliceMut::new(&mut buf)];
    /// let mut m = [InputMessage::new(&mut v)];
    /// assert_eq!(b.receive_messages(&mut m, MsgFlags::empty()).await?, 1);
    /// assert_eq!(m[0].bytes_received, 3);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn receive_messages(
        &self,
        messages: &mut [InputMessage<'_, '_>],
        flags: MsgFlags,
    ) -> io::Result<usize> {
        self.fd
            .async_io(Interest::READABLE, |s| {
                Self::receive_once(s, messages, flags)
            })
            .await
    }

    /// One attempt at receiving into `messages` without waiting: how many were filled, or
    /// `WouldBlock` when nothing was queued. Cancel safe (nothing to cancel).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use std::io::IoSliceMut;
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// s.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// let s = mmsg::AsyncSocket::new(s)?;
    /// let mut buf = [0u8; 8];
    /// let mut v = [IoSliceMut::new(&mut buf)];
    /// let mut m = [mmsg::InputMessage::new(&mut v)];
    /// let err = s.try_receive_messages(&mut m, mmsg::MsgFlags::empty()).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock); // nothing was sent
    /// # Ok(())
    /// # }
    /// ```
    pub fn try_receive_messages(
        &self,
        messages: &mut [InputMessage<'_, '_>],
        flags: MsgFlags,
    ) -> io::Result<usize> {
        self.fd.try_io(Interest::READABLE, |s| {
            Self::receive_once(s, messages, flags)
        })
    }

    /// Polls one attempt at receiving into `messages`: `Ready` with how many were filled
    /// (or an error), `Pending` with the task woken when data may have come. Cancel safe.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use std::io::IoSliceMut;
    /// use mmsg::{AsyncSocket, Domain, InputMessage, MsgFlags, SockAddr, Socket, Type};
    /// let udp = || Socket::new(Domain::IPV4, Type::DGRAM, None);
    /// let (a, b) = (udp()?, udp()?);
    /// b.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// a.connect(&b.local_address()?, None)?;
    /// let b = AsyncSocket::new(b)?;
    /// a.send(b"one", None)?;
    /// let mut buf = [0u8; 8];
    /// let mut v = [IoSliceMut::new(&mut buf)];
    /// let mut m = [InputMessage::new(&mut v)];
    /// let n = std::future::poll_fn(|cx| b.poll_receive_messages(cx, &mut m, MsgFlags::empty()))
    ///     .await?;
    /// assert_eq!((n, m[0].bytes_received), (1, 3));
    /// # Ok(())
    /// # }
    /// ```
    pub fn poll_receive_messages(
        &self,
        cx: &mut Context<'_>,
        messages: &mut [InputMessage<'_, '_>],
        flags: MsgFlags,
    ) -> Poll<io::Result<usize>> {
        self.fd.poll_io(cx, Interest::READABLE, |s| {
            Self::receive_once(s, messages, flags)
        })
    }

    /// Awaits the first datagram, then fills `batch`'s buffers with what is queued (see
    /// [`Socket::receive_batch`]): the zero-copy receive. Cancel safe, as
    /// [`receive_messages`](Self::receive_messages).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use mmsg::{AsyncSocket, Domain, MsgFlags, ReceiveBatch, SockAddr, Socket, Type};
    /// let udp = || Socket::new(Domain::IPV4, Type::DGRAM, None);
    /// let (a, b) = (udp()?, udp()?);
    /// b.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// a.connect(&b.local_address()?, None)?;
    /// let b = AsyncSocket::new(b)?;
    /// a.send(b"one", None)?;
    /// let mut batch = ReceiveBatch::new(4, 64);
    /// assert_eq!(b.receive_batch(&mut batch, MsgFlags::empty()).await?, 1);
    /// assert_eq!(batch.get(0).unwrap().data(), b"one");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn receive_batch(
        &self,
        batch: &mut ReceiveBatch,
        flags: MsgFlags,
    ) -> io::Result<usize> {
        self.fd
            .async_io(Interest::READABLE, |s| {
                Self::receive_batch_once(s, batch, flags)
            })
            .await
    }

    /// One attempt at [`receive_batch`](Self::receive_batch) without waiting.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// s.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// let s = mmsg::AsyncSocket::new(s)?;
    /// let mut batch = mmsg::ReceiveBatch::new(4, 64);
    /// let err = s.try_receive_batch(&mut batch, mmsg::MsgFlags::empty()).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock); // nothing was sent
    /// # Ok(())
    /// # }
    /// ```
    pub fn try_receive_batch(
        &self,
        batch: &mut ReceiveBatch,
        flags: MsgFlags,
    ) -> io::Result<usize> {
        self.fd.try_io(Interest::READABLE, |s| {
            Self::receive_batch_once(s, batch, flags)
        })
    }

    /// Polls one attempt at [`receive_batch`](Self::receive_batch). Cancel safe.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use mmsg::{AsyncSocket, Domain, MsgFlags, ReceiveBatch, SockAddr, Socket, Type};
    /// let udp = || Socket::new(Domain::IPV4, Type::DGRAM, None);
    /// let (a, b) = (udp()?, udp()?);
    /// b.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// a.connect(&b.local_address()?, None)?;
    /// let b = AsyncSocket::new(b)?;
    /// a.send(b"one", None)?;
    /// let mut batch = ReceiveBatch::new(4, 64);
    /// let n = std::future::poll_fn(|cx| b.poll_receive_batch(cx, &mut batch, MsgFlags::empty()))
    ///     .await?;
    /// assert_eq!(n, 1);
    /// assert_eq!(batch.get(0).unwrap().data(), b"one");
    /// # Ok(())
    /// # }
    /// ```
    pub fn poll_receive_batch(
        &self,
        cx: &mut Context<'_>,
        batch: &mut ReceiveBatch,
        flags: MsgFlags,
    ) -> Poll<io::Result<usize>> {
        self.fd.poll_io(cx, Interest::READABLE, |s| {
            Self::receive_batch_once(s, batch, flags)
        })
    }

    /// Awaits one datagram; returns its length and sender. Cancel safe.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use mmsg::{AsyncSocket, Domain, SockAddr, Socket, Type};
    /// let udp = || Socket::new(Domain::IPV4, Type::DGRAM, None);
    /// let (a, b) = (udp()?, udp()?);
    /// b.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// a.connect(&b.local_address()?, None)?;
    /// let b = AsyncSocket::new(b)?;
    /// a.send(b"one", None)?;
    /// let mut buf = [0u8; 8];
    /// assert_eq!(b.receive_from(&mut buf).await?, (3, a.local_address()?));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn receive_from(&self, buffer: &mut [u8]) -> io::Result<(usize, SockAddr)> {
        let mut vectors = [io::IoSliceMut::new(buffer)];
        let mut message = [InputMessage::new(&mut vectors)];
        self.receive_messages(&mut message, MsgFlags::empty())
            .await?;
        let [InputMessage {
            address,
            bytes_received,
            ..
        }] = message;
        Ok((bytes_received, crate::message::sender_or_unnamed(address)?))
    }

    // One attempt of each kind, never waiting whatever the socket's blocking mode.

    fn send_once(
        socket: &Socket,
        messages: &mut [OutputMessage<'_>],
        flags: MsgFlags,
    ) -> io::Result<usize> {
        send::send_batch(&socket.send_io(Wait::Never), messages, flags, None)
    }

    fn fanout_once<'v, P: AsRef<[IoSlice<'v>]>>(
        socket: &Socket,
        packets: &[P],
        recipients: &mut [Recipient],
        flags: MsgFlags,
    ) -> io::Result<usize> {
        crate::fanout::send(
            &socket.send_io(Wait::Never),
            packets,
            recipients,
            flags,
            None,
        )
    }

    fn receive_once(
        socket: &Socket,
        messages: &mut [InputMessage<'_, '_>],
        flags: MsgFlags,
    ) -> io::Result<usize> {
        recv::receive_messages(&socket.recv_io(Wait::Never), messages, flags, None)
    }

    fn receive_batch_once(
        socket: &Socket,
        batch: &mut ReceiveBatch,
        flags: MsgFlags,
    ) -> io::Result<usize> {
        recv::receive_batch(&socket.recv_io(Wait::Never), batch, flags, None)
    }
}
