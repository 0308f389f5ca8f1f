//! Everything that calls the OS directly. All of mmsg's `unsafe` code lives below here.

pub(crate) mod cmsg;
mod poll;
mod recv;
mod send;
#[cfg(feature = "tokio")]
pub(crate) mod tokio;
mod wake;

use std::io;

pub(crate) use poll::{poll, pollfd};
pub(crate) use recv::{recv_batch, recv_buffers, recv_one, BufferScratch, Received, RecvScratch};
pub(crate) use send::{send_batch, send_one, SendScratch};
pub(crate) use wake::WakeFd;

/// A socket as the OS names it: a file descriptor here.
pub(crate) type RawSocket = std::os::fd::RawFd;

/// Whether this OS has `sendmmsg`/`recvmmsg`.
pub(crate) const HAS_SENDMMSG: bool = cfg!(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd"
));

/// Messages one `sendmmsg`/`recvmmsg` takes at most (`UIO_MAXIOV` on Linux).
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub(crate) const MAX_BATCH: usize = 1024;

/// Vectors one message takes at most (`IOV_MAX`, 1024 on Linux, the BSDs and macOS).
pub(crate) const IOV_MAX: usize = 1024;

/// `MSG_NOSIGNAL` where it exists: a closed peer is an `EPIPE` error, not a signal.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub(crate) const MSG_NOSIGNAL: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
pub(crate) const MSG_NOSIGNAL: libc::c_int = 0;

/// The address family of a socket (`AF_*`): `SO_DOMAIN` where socket2 reads it (Linux,
/// Android), else the family of the socket's own address, which even an unbound socket has.
pub(crate) fn socket_family(socket: &socket2::Socket) -> io::Result<libc::c_int> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        Ok(libc::c_int::from(socket.domain()?))
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        Ok(libc::c_int::from(socket.local_addr()?.family()))
    }
}

/// The result of a libc call that returns -1 and sets `errno` on failure.
fn cvt(rc: isize) -> io::Result<usize> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as usize)
    }
}

/// Whether `socket` can send with `UDP_SEGMENT`: a UDP socket on Linux whose kernel
/// accepts the option (4.18 and later).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn gso_supported(socket: &socket2::Socket, family: libc::c_int) -> bool {
    if family != libc::AF_INET && family != libc::AF_INET6 {
        return false;
    }
    if !matches!(socket.protocol(), Ok(Some(p)) if p == socket2::Protocol::UDP)
        && !matches!(socket.r#type(), Ok(t) if t == socket2::Type::DGRAM)
    {
        return false;
    }
    // Setting the socket-wide default segment size to 0 (off) changes nothing, but fails
    // where the kernel does not know the option.
    set_udp_option(socket, libc::UDP_SEGMENT, 0).is_ok()
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn gso_supported(_socket: &socket2::Socket, _family: libc::c_int) -> bool {
    false
}

/// Turns `UDP_GRO` on or off.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn set_udp_gro(socket: &socket2::Socket, enabled: bool) -> io::Result<()> {
    set_udp_option(socket, libc::UDP_GRO, libc::c_int::from(enabled))
}

/// `setsockopt(SOL_UDP, option, value)` for an integer option.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_udp_option(
    socket: &socket2::Socket,
    option: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: passes a pointer to a live c_int with its true size; the fd is owned by `socket`.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(socket),
            libc::SOL_UDP,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    cvt(rc as isize).map(drop)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn set_udp_gro(_socket: &socket2::Socket, _enabled: bool) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Asks for `size` bytes of receive buffer: with `SO_RCVBUFFORCE` past the system's limit
/// where the process may (Linux, `CAP_NET_ADMIN`), else with `SO_RCVBUF` up to it.
pub(crate) fn set_receive_buffer(socket: &socket2::Socket, size: usize) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let value = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
        // SAFETY: passes a pointer to a live c_int with its true size; the fd is owned by
        // `socket`.
        let rc = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(socket),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            return Ok(());
        }
    }
    socket.set_recv_buffer_size(size)
}
