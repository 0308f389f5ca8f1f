//! Registering a socket with tokio's reactor: tokio's own `unsafe` entry point.

use std::io;
use std::os::fd::AsRawFd;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::socket::Socket;

/// Registers `socket` for `interest`.
pub(crate) fn register(socket: Socket, interest: Interest) -> io::Result<AsyncFd<Socket>> {
    debug_assert!(socket.as_raw_fd() >= 0);
    // SAFETY: `Socket` owns its descriptor (an OwnedFd inside socket2::Socket) and never
    // replaces or closes it while alive, so it stays open and the same for as long as the
    // AsyncFd owns the socket; `as_raw_fd` always returns that descriptor.
    let fd = unsafe { AsyncFd::register_with_interest(socket, interest) };
    fd.map_err(|e| e.into_parts().1)
}
