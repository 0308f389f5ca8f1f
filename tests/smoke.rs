mod common;
use common::*;

#[test]
fn common_helpers_work() {
    let (a, b) = udp_pair();
    a.send(&payload(1, 10), None).unwrap();
    let got = receive_n(&b, 1, 100);
    assert_eq!(got[0].0, payload(1, 10));
    assert_eq!(got[0].1, Some(a.local_address().unwrap()));
    assert_nothing_queued(&b);
}

// The Unix pair helper: a Unix datagram socketpair exists on Unix only.
#[cfg(unix)]
#[test]
fn common_helpers_work_on_a_unix_pair() {
    let (a, b) = unix_pair();
    a.send(&payload(1, 10), None).unwrap();
    let got = receive_n(&b, 1, 100);
    assert_eq!(got[0].0, payload(1, 10));
    assert_nothing_queued(&b);
}

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn public_types_are_send_and_sync() {
    assert_send_sync::<mmsg::Socket>();
    assert_send_sync::<mmsg::Cancellable>();
    assert_send_sync::<mmsg::Recipient>();
    assert_send_sync::<mmsg::ControlBuffer>();
}

/// The descriptor (Unix) or handle (Windows) mmsg reports is the wrapped socket's.
#[cfg(unix)]
fn assert_handles_agree(socket: &mmsg::Socket) {
    use std::os::fd::{AsFd, AsRawFd};
    assert_eq!(socket.as_fd().as_raw_fd(), socket.as_raw_fd());
    assert_eq!(socket.as_raw_fd(), socket.as_socket2().as_raw_fd());
}

/// The descriptor (Unix) or handle (Windows) mmsg reports is the wrapped socket's.
#[cfg(windows)]
fn assert_handles_agree(socket: &mmsg::Socket) {
    use std::os::windows::io::{AsRawSocket, AsSocket};
    assert_eq!(socket.as_socket().as_raw_socket(), socket.as_raw_socket());
    assert_eq!(socket.as_raw_socket(), socket.as_socket2().as_raw_socket());
}

#[test]
fn conversions_keep_the_socket_working_and_non_blocking_underneath() {
    // std UDP socket -> mmsg::Socket: still bound where it was, in blocking mode, with a
    // non-blocking descriptor (a receive with a timeout must time out, not hang).
    let std_udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let bound = std_udp.local_addr().unwrap();
    let udp = mmsg::Socket::from(std_udp);
    assert_eq!(udp.local_address().unwrap().as_socket(), Some(bound));
    assert!(udp.is_blocking());
    assert_handles_agree(&udp);
    udp.set_timeout(Some(std::time::Duration::from_millis(20)));
    let mut buf = [0u8; 8];
    let err = udp.receive(&mut buf, None).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);

    // A socket2 socket converts too, and carries data both ways with the std one.
    let other = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let other_at = other.local_addr().unwrap();
    let y = mmsg::Socket::from(socket2::Socket::from(other));
    assert_eq!(y.local_address().unwrap().as_socket(), Some(other_at));
    assert_handles_agree(&y);
    udp.send_to(&y.local_address().unwrap(), b"over", None)
        .unwrap();
    y.set_timeout(Some(PATIENCE));
    let (n, from) = y.receive_from(&mut buf, None).unwrap();
    assert_eq!((&buf[..n], from.as_socket()), (&b"over"[..], Some(bound)));
    y.send_to(&from, b"back", None).unwrap();
    udp.set_timeout(Some(PATIENCE));
    assert_eq!(udp.receive(&mut buf, None).unwrap(), 4);
    assert_eq!(&buf[..4], b"back");
}

// std's UnixDatagram (and mmsg's From for it) exist on Unix only.
#[cfg(unix)]
#[test]
fn a_unix_datagram_converts_and_carries_data() {
    use std::os::fd::{AsFd, AsRawFd};
    let (x, y) = std::os::unix::net::UnixDatagram::pair().unwrap();
    let (x, y) = (
        mmsg::Socket::from(x),
        mmsg::Socket::from(socket2::Socket::from(y)),
    );
    assert!(x.is_blocking());
    assert_eq!(x.as_fd().as_raw_fd(), x.as_raw_fd());
    x.send(b"over", None).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(y.receive(&mut buf, None).unwrap(), 4);
    assert_eq!(&buf[..4], b"over");
}
