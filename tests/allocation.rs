//! Steady-state calls allocate nothing: a counting global allocator (per thread, so the
//! test harness and helper threads do not disturb the count) watches `send_messages` and
//! `receive_messages` once the sockets' scratch buffers are warm. Everything sent is
//! received and checked outside the counted window.
//!
//! On every OS over UDP. Sends with `UDP_SEGMENT` need segmentation the stack honours
//! (wine 8.0 ignores Windows' `UDP_SEND_MSG_SIZE`), receive offload is Linux's, and the
//! batch split at the OS's limit while the sender waits for room needs a Unix pair; a
//! `PKTINFO` control message covers the control-message path on Windows too.

mod common;
use common::*;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{IoSlice, IoSliceMut};

use mmsg::{ControlMessage, InputMessage, MsgFlags, OutputMessage, SockAddr, Socket};

/// Wraps the system allocator, counting the allocations of threads that asked for it.
struct Counting;

thread_local! {
    /// Whether this thread's allocations are being counted. Const-initialised `Cell`s with
    /// no destructor: reading them never allocates, so the allocator may use them.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation() {
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is System's; counting touches only thread-local cells.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded as is; `ptr` came from this allocator, which is System.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f`, returning its result and how many allocations this thread made meanwhile.
fn allocations_in<R>(f: impl FnOnce() -> R) -> (R, usize) {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    let result = f();
    COUNTING.with(|on| on.set(false));
    (result, ALLOCATIONS.with(Cell::get))
}

#[test]
fn the_counter_sees_allocations() {
    // Without this, a counter that never counts would make every other test pass.
    let (v, n) = allocations_in(|| vec![1u8; 100]);
    assert_eq!(v.len(), 100);
    assert!(n >= 1);
    let (_, n) = allocations_in(|| 1 + 1);
    assert_eq!(n, 0);
}

const WARM_UP: usize = 3;
const MEASURED: usize = 20;

/// A 12-byte RTP-like header carrying the call number and message index.
fn header(call: usize, index: usize) -> [u8; 12] {
    let mut h = [0u8; 12];
    h[..8].copy_from_slice(&(call as u64).to_le_bytes());
    h[8..].copy_from_slice(&(index as u32).to_le_bytes());
    h
}

/// Makes warm-up and measured calls with `send(call)`, which returns (messages sent,
/// allocations counted in its send call); checks each with `check(call)` after it, and asserts that the measured calls allocated nothing.
fn assert_steady_state_sends(
    what: &str,
    mut send: impl FnMut(usize) -> (usize, usize),
    mut check: impl FnMut(usize),
) {
    for call in 0..WARM_UP + MEASURED {
        let (sent, allocations) = send(call);
        assert!(sent > 0, "{what}: call {call} sent nothing");
        if call >= WARM_UP {
            assert_eq!(
                allocations, 0,
                "{what}: call {call} allocated {allocations} times"
            );
        }
        check(call);
    }
}

/// `count` receivers on 127.0.0.1.
fn receivers(count: usize) -> (Vec<Socket>, Vec<SockAddr>) {
    let sockets: Vec<Socket> = (0..count).map(|_| udp4()).collect();
    let addresses = sockets.iter().map(|s| s.local_address().unwrap()).collect();
    (sockets, addresses)
}

/// Sends 64 two-vector messages per call to `addresses` (message i to `to(i)`) from
/// `sender`, and checks that every receiver got its datagrams in order.
fn two_vector_batches(
    what: &str,
    sender: &Socket,
    receivers: &[Socket],
    addresses: &[SockAddr],
    to: impl Fn(usize) -> usize,
) {
    let body = payload(5, 100);
    assert_steady_state_sends(
        what,
        |call| {
            let headers: Vec<[u8; 12]> = (0..64).map(|i| header(call, i)).collect();
            let vectors: Vec<[IoSlice; 2]> = headers
                .iter()
                .map(|h| [IoSlice::new(h), IoSlice::new(&body)])
                .collect();
            let mut batch: Vec<OutputMessage> = vectors
                .iter()
                .enumerate()
                .map(|(i, v)| OutputMessage::new(Some(&addresses[to(i)]), v))
                .collect();
            let (sent, allocations) =
                allocations_in(|| sender.send_messages(&mut batch, MsgFlags::empty(), None));
            let sent = sent.unwrap();
            assert_eq!(sent, 64);
            assert!(batch.iter().all(|m| m.bytes_sent == 112));
            (sent, allocations)
        },
        |call| {
            for (r, socket) in receivers.iter().enumerate() {
                let mine: Vec<usize> = (0..64).filter(|&i| to(i) == r).collect();
                let got = receive_n(socket, mine.len(), 2048);
                for (&i, (d, _)) in mine.iter().zip(&got) {
                    assert_eq!(d[..12], header(call, i), "{what}: call {call}, message {i}");
                    assert_eq!(d[12..], body[..]);
                }
                assert_nothing_queued(socket);
            }
        },
    );
}

/// Destinations: runs of eight to one receiver (coalesced by offload), then alternating.
fn mixed_destinations(i: usize) -> usize {
    if i < 32 {
        i / 8
    } else {
        i % 4
    }
}

#[test]
fn a_batch_of_64_two_vector_messages_to_several_destinations() {
    let sender = udp4();
    sender.set_portable_path(false);
    let (rs, addresses) = receivers(4);
    two_vector_batches("sendmmsg", &sender, &rs, &addresses, mixed_destinations);
}

#[test]
#[cfg_attr(
    windows,
    ignore = "wine 8.0 lacks USO (it ignores UDP_SEND_MSG_SIZE); run with --ignored on real Windows"
)]
fn a_batch_with_udp_segment_control_messages() {
    let sender = udp4();
    sender.set_portable_path(false);
    let (rs, addresses) = receivers(2);
    udp_segment_batches("sendmmsg", &sender, &rs, &addresses);
}

