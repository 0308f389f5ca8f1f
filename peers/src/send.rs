//! The send peers: a hand-written `sendmmsg` loop, the same with `UDP_SEGMENT` runs, and
//! GLib's `g_socket_send_messages`.

use std::io;
use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

use crate::{invalid, nanos};

/// The traffic to send: datagram `i` goes to `dests[order[i]]` and is the `size` bytes of
/// `buffer` at `slots[i] * size`; the sequence is cut into send calls of `calls[0]`,
/// `calls[1]`, ... datagrams and sent `rounds` times over.
#[derive(Clone, Copy, Debug)]
pub struct Plan<'a> {
    /// The receivers.
    pub dests: &'a [SocketAddrV4],
    /// The receiver of each datagram, in sending order.
    pub order: &'a [u32],
    /// Datagrams per send call; they add up to `order.len()`.
    pub calls: &'a [u32],
    /// How many times the whole sequence is sent.
    pub rounds: usize,
    /// Where the datagrams' bytes are.
    pub buffer: &'a [u8],
    /// The slot of `buffer` each datagram is, in sending order.
    pub slots: &'a [u32],
    /// Bytes per datagram (and per slot).
    pub size: usize,
}

/// `struct mmsg_plan` of `c/plan.h`.
#[repr(C)]
struct RawPlan {
    dests: *const libc::sockaddr_in,
    order: *const u32,
    count: usize,
    calls: *const u32,
    ncalls: usize,
    rounds: usize,
    buffer: *const u8,
    slots: *const u32,
    size: usize,
}

extern "C" {
    fn mmsg_peer_c_sendmmsg(fd: libc::c_int, plan: *const RawPlan, gso: libc::c_int) -> i64;
    #[cfg(have_glib)]
    fn mmsg_peer_glib(fd: libc::c_int, plan: *const RawPlan, ndests: usize) -> i64;
}

/// Sends `plan` from `fd` with one `sendmmsg` per call, headers prepared before timing.
/// With `gso`, each run of consecutive datagrams to one receiver within a call (up to 64
/// segments and 65 507 bytes) is one `UDP_SEGMENT` header. Returns the time the sends took.
pub fn c_sendmmsg(fd: BorrowedFd<'_>, plan: &Plan<'_>, gso: bool) -> io::Result<Duration> {
    let dests = native(plan)?;
    let raw = raw(plan, &dests);
    // SAFETY: `raw` points at `dests`, `plan.order`, `plan.calls`, `plan.buffer` and
    // `plan.slots`, all alive for this call, with the lengths beside them (checked by
    // `native`: the calls add up to the order's length, there is one slot per datagram, and
    // every receiver index and slot is in range); the C side reads them
    // only during the call and writes nothing of ours. `fd` is open for the call.
    nanos(unsafe { mmsg_peer_c_sendmmsg(fd.as_raw_fd(), &raw, gso.into()) })
}

/// Sends `plan` with GLib's `g_socket_send_messages`, one call per entry of `plan.calls`, on
/// a GSocket made from a duplicate of `fd`. `Unsupported` where GLib was not found.
pub fn glib(fd: BorrowedFd<'_>, plan: &Plan<'_>) -> io::Result<Duration> {
    let dests = native(plan)?;
    #[cfg(have_glib)]
    {
        let raw = raw(plan, &dests);
        // SAFETY: as for `c_sendmmsg`; GLib works on its own duplicate of `fd`, which it
        // closes, and frees everything it allocated before returning.
        nanos(unsafe { mmsg_peer_glib(fd.as_raw_fd(), &raw, dests.len()) })
    }
    #[cfg(not(have_glib))]
    {
        let _ = (fd, dests);
        Err(crate::no_glib())
    }
}

/// Checks the plan and turns its receivers into `sockaddr_in`s.
fn native(plan: &Plan<'_>) -> io::Result<Vec<libc::sockaddr_in>> {
    let total: u64 = plan.calls.iter().map(|&c| u64::from(c)).sum();
    if total != plan.order.len() as u64 {
        return Err(invalid("the calls do not add up to the datagrams"));
    }
    if plan.order.iter().any(|&d| d as usize >= plan.dests.len()) {
        return Err(invalid("a datagram names a receiver that does not exist"));
    }
    if plan.slots.len() != plan.order.len() {
        return Err(invalid("not one slot per datagram"));
    }
    let slots = plan.buffer.len() / plan.size.max(1);
    if plan.size == 0 || plan.slots.iter().any(|&s| s as usize >= slots) {
        return Err(invalid("a datagram's slot is not inside the buffer"));
    }
    Ok(plan.dests.iter().map(crate::sockaddr_in).collect())
}

