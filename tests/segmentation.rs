//! Automatic UDP segmentation offload: receivers see exactly the datagrams they would
//! without it, in the same order, and counts and `bytes_sent` are unchanged.
//!
//! On Windows mmsg segments (USO, `UDP_SEND_MSG_SIZE`) only where a loopback probe shows
//! the stack honours it: not under wine 8.0, which accepts the option and sends the payload
//! whole, so there `segmentation_offload()` is false and sends are plain. The tests of what
//! arrives run everywhere (with offload inactive they still hold); those that need
//! segmentation to happen (fewer calls) are ignored on Windows and hold on a real Windows
//! 10 2004 or later with `--include-ignored`. A Windows send takes one message, or one
//! segmented run, per call.

mod common;
use common::*;

use std::io::IoSlice;

use mmsg::{ControlMessage, MsgFlags, OutputMessage, SockAddr, Socket};

/// Whether `sender`'s batches go out segmented: offload on, on a path that segments (the
/// `sendmmsg` path on Unix; on Windows every send, where the stack honours USO).
fn segments(sender: &Socket) -> bool {
    sender.segmentation_offload() && (cfg!(windows) || !sender.portable_path())
}

/// A control message that keeps a message out of any run, as (level, type, data): an
/// `IP_TOS` of 0 on Unix; on Windows, which takes no `IP_TOS` control message, a source
/// address of 127.0.0.1 (`IP_PKTINFO`).
fn run_breaker() -> (i32, i32, Vec<u8>) {
    #[cfg(unix)]
    return (libc::IPPROTO_IP, libc::IP_TOS, 0i32.to_ne_bytes().to_vec());
    #[cfg(windows)]
    return pktinfo_from_loopback_v4();
}

/// A batch description: (receiver index, vector lengths, with a control message).
type Plan = Vec<(usize, Vec<usize>, bool)>;

/// Sends `plan` from `sender` to `receivers` in one call and checks that every receiver
/// got its datagrams, byte for byte, in order. Returns the bytes_sent of each message.
fn send_and_check(sender: &Socket, receivers: &[Socket], plan: &Plan) -> Vec<usize> {
    let addresses: Vec<SockAddr> = receivers
        .iter()
        .map(|r| r.local_address().unwrap())
        .collect();
    let bodies: Vec<Vec<Vec<u8>>> = plan
        .iter()
        .enumerate()
        .map(|(i, (_, lens, _))| {
            lens.iter()
                .enumerate()
                .map(|(j, &len)| payload((i * 16 + j) as u64, len))
                .collect()
        })
        .collect();
    let vectors: Vec<Vec<IoSlice>> = bodies
        .iter()
        .map(|b| b.iter().map(|v| IoSlice::new(v)).collect())
        .collect();
    let (level, kind, data) = run_breaker();
    let tos = [ControlMessage::Raw {
        level,
        kind,
        data: &data,
    }];
    let mut messages: Vec<OutputMessage> = plan
        .iter()
        .zip(&vectors)
        .map(|((to, _, control), v)| {
            let m = OutputMessage::new(Some(&addresses[*to]), v);
            if *control {
                m.with_control_messages(&tos)
            } else {
                m
            }
        })
        .collect();
    let sent = sender
        .send_messages(&mut messages, MsgFlags::empty(), None)
        .expect("send");
    assert_eq!(sent, plan.len());
    for (i, r) in receivers.iter().enumerate() {
        let expected: Vec<Vec<u8>> = plan
            .iter()
            .zip(&bodies)
            .filter(|((to, _, _), _)| *to == i)
            .map(|(_, b)| b.concat())
            .collect();
        let got: Vec<Vec<u8>> = receive_n(r, expected.len(), 65536)
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        assert_eq!(got.len(), expected.len());
        for (k, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(g, e, "receiver {i}, datagram {k}");
        }
        assert_nothing_queued(r);
    }
    messages.iter().map(|m| m.bytes_sent).collect()
}

fn receivers(n: usize) -> Vec<Socket> {
    (0..n)
        .map(|_| {
            let r = udp4();
            r.as_socket2().set_recv_buffer_size(8 << 20).unwrap();
            r
        })
        .collect()
}