/// Sends call `call`'s 16 messages, its header and `body` each, alternately to the two
/// `addresses`, each with `control`: what `send_messages` returned, the allocations it
/// made, and each message's `bytes_sent`.
fn send_with_control(
    sender: &Socket,
    call: usize,
    body: &[u8],
    addresses: &[SockAddr],
    control: &[ControlMessage<'_>],
) -> (std::io::Result<usize>, usize, Vec<usize>) {
    let headers: Vec<[u8; 12]> = (0..16).map(|i| header(call, i)).collect();
    let vectors: Vec<[IoSlice; 2]> = headers
        .iter()
        .map(|h| [IoSlice::new(h), IoSlice::new(body)])
        .collect();
    let mut batch: Vec<OutputMessage> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| OutputMessage::new(Some(&addresses[i % 2]), v).with_control_messages(control))
        .collect();
    let (sent, allocations) =
        allocations_in(|| sender.send_messages(&mut batch, MsgFlags::empty(), None));
    (
        sent,
        allocations,
        batch.iter().map(|m| m.bytes_sent).collect(),
    )
}

/// 16 messages per call, each of 650 bytes in two vectors with `UdpSegment(200)`: 4
/// datagrams each, alternating between two receivers.
fn udp_segment_batches(what: &str, sender: &Socket, receivers: &[Socket], addresses: &[SockAddr]) {
    let body = payload(9, 650 - 12);
    let control = [ControlMessage::UdpSegment(200)];
    let expected = |call: usize, i: usize| [&header(call, i)[..], &body[..]].concat();
    assert_steady_state_sends(
        what,
        |call| {
            let (sent, allocations, bytes) =
                send_with_control(sender, call, &body, addresses, &control);
            let sent = sent.expect("UDP_SEGMENT on loopback");
            assert_eq!(sent, 16);
            assert!(bytes.iter().all(|&b| b == 650));
            (sent, allocations)
        },
        |call| {
            for (r, socket) in receivers.iter().enumerate() {
                let got = receive_n(socket, 8 * 4, 2048);
                for (k, i) in (0..16).filter(|i| i % 2 == r).enumerate() {
                    let segments: Vec<u8> = got[k * 4..k * 4 + 4]
                        .iter()
                        .flat_map(|(d, _)| d.clone())
                        .collect();
                    assert_eq!(got[k * 4].0.len(), 200);
                    assert_eq!(got[k * 4 + 3].0.len(), 50);
                    assert_eq!(
                        segments,
                        expected(call, i),
                        "{what}: call {call}, message {i}"
                    );
                }
                assert_nothing_queued(socket);
            }
        },
    );
}

