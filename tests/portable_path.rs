//! The portable `sendmsg`/`recvmsg` loop (`set_portable_path(true)`) against the batch
//! calls: for the same input both give the same counts, `bytes_sent`, flags and received
//! bytes. Every scenario runs on both paths, checks what arrived, and compares the two.
//! System-call counts show which path actually ran. Windows has no batch calls: there the
//! switch leaves the portable path on, and both runs take it.

mod common;
use common::*;

use std::fmt::Debug;
use std::io::{IoSlice, IoSliceMut};

use mmsg::{InputMessage, MsgFlags, OutputMessage, SockAddr, Socket};

/// Runs `scenario` on the batch path, then on the portable path, and asserts both came to
/// the same outcome; returns it.
fn on_both_paths<T: PartialEq + Debug>(scenario: impl Fn(bool) -> T) -> T {
    let batch = scenario(false);
    let portable = scenario(true);
    assert_eq!(batch, portable, "the two paths disagree");
    batch
}

/// Vector layouts, cycled through: lengths of each vector (0 to 4 vectors, some empty).
const LAYOUTS: &[&[usize]] = &[
    &[10],
    &[3, 5, 0, 6, 2, 1, 19],
    &[],
    &[0],
    &[0, 0, 0],
    &[100, 200],
    &[1],
    &[0, 7],
    &[40, 0, 40, 0],
    &[1400],
];

/// Message `i`'s vectors' contents, by layout.
fn message_parts(i: usize) -> Vec<Vec<u8>> {
    LAYOUTS[i % LAYOUTS.len()]
        .iter()
        .enumerate()
        .map(|(j, &len)| payload((i * 16 + j) as u64, len))
        .collect()
}

/// What one send scenario came to.
#[derive(Debug, PartialEq)]
struct Sent {
    result: String,
    bytes_sent: Vec<usize>,
    /// Per receiver, the datagrams that arrived, in order.
    received: Vec<Vec<Vec<u8>>>,
}

/// Receives everything queued on `socket`: datagrams until none comes within a short
/// non-blocking look, expecting exactly `count`.
fn take(socket: &Socket, count: usize) -> Vec<Vec<u8>> {
    let got: Vec<Vec<u8>> = receive_n(socket, count, 65536)
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    assert_nothing_queued(socket);
    got
}

#[test]
fn the_switch_selects_the_path() {
    let (a, b) = udp_pair();
    // Plain datagrams only: with offload, Windows sends a run of equal datagrams as one
    // segmented call even on the portable path.
    a.set_segmentation_offload(false);
    a.set_portable_path(true);
    assert!(a.portable_path());
    let v = [IoSlice::new(b"x")];
    let mut batch = [OutputMessage::new(None, &v); 8];
    let before = a.syscall_count();
    assert_eq!(
        a.send_messages(&mut batch, MsgFlags::empty(), None)
            .unwrap(),
        8
    );
    assert_eq!(a.syscall_count() - before, 8, "one sendmsg per datagram");
    a.set_portable_path(false);
    // sendmmsg exists on Linux; Windows has no batch call and stays on the portable path.
    let batch_call = !cfg!(windows);
    assert_eq!(!a.portable_path(), batch_call);
    let before = a.syscall_count();
    assert_eq!(
        a.send_messages(&mut batch, MsgFlags::empty(), None)
            .unwrap(),
        8
    );
    let calls = if batch_call { 1 } else { 8 };
    assert_eq!(
        a.syscall_count() - before,
        calls,
        "batch call: {batch_call}"
    );
    assert_eq!(take(&b, 16), vec![b"x".to_vec(); 16]);
}

