//! UDP generic segmentation offload: whether a socket may use it.

use std::sync::atomic::{AtomicBool, Ordering};

/// Per-socket offload state: whether the user wants it and whether the socket can.
#[derive(Debug)]
pub(crate) struct State {
    enabled: AtomicBool,
    supported: AtomicBool,
}

impl State {
    pub(crate) fn new(socket: &socket2::Socket, family: libc::c_int) -> State {
        let supported = crate::sys::gso_supported(socket, family);
        State {
            enabled: AtomicBool::new(true),
            supported: AtomicBool::new(supported),
        }
    }

    pub(crate) fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
    }

    /// Whether batches may be coalesced into `UDP_SEGMENT` sends.
    pub(crate) fn active(&self, _socket: &socket2::Socket) -> bool {
        self.enabled.load(Ordering::Relaxed) && self.supported.load(Ordering::Relaxed)
    }

    /// The kernel refused a segmented send: never try again on this socket.
    #[allow(dead_code)]
    pub(crate) fn disable_support(&self) {
        self.supported.store(false, Ordering::Relaxed);
    }
}