/// The same plan with offload on and off gives the same counts, bytes and datagrams.
/// Returns the system calls made with offload and without.
fn check_both_ways(plan: Plan, receiver_count: usize) -> (u64, u64) {
    let rs = receivers(receiver_count);
    let sender = udp4();
    // Linux always has it; Windows where the stack honours USO (not under wine).
    assert!(
        sender.segmentation_offload() || cfg!(windows),
        "UDP GSO expected on this kernel"
    );
    let with = send_and_check(&sender, &rs, &plan);
    let calls_with = sender.syscall_count();
    sender.set_segmentation_offload(false);
    assert!(!sender.segmentation_offload());
    let without = send_and_check(&sender, &rs, &plan);
    let calls_without = sender.syscall_count() - calls_with;
    assert_eq!(with, without);
    let expected: Vec<usize> = plan.iter().map(|(_, l, _)| l.iter().sum()).collect();
    assert_eq!(with, expected);
    (calls_with, calls_without)
}

#[test]
#[cfg_attr(
    windows,
    ignore = "wine 8.0 ignores UDP_SEND_MSG_SIZE; run with --include-ignored on real Windows 10 2004+"
)]
fn equal_datagrams_to_one_destination() {
    assert!(
        udp4().segmentation_offload() || cfg!(unix),
        "USO expected (Windows 10 2004 or later)"
    );
    let plan = (0..64).map(|_| (0, vec![12, 1188], false)).collect();
    let (with, without) = check_both_ways(plan, 1);
    // sendmmsg of one segmented header, against sendmmsg of 64 headers: one call each,
    // unless the portable path (one sendmsg per datagram) is in force. Windows: two
    // segmented sends (54 x 1200 bytes fill one, 65 507 at most), against 64 sends.
    if cfg!(windows) {
        assert_eq!((with, without), (2, 64));
    } else if udp4().portable_path() {
        assert_eq!((with, without), (64, 64));
    } else {
        assert_eq!((with, without), (1, 1));
    }
}

#[test]
#[cfg_attr(
    windows,
    ignore = "wine 8.0 ignores UDP_SEND_MSG_SIZE; run with --include-ignored on real Windows 10 2004+"
)]
fn coalesced_runs_and_single_datagrams_share_one_sendmmsg() {
    // 8 destinations x 8 equal datagrams, then 8 lone ones: 16 headers, one system call
    // (Windows: 16 calls, one per header).
    assert!(
        udp4().segmentation_offload() || cfg!(unix),
        "USO expected (Windows 10 2004 or later)"
    );
    let mut plan: Plan = Vec::new();
    for to in 0..8 {
        plan.extend((0..8).map(|_| (to, vec![1200], false)));
    }
    plan.extend((0..8).map(|to| (to, vec![99], false)));
    let (with, _) = check_both_ways(plan, 8);
    let expected = if cfg!(windows) {
        16
    } else if udp4().portable_path() {
        72
    } else {
        1
    };
    assert_eq!(with, expected);
}

#[test]
fn more_than_1024_datagrams_fit_one_call_when_coalesced() {
    // 2048 datagrams to one destination: 32 segmented headers, one sendmmsg; without
    // offload, 1024 headers a call, two calls. Windows (where it segments): 32 segmented
    // sends, against 2048.
    let plan = (0..2048).map(|_| (0, vec![100], false)).collect();
    let segmenting = segments(&udp4());
    let (with, without) = check_both_ways(plan, 1);
    if cfg!(windows) {
        if segmenting {
            assert_eq!((with, without), (32, 2048));
        }
    } else if !udp4().portable_path() {
        assert_eq!((with, without), (1, 2));
    }
}

#[test]
fn a_shorter_last_datagram_ends_a_run_and_the_next_starts_fresh() {
    let mut plan: Plan = Vec::new();
    for frame in 0..5 {
        for _ in 0..7 {
            plan.push((0, vec![12, 1000], false));
        }
        plan.push((0, vec![12, 100 + frame * 50], false));
    }
    check_both_ways(plan, 1);
}

#[test]
fn runs_longer_than_64_segments_or_65507_bytes_are_split() {
    let mut plan: Plan = (0..200).map(|_| (0, vec![300], false)).collect();
    plan.extend((0..40).map(|_| (0, vec![4000], false)));
    check_both_ways(plan, 1);
}

#[test]
fn changes_of_destination_size_and_control_messages_break_runs() {
    let mut plan: Plan = Vec::new();
    for i in 0..300usize {
        let to = (i / 5) % 3;
        let len = if i % 11 == 0 { 700 } else { 500 };
        plan.push((to, vec![len / 2, 0, len - len / 2], i % 17 == 0));
    }
    check_both_ways(plan, 3);
}

#[test]
fn empty_datagrams_are_never_coalesced() {
    let plan: Plan = (0..30)
        .map(|i| (0, if i % 4 == 3 { vec![] } else { vec![64] }, false))
        .collect();
    check_both_ways(plan, 1);
}