#[test]
fn a_udp_batch_with_addresses_and_vectors_per_message() {
    let count = 40;
    let outcome = on_both_paths(|portable| {
        let sender = udp4();
        sender.set_portable_path(portable);
        let receivers: Vec<Socket> = (0..3).map(|_| udp4()).collect();
        let addresses: Vec<SockAddr> = receivers
            .iter()
            .map(|r| r.local_address().unwrap())
            .collect();
        let parts: Vec<Vec<Vec<u8>>> = (0..count).map(message_parts).collect();
        let vectors: Vec<Vec<IoSlice>> = parts
            .iter()
            .map(|p| p.iter().map(|v| IoSlice::new(v)).collect())
            .collect();
        // Destinations: runs to one receiver, then alternating.
        let to = |i: usize| if i < 12 { i / 6 } else { i % 3 };
        let mut batch: Vec<OutputMessage> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| OutputMessage::new(Some(&addresses[to(i)]), v))
            .collect();
        let before = sender.syscall_count();
        let result = sender.send_messages(&mut batch, MsgFlags::empty(), None);
        let calls = sender.syscall_count() - before;
        if !sender.portable_path() {
            assert!(calls < count as u64, "{calls} calls");
        } else if cfg!(windows) && sender.segmentation_offload() {
            // Windows with USO sends a run (messages 9 and 10: 1400 then 10 bytes to one
            // receiver) as one segmented call of its own, even on the portable path.
            assert!(calls <= count as u64, "{calls} calls");
        } else {
            assert_eq!(calls, count as u64);
        }
        let from = sender.local_address().unwrap();
        let received: Vec<Vec<Vec<u8>>> = receivers
            .iter()
            .enumerate()
            .map(|(r, socket)| {
                let expected: Vec<Vec<u8>> = (0..count)
                    .filter(|&i| to(i) == r)
                    .map(|i| parts[i].concat())
                    .collect();
                let got = receive_n(socket, expected.len(), 65536);
                assert!(got.iter().all(|(_, a)| a.as_ref() == Some(&from)));
                let got: Vec<Vec<u8>> = got.into_iter().map(|(d, _)| d).collect();
                assert_eq!(got, expected, "receiver {r}");
                assert_nothing_queued(socket);
                got
            })
            .collect();
        Sent {
            result: format!("{result:?}"),
            bytes_sent: batch.iter().map(|m| m.bytes_sent).collect(),
            received,
        }
    });
    assert_eq!(outcome.result, format!("{:?}", Ok::<usize, ()>(count)));
    let expected: Vec<usize> = (0..count)
        .map(|i| message_parts(i).iter().map(Vec::len).sum())
        .collect();
    assert_eq!(outcome.bytes_sent, expected);
}

/// Connected pairs: UDP (connected both ways) everywhere, and a Unix pair where there is one.
fn connected_pairs() -> Vec<(Socket, Socket)> {
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut pairs = vec![udp_pair()];
    #[cfg(unix)]
    pairs.push(unix_pair());
    pairs
}

#[test]
fn a_connected_batch_with_vectors_per_message() {
    let count = 50;
    for pair in 0..connected_pairs().len() {
        let outcome = on_both_paths(|portable| {
            let (a, b) = connected_pairs().swap_remove(pair);
            a.set_portable_path(portable);
            let parts: Vec<Vec<Vec<u8>>> = (0..count).map(message_parts).collect();
            let vectors: Vec<Vec<IoSlice>> = parts
                .iter()
                .map(|p| p.iter().map(|v| IoSlice::new(v)).collect())
                .collect();
            let mut batch: Vec<OutputMessage> = vectors
                .iter()
                .map(|v| OutputMessage::new(None, v))
                .collect();
            let result = a.send_messages(&mut batch, MsgFlags::empty(), None);
            let got = take(&b, count);
            let expected: Vec<Vec<u8>> = parts.iter().map(|p| p.concat()).collect();
            assert_eq!(got, expected);
            Sent {
                result: format!("{result:?}"),
                bytes_sent: batch.iter().map(|m| m.bytes_sent).collect(),
                received: vec![got],
            }
        });
        assert_eq!(outcome.result, "Ok(50)", "pair {pair}");
    }
}

