//! Everything that calls the OS directly. All of mmsg's `unsafe` code lives below here.
//!
//! One folder per OS family, as socket2 does: `unix/` (`sendmmsg`/`recvmmsg` where they
//! exist, a `sendmsg`/`recvmsg` loop elsewhere, `poll`) and `windows/` (a
//! `WSASendMsg`/`WSARecvMsg` loop, `WSAPoll`). Both offer the same names, listed here, and
//! the engines above are shared: they see sockets, flags, address families and error
//! numbers only through this module.

pub(crate) mod cmsg;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as os;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as os;

/// `set_udp_gro` where the OS has no receive offload mmsg uses: turning it on is
/// `Unsupported`; turning it off succeeds, as it always is (so that code that makes sure it
/// is off, as on Linux, runs everywhere).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn no_receive_offload(enabled: bool) -> std::io::Result<()> {
    if enabled {
        Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
    } else {
        Ok(())
    }
}

#[cfg(feature = "tokio")]
pub(crate) use os::tokio;
pub(crate) use os::{
    codes, connect_in_progress, gso_supported, hear_unreachable_when_connected, is_socket_error,
    poll, pollfd, raw_socket, recv_batch, recv_buffers, recv_one, segmentation_suspect, send_batch,
    send_one, set_receive_buffer, set_udp_gro, socket_family, BufferScratch, RawSocket, Received,
    RecvScratch, SendScratch, Wake, HAS_SENDMMSG, IOV_MAX, MSG_NOSIGNAL,
};
pub(crate) use os::{extend_iovec, iovec, IoVec, SEGMENTS_ALONE};
