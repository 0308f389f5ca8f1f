//! The send engine: validation, splitting, waiting and the partial-count rules of
//! `g_socket_send_messages`, over any batch of messages.

use std::io::{self, IoSlice};
use std::net::{SocketAddr, SocketAddrV6};
use std::ops::Range;

use socket2::SockAddr;

use crate::cancellable::Cancellable;
use crate::condition::Idle;
use crate::control::ControlMessage;
use crate::error;
use crate::flags::{IoCondition, MsgFlags};
use crate::message::OutputMessage;
use crate::socket::Socket;
use crate::sys;

/// A batch of datagrams to send: `OutputMessage`s, or any other arrangement (fan-out) that
/// can say where each goes and what it is made of.
pub(crate) trait Batch {
    fn len(&self) -> usize;
    /// Message `index` whole: where it goes and what it is made of, in one lookup.
    fn message(&self, index: usize) -> Parts<'_>;
    fn set_bytes_sent(&mut self, index: usize, bytes: usize);

    /// Messages `range` (within `len()`), in order: how the send path's loops walk a batch.
    #[cfg_attr(
        not(any(target_os = "linux", target_os = "android", target_os = "freebsd")),
        allow(dead_code)
    )]
    fn messages(&self, range: Range<usize>) -> impl Iterator<Item = Parts<'_>> {
        range.map(move |index| self.message(index))
    }
}

/// What one message of a [`Batch`] is made of.
#[derive(Clone, Copy)]
pub(crate) struct Parts<'a> {
    pub(crate) address: Option<&'a SockAddr>,
    pub(crate) vectors: &'a [IoSlice<'a>],
    pub(crate) control_messages: &'a [ControlMessage<'a>],
}

impl Batch for [OutputMessage<'_>] {
    fn len(&self) -> usize {
        <[OutputMessage<'_>]>::len(self)
    }
    fn set_bytes_sent(&mut self, index: usize, bytes: usize) {
        self[index].bytes_sent = bytes;
    }
    #[inline]
    fn message(&self, index: usize) -> Parts<'_> {
        Parts::of(&self[index])
    }
    #[inline]
    fn messages(&self, range: Range<usize>) -> impl Iterator<Item = Parts<'_>> {
        self[range].iter().map(Parts::of)
    }
}

impl<'a> Parts<'a> {
    #[inline]
    fn of(message: &'a OutputMessage<'_>) -> Parts<'a> {
        Parts {
            address: message.address,
            vectors: message.vectors,
            control_messages: message.control_messages,
        }
    }
}

/// Sends `batch` following GLib's rules (see `Socket::send_messages`).
pub(crate) fn send_batch<B: Batch + ?Sized>(
    socket: &Socket,
    batch: &mut B,
    flags: MsgFlags,
    cancellable: Option<&Cancellable>,
) -> io::Result<usize> {
    if let Some(c) = cancellable {
        c.check()?;
    }
    let total = batch.len();
    if total == 0 {
        return Ok(0);
    }
    let map_v4 = validate(socket.family(), batch)?;
    if let Some(err) = socket.take_pending_send_error() {
        return Err(err);
    }
    let flags = flags.bits() | sys::MSG_NOSIGNAL;
    let mut sent = 0;
    while sent < total {
        if sent > 0 && cancellable.is_some_and(Cancellable::is_cancelled) {
            return Ok(sent);
        }
        match attempt(socket, batch, sent, map_v4, flags, cancellable) {
            Outcome::Sent(count) => sent += count,
            // An error the kernel reports once (an ICMP-driven ECONNREFUSED) would be lost
            // by the retry of the next call: keep it for that call, as recvmmsg does.
            Outcome::Failed(e) if sent > 0 => {
                socket.set_pending_send_error(e);
                return Ok(sent);
            }
            Outcome::Failed(e) | Outcome::Stopped(e) => return partial(sent, e),
        }
    }
    Ok(sent)
}

/// What one attempt at sending from some message on came to.
pub(crate) enum Outcome {
    /// This many messages went (at least one).
    Sent(usize),
    /// The OS refused the first message with this error.
    Failed(io::Error),
    /// Nothing went and the call must end: would block (non-blocking mode), timed out or
    /// cancelled while waiting for room.
    Stopped(io::Error),
}

