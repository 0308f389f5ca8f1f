//! Waiting for readiness with `WSAPoll`.

use std::io;

use windows_sys::Win32::Networking::WinSock as ws;

use super::{codes, handle, last_error, RawSocket};

/// One entry of a `WSAPoll` set.
pub(crate) type PollFd = ws::WSAPOLLFD;

/// An entry asking for `events` on `socket`. Only what `WSAPoll` takes in `events` is
/// passed (reading and writing): it refuses the rest, `POLLPRI` and even `POLLERR` and
/// `POLLHUP`, which it reports unasked.
pub(crate) fn pollfd(socket: RawSocket, events: i16) -> PollFd {
    PollFd {
        fd: handle(socket),
        events: events & (codes::POLLIN | ws::POLLRDBAND | codes::POLLOUT),
        revents: 0,
    }
}

/// `WSAPoll`: how many of `fds` (valid sockets, at least one: Winsock refuses an empty set
/// and invalid entries) are ready within `timeout_ms` (-1: no limit).
pub(crate) fn poll(fds: &mut [PollFd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: `fds` is a valid, writable array of `fds.len()` WSAPOLLFD structs for the
    // whole call.
    let rc = unsafe { ws::WSAPoll(fds.as_mut_ptr(), fds.len() as u32, timeout_ms) };
    if rc < 0 {
        Err(last_error())
    } else {
        Ok(rc as usize)
    }
}