#[test]
fn a_run_larger_than_datagrams_allow_is_not_coalesced_but_reported() {
    // Each message is at most a datagram; a 70 000-byte message is refused on its own.
    let rs = receivers(1);
    let to = rs[0].local_address().unwrap();
    let sender = udp4();
    let big = vec![1u8; 70_000];
    let small = payload(5, 1000);
    let v_small = [IoSlice::new(&small)];
    let v_big = [IoSlice::new(&big)];
    let mut batch = vec![
        OutputMessage::new(Some(&to), &v_small),
        OutputMessage::new(Some(&to), &v_small),
        OutputMessage::new(Some(&to), &v_big),
        OutputMessage::new(Some(&to), &v_small),
    ];
    assert_eq!(
        sender
            .send_messages(&mut batch, MsgFlags::empty(), None)
            .unwrap(),
        2
    );
    let err = sender
        .send_messages(&mut batch[2..], MsgFlags::empty(), None)
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(os_error::EMSGSIZE));
    let got = receive_n(&rs[0], 2, 65536);
    assert!(got.iter().all(|(d, _)| *d == small));
    assert_nothing_queued(&rs[0]);
}

#[test]
#[cfg(unix)]
fn offload_is_off_for_unix_sockets() {
    let (a, _b) = unix_pair();
    assert!(!a.segmentation_offload());
}

#[test]
fn datagrams_written_back_to_back_in_one_buffer() {
    // 300 datagrams sliced out of one buffer, each as a header vector and a body vector
    // that touch, and each touching the next datagram: runs of 70 to each of 3 receivers
    // in turn (so runs are split at 64 segments), some shorter datagrams ending runs early.
    // Where vectors touch, a run sends them as one; no datagram may end up in a neighbour's.
    let rs = receivers(3);
    let addresses: Vec<SockAddr> = rs.iter().map(|r| r.local_address().unwrap()).collect();
    let sizes: Vec<usize> = (0..300)
        .map(|i| if i % 37 == 36 { 200 } else { 500 })
        .collect();
    let buffer = payload(77, sizes.iter().sum());
    let mut datagrams = Vec::new();
    let mut at = 0;
    for &len in &sizes {
        datagrams.push(&buffer[at..at + len]);
        at += len;
    }
    let vectors: Vec<[IoSlice; 2]> = datagrams
        .iter()
        .map(|d| [IoSlice::new(&d[..8]), IoSlice::new(&d[8..])])
        .collect();
    let to = |i: usize| (i / 70) % 3;
    let sender = udp4();
    // Windows without USO (wine): asking for offload leaves it off.
    let available = sender.segmentation_offload();
    assert!(available || cfg!(windows), "UDP GSO expected");
    for offload in [true, false] {
        sender.set_segmentation_offload(offload);
        let mut messages: Vec<OutputMessage> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| OutputMessage::new(Some(&addresses[to(i)]), v))
            .collect();
        let calls = sender.syscall_count();
        let sent = sender
            .send_messages(&mut messages, MsgFlags::empty(), None)
            .unwrap();
        assert_eq!(sent, 300, "offload {offload}");
        // One sendmmsg, taken as it was planned: a refused segmented send would have
        // switched offload off and been retried plainly, hiding a wrong layout.
        assert_eq!(sender.segmentation_offload(), offload && available);
        if !sender.portable_path() {
            assert_eq!(sender.syscall_count() - calls, 1, "offload {offload}");
        }
        let bytes: Vec<usize> = messages.iter().map(|m| m.bytes_sent).collect();
        assert_eq!(bytes, sizes, "offload {offload}");
        for (r, receiver) in rs.iter().enumerate() {
            let expected: Vec<&[u8]> = (0..300)
                .filter(|&i| to(i) == r)
                .map(|i| datagrams[i])
                .collect();
            let got = receive_n(receiver, expected.len(), 65536);
            assert_eq!(got.len(), expected.len(), "offload {offload}, receiver {r}");
            for (k, ((g, _), e)) in got.iter().zip(&expected).enumerate() {
                assert_eq!(&g[..], *e, "offload {offload}, receiver {r}, datagram {k}");
            }
            assert_nothing_queued(receiver);
        }
    }
}