#[test]
fn zero_byte_datagrams_are_zero_bytes_on_both_paths() {
    // GLib's fallback sends one '\0' byte for a message with no vectors; mmsg sends 0.
    let empty: [IoSlice; 0] = [];
    let empties = [IoSlice::new(&[]), IoSlice::new(&[])];
    let one = [IoSlice::new(b"1")];
    // To an address, then over each connected pair (no address).
    for setup in 0..=connected_pairs().len() {
        let outcome = on_both_paths(|portable| {
            let (sender, receiver, to) = if setup == 0 {
                let (s, r) = (udp4(), udp4());
                let to = r.local_address().unwrap();
                (s, r, Some(to))
            } else {
                let (a, b) = connected_pairs().swap_remove(setup - 1);
                (a, b, None)
            };
            sender.set_portable_path(portable);
            let mut batch = [
                OutputMessage::new(to.as_ref(), &empty),
                OutputMessage::new(to.as_ref(), &empties),
                OutputMessage::new(to.as_ref(), &one),
                OutputMessage::new(to.as_ref(), &empty),
            ];
            for m in batch.iter_mut() {
                m.bytes_sent = 99;
            }
            let result = sender.send_messages(&mut batch, MsgFlags::empty(), None);
            // The single-datagram call too.
            let single = sender
                .send_message(to.as_ref(), &empty, &[], MsgFlags::empty(), None)
                .unwrap();
            assert_eq!(single, 0);
            // Receive with bytes_received pre-set, to see it written as 0.
            receiver.set_timeout(Some(PATIENCE));
            let mut bufs = [[0xAAu8; 8]; 5];
            let mut lens = Vec::new();
            {
                let mut slots: Vec<[IoSliceMut; 1]> =
                    bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
                let mut inputs: Vec<InputMessage> =
                    slots.iter_mut().map(|s| InputMessage::new(s)).collect();
                let mut got = 0;
                while got < 5 {
                    for m in inputs[got..].iter_mut() {
                        m.bytes_received = 55;
                    }
                    got += receiver
                        .receive_messages(&mut inputs[got..], MsgFlags::empty(), None)
                        .unwrap();
                }
                for m in &inputs {
                    assert!(!m.flags.contains(MsgFlags::TRUNC));
                    lens.push(m.bytes_received);
                }
            }
            assert_nothing_queued(&receiver);
            assert_eq!(bufs[2][0], b'1');
            // Nothing was written into the buffers of the empty datagrams.
            for i in [0, 1, 3, 4] {
                assert_eq!(bufs[i], [0xAA; 8], "datagram {i}");
            }
            (
                format!("{result:?}"),
                batch.iter().map(|m| m.bytes_sent).collect::<Vec<_>>(),
                lens,
            )
        });
        assert_eq!(outcome.0, "Ok(4)");
        assert_eq!(outcome.1, [0, 0, 1, 0]);
        assert_eq!(outcome.2, [0, 0, 1, 0, 0]);
    }
}

// Unix only: only a Unix datagram peer's full queue stops a sender (UDP drops instead).
#[cfg(unix)]
#[test]
fn a_full_non_blocking_unix_peer_gives_the_same_partial_count() {
    let count = 1500;
    let (sent, _) = on_both_paths(|portable| {
        let (a, b) = unix_pair();
        a.set_portable_path(portable);
        a.set_blocking(false);
        let bodies: Vec<Vec<u8>> = (0..count).map(|i| payload(i as u64, 100)).collect();
        let vs: Vec<[IoSlice; 2]> = bodies
            .iter()
            .map(|b| [IoSlice::new(&b[..30]), IoSlice::new(&b[30..])])
            .collect();
        let mut batch: Vec<OutputMessage> =
            vs.iter().map(|v| OutputMessage::new(None, v)).collect();
        let sent = a
            .send_messages(&mut batch, MsgFlags::empty(), None)
            .unwrap();
        assert!(sent > 0 && sent < count, "{sent}");
        let again = a
            .send_messages(&mut batch[sent..], MsgFlags::empty(), None)
            .unwrap_err();
        assert_eq!(again.kind(), std::io::ErrorKind::WouldBlock);
        assert_eq!(take(&b, sent), bodies[..sent]);
        (sent, batch.iter().map(|m| m.bytes_sent).collect::<Vec<_>>())
    });
    assert!(sent < count);
}

