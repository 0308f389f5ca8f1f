//! Fan-out: every packet to every recipient, in order, failures set aside per recipient.
//!
//! UDP on loopback runs on every OS. Receivers whose full queue makes the sender wait, and
//! a peer that refuses with `ECONNREFUSED`, are Unix datagram sockets at paths: Unix-only.

mod common;
use common::*;

use std::io::{self, IoSlice};
#[cfg(unix)]
use std::path::PathBuf;

use mmsg::{Cancellable, MsgFlags, Recipient, Socket};
#[cfg(unix)]
use mmsg::{Domain, SockAddr, Type};

/// RTP-like packets: a 4-byte header carrying the sequence number, and a payload shared by
/// every packet (the same memory, as a multi-recipient streamer would have it).
fn headers(count: usize) -> Vec<[u8; 4]> {
    (0..count as u32).map(|seq| seq.to_be_bytes()).collect()
}

fn packets<'a>(headers: &'a [[u8; 4]], payload: &'a [u8]) -> Vec<[IoSlice<'a>; 2]> {
    headers
        .iter()
        .map(|h| [IoSlice::new(h), IoSlice::new(payload)])
        .collect()
}

/// Checks that `socket` received exactly packets `from..to`, in order, byte for byte.
fn expect_packets(socket: &Socket, from: usize, to: usize, payload: &[u8]) {
    let got = receive_n(socket, to - from, 65536);
    for (i, (data, _)) in got.iter().enumerate() {
        let seq = (from + i) as u32;
        assert_eq!(
            &data[..4],
            &seq.to_be_bytes(),
            "packet {} out of order",
            from + i
        );
        assert_eq!(&data[4..], payload, "packet {} payload", from + i);
    }
    assert_nothing_queued(socket);
}

fn recipients_for(receivers: &[Socket]) -> Vec<Recipient> {
    receivers
        .iter()
        .map(|r| Recipient::new(r.local_address().unwrap()))
        .collect()
}

#[test]
fn every_packet_reaches_every_recipient_in_order() {
    let receivers: Vec<Socket> = (0..4).map(|_| udp4()).collect();
    let mut recipients = recipients_for(&receivers);
    let payload = payload(9, 1000);
    let hs = headers(50);
    let ps = packets(&hs, &payload);
    let sender = udp4();
    let sent = sender
        .send_fanout(&ps, &mut recipients, MsgFlags::empty(), None)
        .unwrap();
    assert_eq!(sent, 200);
    for (r, rec) in receivers.iter().zip(&recipients) {
        assert_eq!(rec.packets_sent, 50);
        assert!(rec.error.is_none());
        expect_packets(r, 0, 50, &payload);
    }
}

#[test]
fn packets_are_grouped_per_recipient_so_offload_applies() {
    let receivers: Vec<Socket> = (0..8).map(|_| udp4()).collect();
    let mut recipients = recipients_for(&receivers);
    let payload = payload(3, 1188);
    let hs = headers(64);
    let ps = packets(&hs, &payload);
    // Room for 64 packets queued before anyone reads (Windows' default is 64 KiB).
    for r in &receivers {
        r.set_receive_buffer_size(4 << 20).unwrap();
    }
    let sender = udp4();
    let sent = sender
        .send_fanout(&ps, &mut recipients, MsgFlags::empty(), None)
        .unwrap();
    assert_eq!(sent, 512);
    // 8 recipients x 64 equal packets: 8 segmented headers in one sendmmsg; on Windows,
    // where USO is honoured (not under wine), a few segmented sends per recipient.
    let calls = sender.syscall_count();
    if !sender.portable_path() {
        assert_eq!(calls, 1);
    } else if cfg!(windows) && sender.segmentation_offload() {
        assert!((8..512).contains(&calls), "{calls} sends");
    } else {
        assert_eq!(calls, 512);
    }
    for r in &receivers {
        expect_packets(r, 0, 64, &payload);
    }
}

