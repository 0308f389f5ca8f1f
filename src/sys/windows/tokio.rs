//! A socket registered with tokio's reactor. tokio has no `AsyncFd` on Windows: its
//! `UdpSocket` carries the registration, made on a duplicate of the socket's handle (the
//! same socket, so its readiness is this socket's), and mmsg's own calls run inside
//! `UdpSocket::async_io`/`try_io`, which clear the readiness when they would block.

use std::io;
use std::task::{Context, Poll};

use tokio::io::Interest;

use crate::socket::Socket;

/// A socket and its registration. The Unix twin has the same methods.
#[derive(Debug)]
pub(crate) struct Registered {
    socket: Socket,
    /// The registration, on a duplicate handle that it owns and closes.
    io: tokio::net::UdpSocket,
}

impl Registered {
    /// Registers `socket` for reading and writing.
    pub(crate) fn new(socket: Socket) -> io::Result<Registered> {
        let duplicate = socket.duplicate()?;
        duplicate.set_nonblocking(true)?;
        let io = tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(duplicate))?;
        Ok(Registered { socket, io })
    }

    pub(crate) fn get_ref(&self) -> &Socket {
        &self.socket
    }

    /// The socket, out of the reactor (the duplicate handle is closed).
    pub(crate) fn into_inner(self) -> Socket {
        self.socket
    }

    /// Waits until the reactor reports `interest` ready; the readiness stays recorded.
    pub(crate) async fn ready(&self, interest: Interest) -> io::Result<()> {
        self.io.ready(interest).await.map(drop)
    }

    /// Tries `f` each time `interest` is ready until it does not fail with `WouldBlock`.
    pub(crate) async fn async_io<R>(
        &self,
        interest: Interest,
        mut f: impl FnMut(&Socket) -> io::Result<R>,
    ) -> io::Result<R> {
        self.io.async_io(interest, || f(&self.socket)).await
    }

    /// `f` once; a `WouldBlock` from it clears the recorded readiness.
    pub(crate) fn try_io<R>(
        &self,
        interest: Interest,
        f: impl FnOnce(&Socket) -> io::Result<R>,
    ) -> io::Result<R> {
        self.io.try_io(interest, || f(&self.socket))
    }

    /// `f` once `interest` is ready (registering `cx` for a wake-up until it is), again
    /// while it fails with `WouldBlock`.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        interest: Interest,
        mut f: impl FnMut(&Socket) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            let ready = if interest.is_readable() {
                self.io.poll_recv_ready(cx)
            } else {
                self.io.poll_send_ready(cx)
            };
            match ready {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
            match self.io.try_io(interest, || f(&self.socket)) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                result => return Poll::Ready(result),
            }
        }
    }
}
