//! Sending: `send_messages`, `send`, `send_to` and `send_message` on IPv4, IPv6 and Unix
//! datagram sockets (IPv4 and IPv6 on Windows, which has no Unix datagram sockets),
//! checked against what the receivers get, byte for byte.

mod common;
use common::*;

use std::io::{self, IoSlice, IoSliceMut};
#[cfg(unix)]
use std::path::PathBuf;
#[cfg(unix)]
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

#[cfg(unix)]
use mmsg::{Domain, Type};
use mmsg::{InputMessage, MsgFlags, OutputMessage, SockAddr, Socket};

const SENTINEL: usize = 777;

// ---------------------------------------------------------------- helpers

#[derive(Clone, Copy, Debug, PartialEq)]
enum Family {
    V4,
    V6,
    // Windows has no Unix datagram sockets (its AF_UNIX is stream only).
    #[cfg(unix)]
    Unix,
}

const FAMILIES: &[Family] = &[
    Family::V4,
    Family::V6,
    #[cfg(unix)]
    Family::Unix,
];

/// Unix socket paths in the temporary directory, removed on drop (nothing on Windows).
#[cfg(unix)]
struct Paths(Vec<PathBuf>);

#[cfg(not(unix))]
struct Paths;

#[cfg(not(unix))]
impl Paths {
    fn new() -> Paths {
        Paths
    }
}

#[cfg(unix)]
impl Paths {
    fn new() -> Paths {
        Paths(Vec::new())
    }

    /// A fresh path no other test (or test process) uses.
    fn fresh(&mut self) -> PathBuf {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "mmsg-sending-{}-{}.sock",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&path);
        self.0.push(path.clone());
        path
    }
}

