use std::io;
use std::os::fd::RawFd;

/// A `pollfd` asking for `events` on `fd` (a negative fd is ignored by `poll`).
pub(crate) fn pollfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// `poll(2)`: how many of `fds` are ready within `timeout_ms` (-1: no limit).
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> io::Result<usize> {
    // SAFETY: `fds` is a valid, writable array of `fds.len()` pollfd structs for the whole call.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    super::cvt(rc as isize)
}
