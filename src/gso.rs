//! UDP generic segmentation offload: which messages of a batch can go out as one
//! `UDP_SEGMENT` send, and whether a socket may use it at all.

// Where there is no `sendmmsg` (the portable path is forced on) nothing plans runs: only
// the per-socket state below is used.
#![cfg_attr(
    not(any(target_os = "linux", target_os = "android", target_os = "freebsd")),
    allow(dead_code)
)]

use std::io::IoSlice;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use crate::send::{Batch, Parts};
use crate::sys::{self, IoVec};

/// Segments the kernel takes in one send (`UDP_MAX_SEGMENTS`).
pub(crate) const MAX_SEGMENTS: usize = 64;

/// Payload bytes one UDP datagram, and so one segmented send, can carry.
pub(crate) const MAX_PAYLOAD: usize = 65_507;

/// The shortest run worth coalescing. Measured with `mmsg bench` (see BENCHMARKS.md):
/// two equal datagrams to one destination already cost less as one segmented send.
pub(crate) const MIN_RUN: usize = 2;

/// Per-socket offload state: whether the user wants it and whether the socket can.
#[derive(Debug)]
pub(crate) struct State {
    enabled: AtomicBool,
    supported: AtomicBool,
    /// Sends left to make plainly before segmenting is tried again, after the kernel
    /// refused it (it may be for a while only: checksums turned off on the socket, a
    /// device that changed). 0: segment.
    pause: AtomicU32,
    /// How long the next pause is: doubled at each refusal in a row, so a kernel that
    /// cannot segment at all costs one failed send in ever more.
    next_pause: AtomicU32,
    /// Segments larger than this are not coalesced: the route refused one (its MTU is
    /// smaller), while plain datagrams of that size are still fragmented and delivered.
    max_segment: AtomicUsize,
}

/// Sends made plainly after the first refusal before segmenting is tried again.
const FIRST_PAUSE: u32 = 64;

impl State {
    pub(crate) fn new(socket: &socket2::Socket, family: i32) -> State {
        State {
            enabled: AtomicBool::new(true),
            supported: AtomicBool::new(crate::sys::gso_supported(socket, family)),
            pause: AtomicU32::new(0),
            next_pause: AtomicU32::new(FIRST_PAUSE),
            max_segment: AtomicUsize::new(MAX_PAYLOAD),
        }
    }

    pub(crate) fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
        if enabled {
            // Asked for again: try at once.
            self.pause.store(0, Ordering::Relaxed);
            self.next_pause.store(FIRST_PAUSE, Ordering::Relaxed);
        }
    }

    /// Whether the socket may coalesce: the user wants it and the kernel has it.
    pub(crate) fn active(&self) -> bool {
        self.enabled.load(Ordering::Relaxed) && self.supported.load(Ordering::Relaxed)
    }

    /// Whether sends are coalesced now: `active`, and not in a pause after a refusal.
    pub(crate) fn segmenting(&self) -> bool {
        self.active() && self.pause.load(Ordering::Relaxed) == 0
    }

    /// Whether this send may be coalesced: `active`, and not in a pause after a refusal
    /// (which this call counts down).
    #[inline]
    pub(crate) fn try_now(&self) -> bool {
        if !self.active() {
            return false;
        }
        if self.pause.load(Ordering::Relaxed) == 0 {
            return true;
        }
        let _ = self
            .pause
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| p.checked_sub(1));
        false
    }

    /// The kernel refused a segmented send that went plainly (`EIO`: no checksum offload
    /// on the route; `EINVAL`: no checksums on the socket, or a segment larger than the path
    /// allows): send plainly for a while, then try again.
    pub(crate) fn pause_after_refusal(&self) {
        let pause = self.next_pause.load(Ordering::Relaxed);
        self.pause.store(pause, Ordering::Relaxed);
        self.next_pause
            .store(pause.saturating_mul(2).min(1 << 20), Ordering::Relaxed);
    }

    /// A segmented send went: the next refusal starts a short pause again.
    #[inline]
    pub(crate) fn accepted(&self) {
        if self.next_pause.load(Ordering::Relaxed) != FIRST_PAUSE {
            self.next_pause.store(FIRST_PAUSE, Ordering::Relaxed);
        }
    }

    /// The route refused a segmented send with `EMSGSIZE`: segments of `segment` bytes do not
    /// fit its MTU. Never coalesce segments that large again on this socket.
    pub(crate) fn refuse_segments_of(&self, segment: usize) {
        self.max_segment
            .fetch_min(segment.saturating_sub(1), Ordering::Relaxed);
    }

    /// The largest segment worth coalescing.
    pub(crate) fn max_segment(&self) -> usize {
        self.max_segment.load(Ordering::Relaxed)
    }
}

