//! Waiting for readiness with `poll()`.

use std::io;
use std::os::fd::RawFd;

/// One entry of a `poll()` set.
pub(crate) type PollFd = libc::pollfd;

/// A `pollfd` asking for `events` on `fd`.
pub(crate) fn pollfd(fd: RawFd, events: i16) -> PollFd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// `poll(2)`: how many of `fds` are ready within `timeout_ms` (-1: no limit).
pub(crate) fn poll(fds: &mut [PollFd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: `fds` is a valid, writable array of `fds.len()` pollfd structs for the whole call.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    super::cvt(rc as isize)
}