#[test]
fn runs_to_ipv4_destinations_on_a_dual_stack_socket() {
    // Runs to an IPv4 receiver (sent to its IPv4-mapped form) and to an IPv6 one, and a lone
    // message with control messages of its own to the IPv4 one, in one sendmmsg: every
    // header that takes something from mmsg's scratch (mapped address, a run's vectors,
    // control data) among headers that take nothing.
    let sender = udp6_dual_stack();
    // Windows without USO (wine): asking for offload leaves it off.
    let available = sender.segmentation_offload();
    assert!(available || cfg!(windows), "UDP GSO expected");
    let (r4, r6) = (udp4(), udp6());
    let (to4, to6) = (r4.local_address().unwrap(), r6.local_address().unwrap());
    // (to the IPv4 receiver?, length, with a control message?)
    let mut plan: Vec<(bool, usize, bool)> = Vec::new();
    plan.extend((0..5).map(|_| (true, 400, false)));
    plan.push((false, 90, false));
    plan.extend((0..4).map(|_| (false, 300, false)));
    plan.push((true, 250, true));
    plan.extend((0..3).map(|_| (true, 200, false)));
    let bodies: Vec<Vec<u8>> = plan
        .iter()
        .enumerate()
        .map(|(i, &(_, len, _))| payload(500 + i as u64, len))
        .collect();
    let vectors: Vec<[IoSlice; 1]> = bodies.iter().map(|b| [IoSlice::new(b)]).collect();
    let segment = [ControlMessage::UdpSegment(250)];
    for offload in [true, false] {
        sender.set_segmentation_offload(offload);
        let mut messages: Vec<OutputMessage> = plan
            .iter()
            .zip(&vectors)
            .map(|(&(v4, _, control), v)| {
                let m = OutputMessage::new(Some(if v4 { &to4 } else { &to6 }), v);
                if control {
                    m.with_control_messages(&segment)
                } else {
                    m
                }
            })
            .collect();
        let calls = sender.syscall_count();
        let sent = sender
            .send_messages(&mut messages, MsgFlags::empty(), None)
            .unwrap();
        assert_eq!(sent, plan.len(), "offload {offload}");
        assert_eq!(sender.segmentation_offload(), offload && available);
        if !sender.portable_path() {
            assert_eq!(sender.syscall_count() - calls, 1, "offload {offload}");
        }
        let bytes: Vec<usize> = messages.iter().map(|m| m.bytes_sent).collect();
        let lens: Vec<usize> = plan.iter().map(|&(_, len, _)| len).collect();
        assert_eq!(bytes, lens, "offload {offload}");
        for (v4, receiver) in [(true, &r4), (false, &r6)] {
            let expected: Vec<&Vec<u8>> = plan
                .iter()
                .zip(&bodies)
                .filter(|((to4, _, _), _)| *to4 == v4)
                .map(|(_, b)| b)
                .collect();
            let got = receive_n(receiver, expected.len(), 65536);
            assert_eq!(got.len(), expected.len(), "offload {offload}, v4 {v4}");
            for (k, ((g, _), e)) in got.iter().zip(&expected).enumerate() {
                assert_eq!(g, *e, "offload {offload}, v4 {v4}, datagram {k}");
            }
            assert_nothing_queued(receiver);
        }
    }
}

/// Whether a run of `count` equal datagrams from `sender` still goes out segmented, each
/// byte checked at arrival. Linux: a receiver with receive offload on gets them as
/// coalesced buffers (more datagrams than buffers).
#[cfg(not(windows))]
fn still_coalesces(sender: &Socket, count: usize, size: usize) -> bool {
    let r = udp4();
    r.as_socket2().set_recv_buffer_size(4 << 20).unwrap();
    r.set_receive_offload(true).unwrap();
    r.set_timeout(Some(PATIENCE));
    let to = r.local_address().unwrap();
    let bodies: Vec<Vec<u8>> = (0..count).map(|i| payload(i as u64, size)).collect();
    send_bodies(sender, &to, &bodies);
    let mut received = mmsg::ReceiveBatch::new(count, mmsg::ReceiveBatch::OFFLOAD_BUFFER_SIZE);
    let (mut got, mut buffers) = (Vec::new(), 0);
    while got.len() < count {
        r.receive_batch(&mut received, MsgFlags::empty(), None)
            .unwrap();
        buffers += received.len();
        got.extend(received.datagrams().map(|(_, d)| d.to_vec()));
    }
    assert_eq!(got, bodies);
    buffers < count
}

/// Whether a run of `count` equal datagrams from `sender` still goes out segmented, each
/// byte checked at arrival. Windows (no receive offload): the run takes one send per
/// segmented send's worth of datagrams (64 at most, 65 507 bytes at most).
#[cfg(windows)]
fn still_coalesces(sender: &Socket, count: usize, size: usize) -> bool {
    let r = udp4();
    r.as_socket2().set_recv_buffer_size(4 << 20).unwrap();
    let to = r.local_address().unwrap();
    let before = sender.syscall_count();
    let bodies = send_sizes(sender, &to, &vec![size; count]);
    let calls = sender.syscall_count() - before;
    let got: Vec<Vec<u8>> = receive_n(&r, count, 65536)
        .into_iter()
        .map(|d| d.0)
        .collect();
    assert_eq!(got, bodies);
    assert_nothing_queued(&r);
    let per_send = (65_507 / size).min(64);
    calls == count.div_ceil(per_send) as u64
}

