//! `receive_batch`: owned buffers filled in place, coalesced buffers walked as datagrams,
//! with and without receive offload, every byte checked.
//!
//! Receive offload (`UDP_GRO`) is Linux's: mmsg uses none on Windows (turning it on is
//! `Unsupported` there), so the coalescing cases run on Linux and Android only.

mod common;
use common::*;

use std::time::{Duration, Instant};

use mmsg::{MsgFlags, ReceiveBatch, Socket};

/// Datagrams with their senders, as received.
type Datagrams = Vec<(Option<std::net::SocketAddr>, Vec<u8>)>;

/// Receives until `count` datagrams came; returns them with their senders, and how many
/// buffers they filled.
fn receive_all(r: &Socket, batch: &mut ReceiveBatch, count: usize) -> (Datagrams, usize) {
    r.set_timeout(Some(PATIENCE));
    let (mut got, mut buffers) = (Vec::new(), 0);
    while got.len() < count {
        let n = r.receive_batch(batch, MsgFlags::empty(), None).unwrap();
        assert_eq!(n, batch.len());
        buffers += n;
        for buffer in batch.buffers() {
            assert!(!buffer.flags().contains(MsgFlags::TRUNC));
            assert_eq!(buffer.datagram_count(), buffer.datagrams().count());
        }
        got.extend(batch.datagrams().map(|(from, d)| (from, d.to_vec())));
    }
    assert_eq!(got.len(), count);
    (got, buffers)
}

/// Whether receive offload exists here (see `Socket::set_receive_offload`).
const HAS_RECEIVE_OFFLOAD: bool = cfg!(any(target_os = "linux", target_os = "android"));

#[test]
fn coalesced_buffers_are_walked_in_place_with_their_sender() {
    let offloads: &[bool] = if HAS_RECEIVE_OFFLOAD {
        &[false, true]
    } else {
        &[false]
    };
    for &offload in offloads {
        let r = udp4();
        r.as_socket2().set_recv_buffer_size(4 << 20).unwrap();
        r.set_receive_offload(offload).unwrap();
        let sender = udp4();
        let mut sizes = vec![1200; 100];
        sizes.push(500); // a shorter last one ends the run
        sizes.extend([64; 10]);
        sizes.push(0);
        let bodies = send_sizes(&sender, &r.local_address().unwrap(), &sizes);
        let mut batch = ReceiveBatch::new(32, ReceiveBatch::OFFLOAD_BUFFER_SIZE);
        let (got, buffers) = receive_all(&r, &mut batch, bodies.len());
        let from = sender.local_address().unwrap().as_socket();
        assert!(got.iter().all(|(f, _)| *f == from));
        let got: Vec<Vec<u8>> = got.into_iter().map(|(_, d)| d).collect();
        assert_eq!(got, bodies, "offload {offload}");
        if offload && !r.portable_path() && sender.segmentation_offload() {
            assert!(
                buffers < bodies.len() / 4,
                "{buffers} buffers: nothing was coalesced"
            );
        } else if !offload {
            assert_eq!(buffers, bodies.len());
        }
        assert_nothing_queued(&r);
    }
}

#[test]
fn ipv6_senders() {
    let r = udp6();
    let s = udp6();
    let bodies = send_sizes(&s, &r.local_address().unwrap(), &[10, 20, 30]);
    let (got, _) = receive_all(&r, &mut ReceiveBatch::new(8, 64), 3);
    assert_eq!(
        got.iter().map(|(_, d)| d.clone()).collect::<Vec<_>>(),
        bodies
    );
    assert!(got
        .iter()
        .all(|(f, _)| *f == s.local_address().unwrap().as_socket()));
}

