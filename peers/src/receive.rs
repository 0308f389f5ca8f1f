//! The receive peers: a hand-written `recvmmsg` loop, `UDP_GRO` receives walking each
//! coalesced buffer's segments in place, and GLib's `g_socket_receive_messages`. Each takes
//! datagrams until it has [`Want::count`], doing the same light work per datagram as the
//! bench's Rust receivers (see [`Tally`]), and times itself from its first receive that
//! returned data to its last datagram.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::AtomicI32;
use std::time::Duration;

use crate::invalid;

/// The most messages one `recvmmsg` takes (the kernel's UIO_MAXIOV).
const MAX_BATCH: usize = 1024;

/// What a receiver is asked to do.
#[derive(Clone, Copy, Debug)]
pub struct Want<'a> {
    /// Datagrams to receive; the receiver stops once it has them.
    pub count: usize,
    /// The size every datagram should have; others are counted in [`Tally::wrong_size`].
    pub size: usize,
    /// Messages (buffers) per receive call, at most 1024.
    pub batch: usize,
    /// Bytes of each buffer (64 KiB for `UDP_GRO`: the most the kernel coalesces).
    pub buffer: usize,
    /// `None`: stop at the first empty queue (the queue was filled before the clock
    /// started). `Some(done)`: wait for datagrams while the sender runs, and stop when
    /// `done` is non-zero (set once everything sent is delivered) and the queue is empty.
    pub done: Option<&'a AtomicI32>,
    /// How long one wait for the queue lasts before `done` is looked at again.
    pub wait_slice: Duration,
}

/// What a receiver saw: per datagram, its length compared with [`Want::size`] and its
/// first byte added to `sum` (so that nothing can be skipped, and a wrong walk through a
/// coalesced buffer shows).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Datagrams received.
    pub datagrams: u64,
    /// Of them, those not [`Want::size`] bytes long, or cut to the buffer.
    pub wrong_size: u64,
    /// Their first bytes, added up.
    pub sum: u64,
    /// Receive calls that returned data.
    pub calls: u64,
    /// From just before the first call that returned data to after the last datagram.
    pub elapsed: Duration,
}

/// `struct mmsg_recv_want` of `c/receive.h`.
#[repr(C)]
struct RawWant {
    data: *mut u8,
    count: usize,
    size: usize,
    batch: usize,
    buffer: usize,
    idle_ms: libc::c_int,
    done: *const i32,
}

/// `struct mmsg_recv_tally` of `c/receive.h`.
#[repr(C)]
#[derive(Default)]
struct RawTally {
    datagrams: u64,
    wrong_size: u64,
    sum: u64,
    calls: u64,
    first_ns: i64,
    last_ns: i64,
}

type Receiver = unsafe extern "C" fn(libc::c_int, *const RawWant, *mut RawTally) -> libc::c_int;

extern "C" {
    fn mmsg_peer_c_recvmmsg(
        fd: libc::c_int,
        want: *const RawWant,
        tally: *mut RawTally,
    ) -> libc::c_int;
    fn mmsg_peer_c_gro(fd: libc::c_int, want: *const RawWant, tally: *mut RawTally) -> libc::c_int;
    #[cfg(have_glib)]
    fn mmsg_peer_glib_receive(
        fd: libc::c_int,
        want: *const RawWant,
        tally: *mut RawTally,
    ) -> libc::c_int;
}

/// Receives with `recvmmsg` of [`Want::batch`] messages, one buffer each (of `buffers`,
/// which holds them back to back), senders' addresses asked for.
pub fn c_recvmmsg(fd: BorrowedFd<'_>, want: &Want<'_>, buffers: &mut [u8]) -> io::Result<Tally> {
    call(mmsg_peer_c_recvmmsg, fd, want, buffers)
}

/// Receives coalesced buffers (the socket needs `UDP_GRO` on, see [`enable_gro`], before
/// the datagrams are queued) and walks their segments in place: one `recvmsg` per buffer
/// with a [`Want::batch`] of 1, else `recvmmsg` of that many buffers.
pub fn c_gro(fd: BorrowedFd<'_>, want: &Want<'_>, buffers: &mut [u8]) -> io::Result<Tally> {
    call(mmsg_peer_c_gro, fd, want, buffers)
}

/// Receives with GLib's `g_socket_receive_messages` of [`Want::batch`] messages, on a
/// GSocket made from a duplicate of `fd`, senders asked for (GLib makes a `GSocketAddress`
/// per datagram, released after it is counted). `Unsupported` where GLib was not found.
pub fn glib_receive(fd: BorrowedFd<'_>, want: &Want<'_>, buffers: &mut [u8]) -> io::Result<Tally> {
    #[cfg(have_glib)]
    {
        call(mmsg_peer_glib_receive, fd, want, buffers)
    }
    #[cfg(not(have_glib))]
    {
        let _ = (fd, want, buffers);
        Err(crate::no_glib())
    }
}

