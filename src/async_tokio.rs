//! Async support on tokio: the same batched calls, awaiting readiness instead of polling.

use std::io::{self, IoSlice};

use socket2::SockAddr;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::fanout::Recipient;
use crate::flags::MsgFlags;
use crate::message::{InputMessage, OutputMessage};
use crate::socket::Socket;

/// A [`Socket`] registered with tokio's reactor (cargo feature `tokio`).
///
/// Sends complete the whole batch, awaiting room as a blocking socket would wait (an error
/// after some messages went ends the call with their count, as in blocking mode); receives
/// await the first datagram, then take whatever else is queued.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use std::io::{IoSlice, IoSliceMut};
/// use mmsg::{AsyncSocket, Domain, InputMessage, MsgFlags, OutputMessage, Socket, Type};
///
/// let (a, b) = Socket::pair(Domain::UNIX, Type::DGRAM, None)?;
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
/// assert_eq!(b.receive_messages(&mut input, MsgFlags::empty()).await?, 3);
/// assert_eq!(input[2].bytes_received, 4);
/// # Ok(())
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[derive(Debug)]
pub struct AsyncSocket {
    fd: AsyncFd<Socket>,
}

impl AsyncSocket {
    /// Registers `socket` with the current tokio runtime (call from within one). The socket
    /// is switched to non-blocking mode: tokio does the waiting.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let (a, b) = mmsg::Socket::pair(mmsg::Domain::UNIX, mmsg::Type::DGRAM, None)?;
    /// let a = mmsg::AsyncSocket::new(a)?;
    /// assert!(!a.get_ref().is_blocking());
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(socket: Socket) -> io::Result<AsyncSocket> {
        socket.set_blocking(false);
        let interest = Interest::READABLE | Interest::WRITABLE;
        // SAFETY: `Socket` owns its descriptor (an OwnedFd inside socket2::Socket) and never
        // replaces it, so it stays open and the same for as long as the AsyncFd owns the
        // socket; `as_raw_fd` always returns that descriptor.
        let fd = unsafe { AsyncFd::register_with_interest(socket, interest) };
        Ok(AsyncSocket {
            fd: fd.map_err(|e| e.into_parts().1)?,
        })
    }

    /// The socket, for its other methods (options, addresses, non-blocking calls).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let (a, b) = mmsg::Socket::pair(mmsg::Domain::UNIX, mmsg::Type::DGRAM, None)?;
    /// let a = mmsg::AsyncSocket::new(a)?;
    /// assert_eq!(a.get_ref().remote_address()?.family(), b.local_address()?.family());
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
    /// let (a, b) = mmsg::Socket::pair(mmsg::Domain::UNIX, mmsg::Type::DGRAM, None)?;
    /// let a = mmsg::AsyncSocket::new(a)?.into_inner();
    /// a.send(b"sync again", None)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn into_inner(self) -> Socket {
        self.fd.into_inner()
    }

    /// Sends the whole batch (see [`Socket::send_messages`]), awaiting room as needed.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use std::io::IoSlice;
    /// let (a, b) = mmsg::Socket::pair(mmsg::Domain::UNIX, mmsg::Type::DGRAM, None)?;
    /// let a = mmsg::AsyncSocket::new(a)?;
    /// let v = [IoSlice::new(b"x")];
    /// let mut batch = [mmsg::OutputMessage::new(None, &v); 4];
    /// assert_eq!(a.send_messages(&mut batch, mmsg::MsgFlags::empty()).await?, 4);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send_messages(
        &self,
        messages: &mut [OutputMessage<'_>],
        flags: MsgFlags,
    ) -> io::Result<usize> {
        if messages.is_empty() {
            return self.get_ref().send_messages(messages, flags, None);
        }
        let mut sent = 0;
        while sent < messages.len() {
            match self
                .writable(|s| s.send_messages(&mut messages[sent..], flags, None))
                .await
            {
                Ok(n) => sent += n,
                // As in blocking mode: the count so far; the error comes again next call.
                Err(_) if sent > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    }

    /// Sends every packet to every recipient (see [`Socket::send_fanout`]), awaiting room.
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
        while recipients.iter().any(|r| r.is_pending(packets.len())) {
            match self
                .writable(|s| s.send_fanout(packets, recipients, flags, None))
                .await
            {
                Ok(n) => sent += n,
                Err(_) if sent > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    }

    /// Sends one datagram to `address`.
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
        self.writable(|s| s.send_to(address, buffer, None)).await
    }

    /// Awaits the first datagram, then takes what else is queued (see
    /// [`Socket::receive_messages`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use std::io::IoSliceMut;
    /// let (a, b) = mmsg::Socket::pair(mmsg::Domain::UNIX, mmsg::Type::DGRAM, None)?;
    /// let b = mmsg::AsyncSocket::new(b)?;
    /// a.send(b"one", None)?;
    /// let mut buf = [0u8; 8];
    /// let mut v = [IoSliceMut::new(&mut buf)];
    /// let mut m = [mmsg::InputMessage::new(&mut v)];
    /// assert_eq!(b.receive_messages(&mut m, mmsg::MsgFlags::empty()).await?, 1);
    /// assert_eq!(m[0].bytes_received, 3);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn receive_messages(
        &self,
        messages: &mut [InputMessage<'_>],
        flags: MsgFlags,
    ) -> io::Result<usize> {
        self.readable(|s| s.receive_messages(messages, flags, None))
            .await
    }

    /// Awaits one datagram; returns its length and sender.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let (a, b) = mmsg::Socket::pair(mmsg::Domain::UNIX, mmsg::Type::DGRAM, None)?;
    /// let b = mmsg::AsyncSocket::new(b)?;
    /// a.send(b"one", None)?;
    /// let mut buf = [0u8; 8];
    /// assert_eq!(b.receive_from(&mut buf).await?.0, 3);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn receive_from(&self, buffer: &mut [u8]) -> io::Result<(usize, SockAddr)> {
        self.readable(|s| s.receive_from(buffer, None)).await
    }

    async fn writable<T>(&self, mut op: impl FnMut(&Socket) -> io::Result<T>) -> io::Result<T> {
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|fd| op(fd.get_ref())) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    async fn readable<T>(&self, mut op: impl FnMut(&Socket) -> io::Result<T>) -> io::Result<T> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| op(fd.get_ref())) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }
}
