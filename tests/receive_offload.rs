//! Receive offload (UDP_GRO): coalesced buffers are split back into the datagrams sent.

mod common;
use common::*;

use std::io::{IoSlice, IoSliceMut};

use mmsg::{InputMessage, MsgFlags, OutputMessage, SockAddr, Socket};

/// Sends `sizes.len()` datagrams (content from their index) from a GSO sender in one batch.
fn send_batch(to: &SockAddr, sizes: &[usize]) -> Vec<Vec<u8>> {
    let bodies: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| payload(i as u64, n))
        .collect();
    let vectors: Vec<[IoSlice; 1]> = bodies.iter().map(|b| [IoSlice::new(b)]).collect();
    let mut batch: Vec<OutputMessage> = vectors
        .iter()
        .map(|v| OutputMessage::new(Some(to), v))
        .collect();
    let sender = udp4();
    assert_eq!(
        sender
            .send_messages(&mut batch, MsgFlags::empty(), None)
            .unwrap(),
        sizes.len()
    );
    bodies
}

/// Receives `count` datagrams with `slots` messages per call, each buffer `max` bytes.
fn receive_with_slots(socket: &Socket, count: usize, slots: usize, max: usize) -> Vec<Vec<u8>> {
    socket.set_timeout(Some(PATIENCE));
    let mut out = Vec::new();
    let mut bufs = vec![vec![0u8; max]; slots];
    while out.len() < count {
        let got: Vec<usize> = {
            let mut vs: Vec<[IoSliceMut; 1]> =
                bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
            let mut ms: Vec<InputMessage> = vs.iter_mut().map(|v| InputMessage::new(v)).collect();
            let n = socket
                .receive_messages(&mut ms, MsgFlags::empty(), None)
                .unwrap();
            assert!(ms[..n].iter().all(|m| !m.flags.contains(MsgFlags::TRUNC)));
            ms[..n].iter().map(|m| m.bytes_received).collect()
        };
        for (b, n) in bufs.iter().zip(got) {
            out.push(b[..n].to_vec());
        }
    }
    out
}

fn gro_receiver() -> Socket {
    let r = udp4();
    r.as_socket2().set_recv_buffer_size(8 << 20).unwrap();
    r.set_receive_offload(true).unwrap();
    assert!(r.receive_offload());
    r
}

#[test]
fn coalesced_datagrams_are_split_back_exactly() {
    let r = gro_receiver();
    let mut sizes = vec![1000; 64];
    sizes.extend([1000; 20]);
    sizes.push(300); // a shorter last one
    let bodies = send_batch(&r.local_address().unwrap(), &sizes);
    let got = receive_with_slots(&r, bodies.len(), 128, 2048);
    assert_eq!(got, bodies);
    // Fewer receive calls than datagrams: the kernel coalesced (loopback keeps a segmented
    // send whole for a GRO receiver), mmsg split. The portable path sends no segmented
    // sends, so there is nothing to coalesce there.
    if !r.portable_path() {
        let calls = r.syscall_count();
        assert!(calls < bodies.len() as u64, "{calls} calls");
    }
    assert_nothing_queued(&r);
}

#[test]
fn segments_that_do_not_fit_the_messages_given_wait_for_the_next_call() {
    let r = gro_receiver();
    let bodies = send_batch(&r.local_address().unwrap(), &vec![512; 64]);
    // Three messages a call, then one at a time with receive_from: nothing lost, in order.
    let mut got = receive_with_slots(&r, 30, 3, 1024);
    let mut buf = [0u8; 1024];
    while got.len() < bodies.len() {
        let (n, _) = r.receive_from(&mut buf, None).unwrap();
        got.push(buf[..n].to_vec());
    }
    assert_eq!(got, bodies);
    assert_nothing_queued(&r);
}

#[test]
fn the_same_datagrams_arrive_with_and_without_receive_offload() {
    let plain = udp4();
    plain.as_socket2().set_recv_buffer_size(8 << 20).unwrap();
    let gro = gro_receiver();
    let sizes: Vec<usize> = (0..200)
        .map(|i| if i % 9 == 8 { 77 } else { 700 })
        .collect();
    let a = send_batch(&plain.local_address().unwrap(), &sizes);
    let b = send_batch(&gro.local_address().unwrap(), &sizes);
    assert_eq!(receive_with_slots(&plain, 200, 64, 1024), a);
    assert_eq!(receive_with_slots(&gro, 200, 64, 1024), b);
}

#[test]
fn a_too_small_buffer_is_truncated_per_datagram() {
    let r = gro_receiver();
    let bodies = send_batch(&r.local_address().unwrap(), &[400; 8]);
    let mut buf = [0u8; 100];
    for body in &bodies {
        {
            let mut v = [IoSliceMut::new(&mut buf)];
            let mut m = [InputMessage::new(&mut v)];
            r.set_timeout(Some(PATIENCE));
            let n = r.receive_messages(&mut m, MsgFlags::empty(), None);
            assert_eq!(n.unwrap(), 1);
            assert!(m[0].flags.contains(MsgFlags::TRUNC));
            assert_eq!(m[0].bytes_received, 100);
        }
        assert_eq!(&buf[..], &body[..100]);
    }
    assert_nothing_queued(&r);
}

#[test]
fn receive_offload_is_refused_on_unix_sockets() {
    let (a, _b) = unix_pair();
    assert!(a.set_receive_offload(true).is_err());
    assert!(!a.receive_offload());
}
