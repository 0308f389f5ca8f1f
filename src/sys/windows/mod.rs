//! Windows: a `WSASendMsg`/`WSARecvMsg` loop (Winsock has no batch calls), `WSAPoll` for
//! waiting, a loopback UDP pair as the cancellable's wake-up socket.

mod poll;
mod recv;
mod send;
#[cfg(feature = "tokio")]
pub(crate) mod tokio;
mod uso;
mod wake;

use std::io;
use std::mem;
use std::os::windows::io::AsRawSocket;

use windows_sys::Win32::Networking::WinSock as ws;

pub(crate) use poll::{poll, pollfd};
pub(crate) use recv::{recv_batch, recv_buffers, recv_one, BufferScratch, Received, RecvScratch};
pub(crate) use send::{send_batch, send_one, SendScratch};
pub(crate) use wake::Wake;

/// A socket as the OS names it: a `SOCKET` handle, as std gives it.
pub(crate) type RawSocket = std::os::windows::io::RawSocket;

/// The handle of `socket`.
pub(crate) fn raw_socket(socket: &socket2::Socket) -> RawSocket {
    socket.as_raw_socket()
}

/// Winsock's type for a socket handle.
fn handle(socket: RawSocket) -> ws::SOCKET {
    socket as ws::SOCKET
}

/// Winsock has no `sendmmsg`/`recvmmsg`: the portable path is always on.
pub(crate) const HAS_SENDMMSG: bool = false;

/// With segmentation offload, a run of datagrams goes out as one `WSASendMsg` of its own.
pub(crate) const SEGMENTS_ALONE: bool = true;

/// One vector of a gathered send, as Winsock takes it (`IoSlice` shares its layout).
pub(crate) type IoVec = ws::WSABUF;

/// The vector over `slice`'s bytes.
#[inline]
pub(crate) fn iovec(slice: &std::io::IoSlice<'_>) -> IoVec {
    IoVec {
        len: slice.len() as u32,
        buf: slice.as_ptr() as *mut u8,
    }
}

/// Extends `last` over `next` where `next` begins where `last` ends (packets written back
/// to back in one buffer); whether it did.
#[inline]
pub(crate) fn extend_iovec(last: &mut IoVec, next: &std::io::IoSlice<'_>) -> bool {
    let adjacent = std::ptr::eq(last.buf.wrapping_add(last.len as usize), next.as_ptr());
    if adjacent {
        last.len += next.len() as u32;
    }
    adjacent
}

/// Vectors one message takes at most. Winsock sets no limit of its own (`WSABUF` counts
/// are 32-bit); mmsg keeps Unix's, so that a batch valid on one OS is valid on the other.
pub(crate) const IOV_MAX: usize = 1024;

/// Winsock never raises signals.
pub(crate) const MSG_NOSIGNAL: i32 = 0;

/// The OS's numbers for what the shared code names: address families, message flags, poll
/// events, error numbers.
pub(crate) mod codes {
    use windows_sys::Win32::Networking::WinSock as ws;

    pub(crate) const AF_UNSPEC: i32 = ws::AF_UNSPEC as i32;
    pub(crate) const AF_INET: i32 = ws::AF_INET as i32;
    pub(crate) const AF_INET6: i32 = ws::AF_INET6 as i32;
    pub(crate) const AF_UNIX: i32 = ws::AF_UNIX as i32;

    pub(crate) const MSG_OOB: i32 = ws::MSG_OOB;
    pub(crate) const MSG_PEEK: i32 = ws::MSG_PEEK;
    pub(crate) const MSG_DONTROUTE: i32 = ws::MSG_DONTROUTE;
    pub(crate) const MSG_TRUNC: i32 = ws::MSG_TRUNC as i32;
    pub(crate) const MSG_CTRUNC: i32 = ws::MSG_CTRUNC as i32;
    /// Winsock has no `MSG_DONTWAIT`: a bit no Winsock flag uses, which mmsg reads (it
    /// never waits) and strips before any call (`os_flags`).
    pub(crate) const MSG_DONTWAIT: i32 = 0x4000_0000;

