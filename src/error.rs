//! The error values mmsg builds itself; every other error is the OS's own.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

/// The payload of the error returned when a [`Cancellable`](crate::Cancellable) was cancelled.
///
/// Test for it with [`is_cancelled`].
///
/// ```
/// let err = std::io::Error::other(mmsg::Cancelled);
/// assert!(mmsg::is_cancelled(&err));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("operation was cancelled")
    }
}

impl std::error::Error for Cancelled {}

/// Whether `err` says that the operation was cancelled through a
/// [`Cancellable`](crate::Cancellable).
///
/// ```
/// let c = mmsg::Cancellable::new();
/// c.cancel();
/// let socket = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
/// let err = socket.send_messages(&mut [], mmsg::MsgFlags::empty(), Some(&c)).unwrap_err();
/// assert!(mmsg::is_cancelled(&err));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn is_cancelled(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::Other && err.get_ref().is_some_and(|e| e.is::<Cancelled>())
}

pub(crate) fn cancelled() -> io::Error {
    io::Error::other(Cancelled)
}

pub(crate) fn timed_out() -> io::Error {
    io::Error::from(io::ErrorKind::TimedOut)
}

/// `InvalidInput` naming the message at `index` and what is wrong with it.
pub(crate) fn invalid_message(index: usize, why: impl fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("message {index}: {why}"),
    )
}

/// An error that ended a call after some datagrams went (or came), kept for the next call.
///
/// Only errors the kernel reports once and then forgets are kept: the socket's pending
/// error, set asynchronously (by an ICMP message) and cleared by the system call that
/// reports it. An error that belongs to a message (`EMSGSIZE`, `EINVAL`, `EDESTADDRREQ`,
/// ...) comes again by itself when that message is tried again, so keeping it would only
/// hand it to an unrelated later call.
///
/// The error number is kept in an atomic, so the hot path's check is one load.
#[derive(Debug, Default)]
pub(crate) struct KeptError(AtomicI32);

impl KeptError {
    /// Keeps `err` for the next call if it is the socket's pending error; drops it otherwise.
    pub(crate) fn keep(&self, err: io::Error) {
        if let Some(code) = err.raw_os_error().filter(|&code| is_socket_error(code)) {
            self.0.store(code, Ordering::Relaxed);
        }
    }

    /// Whether an error is kept.
    #[inline]
    pub(crate) fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed) != 0
    }

    /// The kept error, if any, taking it.
    #[inline]
    pub(crate) fn take(&self) -> Option<io::Error> {
        if self.0.load(Ordering::Relaxed) == 0 {
            return None;
        }
        match self.0.swap(0, Ordering::Relaxed) {
            0 => None,
            code => Some(io::Error::from_raw_os_error(code)),
        }
    }
}

use crate::sys::is_socket_error;