#[cfg(unix)]
impl Drop for Paths {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A bound, unconnected socket of `family` (Unix: bound to a fresh path).
#[cfg_attr(not(unix), allow(unused_variables))]
fn bound(family: Family, paths: &mut Paths) -> Socket {
    match family {
        Family::V4 => udp4(),
        Family::V6 => udp6(),
        #[cfg(unix)]
        Family::Unix => {
            let s = Socket::new(Domain::UNIX, Type::DGRAM, None).expect("unix socket");
            s.bind(&SockAddr::unix(paths.fresh()).expect("unix address"))
                .expect("bind unix");
            s
        }
    }
}

/// A sender and a receiver of `family`, both bound, and the receiver's address.
fn endpoints(family: Family, paths: &mut Paths) -> (Socket, Socket, SockAddr) {
    let sender = bound(family, paths);
    let receiver = bound(family, paths);
    // Never hang a failing test: a sender blocked on a receiver that stopped draining
    // gives up after PATIENCE.
    sender.set_timeout(Some(PATIENCE));
    let to = receiver.local_address().expect("local address");
    (sender, receiver, to)
}

/// Runs `send` while one thread per `(receiver, count)` receives `count` datagrams of at
/// most `max` bytes from it (so that no queue fills up, whatever the family). Returns what
/// `send` returned and each receiver's datagrams, in arrival order.
fn while_receiving<R>(
    expect: &[(&Socket, usize)],
    max: usize,
    send: impl FnOnce() -> R,
) -> (R, Vec<Vec<Vec<u8>>>) {
    thread::scope(|scope| {
        let handles: Vec<_> = expect
            .iter()
            .map(|&(receiver, count)| {
                scope.spawn(move || {
                    receive_n(receiver, count, max)
                        .into_iter()
                        .map(|(d, _)| d)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let r = send();
        let got = handles
            .into_iter()
            .map(|h| h.join().expect("receiver thread"))
            .collect();
        (r, got)
    })
}

/// `body` cut into `parts` consecutive vectors (some may be empty).
fn split(body: &[u8], parts: usize) -> Vec<IoSlice<'_>> {
    if parts == 0 {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(parts);
    let mut at = 0;
    for p in 0..parts {
        let end = if p + 1 == parts {
            body.len()
        } else {
            (at + body.len() / parts + p % 2).min(body.len())
        };
        out.push(IoSlice::new(&body[at..end]));
        at = end;
    }
    out
}

/// Connected pairs: UDP (connected both ways) everywhere, and a Unix pair where there is one.
fn connected_pairs() -> Vec<(Socket, Socket)> {
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut pairs = vec![udp_pair()];
    #[cfg(unix)]
    pairs.push(unix_pair());
    pairs
}

fn bytes_sent(batch: &[OutputMessage<'_>]) -> Vec<usize> {
    batch.iter().map(|m| m.bytes_sent).collect()
}

fn lens(bodies: &[Vec<u8>]) -> Vec<usize> {
    bodies.iter().map(Vec::len).collect()
}

/// Sends a marker datagram and asserts that it is the next thing `receiver` gets: proves
/// that nothing was sent before it (UDP on loopback keeps one sender's order).
fn assert_next_is_marker(sender: &Socket, receiver: &Socket, to: &SockAddr) {
    sender.send_to(to, b"marker", None).expect("marker");
    let got = receive_n(receiver, 1, 64);
    assert_eq!(got[0].0, b"marker", "something was sent before the marker");
    assert_nothing_queued(receiver);
}

// ---------------------------------------------------------------- tests

/// A batch on each family: the count is the whole batch, `bytes_sent` is each message's
/// length, and the receiver gets every datagram in order, byte for byte.
#[test]
fn a_batch_is_sent_whole_with_bytes_per_message_on_every_family() {
    for &family in FAMILIES {
        let mut paths = Paths::new();
        let (sender, receiver, to) = endpoints(family, &mut paths);
        // A run of equal sizes (coalescible by UDP offload), then mixed sizes.
        let bodies: Vec<Vec<u8>> = (0..60)
            .map(|i| {
                payload(
                    i,
                    if i < 20 {
                        120
                    } else {
                        1 + (i as usize * 37) % 700
                    },
                )
            })
            .collect();
        let vectors: Vec<Vec<IoSlice>> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| split(b, 1 + i % 4))
            .collect();
        let mut batch: Vec<OutputMessage> = vectors
            .iter()
            .map(|v| OutputMessage::new(Some(&to), v))
            .collect();
        let (sent, got) = while_receiving(&[(&receiver, bodies.len())], 1000, || {
            sender.send_messages(&mut batch, MsgFlags::empty(), None)
        });
        assert_eq!(sent.unwrap(), 60, "{family:?}");
        assert_eq!(bytes_sent(&batch), lens(&bodies), "{family:?}");
        assert_eq!(got[0], bodies, "{family:?}");
        assert_nothing_queued(&receiver);
    }
}

/// GLib's case: one message of seven vectors (3,5,0,6,2,1,19) is sent as 36 bytes, all of
/// TEXT in order.
#[test]
fn glib_seven_vectors_make_one_36_byte_datagram() {
    for &family in FAMILIES {
        let mut paths = Paths::new();
        let (sender, receiver, to) = endpoints(family, &mut paths);
        let n = sender
            .send_message(Some(&to), &seven_vectors(), &[], MsgFlags::empty(), None)
            .unwrap();
        assert_eq!(n, 36, "{family:?}");
        let got = receive_n(&receiver, 1, 100);
        assert_eq!(got[0].0, TEXT, "{family:?}");
        assert_nothing_queued(&receiver);
    }
}

/// GLib's case: messages {v0}, {v0..v5}, {v6} → 3 sent with bytes_sent 3, 17, 19, and the
/// receiver scatters them into {3}, {3,5,0,6,2,1} and {111} slots.
#[test]
fn glib_three_messages_scatter_into_matching_slots() {
    for &family in FAMILIES {
        let mut paths = Paths::new();
        let (sender, receiver, to) = endpoints(family, &mut paths);
        let v = seven_vectors();
        let mut out = [
            OutputMessage::new(Some(&to), &v[0..1]),
            OutputMessage::new(Some(&to), &v[0..6]),
            OutputMessage::new(Some(&to), &v[6..7]),
        ];
        assert_eq!(
            sender
                .send_messages(&mut out, MsgFlags::empty(), None)
                .unwrap(),
            3,
            "{family:?}"
        );
        assert_eq!(bytes_sent(&out), [3, 17, 19], "{family:?}");

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
            receiver.set_timeout(Some(PATIENCE));
            let mut got = 0;
            while got < 3 {
                got += receiver
                    .receive_messages(&mut input[got..], MsgFlags::empty(), None)
                    .unwrap();
            }
            (
                input.iter().map(|m| m.bytes_received).collect::<Vec<_>>(),
                input.iter().map(|m| m.flags).collect::<Vec<_>>(),
            )
        };
        assert_eq!(lens, [3, 17, 19], "{family:?}");
        assert!(
            flags.iter().all(|f| !f.contains(MsgFlags::TRUNC)),
            "{family:?}"
        );
        assert_eq!(&s0, b"012");
        let want: Vec<&[u8]> = vec![b"012", b"34567", b"", b"89abcd", b"ef", b"g"];
        assert_eq!(s1, want, "{family:?}");
        assert_eq!(&s2[..19], &TEXT[17..], "{family:?}");
        assert!(s2[19..].iter().all(|&b| b == 0), "{family:?}");
        assert_nothing_queued(&receiver);
    }
}

/// Messages with many vectors each (up to the 1024 one call takes), several in a batch,
/// arrive as the concatenation of their vectors.
#[test]
fn many_vectors_per_message_are_gathered_in_order() {
    for &family in FAMILIES {
        let mut paths = Paths::new();
        let (sender, receiver, to) = endpoints(family, &mut paths);
        // Equal-sized messages of 200 one-byte vectors: an offload run would need more
        // vectors than one call takes, and must be cut. Then one of exactly 1024 vectors.
        let bodies: Vec<Vec<u8>> = (0..10)
            .map(|i| payload(100 + i, 200))
            .chain([payload(200, 1024), payload(201, 3000)])
            .collect();
        let vectors: Vec<Vec<IoSlice>> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| match i {
                0..=10 => b.chunks(1).map(IoSlice::new).collect(),
                _ => split(b, 777),
            })
            .collect();
        assert_eq!(vectors[10].len(), 1024);
        let mut batch: Vec<OutputMessage> = vectors
            .iter()
            .map(|v| OutputMessage::new(Some(&to), v))
            .collect();
        let (sent, got) = while_receiving(&[(&receiver, bodies.len())], 4000, || {
            sender.send_messages(&mut batch, MsgFlags::empty(), None)
        });
        assert_eq!(sent.unwrap(), bodies.len(), "{family:?}");
        assert_eq!(bytes_sent(&batch), lens(&bodies), "{family:?}");
        assert_eq!(got[0], bodies, "{family:?}");
        assert_nothing_queued(&receiver);
    }
}

/// Every message goes to its own destination: each of several receivers gets exactly the
/// datagrams addressed to it, in order, and nothing else (runs to one destination, single
/// messages, equal addresses held in distinct objects).
#[test]
fn each_message_goes_to_its_own_destination() {
    for &family in FAMILIES {
        let mut paths = Paths::new();
        let sender = bound(family, &mut paths);
        sender.set_timeout(Some(PATIENCE));
        let receivers: Vec<Socket> = (0..4).map(|_| bound(family, &mut paths)).collect();
        // One address object per message: equal addresses, not the same object.
        let pattern: Vec<usize> = [0, 0, 0, 1, 2, 2, 3, 0, 1, 1, 1, 1, 3, 3, 2, 0]
            .iter()
            .cycle()
            .take(160)
            .copied()
            .collect();
        let addresses: Vec<SockAddr> = pattern
            .iter()
            .map(|&r| receivers[r].local_address().unwrap())
            .collect();
        let bodies: Vec<Vec<u8>> = (0..pattern.len())
            .map(|i| payload(i as u64, if i % 5 == 4 { 33 } else { 80 }))
            .collect();
        let vectors: Vec<Vec<IoSlice>> = bodies.iter().map(|b| split(b, 2)).collect();
        let mut batch: Vec<OutputMessage> = vectors
            .iter()
            .zip(&addresses)
            .map(|(v, a)| OutputMessage::new(Some(a), v))
            .collect();
        let expect: Vec<(&Socket, usize)> = receivers
            .iter()
            .enumerate()
            .map(|(r, s)| (s, pattern.iter().filter(|&&p| p == r).count()))
            .collect();
        let (sent, got) = while_receiving(&expect, 200, || {
            sender.send_messages(&mut batch, MsgFlags::empty(), None)
        });
        assert_eq!(sent.unwrap(), pattern.len(), "{family:?}");
        assert_eq!(bytes_sent(&batch), lens(&bodies), "{family:?}");
        for (r, receiver) in receivers.iter().enumerate() {
            let want: Vec<Vec<u8>> = bodies
                .iter()
                .zip(&pattern)
                .filter(|(_, &p)| p == r)
                .map(|(b, _)| b.clone())
                .collect();
            assert_eq!(got[r], want, "{family:?} receiver {r}");
            assert_nothing_queued(receiver);
        }
    }
}

/// The same address object shared by many messages (the GStreamer way) and per-destination
/// runs also reach the right receivers over IPv4 with offload on and off.
#[test]
fn shared_address_objects_and_offload_on_or_off_reach_the_right_receivers() {
    for offload in [true, false] {
        let sender = udp4();
        sender.set_segmentation_offload(offload);
        let receivers = [udp4(), udp4(), udp4()];
        let addresses: Vec<SockAddr> = receivers
            .iter()
            .map(|r| r.local_address().unwrap())
            .collect();
        // num_clients x num_buffers: one header and one payload vector per message, the
        // payload memory shared by every client's copy.
        let headers: Vec<[u8; 4]> = (0u8..40).map(|i| [0x80, 96, 0, i]).collect();
        let payloads: Vec<Vec<u8>> = (0..40).map(|i| payload(i, 300)).collect();
        let vectors: Vec<[IoSlice; 2]> = headers
            .iter()
            .zip(&payloads)
            .map(|(h, p)| [IoSlice::new(h), IoSlice::new(p)])
            .collect();
        let mut batch: Vec<OutputMessage> = addresses
            .iter()
            .flat_map(|a| vectors.iter().map(move |v| OutputMessage::new(Some(a), v)))
            .collect();
        let expect: Vec<(&Socket, usize)> = receivers.iter().map(|r| (r, 40)).collect();
        let (sent, got) = while_receiving(&expect, 400, || {
            sender.send_messages(&mut batch, MsgFlags::empty(), None)
        });
        assert_eq!(sent.unwrap(), 120, "offload {offload}");
        assert!(batch.iter().all(|m| m.bytes_sent == 304));
        let want: Vec<Vec<u8>> = headers
            .iter()
            .zip(&payloads)
            .map(|(h, p)| [&h[..], p].concat())
            .collect();
        for (r, receiver) in receivers.iter().enumerate() {
            assert_eq!(got[r], want, "offload {offload}, receiver {r}");
            assert_nothing_queued(receiver);
        }
    }
}

/// A message with no vectors, or with only empty ones, is a 0-byte datagram on every
/// family and on both paths, in its place among the others; its `bytes_sent` is 0.
#[test]
fn empty_messages_arrive_as_zero_byte_datagrams() {
    for portable in [false, true] {
        for &family in FAMILIES {
            let mut paths = Paths::new();
            let (sender, receiver, to) = endpoints(family, &mut paths);
            sender.set_portable_path(portable);
            let none: [IoSlice; 0] = [];
            let empties = [IoSlice::new(b""), IoSlice::new(b"")];
            let abc = [IoSlice::new(b"abc")];
            let de = [IoSlice::new(b""), IoSlice::new(b"de"), IoSlice::new(b"")];
            let abc2 = [IoSlice::new(b"abc")];
            let mut batch = [
                OutputMessage::new(Some(&to), &none),
                OutputMessage::new(Some(&to), &abc),
                OutputMessage::new(Some(&to), &empties),
                OutputMessage::new(Some(&to), &de),
                OutputMessage::new(Some(&to), &none),
                OutputMessage::new(Some(&to), &abc2),
                OutputMessage::new(Some(&to), &none),
            ];
            for m in batch.iter_mut() {
                m.bytes_sent = SENTINEL;
            }
            let (sent, got) = while_receiving(&[(&receiver, 7)], 16, || {
                sender.send_messages(&mut batch, MsgFlags::empty(), None)
            });
            let tag = format!("{family:?}, portable {portable}");
            assert_eq!(sent.unwrap(), 7, "{tag}");
            assert_eq!(bytes_sent(&batch), [0, 3, 0, 2, 0, 3, 0], "{tag}");
            let want: Vec<&[u8]> = vec![b"", b"abc", b"", b"de", b"", b"abc", b""];
            assert_eq!(got[0], want, "{tag}");
            assert_nothing_queued(&receiver);

            // Alone (one system call for one message): still a 0-byte datagram.
            for single in [&none[..], &empties[..]] {
                let mut one = [OutputMessage::new(Some(&to), single)];
                one[0].bytes_sent = SENTINEL;
                assert_eq!(
                    sender
                        .send_messages(&mut one, MsgFlags::empty(), None)
                        .unwrap(),
                    1,
                    "{tag}"
                );
                assert_eq!(one[0].bytes_sent, 0, "{tag}");
                assert_eq!(receive_n(&receiver, 1, 16)[0].0, b"", "{tag}");
            }
            assert_eq!(
                sender
                    .send_message(Some(&to), &none, &[], MsgFlags::empty(), None)
                    .unwrap(),
                0
            );
            assert_eq!(sender.send_to(&to, b"", None).unwrap(), 0);
            let got = receive_n(&receiver, 2, 16);
            assert!(got.iter().all(|(d, _)| d.is_empty()), "{tag}");
            assert_nothing_queued(&receiver);
        }
    }
}

/// An empty slice returns Ok(0) at once and sends nothing.
#[test]
fn an_empty_batch_returns_zero_and_sends_nothing() {
    let sender = udp4();
    let receiver = udp4();
    let to = receiver.local_address().unwrap();
    assert_eq!(
        sender
            .send_messages(&mut [], MsgFlags::empty(), None)
            .unwrap(),
        0
    );
    assert_next_is_marker(&sender, &receiver, &to);

    // Also on a non-blocking connected socket: a UDP pair, and a Unix pair where there is one.
    for (a, b) in connected_pairs() {
        a.set_blocking(false);
        assert_eq!(
            a.send_messages(&mut [], MsgFlags::empty(), None).unwrap(),
            0
        );
        assert_nothing_queued(&b);
    }
}

/// 3000 messages (more than the 1024 one sendmmsg takes) through a Unix pair with a
/// draining receiver: all sent, all arrive in order, byte for byte.
// Unix only: it counts on a full Unix peer making the sender wait (UDP would drop); the
// UDP version is the next test.
#[cfg(unix)]
#[test]
fn a_batch_beyond_1024_through_a_unix_pair_is_split_transparently() {
    let (a, b) = unix_pair();
    a.set_timeout(Some(PATIENCE));
    let bodies: Vec<Vec<u8>> = (0..3000)
        .map(|i| {
            let mut body = payload(i, 16 + (i as usize % 50));
            body[..4].copy_from_slice(&(i as u32).to_be_bytes());
            body
        })
        .collect();
    let vectors: Vec<Vec<IoSlice>> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| split(b, i % 3))
        .collect();
    let mut batch: Vec<OutputMessage> = vectors
        .iter()
        .map(|v| OutputMessage::new(None, v))
        .collect();
    let (sent, got) = while_receiving(&[(&b, 3000)], 100, || {
        a.send_messages(&mut batch, MsgFlags::empty(), None)
    });
    assert_eq!(sent.unwrap(), 3000);
    // Messages with zero vectors (i % 3 == 0) were sent as empty datagrams.
    let want: Vec<Vec<u8>> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| if i % 3 == 0 { Vec::new() } else { b.clone() })
        .collect();
    assert_eq!(bytes_sent(&batch), lens(&want));
    assert_eq!(got[0], want);
    assert_nothing_queued(&b);
}

/// 2500 datagrams over UDP loopback to a receiver with a big receive buffer, with offload
/// on (equal sizes) and off (sizes that differ): all 2500 arrive, in order.
#[test]
fn a_batch_beyond_1024_over_udp_loopback_all_arrives_in_order() {
    for offload in [true, false] {
        let sender = udp4();
        sender.set_segmentation_offload(offload);
        let receiver = udp4();
        receiver.as_socket2().set_recv_buffer_size(4 << 20).unwrap();
        let to = receiver.local_address().unwrap();
        let bodies: Vec<Vec<u8>> = (0..2500u32)
            .map(|i| {
                let len = if offload { 48 } else { 24 + (i as usize % 40) };
                let mut body = payload(u64::from(i), len);
                body[..4].copy_from_slice(&i.to_be_bytes());
                body
            })
            .collect();
        let vectors: Vec<[IoSlice; 1]> = bodies.iter().map(|b| [IoSlice::new(b)]).collect();
        let mut batch: Vec<OutputMessage> = vectors
            .iter()
            .map(|v| OutputMessage::new(Some(&to), v))
            .collect();
        let (sent, got) = while_receiving(&[(&receiver, 2500)], 100, || {
            sender.send_messages(&mut batch, MsgFlags::empty(), None)
        });
        assert_eq!(sent.unwrap(), 2500, "offload {offload}");
        assert_eq!(bytes_sent(&batch), lens(&bodies), "offload {offload}");
        assert_eq!(got[0], bodies, "offload {offload}");
        assert_nothing_queued(&receiver);
    }
}

/// A connected socket sends with no address: `send`, `send_message(None, ..)` and
/// `send_messages` with `address: None` all reach the peer and return byte counts.
#[test]
fn a_connected_socket_sends_without_an_address() {
    for &family in FAMILIES {
        let mut paths = Paths::new();
        let (sender, receiver, to) = endpoints(family, &mut paths);
        sender.connect(&to, None).unwrap();
        assert_eq!(sender.send(b"hello", None).unwrap(), 5, "{family:?}");
        assert_eq!(
            sender
                .send_message(None, &seven_vectors(), &[], MsgFlags::empty(), None)
                .unwrap(),
            36
        );
        let (x, y) = (payload(1, 50), payload(2, 51));
        let (vx, vy) = ([IoSlice::new(&x)], split(&y, 3));
        let mut batch = [
            OutputMessage::new(None, &vx),
            OutputMessage::new(None, &vy),
            OutputMessage::new(None, &vx),
        ];
        assert_eq!(
            sender
                .send_messages(&mut batch, MsgFlags::empty(), None)
                .unwrap(),
            3
        );
        assert_eq!(bytes_sent(&batch), [50, 51, 50]);
        let got = receive_n(&receiver, 5, 100);
        let want: Vec<Vec<u8>> = vec![b"hello".to_vec(), TEXT.to_vec(), x.clone(), y, x];
        assert_eq!(got.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>(), want);
        let me = sender.local_address().unwrap();
        assert!(got.iter().all(|(_, from)| from.as_ref() == Some(&me)));
        assert_nothing_queued(&receiver);
    }

    // A UDP pair connected both ways, and a Unix pair, connected from the start.
    for (a, b) in connected_pairs() {
        assert_eq!(a.send(&payload(3, 1000), None).unwrap(), 1000);
        assert_eq!(receive_n(&b, 1, 2000)[0].0, payload(3, 1000));
        assert_nothing_queued(&b);
    }
}

/// `send`, `send_to` and `send_message` return the bytes sent, for sizes from 0 up.
#[test]
fn single_datagram_calls_return_byte_counts() {
    for &family in FAMILIES {
        let mut paths = Paths::new();
        let (sender, receiver, to) = endpoints(family, &mut paths);
        let sizes = [0usize, 1, 7, 100, 1472, 8000];
        let bodies: Vec<Vec<u8>> = sizes.iter().map(|&n| payload(n as u64, n)).collect();
        for body in &bodies {
            assert_eq!(sender.send_to(&to, body, None).unwrap(), body.len());
            assert_eq!(
                sender
                    .send_message(Some(&to), &split(body, 3), &[], MsgFlags::empty(), None)
                    .unwrap(),
                body.len()
            );
            let got = receive_n(&receiver, 2, 9000);
            assert_eq!(got[0].0, *body, "{family:?}");
            assert_eq!(got[1].0, *body, "{family:?}");
        }
        sender.connect(&to, None).unwrap();
        for body in &bodies {
            assert_eq!(sender.send(body, None).unwrap(), body.len());
            assert_eq!(receive_n(&receiver, 1, 9000)[0].0, *body, "{family:?}");
        }
        assert_nothing_queued(&receiver);
    }
}

/// A dual-stack IPv6 socket sends to IPv4 destinations (and IPv6 ones in the same batch):
/// each arrives, and the IPv4 receiver sees the sender's port at 127.0.0.1.
#[test]
fn ipv4_destinations_on_a_dual_stack_socket_arrive() {
    let sender = udp6_dual_stack();
    let port = sender.local_address().unwrap().as_socket().unwrap().port();
    let r4 = udp4();
    let r6 = udp6();
    let (to4, to6) = (r4.local_address().unwrap(), r6.local_address().unwrap());

    assert_eq!(sender.send_to(&to4, b"alone", None).unwrap(), 5);
    let got = receive_n(&r4, 1, 64);
    assert_eq!(got[0].0, b"alone");
    assert_eq!(
        got[0].1.as_ref().and_then(SockAddr::as_socket),
        Some(format!("127.0.0.1:{port}").parse().unwrap())
    );

    // A mixed batch, with runs of equal sizes to each.
    let bodies: Vec<Vec<u8>> = (0..40).map(|i| payload(i, 64)).collect();
    let vectors: Vec<[IoSlice; 1]> = bodies.iter().map(|b| [IoSlice::new(b)]).collect();
    let dest = |i: usize| {
        if (i / 3) % 2 == 0 {
            &to4
        } else {
            &to6
        }
    };
    let mut batch: Vec<OutputMessage> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| OutputMessage::new(Some(dest(i)), v))
        .collect();
    let n4 = (0..40).filter(|&i| (i / 3) % 2 == 0).count();
    let (sent, got) = while_receiving(&[(&r4, n4), (&r6, 40 - n4)], 100, || {
        sender.send_messages(&mut batch, MsgFlags::empty(), None)
    });
    assert_eq!(sent.unwrap(), 40);
    assert!(batch.iter().all(|m| m.bytes_sent == 64));
    let want = |four: bool| -> Vec<Vec<u8>> {
        bodies
            .iter()
            .enumerate()
            .filter(|(i, _)| ((i / 3) % 2 == 0) == four)
            .map(|(_, b)| b.clone())
            .collect()
    };
    assert_eq!(got[0], want(true));
    assert_eq!(got[1], want(false));
    assert_nothing_queued(&r4);
    assert_nothing_queued(&r6);
}

