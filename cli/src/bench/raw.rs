//! The kernel floor in Rust: `sendmmsg` called directly, with every header (and every
//! `UDP_SEGMENT` control message) prepared before timing.

use std::io::IoSlice;
use std::mem;
use std::os::fd::RawFd;

use mmsg::SockAddr;

use super::plan::{max_gso_run, Plan};

/// Room for one `cmsghdr` carrying a `u16`, aligned for it.
type Control = [u64; 4];

/// Prepared `mmsghdr`s for a whole plan, pointing at the plan's buffer and addresses.
pub struct Headers<'a> {
    headers: Vec<libc::mmsghdr>,
    /// Headers per call of the plan.
    per_call: Vec<usize>,
    // What the headers point into; never touched once they are built.
    _vectors: Vec<IoSlice<'a>>,
    _controls: Vec<Control>,
}

impl<'a> Headers<'a> {
    /// One header per datagram of `plan`, or with `gso` one per run of datagrams to one
    /// receiver inside a call (a segmented send where the run is longer than one). Each
    /// datagram is its `size`-byte slot of `buffer`; a run whose slots lie back to back is
    /// one vector, as a C programmer hands a segmented send one buffer.
    pub fn new(
        addresses: &'a [SockAddr],
        plan: &Plan,
        buffer: &'a [u8],
        size: usize,
        gso: bool,
    ) -> Self {
        let mut vectors: Vec<IoSlice> = (0..plan.order.len())
            .map(|i| IoSlice::new(plan.datagram(buffer, size, i)))
            .collect();
        let runs = plan.runs(if gso { max_gso_run(size) } else { 1 });
        let total: usize = runs.iter().map(Vec::len).sum();
        // Sized once: the headers point into it.
        let mut controls: Vec<Control> = vec![[0; 4]; total];
        let mut headers = Vec::with_capacity(total);
        let mut per_call = Vec::with_capacity(runs.len());
        for call in &runs {
            per_call.push(call.len());
            for &(d, first, n) in call {
                let address = &addresses[d as usize];
                // SAFETY: msghdr is plain old data; all zeroes is a valid value.
                let mut h: libc::msghdr = unsafe { mem::zeroed() };
                h.msg_name = address.as_ptr() as *mut libc::c_void;
                h.msg_namelen = address.len();
                h.msg_iovlen = n as _;
                if n > 1 && plan.back_to_back(first, n) {
                    // The run's datagrams lie back to back: one vector covers them.
                    let at = plan.slots[first] as usize * size;
                    vectors[first] = IoSlice::new(&buffer[at..at + n * size]);
                    h.msg_iovlen = 1;
                }
                h.msg_iov = vectors[first..].as_ptr() as *mut libc::iovec;
                if n > 1 {
                    let control = &mut controls[headers.len()];
                    h.msg_control = control.as_mut_ptr().cast();
                    // SAFETY: CMSG_SPACE only computes a size.
                    h.msg_controllen = unsafe { libc::CMSG_SPACE(2) } as _;
                    // SAFETY: `h` points at `control`, 32 bytes, aligned for cmsghdr, which
                    // holds CMSG_SPACE(2) = 24 bytes; CMSG_FIRSTHDR is therefore non-null and
                    // the header and its two data bytes lie inside `control`.
                    unsafe {
                        let c = libc::CMSG_FIRSTHDR(&h);
                        (*c).cmsg_level = libc::SOL_UDP;
                        (*c).cmsg_type = libc::UDP_SEGMENT;
                        (*c).cmsg_len = libc::CMSG_LEN(2) as _;
                        libc::CMSG_DATA(c)
                            .cast::<u16>()
                            .write_unaligned(size as u16);
                    }
                }
                headers.push(libc::mmsghdr {
                    msg_hdr: h,
                    msg_len: 0,
                });
            }
        }
        Headers {
            headers,
            per_call,
            _vectors: vectors,
            _controls: controls,
        }
    }

    /// Sends the plan `rounds` times: one `sendmmsg` per call (per 1024 headers).
    pub fn send(&mut self, fd: RawFd, rounds: usize) {
        for _ in 0..rounds {
            let mut rest = &mut self.headers[..];
            for &n in &self.per_call {
                let (call, after) = rest.split_at_mut(n);
                for chunk in call.chunks_mut(1024) {
                    // SAFETY: the headers point at `addresses` and `buffer` (alive for 'a)
                    // and at the vectors and control buffers owned by self, none of which
                    // moved since; the kernel writes only msg_len. Errors (a full queue)
                    // are ignored, as every sender in the bench does.
                    let _ = unsafe { libc::sendmmsg(fd, chunk.as_mut_ptr(), chunk.len() as _, 0) };
                }
                rest = after;
            }
        }
    }
}