    /// `WSAPoll` reports `POLLRDNORM`, not the `POLLIN` it is part of.
    pub(crate) const POLLIN: i16 = ws::POLLRDNORM;
    pub(crate) const POLLOUT: i16 = ws::POLLWRNORM;
    pub(crate) const POLLPRI: i16 = ws::POLLPRI;
    pub(crate) const POLLERR: i16 = ws::POLLERR;
    pub(crate) const POLLHUP: i16 = ws::POLLHUP;
    pub(crate) const POLLNVAL: i16 = ws::POLLNVAL;

    /// A datagram (or segment) too large for the route.
    pub(crate) const EMSGSIZE: i32 = ws::WSAEMSGSIZE;
    /// No buffer space.
    pub(crate) const ENOBUFS: i32 = ws::WSAENOBUFS;
}

/// The flags a Winsock call is given: mmsg's own `DONTWAIT` bit taken out.
fn os_flags(flags: i32) -> u32 {
    (flags & !codes::MSG_DONTWAIT) as u32
}

/// Whether `code` may be the stack refusing a segmented send rather than the messages.
pub(crate) fn segmentation_suspect(code: i32) -> bool {
    matches!(
        code,
        ws::WSAEINVAL | ws::WSAEMSGSIZE | ws::WSAENOBUFS | ws::WSAEOPNOTSUPP
    )
}

/// Whether `code` is an error the stack sets on the socket itself, asynchronously (from an
/// ICMP message), and reports only once: to whichever call comes next. Windows reports an
/// ICMP port unreachable as `WSAECONNRESET` on the next receive, unconnected sockets too.
pub(crate) fn is_socket_error(code: i32) -> bool {
    matches!(
        code,
        ws::WSAECONNREFUSED
            | ws::WSAECONNRESET
            | ws::WSAENETRESET
            | ws::WSAEHOSTUNREACH
            | ws::WSAEHOSTDOWN
            | ws::WSAENETUNREACH
            | ws::WSAENETDOWN
    )
}

/// Gives a UDP socket Unix's rule for ICMP port unreachable: reported (as `WSAECONNRESET`)
/// to a connected socket, never to an unconnected one. Windows reports it to both, on the
/// next receive, so one recipient that went away would fail a server's (or a relay's)
/// receive loop, which Linux never does; `SIO_UDP_CONNRESET` turns that off, and back on
/// once the socket is connected. Best effort: where the stack refuses, Windows' own rule
/// stays (and the error is kept and returned like any other socket error).
pub(crate) fn hear_unreachable_when_connected(socket: &socket2::Socket, family: i32) {
    if !is_udp(socket, family) {
        return;
    }
    let report: u32 = u32::from(socket.peer_addr().is_ok());
    // Port unreachable (WSAECONNRESET), and TTL expired (WSAENETRESET), which would
    // otherwise fail an unconnected socket's receive just the same.
    for control in [ws::SIO_UDP_CONNRESET, ws::SIO_UDP_NETRESET] {
        let mut returned = 0u32;
        // SAFETY: the input is a live BOOL-sized local, with its size; no output buffer;
        // the handle is owned by `socket`; no overlapped I/O.
        let _ = unsafe {
            ws::WSAIoctl(
                handle(raw_socket(socket)),
                control,
                (&report as *const u32).cast(),
                mem::size_of_val(&report) as u32,
                std::ptr::null_mut(),
                0,
                &mut returned,
                std::ptr::null_mut(),
                None,
            )
        };
    }
}

/// Whether a `connect` failed only because it goes on in the background: Winsock says
/// `WSAEWOULDBLOCK` where Unix says `EINPROGRESS`.
pub(crate) fn connect_in_progress(err: &io::Error) -> bool {
    err.raw_os_error() == Some(ws::WSAEWOULDBLOCK)
}

/// The control-message header (`WSACMSGHDR`) and where a message's data starts: what the
/// shared encoder (`sys::cmsg`) needs of the OS. The `WSA_CMSG_*` macros, as functions.
pub(crate) mod cmsg {
    use std::mem::{align_of, size_of};

    use windows_sys::Win32::Networking::WinSock as ws;

    pub(crate) type Header = ws::CMSGHDR;

    /// Headers and data are aligned to the header's own alignment (`WSA_CMSGHDR_ALIGN`,
    /// `WSA_CMSGDATA_ALIGN`: both 8 on 64-bit Windows).
    const ALIGN: usize = align_of::<Header>();

