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

/// Total payload bytes of message `index`.
pub(crate) fn size<B: Batch + ?Sized>(batch: &B, index: usize) -> usize {
    batch.vectors(index).iter().map(|v| v.len()).sum()
}

/// How many messages from `start` on can go as one segmented send, and the segment size:
/// consecutive messages to the same destination, with no control messages of their own,
/// all of one size (the last may be shorter but not empty), within the kernel's limits on
/// segments, payload and vectors. A count below `MIN_RUN` means: send `start` on its own.
pub(crate) fn run<B: Batch + ?Sized>(
    batch: &B,
    start: usize,
    max_segment: usize,
) -> (usize, usize) {
    let segment = size(batch, start);
    if segment == 0 || segment > max_segment || !batch.control_messages(start).is_empty() {
        return (1, 0);
    }
    let address = batch.address(start);
    let (mut count, mut bytes) = (1, segment);
    let mut vectors = batch.vectors(start).len();
    while count < MAX_SEGMENTS && start + count < batch.len() {
        let next = start + count;
        let len = size(batch, next);
        let same_destination = match (address, batch.address(next)) {
            (None, None) => true,
            (Some(a), Some(b)) => std::ptr::eq(a, b) || a == b,
            _ => false,
        };
        if len == 0
            || len > segment
            || !same_destination
            || !batch.control_messages(next).is_empty()
            || bytes + len > MAX_PAYLOAD
            || vectors + batch.vectors(next).len() > crate::sys::IOV_MAX
        {
            break;
        }
        count += 1;
        bytes += len;
        vectors += batch.vectors(next).len();
        if len < segment {
            break; // a shorter message ends the run
        }
    }
    if count < MIN_RUN {
        (1, 0)
    } else {
        (count, segment)
    }
}
