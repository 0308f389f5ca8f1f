//! The relay floors: `count` datagrams already queued on one socket, each sent to every
//! recipient from another, in C (see `c/relay.c`).

use std::io;
use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

extern "C" {
    fn mmsg_peer_relay_mmsg(
        input: libc::c_int,
        output: libc::c_int,
        dests: *const libc::sockaddr_in,
        ndests: usize,
        count: usize,
    ) -> i64;
    fn mmsg_peer_relay_gro_gso(
        input: libc::c_int,
        output: libc::c_int,
        dests: *const libc::sockaddr_in,
        ndests: usize,
        count: usize,
    ) -> i64;
}

/// How a C relay takes datagrams in and sends them on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relay {
    /// `recvmmsg` of 64 datagrams, one `sendmmsg` per recipient (datagrams up to 2 KiB).
    Mmsg,
    /// `UDP_GRO` in (the caller turns it on before datagrams are queued), each coalesced
    /// buffer sent on as one `UDP_SEGMENT` send per recipient: the floor.
    GroGso,
}

/// Relays `count` datagrams from `input` to every one of `dests` through `output`; returns
/// how long it took, from the first receive to the last send.
pub fn relay(
    how: Relay,
    input: BorrowedFd<'_>,
    output: BorrowedFd<'_>,
    dests: &[SocketAddrV4],
    count: usize,
) -> io::Result<Duration> {
    let dests: Vec<libc::sockaddr_in> = dests.iter().map(crate::sockaddr_in).collect();
    let f = match how {
        Relay::Mmsg => mmsg_peer_relay_mmsg,
        Relay::GroGso => mmsg_peer_relay_gro_gso,
    };
    // SAFETY: `dests` is alive for the call with its true length; the descriptors are open
    // for the call (borrowed); the C side reads `dests` only and allocates its own buffers.
    let rc = unsafe {
        f(
            input.as_raw_fd(),
            output.as_raw_fd(),
            dests.as_ptr(),
            dests.len(),
            count,
        )
    };
    crate::nanos(rc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsFd;

    /// Every datagram reaches every recipient, intact and in order, through each relay.
    #[test]
    fn each_relay_delivers_every_datagram_to_every_recipient() {
        for how in [Relay::Mmsg, Relay::GroGso] {
            let input = UdpSocket::bind("127.0.0.1:0").unwrap();
            if how == Relay::GroGso {
                set_udp(&input, libc::UDP_GRO, 1);
            }
            let receivers: Vec<UdpSocket> = (0..3)
                .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
                .collect();
            let dests: Vec<SocketAddrV4> = receivers
                .iter()
                .map(|r| match r.local_addr().unwrap() {
                    std::net::SocketAddr::V4(a) => a,
                    _ => unreachable!("bound to 127.0.0.1"),
                })
                .collect();
            // 90 datagrams of 300 bytes sent 10 at a time as one segmented send (which a
            // GRO socket receives coalesced), then 10 of 50 bytes one by one.
            let datagrams: Vec<Vec<u8>> = (0..100usize)
                .map(|i| {
                    let len = if i < 90 { 300 } else { 50 };
                    (0..len).map(|k| (i * 7 + k) as u8).collect()
                })
                .collect();
            let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
            let to = input.local_addr().unwrap();
            set_udp(&sender, libc::UDP_SEGMENT, 300);
            for run in datagrams[..90].chunks(10) {
                assert_eq!(sender.send_to(&run.concat(), to).unwrap(), 3000);
            }
            set_udp(&sender, libc::UDP_SEGMENT, 0);
            for d in &datagrams[90..] {
                sender.send_to(d, to).unwrap();
            }
            let output = UdpSocket::bind("127.0.0.1:0").unwrap();
            relay(how, input.as_fd(), output.as_fd(), &dests, datagrams.len()).unwrap();
            for r in &receivers {
                r.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut buf = [0u8; 2048];
                for d in &datagrams {
                    let n = r.recv(&mut buf).unwrap();
                    assert_eq!(&buf[..n], &d[..], "{how:?}");
                }
            }
        }
    }

    fn set_udp(socket: &UdpSocket, option: libc::c_int, value: libc::c_int) {
        // SAFETY: a pointer to a live c_int with its size; the descriptor is open.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_UDP,
                option,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());
    }
}