/// A call that sends only some messages (a full non-blocking Unix peer) writes
/// `bytes_sent` for those and leaves the others' as they were.
// Unix only: only a Unix datagram peer's full queue stops a sender (UDP drops instead).
#[cfg(unix)]
#[test]
fn bytes_sent_of_unsent_messages_is_left_untouched_when_the_peer_is_full() {
    let (a, b) = unix_pair();
    a.set_blocking(false);
    let bodies: Vec<Vec<u8>> = (0..2000).map(|i| payload(i, 100)).collect();
    let vectors: Vec<[IoSlice; 1]> = bodies.iter().map(|b| [IoSlice::new(b)]).collect();
    let mut batch: Vec<OutputMessage> = vectors
        .iter()
        .map(|v| OutputMessage::new(None, v))
        .collect();
    for m in batch.iter_mut() {
        m.bytes_sent = SENTINEL;
    }
    let fit = a
        .send_messages(&mut batch, MsgFlags::empty(), None)
        .unwrap();
    assert!(fit > 0 && fit < 2000, "{fit} of 2000 fit");
    assert!(batch[..fit].iter().all(|m| m.bytes_sent == 100));
    assert!(batch[fit..].iter().all(|m| m.bytes_sent == SENTINEL));
    let got: Vec<Vec<u8>> = receive_n(&b, fit, 200)
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    assert_eq!(got, &bodies[..fit]);
    assert_nothing_queued(&b);
}