/// A control message naming 127.0.0.1 as the source (`IP_PKTINFO`), in the OS's layout.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn loopback_pktinfo() -> (i32, i32, Vec<u8>) {
    // struct in_pktinfo { int ipi_ifindex; struct in_addr ipi_spec_dst, ipi_addr; }
    let mut data = vec![0u8; 12];
    data[4..8].copy_from_slice(&[127, 0, 0, 1]);
    (libc::IPPROTO_IP, libc::IP_PKTINFO, data)
}

/// A control message naming 127.0.0.1 as the source (`IP_PKTINFO`), in the OS's layout.
#[cfg(windows)]
fn loopback_pktinfo() -> (i32, i32, Vec<u8>) {
    // IN_PKTINFO { IN_ADDR ipi_addr; ULONG ipi_ifindex; }; IPPROTO_IP 0, IP_PKTINFO 19.
    let mut data = vec![0u8; 8];
    data[..4].copy_from_slice(&[127, 0, 0, 1]);
    (0, 19, data)
}

/// 16 messages per call, each with an `IP_PKTINFO` control message (encoded into the
/// socket's scratch), alternating between two receivers: what arrives is whole, from the
/// sender.
#[cfg(any(target_os = "linux", target_os = "android", windows))]
fn pktinfo_batches(what: &str, sender: &Socket, receivers: &[Socket], addresses: &[SockAddr]) {
    let body = payload(10, 300);
    let (level, kind, data) = loopback_pktinfo();
    let control = [ControlMessage::Raw {
        level,
        kind,
        data: &data,
    }];
    let from = sender.local_address().unwrap();
    assert_steady_state_sends(
        what,
        |call| {
            let (sent, allocations, bytes) =
                send_with_control(sender, call, &body, addresses, &control);
            let sent = sent.expect("IP_PKTINFO on loopback");
            assert_eq!(sent, 16);
            assert!(bytes.iter().all(|&b| b == 312));
            (sent, allocations)
        },
        |call| {
            for (r, socket) in receivers.iter().enumerate() {
                let got = receive_n(socket, 8, 2048);
                for ((d, source), i) in got.iter().zip((0..16).filter(|i| i % 2 == r)) {
                    assert_eq!(d[..12], header(call, i), "{what}: call {call}, message {i}");
                    assert_eq!(d[12..], body[..]);
                    assert_eq!(source.as_ref(), Some(&from));
                }
                assert_nothing_queued(socket);
            }
        },
    );
}

#[test]
#[cfg(any(target_os = "linux", target_os = "android", windows))] // IP_PKTINFO's layout is known
fn a_batch_with_pktinfo_control_messages() {
    let sender = udp4();
    sender.set_portable_path(false);
    let (rs, addresses) = receivers(2);
    pktinfo_batches("pktinfo", &sender, &rs, &addresses);
}

#[test]
fn ipv4_destinations_on_a_dual_stack_socket() {
    let sender = udp6_dual_stack();
    sender.set_portable_path(false);
    let (mut rs, mut addresses) = receivers(3);
    let v6 = udp6();
    addresses.push(v6.local_address().unwrap());
    rs.push(v6);
    two_vector_batches("dual stack", &sender, &rs, &addresses, mixed_destinations);
}

#[test]
fn the_portable_path() {
    let sender = udp4();
    sender.set_portable_path(true);
    let (rs, addresses) = receivers(4);
    two_vector_batches("portable", &sender, &rs, &addresses, mixed_destinations);
    // With control messages (built in the socket's scratch) and mapped addresses too.
    #[cfg(any(target_os = "linux", target_os = "android", windows))]
    pktinfo_batches("portable, PKTINFO", &sender, &rs[..2], &addresses[..2]);
    let dual = udp6_dual_stack();
    dual.set_portable_path(true);
    two_vector_batches("portable, dual stack", &dual, &rs, &addresses, |i| i % 4);
}