// Unix only: it needs a full Unix peer to make the sender wait (UDP would drop).
#[cfg(unix)]
#[test]
fn a_blocking_send_waits_for_a_draining_thread_on_both_paths() {
    let count = 3000;
    let outcome = on_both_paths(|portable| {
        let (a, b) = unix_pair();
        a.set_portable_path(portable);
        b.set_portable_path(portable);
        a.set_timeout(Some(PATIENCE));
        let bodies: Vec<Vec<u8>> = (0..count)
            .map(|i| payload(i as u64, 50 + i % 200))
            .collect();
        let expected = bodies.clone();
        let drainer = std::thread::spawn(move || {
            let got = take(&b, count);
            assert_eq!(got, expected);
            got.iter().map(Vec::len).sum::<usize>()
        });
        let vs: Vec<[IoSlice; 3]> = bodies
            .iter()
            .map(|b| {
                [
                    IoSlice::new(&b[..10]),
                    IoSlice::new(&b[10..10]),
                    IoSlice::new(&b[10..]),
                ]
            })
            .collect();
        let mut batch: Vec<OutputMessage> =
            vs.iter().map(|v| OutputMessage::new(None, v)).collect();
        let result = a.send_messages(&mut batch, MsgFlags::empty(), None);
        let received_bytes = drainer.join().unwrap();
        (
            format!("{result:?}"),
            batch.iter().map(|m| m.bytes_sent).collect::<Vec<_>>(),
            received_bytes,
        )
    });
    assert_eq!(outcome.0, "Ok(3000)");
    assert_eq!(outcome.2, outcome.1.iter().sum::<usize>());
}

#[test]
fn emsgsize_mid_batch_returns_the_count_before_it_on_both_paths() {
    let outcome = on_both_paths(|portable| {
        let sender = udp4();
        sender.set_portable_path(portable);
        let receiver = udp4();
        receiver.as_socket2().set_recv_buffer_size(1 << 20).unwrap();
        let to = receiver.local_address().unwrap();
        let sizes = [100, 2000, 100, 70_000, 5];
        let bodies: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| payload(i as u64, n))
            .collect();
        let vs: Vec<[IoSlice; 1]> = bodies.iter().map(|b| [IoSlice::new(b)]).collect();
        let mut batch: Vec<OutputMessage> = vs
            .iter()
            .map(|v| OutputMessage::new(Some(&to), v))
            .collect();
        let first = sender.send_messages(&mut batch, MsgFlags::empty(), None);
        let second = sender
            .send_messages(&mut batch[3..], MsgFlags::empty(), None)
            .map_err(|e| e.raw_os_error());
        let third = sender.send_messages(&mut batch[4..], MsgFlags::empty(), None);
        let got = take(&receiver, 4);
        assert_eq!(got, [&bodies[..3], &bodies[4..]].concat());
        (
            format!("{first:?} {second:?} {third:?}"),
            batch.iter().map(|m| m.bytes_sent).collect::<Vec<_>>(),
        )
    });
    assert_eq!(
        outcome.0,
        format!("Ok(3) Err(Some({})) Ok(1)", os_error::EMSGSIZE)
    );
    assert_eq!(outcome.1, [100, 2000, 100, 0, 5]);
}

/// What one receive scenario came to: count, then per message (bytes, flags, payload).
type Received = (usize, Vec<(usize, MsgFlags, Vec<u8>)>);

/// Receives once into `slots` messages of two vectors (`first` and `second` bytes) each.
fn receive_once(
    socket: &Socket,
    slots: usize,
    first: usize,
    second: usize,
    flags: MsgFlags,
) -> (Received, Vec<Option<SockAddr>>) {
    let mut heads = vec![vec![0u8; first]; slots];
    let mut tails = vec![vec![0u8; second]; slots];
    let mut vectors: Vec<[IoSliceMut; 2]> = heads
        .iter_mut()
        .zip(tails.iter_mut())
        .map(|(h, t)| [IoSliceMut::new(h), IoSliceMut::new(t)])
        .collect();
    let mut messages: Vec<InputMessage> =
        vectors.iter_mut().map(|v| InputMessage::new(v)).collect();
    let n = socket.receive_messages(&mut messages, flags, None).unwrap();
    let meta: Vec<(usize, MsgFlags, Option<SockAddr>)> = messages[..n]
        .iter()
        .map(|m| (m.bytes_received, m.flags, m.address.clone()))
        .collect();
    drop(messages);
    let mut out = Vec::new();
    let mut addresses = Vec::new();
    for (i, (len, f, a)) in meta.into_iter().enumerate() {
        let joined = [&heads[i][..], &tails[i][..]].concat();
        out.push((len, f, joined[..len].to_vec()));
        addresses.push(a);
    }
    ((n, out), addresses)
}

