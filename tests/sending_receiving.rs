//! Sending and receiving batches: GLib's own cases, every family, sender addresses,
//! MSG_WAITFORONE, PEEK, TRUNC, 0-byte datagrams and batches past the kernel's limits.

mod common;
use common::*;

use std::io::{IoSlice, IoSliceMut};

use mmsg::{InputMessage, MsgFlags, OutputMessage, SockAddr, Socket};

#[test]
fn glib_send_message_of_seven_vectors() {
    for (a, b) in [(udp4(), udp4()), (udp6(), udp6())] {
        let to = b.local_address().unwrap();
        let n = a
            .send_message(Some(&to), &seven_vectors(), &[], MsgFlags::empty(), None)
            .unwrap();
        assert_eq!(n, 36);
        let got = receive_n(&b, 1, 100);
        assert_eq!(got[0].0, TEXT);
        assert_eq!(got[0].1.as_ref(), Some(&a.local_address().unwrap()));
    }
}

#[test]
fn glib_send_messages_scattered_into_slots() {
    // Messages {v0}, {v0..v5}, {v6}: 3 sent, bytes 3, 17, 19; the receiver scatters them
    // into {3}, {3,5,0,6,2,1} and {111} slots.
    let (a, b) = udp_pair();
    let v = seven_vectors();
    let mut out = [
        OutputMessage::new(None, &v[0..1]),
        OutputMessage::new(None, &v[0..6]),
        OutputMessage::new(None, &v[6..7]),
    ];
    assert_eq!(
        a.send_messages(&mut out, MsgFlags::empty(), None).unwrap(),
        3
    );
    let sent: Vec<usize> = out.iter().map(|m| m.bytes_sent).collect();
    assert_eq!(sent, [3, 17, 19]);

    let mut s0 = [0u8; 3];
    let mut s1: Vec<Vec<u8>> = [3, 5, 0, 6, 2, 1].iter().map(|&n| vec![0u8; n]).collect();
    let mut s2 = [0u8; 111];
    let (lens, flags) = {
        let mut v0 = [IoSliceMut::new(&mut s0)];
        let mut v1: Vec<IoSliceMut> = s1.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        let mut v2 = [IoSliceMut::new(&mut s2)];
        let mut input = [
            InputMessage::new(&mut v0),
            InputMessage::new(&mut v1),
            InputMessage::new(&mut v2),
        ];
        // All three were sent; one call takes what is queued, the next the rest.
        b.set_timeout(Some(PATIENCE));
        let mut got = 0;
        while got < 3 {
            got += b
                .receive_messages(&mut input[got..], MsgFlags::empty(), None)
                .unwrap();
        }
        (
            input.iter().map(|m| m.bytes_received).collect::<Vec<_>>(),
            input.iter().map(|m| m.flags).collect::<Vec<_>>(),
        )
    };
    assert_eq!(lens, [3, 17, 19]);
    assert!(flags.iter().all(|f| !f.contains(MsgFlags::TRUNC)));
    assert_eq!(&s0, b"012");
    assert_eq!(s1.concat(), &TEXT[..17]);
    assert_eq!(&s2[..19], &TEXT[17..]);
}

#[test]
fn each_message_goes_to_its_own_destination_in_order() {
    let receivers: Vec<Socket> = (0..3).map(|_| udp4()).collect();
    let addrs: Vec<SockAddr> = receivers
        .iter()
        .map(|r| r.local_address().unwrap())
        .collect();
    let bodies: Vec<Vec<u8>> = (0..30).map(|i| payload(i, 10 + i as usize)).collect();
    let vectors: Vec<[IoSlice; 1]> = bodies.iter().map(|b| [IoSlice::new(b)]).collect();
    let mut out: Vec<OutputMessage> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| OutputMessage::new(Some(&addrs[i % 3]), v))
        .collect();
    let sender = udp4();
    assert_eq!(
        sender
            .send_messages(&mut out, MsgFlags::empty(), None)
            .unwrap(),
        30
    );
    for (r, receiver) in receivers.iter().enumerate() {
        let got: Vec<Vec<u8>> = receive_n(receiver, 10, 100)
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        let want: Vec<Vec<u8>> = bodies.iter().skip(r).step_by(3).cloned().collect();
        assert_eq!(got, want);
        assert_nothing_queued(receiver);
    }
}