/// Sends from message `start` on with one system call, retrying on `EINTR` and, in blocking
/// mode, waiting for room as long as the socket would block.
pub(crate) fn attempt<B: Batch + ?Sized>(
    socket: &Socket,
    batch: &mut B,
    start: usize,
    map_v4: bool,
    flags: libc::c_int,
    cancellable: Option<&Cancellable>,
) -> Outcome {
    let fd = std::os::fd::AsRawFd::as_raw_fd(socket);
    let mut idle = Idle::new(socket.timeout());
    loop {
        // With offload: the largest segment to coalesce.
        let gso = socket.gso.active().then(|| socket.gso.max_segment());
        socket.count_syscall();
        let (step, segment) = if socket.portable_path() || batch.len() - start == 1 {
            let step = sys::send_one(fd, socket.send_scratch_lock(), batch, start, map_v4, flags);
            (step, None)
        } else {
            let mut scratch = socket.send_scratch();
            let step = sys::send_batch(fd, &mut scratch, batch, start, map_v4, gso, flags);
            (step, scratch.first_segment())
        };
        match (step, segment) {
            (Ok(count), _) => return Outcome::Sent(count),
            (Err(e), _) if e.kind() == io::ErrorKind::Interrupted => {}
            (Err(e), Some(_)) if matches!(e.raw_os_error(), Some(libc::EIO | libc::EINVAL)) => {
                // The kernel or device cannot segment: remember, send plainly from now on.
                socket.gso.disable_support();
            }
            (Err(e), Some(segment)) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                // The segment exceeds the route's MTU; plain datagrams that size are still
                // fragmented and delivered. Remember, and retry without coalescing them.
                socket.gso.refuse_segments_of(segment);
            }
            (Err(e), _) if e.kind() == io::ErrorKind::WouldBlock => {
                if !socket.is_blocking() {
                    return Outcome::Stopped(e);
                }
                if let Err(e) = idle.wait(fd, IoCondition::OUT, cancellable) {
                    return Outcome::Stopped(e);
                }
            }
            (Err(e), _) => return Outcome::Failed(e),
        }
    }
}

/// GLib's rule: an error only when nothing was sent.
pub(crate) fn partial(sent: usize, err: io::Error) -> io::Result<usize> {
    if sent > 0 {
        Ok(sent)
    } else {
        Err(err)
    }
}

/// Checks every message before anything is sent. Returns whether IPv4 addresses must be
/// mapped to IPv6 (an IPv6 socket given some).
fn validate<B: Batch + ?Sized>(family: libc::c_int, batch: &B) -> io::Result<bool> {
    let mut map_v4 = false;
    // Batches usually share address objects: one checked is checked for every message that
    // points at it, which keeps this pass a few instructions a message even where the
    // addresses are of another family (IPv4 ones on an IPv6 socket).
    let mut checked: *const SockAddr = std::ptr::null();
    for index in 0..batch.len() {
        let message = batch.message(index);
        check_vectors(message.vectors.len()).map_err(|why| error::invalid_message(index, why))?;
        if let Some(address) = message.address {
            // An address of the socket's own family always fits and needs no mapping.
            let foreign = libc::c_int::from(address.family()) != family;
            if foreign && !std::ptr::eq(address, checked) {
                map_v4 |= check_address(family, address)
                    .map_err(|why| error::invalid_message(index, why))?;
                checked = address;
            }
        }
    }
    Ok(map_v4)
}

/// Whether one message may have this many vectors; if not, why.
#[inline]
pub(crate) fn check_vectors(count: usize) -> Result<(), String> {
    if count > sys::IOV_MAX {
        return Err(format!(
            "{count} vectors, more than the {} one system call takes",
            sys::IOV_MAX
        ));
    }
    Ok(())
}

/// Whether a socket of `family` can send to `address`; `Ok(true)` where the address must be
/// sent in its IPv4-mapped form. If it cannot, why.
pub(crate) fn check_address(family: libc::c_int, address: &SockAddr) -> Result<bool, String> {
    let given = libc::c_int::from(address.family());
    let fits = match family {
        libc::AF_INET6 if given == libc::AF_INET => return Ok(true),
        libc::AF_INET | libc::AF_INET6 | libc::AF_UNIX => given == family,
        // A family mmsg knows nothing of: the OS judges.
        _ => true,
    };
    if fits {
        Ok(false)
    } else {
        Err(format!(
            "a {} address on a {} socket",
            family_name(given),
            family_name(family)
        ))
    }
}

fn family_name(family: libc::c_int) -> &'static str {
    match family {
        libc::AF_INET => "IPv4",
        libc::AF_INET6 => "IPv6",
        libc::AF_UNIX => "Unix",
        libc::AF_UNSPEC => "unspecified-family",
        _ => "foreign-family",
    }
}

/// The IPv4-mapped IPv6 form of an IPv4 address (`::ffff:a.b.c.d`), as dual-stack IPv6
/// sockets need it.
pub(crate) fn ipv4_mapped(address: &SockAddr) -> SockAddr {
    match address.as_socket() {
        Some(SocketAddr::V4(v4)) => {
            SockAddr::from(SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0))
        }
        _ => address.clone(),
    }
}