    fn align(n: usize) -> usize {
        n.next_multiple_of(ALIGN)
    }

    /// `WSA_CMSG_SPACE(data_len)`.
    pub(crate) fn space(data_len: usize) -> usize {
        align(size_of::<Header>()) + align(data_len)
    }

    /// `WSA_CMSG_LEN(data_len)`.
    pub(crate) fn len(data_len: usize) -> usize {
        align(size_of::<Header>()) + data_len
    }

    /// `WSA_CMSG_DATA(header)`.
    ///
    /// # Safety
    /// `header` points at a control message header inside a buffer with room for its data.
    pub(crate) unsafe fn data(header: *mut Header) -> *mut u8 {
        // SAFETY: the caller's promise: the data follows the aligned header in the buffer.
        unsafe { header.cast::<u8>().add(align(size_of::<Header>())) }
    }

    /// `UDP_SEND_MSG_SIZE`, Windows' segmentation offload (USO).
    pub(crate) fn udp_segment() -> (i32, i32) {
        (ws::IPPROTO_UDP, ws::UDP_SEND_MSG_SIZE)
    }

    /// The payload of a `UDP_SEND_MSG_SIZE` message: the segment size, a `DWORD`.
    pub(crate) type SegmentData = [u8; 4];

    pub(crate) fn udp_segment_data(size: u16) -> SegmentData {
        u32::from(size).to_ne_bytes()
    }

    /// `UDP_COALESCED_INFO` (URO) is not asked for: mmsg has no receive offload here.
    pub(crate) fn is_udp_gro(_level: i32, _kind: i32) -> bool {
        false
    }
}

/// The address family of a socket, from its protocol information (an unbound Windows
/// socket has no local address to read it from).
pub(crate) fn socket_family(socket: &socket2::Socket) -> io::Result<i32> {
    // SAFETY: WSAPROTOCOL_INFOW is plain old data; all zeroes is a valid value.
    let mut info: ws::WSAPROTOCOL_INFOW = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<ws::WSAPROTOCOL_INFOW>() as i32;
    // SAFETY: `info` is a live, writable WSAPROTOCOL_INFOW and `len` its true size; the
    // handle is owned by `socket`, alive for the call.
    let rc = unsafe {
        ws::getsockopt(
            handle(raw_socket(socket)),
            ws::SOL_SOCKET,
            ws::SO_PROTOCOL_INFOW,
            (&mut info as *mut ws::WSAPROTOCOL_INFOW).cast(),
            &mut len,
        )
    };
    cvt(rc)?;
    Ok(info.iAddressFamily)
}

/// The result of a Winsock call that returns `SOCKET_ERROR` on failure.
fn cvt(rc: i32) -> io::Result<()> {
    if rc == ws::SOCKET_ERROR {
        Err(last_error())
    } else {
        Ok(())
    }
}

/// The error of the last Winsock call on this thread.
fn last_error() -> io::Error {
    // SAFETY: WSAGetLastError takes no arguments and only reads thread-local state.
    io::Error::from_raw_os_error(unsafe { ws::WSAGetLastError() })
}

/// Whether `socket` can send with segmentation offload (USO, `UDP_SEND_MSG_SIZE`): a UDP
/// socket, on a system whose stack was seen to cut a segmented send into datagrams
/// (`uso::honoured`; wine, for one, accepts the option and ignores it).
pub(crate) fn gso_supported(socket: &socket2::Socket, family: i32) -> bool {
    is_udp(socket, family) && uso::honoured()
}

/// Whether `socket`, of address family `family`, is an IP datagram socket: UDP.
fn is_udp(socket: &socket2::Socket, family: i32) -> bool {
    (family == codes::AF_INET || family == codes::AF_INET6)
        && matches!(socket.r#type(), Ok(t) if t == socket2::Type::DGRAM)
}

/// Receive offload (URO) is not used on Windows.
pub(crate) fn set_udp_gro(_socket: &socket2::Socket, enabled: bool) -> io::Result<()> {
    super::no_receive_offload(enabled)
}

/// Asks for `size` bytes of receive buffer (`SO_RCVBUF`).
pub(crate) fn set_receive_buffer(socket: &socket2::Socket, size: usize) -> io::Result<()> {
    socket.set_recv_buffer_size(size)
}