/// GLib's case: a missing address in the 2nd of 3 messages on an unconnected socket sends
/// the 1st only; the other two keep their `bytes_sent`; the error comes with the next call.
#[test]
fn bytes_sent_of_unsent_messages_is_left_untouched_after_an_error_mid_batch() {
    let sender = udp4();
    let receiver = udp4();
    let to = receiver.local_address().unwrap();
    let (x, y, z) = (
        [IoSlice::new(b"one")],
        [IoSlice::new(b"two")],
        [IoSlice::new(b"3")],
    );
    let mut batch = [
        OutputMessage::new(Some(&to), &x),
        OutputMessage::new(None, &y),
        OutputMessage::new(Some(&to), &z),
    ];
    for m in batch.iter_mut() {
        m.bytes_sent = SENTINEL;
    }
    assert_eq!(
        sender
            .send_messages(&mut batch, MsgFlags::empty(), None)
            .unwrap(),
        1
    );
    assert_eq!(bytes_sent(&batch), [3, SENTINEL, SENTINEL]);
    let err = sender
        .send_messages(&mut batch[1..], MsgFlags::empty(), None)
        .unwrap_err();
    assert!(is_no_destination(&err), "{err}");
    assert_eq!(bytes_sent(&batch), [3, SENTINEL, SENTINEL]);
    assert_eq!(receive_n(&receiver, 1, 16)[0].0, b"one");
    assert_next_is_marker(&sender, &receiver, &to);
}

