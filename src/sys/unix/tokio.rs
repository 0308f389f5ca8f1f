//! A socket registered with tokio's reactor through `AsyncFd` (tokio's own `unsafe` entry
//! point), and the readiness loops `AsyncSocket` is written against.

use std::io;
use std::os::fd::AsRawFd;
use std::task::{Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::socket::Socket;

/// A socket and its registration. The Windows twin has the same methods.
#[derive(Debug)]
pub(crate) struct Registered(AsyncFd<Socket>);

impl Registered {
    /// Registers `socket` for reading and writing.
    pub(crate) fn new(socket: Socket) -> io::Result<Registered> {
        debug_assert!(socket.as_raw_fd() >= 0);
        let interest = Interest::READABLE | Interest::WRITABLE;
        // SAFETY: `Socket` owns its descriptor (an OwnedFd inside socket2::Socket) and never
        // replaces or closes it while alive, so it stays open and the same for as long as the
        // AsyncFd owns the socket; `as_raw_fd` always returns that descriptor.
        let fd = unsafe { AsyncFd::register_with_interest(socket, interest) };
        fd.map(Registered).map_err(|e| e.into_parts().1)
    }

    pub(crate) fn get_ref(&self) -> &Socket {
        self.0.get_ref()
    }

    /// The socket, out of the reactor.
    pub(crate) fn into_inner(self) -> Socket {
        self.0.into_inner()
    }

    /// Waits until the reactor reports `interest` ready; the readiness stays recorded.
    pub(crate) async fn ready(&self, interest: Interest) -> io::Result<()> {
        self.0
            .ready(interest)
            .await
            .map(|mut guard| guard.retain_ready())
    }

    /// Tries `f` each time `interest` is ready until it does not fail with `WouldBlock`.
    pub(crate) async fn async_io<R>(
        &self,
        interest: Interest,
        f: impl FnMut(&Socket) -> io::Result<R>,
    ) -> io::Result<R> {
        self.0.async_io(interest, f).await
    }

    /// `f` once; a `WouldBlock` from it clears the recorded readiness.
    pub(crate) fn try_io<R>(
        &self,
        interest: Interest,
        f: impl FnOnce(&Socket) -> io::Result<R>,
    ) -> io::Result<R> {
        self.0.try_io(interest, f)
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
                self.0.poll_read_ready(cx)
            } else {
                self.0.poll_write_ready(cx)
            };
            let mut guard = match ready {
                Poll::Ready(guard) => guard?,
                Poll::Pending => return Poll::Pending,
            };
            if let Ok(result) = guard.try_io(|s| f(s.get_ref())) {
                return Poll::Ready(result);
            }
        }
    }
}
