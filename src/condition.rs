//! Waiting for readiness: `poll()` (`WSAPoll()`) on the socket plus the cancellable's
//! wake-up descriptor.

use std::io;
use std::time::{Duration, Instant};

use crate::cancellable::Cancellable;
use crate::error;
use crate::flags::IoCondition;
use crate::sys::{self, RawSocket};

/// The conditions among `condition` (and the always-reported `ERR`, `HUP`, `NVAL`) that
/// hold now.
pub(crate) fn check(fd: RawSocket, condition: IoCondition) -> IoCondition {
    let mut fds = [sys::pollfd(fd, condition.bits())];
    loop {
        match sys::poll(&mut fds, 0) {
            Ok(_) => return IoCondition::from_bits_truncate(fds[0].revents),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // poll() fails only for lack of memory or a bad argument: nothing is ready.
            Err(_) => return IoCondition::empty(),
        }
    }
}

/// Waits until one of `condition` holds on `fd` (or an error or hang-up), for at most
/// `timeout`, or until `cancellable` is cancelled. Returns the conditions that hold.
/// Never returns before `timeout` has passed unless something happened.
pub(crate) fn wait(
    fd: RawSocket,
    condition: IoCondition,
    timeout: Option<Duration>,
    cancellable: Option<&Cancellable>,
) -> io::Result<IoCondition> {
    wait_on(Some(fd), condition, timeout, cancellable)
}

/// `wait`, on the socket `fd` where there is one; with none, only for the timeout or the
/// cancellable (never an invalid entry in the poll set: Windows refuses those).
fn wait_on(
    fd: Option<RawSocket>,
    condition: IoCondition,
    timeout: Option<Duration>,
    cancellable: Option<&Cancellable>,
) -> io::Result<IoCondition> {
    let wake_fd = match cancellable {
        Some(c) => {
            c.check()?;
            Some(c.wake_fd()?)
        }
        None => None,
    };
    let deadline = timeout.map(|t| Instant::now().checked_add(t));
    // The socket first (where there is one), then the wake-up descriptor.
    let socket = fd.map(|fd| sys::pollfd(fd, condition.bits()));
    let wake = wake_fd.map(|wake| sys::pollfd(wake, IoCondition::IN.bits()));
    let (mut fds, count) = match (socket, wake) {
        (Some(socket), Some(wake)) => ([socket, wake], 2),
        (Some(only), None) | (None, Some(only)) => ([only, only], 1),
        (None, None) => {
            // Nothing to poll: a pause with no cancellable.
            if let Some(timeout) = timeout {
                std::thread::sleep(timeout);
            }
            return Err(error::timed_out());
        }
    };
    loop {
        let wait_ms = match deadline {
            None | Some(None) => -1,
            Some(Some(deadline)) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() && timeout != Some(Duration::ZERO) {
                    return Err(error::timed_out());
                }
                millis_rounded_up(left)
            }
        };
        match sys::poll(&mut fds[..count], wait_ms) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
            Ok(0) if timeout == Some(Duration::ZERO) => return Err(error::timed_out()),
            // Woken early (the timeout is rounded, clocks differ): the loop checks the clock.
            Ok(0) => continue,
            Ok(_) => {
                if let Some(c) = cancellable {
                    c.check()?;
                }
                let ready = IoCondition::from_bits_truncate(fds[0].revents);
                if fd.is_some() && !ready.is_empty() {
                    return Ok(ready);
                }
                // Only the wake-up descriptor was ready, yet not cancelled: it was reset
                // in between, or holds a stale signal. Empty it, and keep waiting.
                if let Some(c) = cancellable {
                    c.drain_stale();
                }
            }
        }
    }
}

/// Sleeps for `pause`, waking early only if `cancellable` is cancelled (then the error).
pub(crate) fn pause(pause: Duration, cancellable: Option<&Cancellable>) -> io::Result<()> {
    match wait_on(None, IoCondition::empty(), Some(pause), cancellable) {
        Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(()),
        other => other.map(drop),
    }
}

/// Waiting for a send to have room, across several attempts of one call.
///
/// The socket timeout is of inactivity: it runs from the first attempt that would block and
/// starts again only when something is sent. Some sockets report room that is not there
/// (an unconnected Unix datagram socket polls writable while its receiver's queue is full),
/// so when a wait ends at once yet the send would still block, the next waits back off
/// instead of spinning.
pub(crate) struct Idle {
    timeout: Option<Duration>,
    since: Option<Instant>,
    fruitless: u32,
}

impl Idle {
    pub(crate) fn new(timeout: Option<Duration>) -> Idle {
        Idle {
            timeout,
            since: None,
            fruitless: 0,
        }
    }

    /// Waits for `condition` on `fd` after an attempt would block.
    pub(crate) fn wait(
        &mut self,
        fd: RawSocket,
        condition: IoCondition,
        cancellable: Option<&Cancellable>,
    ) -> io::Result<()> {
        let left = self.left()?;
        if self.fruitless > 0 {
            // 100 µs, doubling, at most 12.8 ms: short next to any timeout, long next to a spin.
            let backoff = Duration::from_micros(50 << self.fruitless.min(8));
            pause(left.map_or(backoff, |l| l.min(backoff)), cancellable)?;
        }
        let left = self.left()?;
        wait(fd, condition, left, cancellable)?;
        self.fruitless += 1;
        Ok(())
    }

    /// Time left before the inactivity timeout, counted from the first wait.
    fn left(&mut self) -> io::Result<Option<Duration>> {
        let Some(timeout) = self.timeout else {
            return Ok(None);
        };
        let since = *self.since.get_or_insert_with(Instant::now);
        match timeout.checked_sub(since.elapsed()) {
            Some(left) if !left.is_zero() => Ok(Some(left)),
            _ if timeout.is_zero() && self.fruitless == 0 => Ok(Some(Duration::ZERO)),
            _ => Err(error::timed_out()),
        }
    }
}

/// `poll()` takes milliseconds: round up so that a wait is never shorter than asked.
fn millis_rounded_up(d: Duration) -> i32 {
    let ms = d.as_nanos().div_ceil(1_000_000);
    i32::try_from(ms).unwrap_or(i32::MAX)
}