#[cfg(unix)]
/// A bound Unix datagram socket at a fresh path in a private temporary directory.
struct UnixReceiver {
    socket: Socket,
    path: PathBuf,
}

#[cfg(unix)]
fn unix_receiver(dir: &std::path::Path, name: &str) -> UnixReceiver {
    let path = dir.join(name);
    let socket = Socket::new(Domain::UNIX, Type::DGRAM, None).unwrap();
    socket.bind(&SockAddr::unix(&path).unwrap()).unwrap();
    UnixReceiver { socket, path }
}

#[cfg(unix)]
fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mmsg-fanout-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
#[cfg(unix)] // a refusal a send sees at once needs a Unix peer (UDP learns it by ICMP, later)
fn a_refused_recipient_is_set_aside_and_the_others_get_everything() {
    let dir = temp_dir("refused");
    let a = unix_receiver(&dir, "a");
    let gone = unix_receiver(&dir, "gone");
    let c = unix_receiver(&dir, "c");
    let gone_address = SockAddr::unix(&gone.path).unwrap();
    drop(gone.socket); // the path stays, nobody listens: ECONNREFUSED
    let mut recipients = vec![
        Recipient::new(SockAddr::unix(&a.path).unwrap()),
        Recipient::new(gone_address),
        Recipient::new(SockAddr::unix(&c.path).unwrap()),
    ];
    // Fewer packets than an unconnected receiver's queue holds (net.unix.max_dgram_qlen,
    // 10 by default), as nobody drains during the call.
    let payload = payload(4, 100);
    let hs = headers(8);
    let ps = packets(&hs, &payload);
    let sender = Socket::new(Domain::UNIX, Type::DGRAM, None).unwrap();
    let sent = sender
        .send_fanout(&ps, &mut recipients, MsgFlags::empty(), None)
        .unwrap();
    assert_eq!(sent, 16);
    assert_eq!(recipients[0].packets_sent, 8);
    assert_eq!(recipients[1].packets_sent, 0);
    let err = recipients[1]
        .error
        .as_ref()
        .expect("refused recipient has its error");
    assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED));
    assert_eq!(recipients[2].packets_sent, 8);
    expect_packets(&a.socket, 0, 8, &payload);
    expect_packets(&c.socket, 0, 8, &payload);
    // The failed recipient is skipped on the next call too: nothing left to send.
    assert_eq!(
        sender
            .send_fanout(&ps, &mut recipients, MsgFlags::empty(), None)
            .unwrap(),
        0
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The same on every OS with a recipient the stack refuses at once: port 0 on loopback
/// (`EINVAL` on Linux, `WSAEINVAL` under wine).
#[test]
fn a_recipient_the_stack_refuses_is_set_aside_and_the_others_get_everything() {
    let (a, c) = (udp4(), udp4());
    let mut recipients = vec![
        Recipient::new(a.local_address().unwrap()),
        Recipient::new(addr("127.0.0.1:0")),
        Recipient::new(c.local_address().unwrap()),
    ];
    let payload = payload(4, 100);
    let hs = headers(8);
    let ps = packets(&hs, &payload);
    let sender = udp4();
    let sent = sender
        .send_fanout(&ps, &mut recipients, MsgFlags::empty(), None)
        .unwrap();
    assert_eq!(sent, 16);
    assert_eq!(recipients[0].packets_sent, 8);
    assert_eq!(recipients[1].packets_sent, 0);
    let err = recipients[1]
        .error
        .as_ref()
        .expect("the refused recipient has its error");
    assert!(err.raw_os_error().is_some(), "the OS's own error: {err:?}");
    assert_eq!(recipients[2].packets_sent, 8);
    assert!(recipients[0].error.is_none() && recipients[2].error.is_none());
    expect_packets(&a, 0, 8, &payload);
    expect_packets(&c, 0, 8, &payload);
    // Skipped on the next call too; once cleared and pointed elsewhere, it is sent all.
    assert_eq!(
        sender
            .send_fanout(&ps, &mut recipients, MsgFlags::empty(), None)
            .unwrap(),
        0
    );
    let b = udp4();
    recipients[1] = Recipient::new(b.local_address().unwrap());
    assert_eq!(
        sender
            .send_fanout(&ps, &mut recipients, MsgFlags::empty(), None)
            .unwrap(),
        8
    );
    expect_packets(&b, 0, 8, &payload);
    assert_nothing_queued(&a);
    assert_nothing_queued(&c);
}

#[test]
#[cfg(unix)] // only Unix datagram receivers fill up and push back
fn non_blocking_fanout_reports_progress_per_recipient_and_resumes() {
    let dir = temp_dir("progress");
    let receivers: Vec<UnixReceiver> = (0..3)
        .map(|i| unix_receiver(&dir, &i.to_string()))
        .collect();
    let mut recipients: Vec<Recipient> = receivers
        .iter()
        .map(|r| Recipient::new(SockAddr::unix(&r.path).unwrap()))
        .collect();
    let payload = payload(5, 200);
    let total = 2000; // far more than a Unix receive queue holds
    let hs = headers(total);
    let ps = packets(&hs, &payload);
    let sender = Socket::new(Domain::UNIX, Type::DGRAM, None).unwrap();
    sender.set_blocking(false);
    let mut next_expected = vec![0usize; 3];
    let mut rounds = 0;
    while recipients.iter().any(|r| r.packets_sent < total) {
        rounds += 1;
        assert!(rounds < 10_000, "no progress");
        match sender.send_fanout(&ps, &mut recipients, MsgFlags::empty(), None) {
            Ok(n) => assert!(n > 0),
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::WouldBlock),
        }
        assert!(recipients.iter().all(|r| r.error.is_none()));
        // Drain what each got so far and check it continues where the last drain stopped.
        for ((r, rec), next) in receivers
            .iter()
            .zip(&recipients)
            .zip(next_expected.iter_mut())
        {
            if rec.packets_sent > *next {
                expect_packets(&r.socket, *next, rec.packets_sent, &payload);
                *next = rec.packets_sent;
            }
        }
    }
    assert!(rounds > 1, "the queues should have filled at least once");
    assert_eq!(next_expected, vec![total; 3]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_recipient_continues_from_its_packets_sent() {
    let receiver = udp4();
    let mut recipients = vec![Recipient::new(receiver.local_address().unwrap())];
    recipients[0].packets_sent = 7;
    let payload = payload(6, 64);
    let hs = headers(10);
    let ps = packets(&hs, &payload);
    let sent = udp4()
        .send_fanout(&ps, &mut recipients, MsgFlags::empty(), None)
        .unwrap();
    assert_eq!(sent, 3);
    expect_packets(&receiver, 7, 10, &payload);
    recipients[0].reset();
    assert_eq!(recipients[0].packets_sent, 0);
}

#[test]
fn bad_recipients_fail_the_call_before_anything_is_sent() {
    let good = udp4();
    let mut recipients = vec![
        Recipient::new(good.local_address().unwrap()),
        Recipient::new(addr("[::1]:9")), // IPv6 on an IPv4 socket
    ];
    let payload = payload(7, 10);
    let hs = headers(3);
    let ps = packets(&hs, &payload);
    let err = udp4()
        .send_fanout(&ps, &mut recipients, MsgFlags::empty(), None)
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("recipient 1"), "{err}");
    assert_eq!(recipients[0].packets_sent, 0);
    assert_nothing_queued(&good);
}

#[test]
fn ipv4_recipients_on_a_dual_stack_socket_and_nothing_to_do() {
    let receiver = udp4();
    let mut recipients = vec![Recipient::new(receiver.local_address().unwrap())];
    let payload = payload(8, 300);
    let hs = headers(5);
    let ps = packets(&hs, &payload);
    let sender = udp6_dual_stack();
    assert_eq!(
        sender
            .send_fanout(&ps, &mut recipients, MsgFlags::empty(), None)
            .unwrap(),
        5
    );
    expect_packets(&receiver, 0, 5, &payload);
    let none: Vec<[IoSlice; 2]> = Vec::new();
    assert_eq!(
        sender
            .send_fanout(&none, &mut recipients, MsgFlags::empty(), None)
            .unwrap(),
        0
    );
    assert_eq!(
        sender
            .send_fanout(&ps, &mut [], MsgFlags::empty(), None)
            .unwrap(),
        0
    );
}

#[test]
fn a_cancelled_fanout_sends_nothing() {
    let receiver = udp4();
    let mut recipients = vec![Recipient::new(receiver.local_address().unwrap())];
    let payload = payload(9, 30);
    let hs = headers(4);
    let ps = packets(&hs, &payload);
    let cancellable = Cancellable::new();
    cancellable.cancel();
    let err = udp4()
        .send_fanout(&ps, &mut recipients, MsgFlags::empty(), Some(&cancellable))
        .unwrap_err();
    assert!(mmsg::is_cancelled(&err));
    assert_eq!(recipients[0].packets_sent, 0);
    assert_nothing_queued(&receiver);
}

#[test]
#[cfg(unix)] // only Unix datagram receivers fill up and push back
fn a_blocking_fanout_to_a_full_unconnected_receiver_times_out_instead_of_spinning() {
    // An unconnected Unix sender polls writable even while its receiver's queue is full:
    // the inactivity timeout must still end the wait, with the count that fit.
    let dir = temp_dir("timeout");
    let r = unix_receiver(&dir, "r");
    let mut recipients = vec![Recipient::new(SockAddr::unix(&r.path).unwrap())];
    let payload = payload(10, 50);
    let hs = headers(100);
    let ps = packets(&hs, &payload);
    let sender = Socket::new(Domain::UNIX, Type::DGRAM, None).unwrap();
    let timeout = std::time::Duration::from_millis(300);
    sender.set_timeout(Some(timeout));
    let started = std::time::Instant::now();
    let sent = sender
        .send_fanout(&ps, &mut recipients, MsgFlags::empty(), None)
        .unwrap();
    assert!(started.elapsed() >= timeout);
    assert!(sent > 0 && sent < 100, "sent {sent}");
    assert_eq!(recipients[0].packets_sent, sent);
    expect_packets(&r.socket, 0, sent, &payload);
    // Now nothing fits and nothing was sent: TimedOut.
    let mut fill: Vec<Recipient> = vec![Recipient::new(SockAddr::unix(&r.path).unwrap())];
    let first = sender
        .send_fanout(&ps, &mut fill, MsgFlags::empty(), None)
        .unwrap();
    let started = std::time::Instant::now();
    let err = sender
        .send_fanout(&ps, &mut fill, MsgFlags::empty(), None)
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(started.elapsed() >= timeout);
    expect_packets(&r.socket, 0, first, &payload);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[cfg(unix)] // only Unix datagram receivers fill up and push back
fn a_blocking_fanout_to_unconnected_receivers_completes_while_they_drain() {
    let dir = temp_dir("drain");
    let receivers: Vec<UnixReceiver> = (0..2)
        .map(|i| unix_receiver(&dir, &i.to_string()))
        .collect();
    let mut recipients: Vec<Recipient> = receivers
        .iter()
        .map(|r| Recipient::new(SockAddr::unix(&r.path).unwrap()))
        .collect();
    let payload = payload(11, 120);
    let total = 500;
    std::thread::scope(|scope| {
        for r in &receivers {
            let payload = &payload;
            scope.spawn(move || expect_packets(&r.socket, 0, total, payload));
        }
        let hs = headers(total);
        let ps = packets(&hs, &payload);
        let sender = Socket::new(Domain::UNIX, Type::DGRAM, None).unwrap();
        let sent = sender
            .send_fanout(&ps, &mut recipients, MsgFlags::empty(), None)
            .unwrap();
        assert_eq!(sent, 2 * total);
    });
    std::fs::remove_dir_all(&dir).unwrap();
}