#[test]
#[cfg_attr(
    windows,
    ignore = "wine 8.0 lacks USO (it ignores UDP_SEND_MSG_SIZE); run with --ignored on real Windows"
)]
fn the_portable_path_with_udp_segment_control_messages() {
    let sender = udp4();
    sender.set_portable_path(true);
    let (rs, addresses) = receivers(2);
    udp_segment_batches("portable, UDP_SEGMENT", &sender, &rs, &addresses);
}

#[test]
#[cfg(unix)] // a Unix datagram pair: the sender waits for room while the batch is split
fn a_batch_of_2000_split_into_several_calls() {
    // Through a Unix pair with a draining thread: the batch is split at the OS limit and
    // the sender waits for room, all without allocating.
    let (a, b) = unix_pair();
    a.set_portable_path(false);
    a.set_timeout(Some(PATIENCE));
    let count = 2000;
    let calls = WARM_UP + MEASURED;
    let body = payload(11, 60);
    let expected_body = body.clone();
    let drainer = std::thread::spawn(move || {
        for call in 0..calls {
            let got = receive_n(&b, count, 256);
            for (i, (d, _)) in got.iter().enumerate() {
                assert_eq!(d[..12], header(call, i), "call {call}, message {i}");
                assert_eq!(d[12..], expected_body[..]);
            }
        }
        assert_nothing_queued(&b);
    });
    assert_steady_state_sends(
        "2000 messages",
        |call| {
            let headers: Vec<[u8; 12]> = (0..count).map(|i| header(call, i)).collect();
            let vectors: Vec<[IoSlice; 2]> = headers
                .iter()
                .map(|h| [IoSlice::new(h), IoSlice::new(&body)])
                .collect();
            let mut batch: Vec<OutputMessage> = vectors
                .iter()
                .map(|v| OutputMessage::new(None, v))
                .collect();
            let before = a.syscall_count();
            let (sent, allocations) =
                allocations_in(|| a.send_messages(&mut batch, MsgFlags::empty(), None));
            assert_eq!(sent.unwrap(), count);
            assert!(a.syscall_count() - before >= 2, "split into several calls");
            assert!(batch.iter().all(|m| m.bytes_sent == 72));
            (count, allocations)
        },
        |_| {},
    );
    drainer.join().unwrap();
}

/// Receives 64 datagrams per call into the same 64 messages (two vectors each, with
/// control buffers), checking their contents, and asserts the measured calls allocated
/// nothing.
fn steady_state_receives(portable: bool, offload: bool) {
    let receiver = udp4();
    receiver.set_portable_path(portable);
    receiver.set_receive_offload(offload).unwrap();
    receiver.set_timeout(Some(PATIENCE));
    receiver.as_socket2().set_recv_buffer_size(1 << 20).unwrap();
    let to = receiver.local_address().unwrap();
    let sender = udp4();
    let from = sender.local_address().unwrap();
    let body = payload(13, 90);

    let mut heads = vec![[0u8; 12]; 64];
    let mut tails = vec![[0u8; 200]; 64];
    let mut controls: Vec<mmsg::ControlBuffer> =
        (0..64).map(|_| mmsg::ControlBuffer::new()).collect();
    let mut vectors: Vec<[IoSliceMut; 2]> = heads
        .iter_mut()
        .zip(tails.iter_mut())
        .map(|(h, t)| [IoSliceMut::new(h), IoSliceMut::new(t)])
        .collect();
    let mut messages: Vec<InputMessage> = vectors
        .iter_mut()
        .zip(controls.iter_mut())
        .map(|(v, c)| {
            let mut m = InputMessage::new(v);
            m.control = Some(c);
            m
        })
        .collect();
    for call in 0..WARM_UP + MEASURED {
        send_64(&sender, &to, call, &body, offload);
        let mut got = 0;
        let mut allocations = 0;
        while got < 64 {
            let (n, a) = allocations_in(|| {
                receiver.receive_messages(&mut messages[got..], MsgFlags::empty(), None)
            });
            let n = n.unwrap();
            allocations += a;
            for (k, m) in messages[got..got + n].iter().enumerate() {
                let i = got + k;
                assert_eq!(m.bytes_received, 102);
                assert!(!m.flags.contains(MsgFlags::TRUNC));
                assert_eq!(m.address.as_ref(), Some(&from));
                assert_eq!(&m.vectors[0][..], &header(call, i)[..], "call {call}, {i}");
                assert_eq!(&m.vectors[1][..90], &body[..]);
            }
            got += n;
        }
        if call >= WARM_UP {
            assert_eq!(allocations, 0, "call {call} allocated {allocations} times");
        }
    }
    assert_nothing_queued(&receiver);
}