fn raw(plan: &Plan<'_>, dests: &[libc::sockaddr_in]) -> RawPlan {
    RawPlan {
        dests: dests.as_ptr(),
        order: plan.order.as_ptr(),
        count: plan.order.len(),
        calls: plan.calls.as_ptr(),
        ncalls: plan.calls.len(),
        rounds: plan.rounds,
        buffer: plan.buffer.as_ptr(),
        slots: plan.slots.as_ptr(),
        size: plan.size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsFd;

    /// Every peer delivers exactly the plan: which receiver gets how many datagrams, with
    /// the payload byte for byte.
    fn delivers(send: impl Fn(BorrowedFd<'_>, &Plan<'_>) -> io::Result<Duration>) {
        let receivers: Vec<UdpSocket> = (0..3)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let dests: Vec<SocketAddrV4> = receivers
            .iter()
            .map(|r| match r.local_addr().unwrap() {
                std::net::SocketAddr::V4(a) => a,
                _ => unreachable!(),
            })
            .collect();
        // Runs of 1, 3 and 2 in one call, then a call of 4 to receiver 2; each call's
        // datagrams in slots back to back, every slot's bytes different.
        let order = [0, 1, 1, 1, 2, 2, 2, 2, 2, 2];
        let calls = [6, 4];
        let slots = [0, 1, 2, 3, 4, 5, 0, 1, 2, 3];
        let buffer: Vec<u8> = (0..600).map(|i| (i * 7 % 251) as u8).collect();
        let plan = Plan {
            dests: &dests,
            order: &order,
            calls: &calls,
            rounds: 2,
            buffer: &buffer,
            slots: &slots,
            size: 100,
        };
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        send(sender.as_fd(), &plan).unwrap();
        for (d, receiver) in receivers.iter().enumerate() {
            receiver.set_nonblocking(true).unwrap();
            let mine: Vec<&[u8]> = (0..order.len())
                .filter(|&i| order[i] as usize == d)
                .map(|i| &buffer[slots[i] as usize * 100..][..100])
                .collect();
            let mut buf = [0u8; 200];
            for n in 0..2 * mine.len() {
                let len = receiver
                    .recv(&mut buf)
                    .unwrap_or_else(|e| panic!("{d}/{n}: {e}"));
                assert_eq!(
                    &buf[..len],
                    mine[n % mine.len()],
                    "receiver {d} datagram {n}"
                );
            }
            assert!(receiver.recv(&mut buf).is_err(), "receiver {d} got more");
        }
    }

    #[test]
    fn c_sendmmsg_delivers_the_plan() {
        delivers(|fd, plan| c_sendmmsg(fd, plan, false));
    }

    #[test]
    fn c_gso_delivers_the_plan() {
        delivers(|fd, plan| c_sendmmsg(fd, plan, true));
    }

    #[test]
    fn glib_delivers_the_plan_where_built() {
        if crate::HAVE_GLIB {
            delivers(glib);
        }
    }

    #[test]
    fn a_plan_that_does_not_add_up_is_refused() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dests = [SocketAddrV4::new([127, 0, 0, 1].into(), 9)];
        let plan = Plan {
            dests: &dests,
            order: &[0, 0],
            calls: &[1],
            rounds: 1,
            buffer: b"x",
            slots: &[0, 0],
            size: 1,
        };
        let err = c_sendmmsg(sender.as_fd(), &plan, false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let plan = Plan {
            order: &[1],
            calls: &[1],
            ..plan
        };
        let err = c_sendmmsg(sender.as_fd(), &plan, false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let plan = Plan {
            order: &[0],
            calls: &[1],
            slots: &[1],
            ..plan
        };
        let err = c_sendmmsg(sender.as_fd(), &plan, false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
