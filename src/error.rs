//! The error values mmsg builds itself; every other error is the OS's own.

use std::fmt;
use std::io;

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
