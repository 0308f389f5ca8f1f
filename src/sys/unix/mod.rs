//! Unix: `sendmmsg`/`recvmmsg` where the OS has them (Linux, Android, FreeBSD), a
//! `sendmsg`/`recvmsg` loop elsewhere, `poll()` for waiting.

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
pub(crate) use wake::Wake;

/// A socket as the OS names it: a file descriptor here.
pub(crate) type RawSocket = std::os::fd::RawFd;

/// One vector of a gathered send, as the OS takes it.
pub(crate) type IoVec = libc::iovec;

/// The vector over `slice`'s bytes.
#[inline]
pub(crate) fn iovec(slice: &std::io::IoSlice<'_>) -> IoVec {
    IoVec {
        iov_base: slice.as_ptr() as *mut libc::c_void,
        iov_len: slice.len(),
    }
}

/// Extends `last` over `next` where `next` begins where `last` ends (packets written back
/// to back in one buffer); whether it did.
#[inline]
pub(crate) fn extend_iovec(last: &mut IoVec, next: &std::io::IoSlice<'_>) -> bool {
    let adjacent = last.iov_base.wrapping_byte_add(last.iov_len) == next.as_ptr() as *mut _;
    if adjacent {
        last.iov_len += next.len();
    }
    adjacent
}

/// Whether a segmented run goes out in a call of its own, on the one-datagram-a-call path
/// (Windows: no batch call to put it in). Here runs go inside `sendmmsg`.
pub(crate) const SEGMENTS_ALONE: bool = false;

/// The descriptor of `socket`.
pub(crate) fn raw_socket(socket: &socket2::Socket) -> RawSocket {
    std::os::fd::AsRawFd::as_raw_fd(socket)
}

/// The OS's numbers for what the shared code names: address families, message flags, poll
/// events, error numbers.
pub(crate) mod codes {
    pub(crate) const AF_UNSPEC: i32 = libc::AF_UNSPEC;
    pub(crate) const AF_INET: i32 = libc::AF_INET;
    pub(crate) const AF_INET6: i32 = libc::AF_INET6;
    pub(crate) const AF_UNIX: i32 = libc::AF_UNIX;

    pub(crate) const MSG_OOB: i32 = libc::MSG_OOB;
    pub(crate) const MSG_PEEK: i32 = libc::MSG_PEEK;
    pub(crate) const MSG_DONTROUTE: i32 = libc::MSG_DONTROUTE;
    pub(crate) const MSG_TRUNC: i32 = libc::MSG_TRUNC;
    pub(crate) const MSG_CTRUNC: i32 = libc::MSG_CTRUNC;
    pub(crate) const MSG_DONTWAIT: i32 = libc::MSG_DONTWAIT;
    pub(crate) const MSG_EOR: i32 = libc::MSG_EOR;

    pub(crate) const POLLIN: i16 = libc::POLLIN;
    pub(crate) const POLLOUT: i16 = libc::POLLOUT;
    pub(crate) const POLLPRI: i16 = libc::POLLPRI;
    pub(crate) const POLLERR: i16 = libc::POLLERR;
    pub(crate) const POLLHUP: i16 = libc::POLLHUP;
    pub(crate) const POLLNVAL: i16 = libc::POLLNVAL;

    /// A datagram (or segment) too large for the route.
    pub(crate) const EMSGSIZE: i32 = libc::EMSGSIZE;
    /// A device queue too short.
    pub(crate) const ENOBUFS: i32 = libc::ENOBUFS;
}

/// Whether `code` may be the kernel refusing a segmented send rather than the messages:
/// `EIO`/`EINVAL` (it or the device cannot segment now), `EMSGSIZE` (a segment over the
/// route's MTU), `ENOBUFS` (a device queue shorter than the run).
pub(crate) fn segmentation_suspect(code: i32) -> bool {
    matches!(
        code,
        libc::EIO | libc::EINVAL | libc::EMSGSIZE | libc::ENOBUFS
    )
}

/// Whether `code` is an error the kernel sets on the socket itself, asynchronously (from an
/// ICMP message or a reset), and reports only once: to whichever call comes next.
pub(crate) fn is_socket_error(code: i32) -> bool {
    matches!(
        code,
        libc::ECONNREFUSED
            | libc::ECONNRESET
            | libc::EHOSTUNREACH
            | libc::EHOSTDOWN
            | libc::ENETUNREACH
            | libc::ENETDOWN
            | libc::EPROTO
    )
}

/// Unix already reports a peer's ICMP port unreachable to connected datagram sockets only.
#[inline]
pub(crate) fn hear_unreachable_when_connected(_socket: &socket2::Socket, _family: i32) {}

/// Whether a `connect` failed only because it goes on in the background (`EINPROGRESS`).
pub(crate) fn connect_in_progress(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::EINPROGRESS)
}

/// The control-message header, and where a message's data starts: what the shared
/// encoder (`sys::cmsg`) needs of the OS.
pub(crate) mod cmsg {
    pub(crate) type Header = libc::cmsghdr;

    /// `CMSG_SPACE(data_len)`: bytes one control message takes, padding included.
    pub(crate) fn space(data_len: usize) -> usize {
        // SAFETY: CMSG_SPACE is arithmetic on its argument only.
        unsafe { libc::CMSG_SPACE(data_len as libc::c_uint) as usize }
    }

    /// `CMSG_LEN(data_len)`: the `cmsg_len` of a message with this much data.
    pub(crate) fn len(data_len: usize) -> usize {
        // SAFETY: CMSG_LEN is arithmetic on its argument only.
        unsafe { libc::CMSG_LEN(data_len as libc::c_uint) as usize }
    }

    /// `CMSG_DATA(header)`.
    ///
    /// # Safety
    /// `header` points at a control message header inside a buffer with room for its data.
    pub(crate) unsafe fn data(header: *mut Header) -> *mut u8 {
        // SAFETY: the caller's promise; CMSG_DATA is pointer arithmetic within the buffer.
        unsafe { libc::CMSG_DATA(header) }
    }

    /// The level and type of `UDP_SEGMENT`; elsewhere than Linux, a type that no kernel
    /// knows, so that the send fails as a refused option would.
    pub(crate) fn udp_segment() -> (i32, i32) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        return (libc::SOL_UDP, libc::UDP_SEGMENT);
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        (libc::IPPROTO_UDP, -1)
    }

    /// The payload of a `UDP_SEGMENT` message: the segment size, a `u16`.
    pub(crate) type SegmentData = [u8; 2];

    pub(crate) fn udp_segment_data(size: u16) -> SegmentData {
        size.to_ne_bytes()
    }

    /// Whether a received message is `UDP_GRO`'s segment size.
    pub(crate) fn is_udp_gro(level: i32, kind: i32) -> bool {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        return level == libc::SOL_UDP && kind == libc::UDP_GRO;
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let _ = (level, kind);
            false
        }
    }

    /// The level and type of descriptor passing.
    pub(crate) const RIGHTS: (i32, i32) = (libc::SOL_SOCKET, libc::SCM_RIGHTS);
}

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
pub(crate) fn socket_family(socket: &socket2::Socket) -> io::Result<i32> {
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
pub(crate) fn gso_supported(socket: &socket2::Socket, family: i32) -> bool {
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
pub(crate) fn gso_supported(_socket: &socket2::Socket, _family: i32) -> bool {
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

/// No `UDP_GRO` here.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn set_udp_gro(_socket: &socket2::Socket, enabled: bool) -> io::Result<()> {
    super::no_receive_offload(enabled)
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