#[test]
fn receive_messages_takes_everything_queued_on_both_paths() {
    let sizes = [0usize, 1, 16, 17, 100, 40];
    let outcome = on_both_paths(|portable| {
        let receiver = udp4();
        receiver.set_portable_path(portable);
        let to = receiver.local_address().unwrap();
        let senders = [udp4(), udp4()];
        for (i, &n) in sizes.iter().enumerate() {
            senders[i % 2]
                .send_to(&to, &payload(i as u64, n), None)
                .unwrap();
        }
        // Blocking: the first is there already; all the rest are taken without waiting for
        // the eight slots to fill.
        let before = receiver.syscall_count();
        let (received, addresses) = receive_once(&receiver, 8, 16, 100, MsgFlags::empty());
        let calls = receiver.syscall_count() - before;
        if receiver.portable_path() {
            // One recvmsg per datagram, and one more that finds the queue empty.
            assert_eq!(calls, sizes.len() as u64 + 1);
        } else {
            assert_eq!(calls, 1);
        }
        for (i, a) in addresses.iter().enumerate() {
            assert_eq!(
                a.as_ref(),
                Some(&senders[i % 2].local_address().unwrap()),
                "sender of {i}"
            );
        }
        assert_nothing_queued(&receiver);
        received
    });
    assert_eq!(outcome.0, sizes.len());
    for (i, (len, flags, body)) in outcome.1.iter().enumerate() {
        assert_eq!(*len, sizes[i]);
        assert!(!flags.contains(MsgFlags::TRUNC));
        assert_eq!(*body, payload(i as u64, sizes[i]));
    }
}

#[test]
fn truncation_and_peek_are_the_same_on_both_paths() {
    let outcome = on_both_paths(|portable| {
        let (a, b) = udp_pair();
        b.set_portable_path(portable);
        b.set_timeout(Some(PATIENCE));
        let long = payload(7, 300);
        a.send(&long, None).unwrap();
        a.send(b"short", None).unwrap();
        // PEEK over three slots: the same (first) datagram three times, cut to 10+20.
        let (peeked, _) = receive_once(&b, 3, 10, 20, MsgFlags::PEEK);
        // Then for real: the long one cut, the short one whole.
        let (taken, _) = receive_once(&b, 4, 10, 20, MsgFlags::empty());
        assert_nothing_queued(&b);
        (peeked, taken)
    });
    let long = payload(7, 300);
    let (peeked, taken) = outcome;
    assert_eq!(peeked.0, 3);
    for (len, flags, body) in &peeked.1 {
        assert_eq!(*len, 30);
        assert!(flags.contains(MsgFlags::TRUNC));
        assert_eq!(body, &long[..30]);
    }
    assert_eq!(taken.0, 2);
    assert_eq!(taken.1[0].0, 30);
    assert!(taken.1[0].1.contains(MsgFlags::TRUNC));
    assert_eq!(taken.1[0].2, &long[..30]);
    assert_eq!(taken.1[1].0, 5);
    assert!(!taken.1[1].1.contains(MsgFlags::TRUNC));
    assert_eq!(taken.1[1].2, b"short");
}

#[test]
fn ipv4_destinations_on_a_dual_stack_socket_on_both_paths() {
    let outcome = on_both_paths(|portable| {
        let sender = udp6_dual_stack();
        sender.set_portable_path(portable);
        let (r4, r6) = (udp4(), udp6());
        let (to4, to6) = (r4.local_address().unwrap(), r6.local_address().unwrap());
        let bodies: Vec<Vec<u8>> = (0..6).map(|i| payload(i, 20 + i as usize)).collect();
        let vs: Vec<[IoSlice; 1]> = bodies.iter().map(|b| [IoSlice::new(b)]).collect();
        let mut batch: Vec<OutputMessage> = vs
            .iter()
            .enumerate()
            .map(|(i, v)| OutputMessage::new(Some(if i % 2 == 0 { &to4 } else { &to6 }), v))
            .collect();
        let result = sender.send_messages(&mut batch, MsgFlags::empty(), None);
        let got4 = take(&r4, 3);
        let got6 = take(&r6, 3);
        assert_eq!(
            got4,
            [bodies[0].clone(), bodies[2].clone(), bodies[4].clone()]
        );
        assert_eq!(
            got6,
            [bodies[1].clone(), bodies[3].clone(), bodies[5].clone()]
        );
        (
            format!("{result:?}"),
            batch.iter().map(|m| m.bytes_sent).collect::<Vec<_>>(),
        )
    });
    assert_eq!(outcome.0, "Ok(6)");
    assert_eq!(outcome.1, [20, 21, 22, 23, 24, 25]);
}