/// Platform flags reach the OS as they are: MSG_DONTWAIT (mmsg's own bit on Windows) and
/// DONTROUTE sends work on UDP, and on Linux MSG_CONFIRM too; MSG_OOB is refused by the
/// OS (nothing sent), and on Linux MSG_MORE corks.
#[test]
fn flags_are_passed_to_the_os() {
    for family in [Family::V4, Family::V6] {
        let mut paths = Paths::new();
        let (sender, receiver, to) = endpoints(family, &mut paths);
        let bodies: Vec<Vec<u8>> = (0..6).map(|i| payload(i, 90 + i as usize)).collect();
        let vectors: Vec<[IoSlice; 1]> = bodies.iter().map(|b| [IoSlice::new(b)]).collect();
        #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
        let mut flag_sets = vec![MsgFlags::DONTWAIT, MsgFlags::DONTROUTE];
        #[cfg(target_os = "linux")]
        flag_sets.extend([
            MsgFlags::from_bits_retain(libc::MSG_CONFIRM),
            MsgFlags::from_bits_retain(libc::MSG_DONTWAIT),
            MsgFlags::DONTWAIT | MsgFlags::from_bits_retain(libc::MSG_CONFIRM),
        ]);
        for flags in flag_sets {
            let mut batch: Vec<OutputMessage> = vectors
                .iter()
                .map(|v| OutputMessage::new(Some(&to), v))
                .collect();
            let sent = sender.send_messages(&mut batch, flags, None).unwrap();
            assert_eq!(sent, 6, "{family:?} {flags:?}");
            assert_eq!(bytes_sent(&batch), lens(&bodies));
            let got: Vec<Vec<u8>> = receive_n(&receiver, 6, 200)
                .into_iter()
                .map(|(d, _)| d)
                .collect();
            assert_eq!(got, bodies, "{family:?} {flags:?}");
            // One message alone (sendmsg rather than sendmmsg) too.
            let n = sender
                .send_message(Some(&to), &vectors[0], &[], flags, None)
                .unwrap();
            assert_eq!(n, bodies[0].len());
            assert_eq!(receive_n(&receiver, 1, 200)[0].0, bodies[0]);
        }

        // MSG_OOB on IPv4 UDP is refused (Linux: EOPNOTSUPP; Winsock: WSAEOPNOTSUPP, as
        // out-of-band data is for stream sockets); Linux's IPv6 UDP ignores it. Proof that
        // flags get there, on the sendmmsg path and the sendmsg one.
        if family == Family::V4 {
            let mut batch: Vec<OutputMessage> = vectors
                .iter()
                .map(|v| OutputMessage::new(Some(&to), v))
                .collect();
            let err = sender
                .send_messages(&mut batch, MsgFlags::OOB, None)
                .unwrap_err();
            assert_eq!(err.raw_os_error(), Some(os_error::EOPNOTSUPP), "{err}");
            let err = sender
                .send_messages(&mut batch[..1], MsgFlags::OOB, None)
                .unwrap_err();
            assert_eq!(err.raw_os_error(), Some(os_error::EOPNOTSUPP), "{err}");
            assert_next_is_marker(&sender, &receiver, &to);
        }

        // MSG_MORE (Linux) corks: two sends make one datagram.
        #[cfg(target_os = "linux")]
        {
            let more = MsgFlags::from_bits_retain(libc::MSG_MORE);
            let abc = [IoSlice::new(b"abc")];
            let def = [IoSlice::new(b"de"), IoSlice::new(b"f")];
            assert_eq!(
                sender
                    .send_message(Some(&to), &abc, &[], more, None)
                    .unwrap(),
                3
            );
            assert_eq!(
                sender
                    .send_message(Some(&to), &def, &[], MsgFlags::empty(), None)
                    .unwrap(),
                3
            );
            assert_eq!(receive_n(&receiver, 1, 64)[0].0, b"abcdef");
        }
        assert_nothing_queued(&receiver);
    }

    // A connected UDP pair sends with MSG_DONTWAIT; a Unix pair too, and refuses MSG_OOB.
    for (a, b) in connected_pairs() {
        let v = [IoSlice::new(b"x")];
        #[cfg(unix)]
        if a.local_address().unwrap().is_unix() {
            let err = a
                .send_message(None, &v, &[], MsgFlags::OOB, None)
                .unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EOPNOTSUPP), "{err}");
            assert_nothing_queued(&b);
        }
        assert_eq!(
            a.send_message(None, &v, &[], MsgFlags::DONTWAIT, None)
                .unwrap(),
            1
        );
        assert_eq!(receive_n(&b, 1, 8)[0].0, b"x");
        assert_nothing_queued(&b);
    }
}