/// Sends 64 datagrams of a header and `body` to `to`, outside any counted window: one at a
/// time, or with `coalesced` as one segmented batch, which a receiver with offload on gets
/// as one coalesced buffer.
fn send_64(sender: &Socket, to: &SockAddr, call: usize, body: &[u8], coalesced: bool) {
    let datagrams: Vec<Vec<u8>> = (0..64)
        .map(|i| [&header(call, i)[..], body].concat())
        .collect();
    if coalesced {
        send_bodies(sender, to, &datagrams);
    } else {
        for datagram in &datagrams {
            sender.send_to(to, datagram, None).unwrap();
        }
    }
}

#[test]
fn receive_messages_in_steady_state() {
    steady_state_receives(false, false);
}

#[test]
fn receive_messages_on_the_portable_path_in_steady_state() {
    steady_state_receives(true, false);
}

#[test]
#[cfg(any(target_os = "linux", target_os = "android"))] // receive offload is Linux's (UDP_GRO)
fn receive_messages_with_receive_offload_in_steady_state() {
    steady_state_receives(false, true);
    steady_state_receives(true, true);
}

/// `receive_batch` into one reused `ReceiveBatch`, walking the datagrams in place, with
/// and without offload, on both paths: nothing allocated once warm.
#[test]
fn receive_batch_in_steady_state() {
    // Receive offload is Linux's (UDP_GRO).
    let has_offload = cfg!(any(target_os = "linux", target_os = "android"));
    for (portable, offload) in [(false, false), (true, false), (false, true), (true, true)] {
        if offload && !has_offload {
            continue;
        }
        let receiver = udp4();
        receiver.set_portable_path(portable);
        receiver.set_receive_offload(offload).unwrap();
        receiver.set_timeout(Some(PATIENCE));
        receiver.as_socket2().set_recv_buffer_size(1 << 20).unwrap();
        let to = receiver.local_address().unwrap();
        let sender = udp4();
        let from = sender.local_address().unwrap().as_socket();
        let body = payload(14, 90);
        let mut batch = mmsg::ReceiveBatch::new(64, mmsg::ReceiveBatch::OFFLOAD_BUFFER_SIZE);
        for call in 0..WARM_UP + MEASURED {
            send_64(&sender, &to, call, &body, offload);
            let (mut got, mut allocations) = (0, 0);
            while got < 64 {
                let (checked, a) = allocations_in(|| {
                    receiver
                        .receive_batch(&mut batch, MsgFlags::empty(), None)
                        .unwrap();
                    let mut checked = 0;
                    for (i, (source, datagram)) in batch.datagrams().enumerate() {
                        let i = got + i;
                        assert_eq!(source, from);
                        assert_eq!(&datagram[..12], &header(call, i)[..], "call {call}, {i}");
                        assert_eq!(&datagram[12..], &body[..]);
                        checked += 1;
                    }
                    checked
                });
                allocations += a;
                got += checked;
            }
            assert_eq!(got, 64);
            if call >= WARM_UP {
                assert_eq!(
                    allocations, 0,
                    "portable {portable}, offload {offload}, call {call}"
                );
            }
        }
        assert_nothing_queued(&receiver);
    }
}
