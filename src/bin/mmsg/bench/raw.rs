//! The kernel floor: `sendmmsg` called directly, with every header prepared before timing.

use std::io::IoSlice;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;

use mmsg::SockAddr;

/// Prepared `mmsghdr`s, one per datagram, pointing at shared payload and addresses.
pub struct Headers<'a> {
    headers: Vec<libc::mmsghdr>,
    _vector: Box<[IoSlice<'a>; 1]>,
}

impl<'a> Headers<'a> {
    /// One header per entry of `order` (a receiver index), all carrying `payload`.
    pub fn new(addresses: &'a [SockAddr], order: &[usize], payload: &'a [u8]) -> Headers<'a> {
        let vector = Box::new([IoSlice::new(payload)]);
        let headers = order
            .iter()
            .map(|&d| {
                // SAFETY: msghdr is plain old data; all zeroes is a valid value.
                let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
                h.msg_name = addresses[d].as_ptr() as *mut libc::c_void;
                h.msg_namelen = addresses[d].len();
                h.msg_iov = vector.as_ptr() as *mut libc::iovec;
                h.msg_iovlen = 1;
                libc::mmsghdr {
                    msg_hdr: h,
                    msg_len: 0,
                }
            })
            .collect();
        Headers {
            headers,
            _vector: vector,
        }
    }

    /// Sends headers `start..start + count`, one `sendmmsg` per 1024.
    pub fn send(&mut self, socket: &UdpSocket, start: usize, count: usize) {
        for chunk in self.headers[start..start + count].chunks_mut(1024) {
            // SAFETY: the headers point at `addresses`, `payload` and the boxed vector, all
            // alive for 'a (the box is owned by self); the kernel writes only msg_len.
            let _ = unsafe {
                libc::sendmmsg(socket.as_raw_fd(), chunk.as_mut_ptr(), chunk.len() as _, 0)
            };
        }
    }
}