/// The same messages sent one per call (sendmsg), all in one call (sendmmsg), and all in
/// one call on the portable path give the same counts, bytes_sent and received datagrams.
#[test]
fn one_message_per_call_and_many_per_call_give_identical_results() {
    for &family in FAMILIES {
        let mut paths = Paths::new();
        let sender = bound(family, &mut paths);
        sender.set_timeout(Some(PATIENCE));
        let receivers = [bound(family, &mut paths), bound(family, &mut paths)];
        let addresses: Vec<SockAddr> = receivers
            .iter()
            .map(|r| r.local_address().unwrap())
            .collect();
        let bodies: Vec<Vec<u8>> = (0..24)
            .map(|i| payload(i, [0, 64, 64, 64, 10, 200][i as usize % 6]))
            .collect();
        let vectors: Vec<Vec<IoSlice>> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| split(b, i % 4))
            .collect();
        let dest = |i: usize| &addresses[(i / 4) % 2];
        let fresh = || -> Vec<OutputMessage> {
            vectors
                .iter()
                .enumerate()
                .map(|(i, v)| OutputMessage::new(Some(dest(i)), v))
                .collect()
        };
        let counts: Vec<usize> = (0..2)
            .map(|r| (0..24).filter(|&i| (i / 4) % 2 == r).count())
            .collect();
        let expect: Vec<(&Socket, usize)> = receivers.iter().zip(counts).collect();

        let mut results = Vec::new();
        for way in ["one per call", "one sendmmsg", "portable"] {
            sender.set_portable_path(way == "portable");
            let mut batch = fresh();
            let (sent, got) = while_receiving(&expect, 256, || {
                if way == "one per call" {
                    let mut total = 0;
                    for i in 0..batch.len() {
                        total += sender
                            .send_messages(&mut batch[i..=i], MsgFlags::empty(), None)
                            .unwrap();
                    }
                    total
                } else {
                    sender
                        .send_messages(&mut batch, MsgFlags::empty(), None)
                        .unwrap()
                }
            });
            results.push((way, sent, bytes_sent(&batch), got));
        }
        let want_bytes: Vec<usize> = (0..24)
            .map(|i| if i % 4 == 0 { 0 } else { bodies[i].len() })
            .collect();
        for (way, sent, bytes, got) in &results {
            assert_eq!(*sent, 24, "{family:?} {way}");
            assert_eq!(*bytes, want_bytes, "{family:?} {way}");
            for (r, got_r) in got.iter().enumerate() {
                let want: Vec<Vec<u8>> = (0..24)
                    .filter(|&i| (i / 4) % 2 == r)
                    .map(|i| {
                        if i % 4 == 0 {
                            Vec::new()
                        } else {
                            bodies[i].clone()
                        }
                    })
                    .collect();
                assert_eq!(*got_r, want, "{family:?} {way} receiver {r}");
            }
        }
        for r in &receivers {
            assert_nothing_queued(r);
        }
    }
}