#[test]
#[cfg(unix)] // an unnamed Unix datagram sender: a source with no address
fn unix_senders() {
    let (a, b) = unix_pair();
    a.send(b"unix", None).unwrap();
    let mut batch = ReceiveBatch::new(2, 16);
    assert_eq!(
        b.receive_batch(&mut batch, MsgFlags::empty(), None)
            .unwrap(),
        1
    );
    let buffer = batch.get(0).unwrap();
    assert_eq!((buffer.data(), buffer.source_addr()), (&b"unix"[..], None));
}

#[test]
fn a_datagram_larger_than_its_buffer_is_cut_and_flagged() {
    let (a, b) = udp_pair();
    b.set_timeout(Some(PATIENCE));
    a.send(&payload(1, 100), None).unwrap();
    a.send(&payload(2, 10), None).unwrap();
    let mut batch = ReceiveBatch::new(2, 50);
    // Both in one call where both are queued by then (loopback UDP may lag: then two).
    let mut got = Vec::new();
    while got.len() < 2 {
        let n = b
            .receive_batch(&mut batch, MsgFlags::empty(), None)
            .unwrap();
        assert!(n >= 1 && got.len() + n <= 2, "{n}");
        got.extend(batch.buffers().map(|buffer| {
            (
                buffer.data().to_vec(),
                buffer.flags().contains(MsgFlags::TRUNC),
            )
        }));
    }
    assert_eq!(got[0], (payload(1, 100)[..50].to_vec(), true));
    assert_eq!(got[1], (payload(2, 10), false));
    // What did not fit is gone, not left for the next call.
    assert_nothing_queued(&b);
}

#[test]
#[cfg(any(target_os = "linux", target_os = "android"))] // receive offload is Linux's (UDP_GRO)
fn segments_kept_by_receive_messages_come_first() {
    let r = udp4();
    r.set_receive_offload(true).unwrap();
    r.set_timeout(Some(PATIENCE));
    let sender = udp4();
    let to = r.local_address().unwrap();
    let bodies = send_sizes(&sender, &to, &[300; 6]);
    // One datagram through receive_messages: the rest of its coalesced buffer is kept.
    let mut buf = [0u8; 512];
    {
        let mut v = [std::io::IoSliceMut::new(&mut buf)];
        let mut m = [mmsg::InputMessage::new(&mut v)];
        assert_eq!(
            r.receive_messages(&mut m, MsgFlags::empty(), None).unwrap(),
            1
        );
        assert_eq!(m[0].bytes_received, 300);
    }
    assert_eq!(&buf[..300], &bodies[0][..]);
    let later = send_sizes(&sender, &to, &[40; 2]);
    let mut expected: Vec<Vec<u8>> = bodies[1..].to_vec();
    expected.extend(later);
    let (got, _) = receive_all(
        &r,
        &mut ReceiveBatch::new(4, ReceiveBatch::OFFLOAD_BUFFER_SIZE),
        expected.len(),
    );
    assert_eq!(
        got.into_iter().map(|(_, d)| d).collect::<Vec<_>>(),
        expected
    );
    assert_nothing_queued(&r);
}

#[test]
fn waits_as_receive_messages_does() {
    let r = udp4();
    let mut batch = ReceiveBatch::new(4, 64);
    r.set_blocking(false);
    let err = r
        .receive_batch(&mut batch, MsgFlags::empty(), None)
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    r.set_blocking(true);
    r.set_timeout(Some(Duration::from_millis(50)));
    let started = Instant::now();
    let err = r
        .receive_batch(&mut batch, MsgFlags::empty(), None)
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert!(started.elapsed() >= Duration::from_millis(50));
    let c = mmsg::Cancellable::new();
    c.cancel();
    assert!(mmsg::is_cancelled(
        &r.receive_batch(&mut batch, MsgFlags::empty(), Some(&c))
            .unwrap_err()
    ));
    assert!(batch.is_empty());
    // A batch with no buffers receives nothing, at once.
    assert_eq!(
        r.receive_batch(&mut ReceiveBatch::new(0, 64), MsgFlags::empty(), None)
            .unwrap(),
        0
    );
}
