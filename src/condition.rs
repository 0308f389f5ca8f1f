//! Waiting for readiness: `poll()` on the socket plus the cancellable's wake-up descriptor.

use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::cancellable::Cancellable;
use crate::error;
use crate::flags::IoCondition;
use crate::sys;

/// The conditions among `condition` (and the always-reported `ERR`, `HUP`, `NVAL`) that
/// hold now.
pub(crate) fn check(fd: RawFd, condition: IoCondition) -> IoCondition {
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
    fd: RawFd,
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
    let mut fds = [
        sys::pollfd(fd, condition.bits()),
        sys::pollfd(wake_fd.unwrap_or(-1), libc::POLLIN),
    ];
    let count = if wake_fd.is_some() { 2 } else { 1 };
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
                if !ready.is_empty() {
                    return Ok(ready);
                }
                // Only the wake-up descriptor was ready, yet not cancelled: it was reset
                // in between. Keep waiting.
            }
        }
    }
}

/// `poll()` takes milliseconds: round up so that a wait is never shorter than asked.
fn millis_rounded_up(d: Duration) -> libc::c_int {
    let ms = d.as_nanos().div_ceil(1_000_000);
    libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
}
