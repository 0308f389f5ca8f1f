mod common;
use common::*;

#[test]
fn common_helpers_work() {
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

#[test]
fn conversions_keep_the_socket_working_and_non_blocking_underneath() {
    use std::os::fd::{AsFd, AsRawFd};
    // std UDP socket -> mmsg::Socket: still bound where it was, in blocking mode, with a
    // non-blocking descriptor (a receive with a timeout must time out, not hang).
    let std_udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let bound = std_udp.local_addr().unwrap();
    let udp = mmsg::Socket::from(std_udp);
    assert_eq!(udp.local_address().unwrap().as_socket(), Some(bound));
    assert!(udp.is_blocking());
    assert_eq!(udp.as_fd().as_raw_fd(), udp.as_raw_fd());
    udp.set_timeout(Some(std::time::Duration::from_millis(20)));
    let mut buf = [0u8; 8];
    let err = udp.receive(&mut buf, None).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);

    // UnixDatagram and socket2 sockets convert too, and carry data.
    let (x, y) = std::os::unix::net::UnixDatagram::pair().unwrap();
    let (x, y) = (
        mmsg::Socket::from(x),
        mmsg::Socket::from(socket2::Socket::from(y)),
    );
    x.send(b"over", None).unwrap();
    assert_eq!(y.receive(&mut buf, None).unwrap(), 4);
    assert_eq!(&buf[..4], b"over");
}