/// Whether `err` is the OS refusing a destination of port 0: `EINVAL` on Unix; on Windows
/// `WSAEADDRNOTAVAIL`, or `WSAEINVAL` under wine (Linux's `EINVAL` passed through).
fn is_port_zero_refusal(err: &std::io::Error) -> bool {
    #[cfg(unix)]
    return err.raw_os_error() == Some(libc::EINVAL);
    #[cfg(windows)]
    return err.raw_os_error().is_some()
        && matches!(
            err.kind(),
            std::io::ErrorKind::AddrNotAvailable | std::io::ErrorKind::InvalidInput
        );
}

#[test]
fn a_bad_destination_does_not_turn_segmentation_offload_off() {
    let sender = udp4();
    // Whether the sends below go segmented; on paths that never segment (the portable
    // path on Unix, Windows without USO) only the errors are checked.
    let segmenting = segments(&sender);
    // Two equal datagrams to port 0: a run, which the kernel refuses (EINVAL) as it
    // refuses each of them alone. The error is the destination's, not the offload's.
    let port_zero = addr("127.0.0.1:0");
    let body = payload(9, 100);
    let v = [IoSlice::new(&body)];
    let mut bad = [OutputMessage::new(Some(&port_zero), &v); 2];
    let err = sender
        .send_messages(&mut bad, MsgFlags::empty(), None)
        .unwrap_err();
    assert!(is_port_zero_refusal(&err), "{err:?}");
    // The same in a fan-out, to a recipient with port 0 among good ones.
    let good = udp4();
    let packets = [[IoSlice::new(&body)], [IoSlice::new(&body)]];
    let mut recipients = [
        mmsg::Recipient::new(addr("127.0.0.1:0")),
        mmsg::Recipient::new(good.local_address().unwrap()),
    ];
    assert_eq!(
        sender
            .send_fanout(&packets, &mut recipients, MsgFlags::empty(), None)
            .unwrap(),
        2
    );
    let err = recipients[0].error.as_ref().unwrap();
    assert!(is_port_zero_refusal(err), "{err:?}");
    assert_eq!(
        receive_n(&good, 2, 256)
            .into_iter()
            .map(|d| d.0)
            .collect::<Vec<_>>(),
        [body.clone(), body.clone()]
    );
    assert_nothing_queued(&good);

    if segmenting {
        assert!(
            sender.segmentation_offload(),
            "offload was turned off by a bad destination"
        );
        assert!(still_coalesces(&sender, 200, 1200));
    }
}

#[test]
fn the_first_message_s_vectors_count_against_iov_max() {
    let sender = udp4();
    // Whether the sends below go segmented; on paths that never segment (the portable
    // path on Unix, Windows without USO) only what arrives is checked.
    let segmenting = segments(&sender);
    let r = udp4();
    let to = r.local_address().unwrap();
    // Two equal 1200-byte messages of 600 two-byte vectors each, with gaps between them
    // (vectors that touch would be merged): one header would need 1200 vectors, more than
    // IOV_MAX, so they must go as two datagrams.
    let backing = [payload(1, 2400), payload(2, 2400)];
    let vectors: Vec<Vec<IoSlice>> = backing
        .iter()
        .map(|b| b.chunks(4).map(|c| IoSlice::new(&c[..2])).collect())
        .collect();
    let bodies: Vec<Vec<u8>> = vectors
        .iter()
        .map(|v| v.iter().flat_map(|s| s.to_vec()).collect())
        .collect();
    let mut batch: Vec<OutputMessage> = vectors
        .iter()
        .map(|v| OutputMessage::new(Some(&to), v))
        .collect();
    assert_eq!(
        sender
            .send_messages(&mut batch, MsgFlags::empty(), None)
            .unwrap(),
        2
    );
    let got: Vec<Vec<u8>> = receive_n(&r, 2, 2048).into_iter().map(|d| d.0).collect();
    assert_eq!(got, bodies);
    assert_nothing_queued(&r);
    if segmenting {
        // 1200-byte segments are still coalesced on this socket.
        assert!(sender.segmentation_offload());
        assert!(
            still_coalesces(&sender, 100, 1200),
            "1200-byte segments were given up"
        );
    }
}
