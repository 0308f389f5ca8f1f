//! UDP generic segmentation offload: which messages of a batch can go out as one
//! `UDP_SEGMENT` send, and whether a socket may use it at all.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::send::Batch;

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
    /// Segments larger than this are not coalesced: the route refused one (its MTU is
    /// smaller), while plain datagrams of that size are still fragmented and delivered.
    max_segment: AtomicUsize,
}

impl State {
    pub(crate) fn new(socket: &socket2::Socket, family: libc::c_int) -> State {
        State {
            enabled: AtomicBool::new(true),
            supported: AtomicBool::new(crate::sys::gso_supported(socket, family)),
            max_segment: AtomicUsize::new(MAX_PAYLOAD),
        }
    }

    pub(crate) fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
    }

    /// Whether batches may be coalesced into `UDP_SEGMENT` sends.
    pub(crate) fn active(&self) -> bool {
        self.enabled.load(Ordering::Relaxed) && self.supported.load(Ordering::Relaxed)
    }

    /// The kernel refused a segmented send (`EIO`: no checksum offload on the route;
    /// `EINVAL`: segment larger than the path allows): never coalesce on this socket again.
    pub(crate) fn disable_support(&self) {
        self.supported.store(false, Ordering::Relaxed);
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
    /// Vectors of all the run's messages.
    pub(crate) vectors: usize,
    /// Bytes of the run's last message (every other one has `segment` bytes).
    pub(crate) last: usize,
}

/// How many messages from `start` on can go as one segmented send, and the segment size:
/// consecutive messages to the same destination, with no control messages of their own,
/// all of one size (the last may be shorter but not empty), within the kernel's limits on
/// segments, payload and vectors. Runs shorter than `MIN_RUN` come back as `start` alone.
///
/// This is the send path's inner loop: it reads each message once, and the caller takes
/// the vector count and sizes from the result instead of walking the run again.
pub(crate) fn run<B: Batch + ?Sized>(batch: &B, start: usize, max_segment: usize) -> Run {
    let first = batch.vectors(start);
    let segment = size(first);
    let alone = Run {
        count: 1,
        segment: 0,
        vectors: first.len(),
        last: segment,
    };
    if segment == 0 || segment > max_segment || !batch.control_messages(start).is_empty() {
        return alone;
    }
    let address = batch.address(start);
    let end = batch.len().min(start + MAX_SEGMENTS);
    let mut run = Run { segment, ..alone };
    let mut bytes = segment;
    let mut next = start + 1;
    while next < end {
        let vectors = batch.vectors(next);
        let len = size(vectors);
        if len == 0
            || len > segment
            || bytes + len > MAX_PAYLOAD
            || run.vectors + vectors.len() > crate::sys::IOV_MAX
            || !same_destination(address, batch.address(next))
            || !batch.control_messages(next).is_empty()
        {
            break;
        }
        run.count += 1;
        run.vectors += vectors.len();
        run.last = len;
        bytes += len;
        next += 1;
        if len < segment {
            break; // a shorter message ends the run
        }
    }
    if run.count < MIN_RUN {
        alone
    } else {
        run
    }
}

/// Whether two messages go to the same place: the same address object (the usual case, and
/// the cheapest to tell) or equal addresses.
#[inline]
fn same_destination(a: Option<&socket2::SockAddr>, b: Option<&socket2::SockAddr>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => std::ptr::eq(a, b) || a == b,
        _ => false,
    }
}