/// Turns `UDP_GRO` on: the kernel then queues a sender's segmented sends whole.
pub fn enable_gro(fd: BorrowedFd<'_>) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: `on` is a live c_int and its size is passed with it; `fd` is open.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_UDP,
            libc::UDP_GRO,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn call(
    receiver: Receiver,
    fd: BorrowedFd<'_>,
    want: &Want<'_>,
    buffers: &mut [u8],
) -> io::Result<Tally> {
    if want.batch == 0 || want.batch > MAX_BATCH || want.buffer == 0 || want.size == 0 {
        return Err(invalid(
            "batch must be 1..=1024, and the buffer and datagram sizes at least 1",
        ));
    }
    if want
        .batch
        .checked_mul(want.buffer)
        .is_none_or(|needed| needed > buffers.len())
    {
        return Err(invalid("the buffers are smaller than batch x buffer bytes"));
    }
    let idle_ms = want.wait_slice.as_millis().clamp(1, 60_000) as libc::c_int;
    let raw = RawWant {
        data: buffers.as_mut_ptr(),
        count: want.count,
        size: want.size,
        batch: want.batch,
        buffer: want.buffer,
        idle_ms: if want.done.is_some() { idle_ms } else { 0 },
        done: want
            .done
            .map_or(std::ptr::null(), |d| d.as_ptr().cast_const()),
    };
    let mut tally = RawTally::default();
    // SAFETY: `raw` and `tally` are live for the call and laid out as receive.h declares;
    // `raw.data` points at `buffers`, borrowed mutably for the call and at least batch x
    // buffer bytes long (checked above), the only memory the kernel writes through the C
    // side's vectors; `done`, where given, is an AtomicI32 (an i32 in memory) borrowed for
    // the call and read by the C side only with atomic loads; the C side frees what it
    // allocates before returning. `fd` is open for the call.
    let rc = unsafe { receiver(fd.as_raw_fd(), &raw, &mut tally) };
    if rc < 0 {
        return Err(io::Error::from_raw_os_error(-rc));
    }
    Ok(Tally {
        datagrams: tally.datagrams,
        wrong_size: tally.wrong_size,
        sum: tally.sum,
        calls: tally.calls,
        elapsed: Duration::from_nanos(tally.last_ns.saturating_sub(tally.first_ns).max(0) as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
    use std::os::fd::AsFd;
    use std::sync::atomic::Ordering;

    const SIZE: usize = 100;

    /// Datagram `i`'s bytes: its first byte is `i`, so the tally's sum tells which came.
    fn datagram(i: usize) -> Vec<u8> {
        (0..SIZE).map(|at| (i + at * 7) as u8).collect()
    }

    /// The sum of the first bytes of datagrams `0..n`.
    fn sum_of(n: usize) -> u64 {
        (0..n).map(|i| u64::from(i as u8)).sum()
    }

    fn receiver() -> (UdpSocket, SocketAddrV4) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        match socket.local_addr().unwrap() {
            SocketAddr::V4(a) => (socket, a),
            other => panic!("{other}"),
        }
    }

    fn want(count: usize, batch: usize, buffer: usize) -> Want<'static> {
        Want {
            count,
            size: SIZE,
            batch,
            buffer,
            done: None,
            wait_slice: Duration::from_millis(10),
        }
    }

    /// Sends datagrams `0..n` one `send_to` each: never coalesced.
    fn send_plain(to: SocketAddrV4, n: usize) {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..n {
            assert_eq!(sender.send_to(&datagram(i), to).unwrap(), SIZE);
        }
    }

    /// Sends datagrams `0..n` with the C `UDP_SEGMENT` peer, in one call: runs of 64 (the
    /// kernel's limit), each queued whole at a `UDP_GRO` receiver.
    fn send_segmented(to: SocketAddrV4, n: usize) {
        let buffer: Vec<u8> = (0..n).flat_map(datagram).collect();
        let order = vec![0u32; n];
        let slots: Vec<u32> = (0..n as u32).collect();
        let plan = crate::Plan {
            dests: &[to],
            order: &order,
            calls: &[n as u32],
            rounds: 1,
            buffer: &buffer,
            slots: &slots,
            size: SIZE,
        };
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        crate::c_sendmmsg(sender.as_fd(), &plan, true).unwrap();
    }

    type Receive = fn(BorrowedFd<'_>, &Want<'_>, &mut [u8]) -> io::Result<Tally>;

    /// `receive` with buffers of its own for `want`.
    fn with_buffers(receive: Receive, fd: BorrowedFd<'_>, want: &Want<'_>) -> io::Result<Tally> {
        receive(fd, want, &mut vec![0; want.batch * want.buffer])
    }

    /// Every plain receiver takes exactly what was queued: all of it, each datagram once,
    /// in calls of its batch, and stops at the empty queue even when asked for more.
    fn receives_plain(receive: Receive) {
        let (socket, to) = receiver();
        send_plain(to, 100);
        let tally = with_buffers(receive, socket.as_fd(), &want(100, 16, 2048)).unwrap();
        assert_eq!(
            (tally.datagrams, tally.wrong_size, tally.sum),
            (100, 0, sum_of(100))
        );
        // 16 a call (the queue was full): 7 calls.
        assert_eq!(tally.calls, 7);
        // Asked for more than there is: everything queued, then the empty queue ends it.
        send_plain(to, 10);
        let tally = with_buffers(receive, socket.as_fd(), &want(50, 16, 2048)).unwrap();
        assert_eq!((tally.datagrams, tally.sum), (10, sum_of(10)));
        // A datagram of another size, and one cut to a smaller buffer, are counted as such.
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(&[9; 50], to).unwrap();
        sender.send_to(&[8; 300], to).unwrap();
        let tally = with_buffers(receive, socket.as_fd(), &want(2, 4, 200)).unwrap();
        assert_eq!(
            (tally.datagrams, tally.wrong_size, tally.sum),
            (2, 2, 9 + 8)
        );
    }

    #[test]
    fn c_recvmmsg_receives_exactly_what_was_sent() {
        receives_plain(c_recvmmsg);
    }

    #[test]
    fn glib_receives_exactly_what_was_sent_where_built() {
        if crate::HAVE_GLIB {
            receives_plain(glib_receive);
        } else {
            let (socket, _) = receiver();
            let err = glib_receive(socket.as_fd(), &want(1, 1, 2048), &mut [0; 2048]).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        }
    }

    #[test]
    fn c_gro_walks_every_coalesced_segment() {
        for batch in [1, 8] {
            let (socket, to) = receiver();
            enable_gro(socket.as_fd()).unwrap();
            // 100 datagrams in runs of 64 and 36, then one plain datagram of 50 bytes.
            send_segmented(to, 100);
            UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .send_to(&[200; 50], to)
                .unwrap();
            let tally = with_buffers(c_gro, socket.as_fd(), &want(101, batch, 65_536)).unwrap();
            assert_eq!(
                (tally.datagrams, tally.wrong_size, tally.sum),
                (101, 1, sum_of(100) + 200),
                "batch {batch}"
            );
            // Coalesced: a buffer per run and one for the plain datagram; recvmsg takes one
            // a call, recvmmsg all three at once.
            assert_eq!(tally.calls, if batch == 1 { 3 } else { 1 }, "batch {batch}");
        }
    }

    #[test]
    fn c_gro_without_gro_on_gets_one_datagram_a_buffer() {
        let (socket, to) = receiver();
        send_segmented(to, 70);
        let tally = with_buffers(c_gro, socket.as_fd(), &want(70, 1, 65_536)).unwrap();
        assert_eq!(
            (tally.datagrams, tally.sum, tally.calls),
            (70, sum_of(70), 70)
        );
    }

    #[test]
    fn a_live_receiver_waits_for_the_sender_and_stops_when_it_is_done() {
        for receive in [c_recvmmsg as Receive, c_gro] {
            let (socket, to) = receiver();
            let done = AtomicI32::new(0);
            let tally = std::thread::scope(|s| {
                let receiving = s.spawn(|| {
                    // Asks for more than will come: only `done` ends the wait.
                    let want = Want {
                        done: Some(&done),
                        ..want(1000, 8, 65_536)
                    };
                    with_buffers(receive, socket.as_fd(), &want)
                });
                send_plain(to, 100);
                done.store(1, Ordering::Release);
                receiving.join().unwrap()
            })
            .unwrap();
            assert_eq!((tally.datagrams, tally.sum), (100, sum_of(100)));
        }
    }

    #[test]
    fn bad_batches_and_buffers_are_refused() {
        let (socket, _) = receiver();
        let mut buffers = [0u8; 4096];
        for (batch, buffer) in [(0, 2048), (1025, 2048), (1, 0), (usize::MAX, 2), (3, 2048)] {
            let err =
                c_recvmmsg(socket.as_fd(), &want(1, batch, buffer), &mut buffers).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{batch} {buffer}");
        }
    }
}
