//! The C peers of `mmsg bench`, each the floor a C programmer would reach, measured in the
//! same process as mmsg:
//!
//! - [`send`]: a hand-written `sendmmsg` loop, the same with `UDP_SEGMENT` runs, and GLib's
//!   `g_socket_send_messages`; each prepares everything before its clock starts and times
//!   only its sends.
//! - [`receive`]: a hand-written `recvmmsg` loop, `UDP_GRO` receives walking the coalesced
//!   segments in place, and GLib's `g_socket_receive_messages`; each drains a socket with
//!   buffers prepared before its clock starts.
//! - [`relay`]: datagrams queued on one socket sent to every recipient from another, with
//!   `recvmmsg` + `sendmmsg`, and with `UDP_GRO` in + `UDP_SEGMENT` out.
//!
//! GLib's peers exist where gio-2.0 was found at build time ([`HAVE_GLIB`]).

use std::io;
use std::time::Duration;

pub mod receive;
pub mod relay;
pub mod send;

pub use receive::{c_gro, c_recvmmsg, glib_receive, Tally, Want};
pub use send::{c_sendmmsg, glib, Plan};

/// Whether this build has the GLib peers.
pub const HAVE_GLIB: bool = cfg!(have_glib);

/// A C peer's answer: nanoseconds, or a negated errno.
fn nanos(result: i64) -> io::Result<Duration> {
    if result < 0 {
        Err(io::Error::from_raw_os_error(-result as i32))
    } else {
        Ok(Duration::from_nanos(result as u64))
    }
}

/// `a` as the C peers take a receiver.
fn sockaddr_in(a: &std::net::SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, why)
}

#[cfg_attr(have_glib, allow(dead_code))]
fn no_glib() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "this build has no GLib peer (gio-2.0 was not found)",
    )
}