/// Total payload bytes of a message's vectors.
#[inline]
pub(crate) fn size(vectors: &[std::io::IoSlice<'_>]) -> usize {
    match vectors {
        [one] => one.len(),
        many => many.iter().map(|v| v.len()).sum(),
    }
}

/// What `run` found from some message on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    /// Messages in the run; 1 for a message sent on its own.
    pub(crate) count: usize,
    /// The segment size where the run is coalesced, 0 where it is a message on its own.
    pub(crate) segment: usize,
    /// Bytes of the run's last message (every other one has `segment` bytes).
    pub(crate) last: usize,
}

/// How many messages from `start` (which must be within the batch, and whose parts are
/// `first`: the caller has read them already) on can go as one
/// segmented send, and the segment size: consecutive messages to the same destination, with
/// no control messages of their own, all of one size (the last may be shorter but not
/// empty), within the kernel's limits on segments, payload and vectors. Runs shorter than
/// `MIN_RUN` come back as `start` alone.
///
/// The vectors of a run's messages are appended to `iovecs` as they are read, so that the
/// run is laid out for its segmented send in the same pass. Where the result is a message
/// alone, the caller truncates `iovecs` back to where it was (with `MIN_RUN` at 2 nothing
/// was added; the message's header points at its own vectors).
///
/// This is the send path's inner loop, for every datagram of every batch, and it is kept
/// to a few instructions a message: each message is read once, every message of a run
/// but the last has exactly `segment` bytes (so the payload so far is `count * segment`),
/// and the caller counts the run's vectors by where `iovecs` got to.
#[inline]
pub(crate) fn run<B: Batch + ?Sized>(
    batch: &B,
    start: usize,
    first: Parts<'_>,
    max_segment: usize,
    iovecs: &mut Vec<IoVec>,
) -> Run {
    let segment = size(first.vectors);
    let alone = Run {
        count: 1,
        segment: 0,
        last: segment,
    };
    if segment == 0 || segment > max_segment || !first.control_messages.is_empty() {
        return alone;
    }
    let from = iovecs.len();
    let end = batch.len().min(start + MAX_SEGMENTS);
    let (mut count, mut last) = (1, segment);
    // The first message's vectors, counted against IOV_MAX before they are laid out (only
    // once a second message joins).
    let mut unlaid = first.vectors.len();
    for message in batch.messages(start + 1..end) {
        // The destination first: where it differs (mixed traffic), nothing else is read.
        if !same_destination(first.address, message.address) || !message.control_messages.is_empty()
        {
            break;
        }
        let len = size(message.vectors);
        if len == 0
            || len > segment
            || count * segment + len > MAX_PAYLOAD
            || iovecs.len() - from + unlaid + message.vectors.len() > crate::sys::IOV_MAX
        {
            break;
        }
        if count == 1 {
            // Only now is there a run to lay out (mixed traffic seldom gets this far).
            gather(iovecs, from, first.vectors);
            unlaid = 0;
        }
        gather(iovecs, from, message.vectors);
        count += 1;
        if len < segment {
            last = len;
            break; // a shorter message ends the run
        }
    }
    if count < MIN_RUN {
        return alone;
    }
    Run {
        count,
        segment,
        last,
    }
}

/// Appends a message's vectors to those of the run that starts at `iovecs[from]`. A vector
/// that begins where the run's last one ends (packets written back to back in one buffer)
/// extends it instead: the kernel then walks one vector for many datagrams.
#[inline]
fn gather(iovecs: &mut Vec<IoVec>, from: usize, vectors: &[IoSlice<'_>]) {
    for vector in vectors {
        if iovecs.len() > from {
            if let Some(last) = iovecs.last_mut() {
                if sys::extend_iovec(last, vector) {
                    continue;
                }
            }
        }
        iovecs.push(sys::iovec(vector));
    }
}

/// Whether two messages go to the same place: the same address object (the usual case, and
/// the cheapest to tell) or equal addresses.
#[inline]
fn same_destination(a: Option<&socket2::SockAddr>, b: Option<&socket2::SockAddr>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => std::ptr::eq(a, b) || (a.len() == b.len() && equal(a, b)),
        _ => false,
    }
}

/// Equal addresses. Mixed traffic asks this of every message, so IPv4 addresses, the
/// common case, are compared as what they hold (a few loads) instead of byte by byte
/// through `memcmp`.
#[inline]
fn equal(a: &socket2::SockAddr, b: &socket2::SockAddr) -> bool {
    match (a.as_socket_ipv4(), b.as_socket_ipv4()) {
        (Some(a), Some(b)) => a == b,
        _ => a == b,
    }
}