#[test]
fn zero_byte_datagrams_empty_slices_and_connected_sends() {
    let (a, b) = udp_pair();
    let empty: [IoSlice; 0] = [];
    let empties = [IoSlice::new(b""), IoSlice::new(b"")];
    let mut out = [
        OutputMessage::new(None, &empty),
        OutputMessage::new(None, &empties),
    ];
    assert_eq!(
        a.send_messages(&mut out, MsgFlags::empty(), None).unwrap(),
        2
    );
    assert_eq!((out[0].bytes_sent, out[1].bytes_sent), (0, 0));
    assert_eq!(
        a.send_messages(&mut [], MsgFlags::empty(), None).unwrap(),
        0
    );
    let got = receive_n(&b, 2, 10);
    assert!(got.iter().all(|(d, _)| d.is_empty()));
    assert_nothing_queued(&b);

    // A connected UDP socket sends with no address, via send and send_messages.
    let r = udp4();
    let s = udp4();
    s.connect(&r.local_address().unwrap(), None).unwrap();
    assert_eq!(s.send(b"one", None).unwrap(), 3);
    let v = [IoSlice::new(b"two")];
    assert_eq!(
        s.send_messages(&mut [OutputMessage::new(None, &v)], MsgFlags::empty(), None)
            .unwrap(),
        1
    );
    let got: Vec<Vec<u8>> = receive_n(&r, 2, 10).into_iter().map(|(d, _)| d).collect();
    assert_eq!(got, [b"one".to_vec(), b"two".to_vec()]);
}

#[test]
fn batches_past_1024_messages_are_split_transparently() {
    let r = udp4();
    r.as_socket2().set_recv_buffer_size(16 << 20).unwrap();
    let to = r.local_address().unwrap();
    let bodies: Vec<Vec<u8>> = (0..2500)
        .map(|i| payload(i, 20 + (i % 7) as usize))
        .collect();
    let vectors: Vec<[IoSlice; 1]> = bodies.iter().map(|b| [IoSlice::new(b)]).collect();
    let mut out: Vec<OutputMessage> = vectors
        .iter()
        .map(|v| OutputMessage::new(Some(&to), v))
        .collect();
    let s = udp4();
    s.set_segmentation_offload(false); // 2500 headers: three sendmmsg calls
    assert_eq!(
        s.send_messages(&mut out, MsgFlags::empty(), None).unwrap(),
        2500
    );
    assert!(out
        .iter()
        .zip(&bodies)
        .all(|(m, b)| m.bytes_sent == b.len()));
    if !s.portable_path() {
        assert_eq!(s.syscall_count(), 3);
    }
    let got: Vec<Vec<u8>> = receive_n(&r, 2500, 100)
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    assert_eq!(got, bodies);
}

#[test]
fn receive_from_reports_the_sender_and_receive_messages_does_not_wait_for_more() {
    let (r, s) = (udp6(), udp6());
    let to = r.local_address().unwrap();
    s.send_to(&to, b"first", None).unwrap();
    s.send_to(&to, b"second", None).unwrap();
    let mut buf = [0u8; 16];
    r.set_timeout(Some(PATIENCE));
    let (n, from) = r.receive_from(&mut buf, None).unwrap();
    assert_eq!(
        (&buf[..n], from),
        (&b"first"[..], s.local_address().unwrap())
    );
    // One queued, five slots: one returned at once (MSG_WAITFORONE), not a wait for five.
    let mut bufs = [[0u8; 16]; 5];
    let got: Vec<(usize, Option<SockAddr>)> = {
        let mut vs: Vec<[IoSliceMut; 1]> = bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
        let mut ms: Vec<InputMessage> = vs.iter_mut().map(|v| InputMessage::new(v)).collect();
        let n = r
            .receive_messages(&mut ms, MsgFlags::empty(), None)
            .unwrap();
        ms[..n]
            .iter()
            .map(|m| (m.bytes_received, m.address.clone()))
            .collect()
    };
    assert_eq!(got, [(6, Some(s.local_address().unwrap()))]);
    assert_eq!(&bufs[0][..6], b"second");
}

#[test]
fn peek_yields_the_same_datagram_in_every_slot_and_trunc_is_reported() {
    let (a, b) = udp_pair();
    a.send(b"peekaboo", None).unwrap();
    b.set_timeout(Some(PATIENCE));
    let mut bufs = [[0u8; 4]; 3];
    let got: Vec<(usize, MsgFlags)> = {
        let mut vs: Vec<[IoSliceMut; 1]> = bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
        let mut ms: Vec<InputMessage> = vs.iter_mut().map(|v| InputMessage::new(v)).collect();
        let n = b.receive_messages(&mut ms, MsgFlags::PEEK, None).unwrap();
        ms[..n]
            .iter()
            .map(|m| (m.bytes_received, m.flags))
            .collect()
    };
    assert_eq!(got.len(), 3);
    assert!(got
        .iter()
        .all(|(n, f)| *n == 4 && f.contains(MsgFlags::TRUNC)));
    assert!(bufs.iter().all(|b| b == b"peek"));
    // Still queued: a normal receive gets it whole.
    let got = receive_n(&b, 1, 64);
    assert_eq!(got[0].0, b"peekaboo");
    assert_nothing_queued(&b);
}
