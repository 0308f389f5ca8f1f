//! Cancelling a blocked call from elsewhere, as GLib's `GCancellable` does.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::sys::{RawSocket, Wake};

/// A shared flag that interrupts mmsg calls, waking any that are blocked waiting.
///
/// Clones share one state: cancel one and every clone is cancelled. Cancelling from another
/// thread wakes a blocked call at once (it polls a wake-up descriptor beside the socket); a
/// call given a cancellable that is already cancelled fails before doing anything. The
/// wake-up descriptor is made only when a call first has to wait, and is closed when the
/// last clone is dropped.
///
/// ```
/// use std::time::Duration;
/// use mmsg::{Cancellable, Domain, Socket, SockAddr, Type};
///
/// let socket = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
/// socket.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
/// let cancellable = Cancellable::new();
/// let canceller = cancellable.clone();
/// let t = std::thread::spawn(move || {
///     std::thread::sleep(Duration::from_millis(50));
///     canceller.cancel();
/// });
/// let mut buf = [0u8; 64];
/// // Nothing ever arrives: the receive blocks until the other thread cancels it.
/// let err = socket.receive(&mut buf, Some(&cancellable)).unwrap_err();
/// assert!(mmsg::is_cancelled(&err));
/// t.join().unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Cancellable {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    cancelled: AtomicBool,
    /// Made on the first wait; signalled while cancelled so that `poll()` returns at once.
    wake: Mutex<Option<Wake>>,
}

impl Cancellable {
    /// A new, not cancelled, cancellable.
    ///
    /// ```
    /// let c = mmsg::Cancellable::new();
    /// assert!(!c.is_cancelled());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels: every call using this cancellable (or a clone) fails with a cancelled error,
    /// and blocked ones wake up now. Cancelling twice is the same as once.
    ///
    /// ```
    /// let c = mmsg::Cancellable::new();
    /// let shared = c.clone();
    /// shared.cancel();
    /// assert!(c.is_cancelled());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn cancel(&self) {
        let wake = self.lock_wake();
        if !self.inner.cancelled.swap(true, Ordering::SeqCst) {
            if let Some(fd) = wake.as_ref() {
                fd.signal();
            }
        }
    }

    /// Whether [`cancel`](Self::cancel) was called since the last [`reset`](Self::reset).
    ///
    /// ```
    /// let c = mmsg::Cancellable::new();
    /// c.cancel();
    /// assert!(c.is_cancelled());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// Makes the cancellable usable again. Do not reset while another thread is using it.
    ///
    /// ```
    /// let c = mmsg::Cancellable::new();
    /// c.cancel();
    /// c.reset();
    /// assert!(!c.is_cancelled());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn reset(&self) {
        let wake = self.lock_wake();
        if self.inner.cancelled.swap(false, Ordering::SeqCst) {
            if let Some(fd) = wake.as_ref() {
                fd.drain();
            }
        }
    }

    /// Empties the wake-up descriptor if not cancelled: a wait found it readable though
    /// nothing is cancelled, so it holds a signal from before a `reset` that arrived after
    /// the reset drained it (a Windows wake-up is a datagram, which may still be on its
    /// way). Under the lock, so a `cancel` cannot slip in between the check and the drain.
    pub(crate) fn drain_stale(&self) {
        let wake = self.lock_wake();
        if !self.is_cancelled() {
            if let Some(fd) = wake.as_ref() {
                fd.drain();
            }
        }
    }

    /// The error a cancelled call returns, when this cancellable is cancelled.
    pub(crate) fn check(&self) -> io::Result<()> {
        if self.is_cancelled() {
            Err(crate::error::cancelled())
        } else {
            Ok(())
        }
    }

    /// The descriptor that becomes readable when cancelled, made on first use. It stays
    /// open as long as `self` does.
    pub(crate) fn wake_fd(&self) -> io::Result<RawSocket> {
        let mut wake = self.lock_wake();
        if let Some(fd) = wake.as_ref() {
            return Ok(fd.raw());
        }
        let fd = Wake::new()?;
        if self.is_cancelled() {
            fd.signal();
        }
        Ok(wake.insert(fd).raw())
    }

    fn lock_wake(&self) -> MutexGuard<'_, Option<Wake>> {
        // A panic while holding this lock cannot leave the Option half-written.
        self.inner.wake.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl fmt::Debug for Cancellable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancellable")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::flags::IoCondition;
    use crate::sys;

    /// A wake-up signal that outlived its `reset` (on Windows a datagram still on its way
    /// when the reset drained the socket) must not keep waits spinning: the first wait that
    /// finds it, not cancelled, empties it and still waits out its timeout.
    #[test]
    fn a_stale_wake_up_is_emptied_and_the_wait_goes_on() {
        let socket = socket2::Socket::from(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
        let cancellable = Cancellable::new();
        let wake = cancellable.wake_fd().unwrap();
        // A signal with nothing cancelled: what a late datagram leaves behind.
        cancellable.lock_wake().as_ref().unwrap().signal();
        let readable = |timeout_ms| {
            let mut fds = [sys::pollfd(wake, IoCondition::IN.bits())];
            sys::poll(&mut fds, timeout_ms).unwrap()
        };
        assert_eq!(readable(5000), 1, "the signal is there");

        let started = Instant::now();
        let timeout = Duration::from_millis(100);
        let err = crate::condition::wait(
            sys::raw_socket(&socket),
            IoCondition::IN,
            Some(timeout),
            Some(&cancellable),
        )
        .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= timeout);
        assert_eq!(readable(0), 0, "the stale signal was emptied");
    }
}
