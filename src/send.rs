//! The send engine: validation, splitting, waiting and the partial-count rules of
//! `g_socket_send_messages`, over any batch of messages.

use std::io::{self, IoSlice};
use std::net::{SocketAddr, SocketAddrV6};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use socket2::SockAddr;

use crate::cancellable::Cancellable;
use crate::condition::Idle;
use crate::control::ControlMessage;
use crate::error::{self, KeptError};
use crate::flags::{IoCondition, MsgFlags};
use crate::gso;
use crate::message::OutputMessage;
use crate::sys::{self, codes};

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

/// How a call waits when the socket would block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Not at all: `WouldBlock` (non-blocking mode, `MsgFlags::DONTWAIT`, async callers,
    /// whose runtime does the waiting).
    Never,
    /// For readiness, each wait bounded by this inactivity timeout (`None`: forever).
    Idle(Option<Duration>),
}

/// What the send engine needs of a socket, handed down by the caller: the engine never
/// calls back up into `Socket`.
#[derive(Clone, Copy)]
pub(crate) struct SendIo<'s> {
    pub(crate) fd: sys::RawSocket,
    /// The address family (`AF_*`) addresses are checked against.
    pub(crate) family: i32,
    pub(crate) wait: Wait,
    /// A `sendmsg` per message instead of `sendmmsg`.
    pub(crate) portable: bool,
    pub(crate) gso: &'s gso::State,
    pub(crate) scratch: &'s Mutex<sys::SendScratch>,
    /// The socket's pending error met after some messages went, for the next call.
    pub(crate) kept: &'s KeptError,
    /// Send system calls made, for `Socket::syscall_count`.
    pub(crate) syscalls: &'s AtomicU64,
}

/// Sends `batch` following GLib's rules (see `Socket::send_messages`).
pub(crate) fn send_batch<B: Batch + ?Sized>(
    io: &SendIo<'_>,
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
    let map_v4 = validate(io.family, batch)?;
    if let Some(err) = io.kept.take() {
        return Err(err);
    }
    let flags = flags.bits() | sys::MSG_NOSIGNAL;
    let mut sent = 0;
    while sent < total {
        if sent > 0 && cancellable.is_some_and(Cancellable::is_cancelled) {
            return Ok(sent);
        }
        match attempt(io, batch, sent, map_v4, flags, cancellable) {
            Outcome::Sent(count) => sent += count,
            // The count so far. An error the kernel reports once (an ICMP-driven
            // ECONNREFUSED) would be lost by the next call's retry: it is kept for that
            // call, as recvmmsg does. A message's own error comes again by itself.
            Outcome::Failed(e) if sent > 0 => {
                io.kept.keep(e);
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

/// Sends from message `start` on with one system call, retrying on `EINTR` and, when
/// `io.wait` allows, waiting for room as long as the socket would block.
///
/// A segmented send that fails (`EIO`/`EINVAL`: the kernel or device cannot segment now;
/// `EMSGSIZE`: the segment exceeds the route's MTU; `ENOBUFS`: a device queue shorter than
/// the run) is tried again at once with the same messages as plain datagrams. Only if they
/// go is the failure the offload's: segments that large are not coalesced again (EMSGSIZE),
/// or offload pauses for a number of sends that doubles at each refusal in a row (EIO,
/// EINVAL). If the error stays with the message, it is the message's (a bad destination, a
/// datagram too large), and offload is left as it was.
pub(crate) fn attempt<B: Batch + ?Sized>(
    io: &SendIo<'_>,
    batch: &mut B,
    start: usize,
    map_v4: bool,
    flags: i32,
    cancellable: Option<&Cancellable>,
) -> Outcome {
    let mut idle = Idle::new(match io.wait {
        Wait::Idle(timeout) => timeout,
        Wait::Never => None,
    });
    // A segmented first header that failed, and with what: the suspicion being tested.
    let mut suspect: Option<(usize, i32)> = None;
    loop {
        // With offload: the largest segment to coalesce.
        let gso = (suspect.is_none() && io.gso.try_now()).then(|| io.gso.max_segment());
        io.syscalls.fetch_add(1, Ordering::Relaxed);
        // The batch call, or (Windows, with offload) a segmented run in a call of its own.
        let batched = !io.portable || (sys::SEGMENTS_ALONE && gso.is_some());
        let (step, segment) = if !batched || batch.len() - start == 1 {
            let step = sys::send_one(io.fd, io.scratch, batch, start, map_v4, flags);
            (step, None)
        } else {
            let mut scratch = io.scratch.lock().unwrap_or_else(|e| e.into_inner());
            let step = sys::send_batch(io.fd, &mut scratch, batch, start, map_v4, gso, flags);
            (step, scratch.first_segment().filter(|_| gso.is_some()))
        };
        match (step, segment) {
            (Ok(count), segment) => {
                match suspect {
                    // Plain datagrams went where the segmented send did not: the offload
                    // was at fault. Remember, for this socket.
                    Some((segment, codes::EMSGSIZE)) => io.gso.refuse_segments_of(segment),
                    // A queue too short for a whole run (ENOBUFS): nothing to learn.
                    Some((_, codes::ENOBUFS)) => {}
                    Some(_) => io.gso.pause_after_refusal(),
                    None if segment.is_some() => io.gso.accepted(),
                    None => {}
                }
                return Outcome::Sent(count);
            }
            (Err(e), _) if e.kind() == io::ErrorKind::Interrupted => {}
            (Err(e), Some(segment)) if e.raw_os_error().is_some_and(sys::segmentation_suspect) => {
                suspect = e.raw_os_error().map(|code| (segment, code));
            }
            (Err(e), _) if e.kind() == io::ErrorKind::WouldBlock => {
                if io.wait == Wait::Never {
                    return Outcome::Stopped(e);
                }
                if let Err(e) = idle.wait(io.fd, IoCondition::OUT, cancellable) {
                    return Outcome::Stopped(e);
                }
            }
            // With a suspect, the plain retry failed too: the error is the message's.
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
fn validate<B: Batch + ?Sized>(family: i32, batch: &B) -> io::Result<bool> {
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
            let foreign = i32::from(address.family()) != family;
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
pub(crate) fn check_address(family: i32, address: &SockAddr) -> Result<bool, String> {
    let given = i32::from(address.family());
    let fits = match family {
        codes::AF_INET6 if given == codes::AF_INET => return Ok(true),
        codes::AF_INET | codes::AF_INET6 | codes::AF_UNIX => given == family,
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

fn family_name(family: i32) -> &'static str {
    match family {
        codes::AF_INET => "IPv4",
        codes::AF_INET6 => "IPv6",
        codes::AF_UNIX => "Unix",
        codes::AF_UNSPEC => "unspecified-family",
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