/// A non-blocking send of a batch that all fits behaves like a blocking one: all sent.
#[test]
fn a_non_blocking_batch_that_fits_is_sent_whole() {
    for &family in FAMILIES {
        let mut paths = Paths::new();
        let (sender, receiver, to) = endpoints(family, &mut paths);
        sender.set_blocking(false);
        // Few enough to fit an idle Unix receiver's queue (11 datagrams by default).
        let bodies: Vec<Vec<u8>> = (0..8).map(|i| payload(i, 40)).collect();
        let vectors: Vec<[IoSlice; 1]> = bodies.iter().map(|b| [IoSlice::new(b)]).collect();
        let mut batch: Vec<OutputMessage> = vectors
            .iter()
            .map(|v| OutputMessage::new(Some(&to), v))
            .collect();
        assert_eq!(
            sender
                .send_messages(&mut batch, MsgFlags::empty(), None)
                .unwrap(),
            8,
            "{family:?}"
        );
        let got: Vec<Vec<u8>> = receive_n(&receiver, 8, 64)
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        assert_eq!(got, bodies, "{family:?}");
        assert_nothing_queued(&receiver);
    }
}

/// `send` on an unconnected socket is the OS's error (EDESTADDRREQ or ENOTCONN; see
/// `is_no_destination` for Windows), never a panic or a silent success; nothing is sent.
#[test]
fn send_without_a_peer_is_an_os_error() {
    let sender = udp4();
    let receiver = udp4();
    let err: io::Error = sender.send(b"nowhere", None).unwrap_err();
    assert!(
        is_no_destination(&err) || err.kind() == io::ErrorKind::NotConnected,
        "{err}"
    );
    assert_next_is_marker(&sender, &receiver, &receiver.local_address().unwrap());
}
