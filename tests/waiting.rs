//! Blocking mode, timeouts, readiness conditions and cancellation.

mod common;
use common::*;

use std::io::{self, IoSlice};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mmsg::{Cancellable, IoCondition, MsgFlags, OutputMessage, Socket};

const SHORT: Duration = Duration::from_millis(200);

/// 2000 datagrams of 100 bytes, each carrying its index, for a Unix pair.
fn bodies(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let mut b = payload(i as u64, 100);
            b[..4].copy_from_slice(&(i as u32).to_be_bytes());
            b
        })
        .collect()
}

fn send(sender: &Socket, bodies: &[Vec<u8>], c: Option<&Cancellable>) -> io::Result<usize> {
    let vectors: Vec<[IoSlice; 1]> = bodies.iter().map(|b| [IoSlice::new(b)]).collect();
    let mut batch: Vec<OutputMessage> = vectors
        .iter()
        .map(|v| OutputMessage::new(None, v))
        .collect();
    sender.send_messages(&mut batch, MsgFlags::empty(), c)
}

/// Drains everything queued on `receiver` (non-blocking) and checks it is `expected`.
fn drain_exactly(receiver: &Socket, expected: &[Vec<u8>]) {
    let got: Vec<Vec<u8>> = receive_n(receiver, expected.len(), 200)
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    assert_eq!(got, expected);
    assert_nothing_queued(receiver);
}

#[test]
fn defaults_are_blocking_with_no_timeout() {
    let s = udp4();
    assert!(s.is_blocking());
    assert_eq!(s.timeout(), None);
    s.set_timeout(Some(SHORT));
    assert_eq!(s.timeout(), Some(SHORT));
}

#[test]
fn non_blocking_send_to_a_full_peer_returns_what_fit_then_would_block() {
    let (a, b) = unix_pair();
    a.set_blocking(false);
    let all = bodies(2000);
    let fit = send(&a, &all, None).unwrap();
    assert!(fit > 0 && fit < 2000, "{fit}");
    let err = send(&a, &all[fit..], None).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    drain_exactly(&b, &all[..fit]);
}

#[test]
fn blocking_send_with_a_timeout_returns_the_count_after_waiting_then_times_out() {
    // GLib: 2000 datagrams of 100 bytes, 1 s timeout, nobody reading: the count that fit,
    // after waiting the timeout. Every counted datagram is there, nothing more.
    let (a, b) = unix_pair();
    a.set_timeout(Some(SHORT));
    let all = bodies(2000);
    let started = Instant::now();
    let fit = send(&a, &all, None).unwrap();
    assert!(started.elapsed() >= SHORT);
    assert!(fit > 0 && fit < 2000);
    let started = Instant::now();
    let err = send(&a, &all[fit..], None).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(started.elapsed() >= SHORT);
    drain_exactly(&b, &all[..fit]);
}

#[test]
fn the_timeout_is_of_inactivity_so_a_slow_steady_drain_lets_everything_through() {
    let (a, b) = unix_pair();
    a.set_timeout(Some(Duration::from_secs(2)));
    let all = bodies(3000);
    let expected = all.clone();
    let drainer = std::thread::spawn(move || {
        // Several short pauses; their sum may exceed the timeout, none comes near it.
        let mut got = Vec::new();
        while got.len() < expected.len() {
            let want = (expected.len() - got.len()).min(400);
            got.extend(receive_n(&b, want, 200).into_iter().map(|(d, _)| d));
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(got, expected);
    });
    assert_eq!(send(&a, &all, None).unwrap(), 3000);
    drainer.join().unwrap();
}

#[test]
fn receive_times_out_on_an_idle_socket_and_would_block_when_non_blocking() {
    let s = udp4();
    let mut buf = [0u8; 16];
    s.set_timeout(Some(SHORT));
    let started = Instant::now();
    assert_eq!(
        s.receive(&mut buf, None).unwrap_err().kind(),
        io::ErrorKind::TimedOut
    );
    assert!(started.elapsed() >= SHORT);
    s.set_blocking(false);
    assert_eq!(
        s.receive(&mut buf, None).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
}

#[test]
fn conditions_report_readiness_and_timed_waits_wait_at_least_so_long() {
    let (a, b) = unix_pair();
    assert!(b
        .condition_check(IoCondition::OUT)
        .contains(IoCondition::OUT));
    assert!(!b.condition_check(IoCondition::IN).contains(IoCondition::IN));
    let started = Instant::now();
    let err = b
        .condition_timed_wait(IoCondition::IN, Some(SHORT), None)
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(started.elapsed() >= SHORT);
    b.set_timeout(Some(SHORT));
    assert_eq!(
        b.condition_wait(IoCondition::IN, None).unwrap_err().kind(),
        io::ErrorKind::TimedOut
    );
    a.send(b"x", None).unwrap();
    b.condition_wait(IoCondition::IN, None).unwrap();
    assert!(b.condition_check(IoCondition::IN).contains(IoCondition::IN));
    drain_exactly(&b, &[b"x".to_vec()]);
}

#[test]
fn a_cancellable_is_shared_by_its_clones_and_can_be_reset() {
    let c = Cancellable::new();
    let d = c.clone();
    assert!(!d.is_cancelled());
    c.cancel();
    assert!(d.is_cancelled());
    d.reset();
    assert!(!c.is_cancelled());
    let other = io::Error::other("not a cancel");
    assert!(!mmsg::is_cancelled(&other));
}

#[test]
fn a_cancelled_cancellable_fails_every_call_before_anything_is_sent() {
    let (a, b) = unix_pair();
    let c = Cancellable::new();
    c.cancel();
    let mut buf = [0u8; 8];
    let errors = [
        a.send_messages(&mut [], MsgFlags::empty(), Some(&c))
            .unwrap_err(),
        send(&a, &bodies(3), Some(&c)).unwrap_err(),
        a.send(b"no", Some(&c)).unwrap_err(),
        b.receive(&mut buf, Some(&c)).unwrap_err(),
        b.condition_wait(IoCondition::IN, Some(&c)).unwrap_err(),
        a.connect(&b.local_address().unwrap(), Some(&c))
            .unwrap_err(),
    ];
    for e in &errors {
        assert!(mmsg::is_cancelled(e), "{e:?}");
        assert_eq!(e.kind(), io::ErrorKind::Other);
    }
    assert_nothing_queued(&b);
    // After a reset the same cancellable lets calls through.
    c.reset();
    assert_eq!(send(&a, &bodies(3), Some(&c)).unwrap(), 3);
    drain_exactly(&b, &bodies(3));
}

#[test]
fn cancelling_from_another_thread_wakes_a_blocked_receive() {
    let s = udp4();
    let c = Cancellable::new();
    let (ready, go) = mpsc::channel();
    let canceller = {
        let c = c.clone();
        std::thread::spawn(move || {
            go.recv().unwrap();
            c.cancel();
        })
    };
    // A generous timeout turns a wake-up that never comes into a failure, not a hang.
    s.set_timeout(Some(PATIENCE));
    ready.send(()).unwrap(); // the receive below is about to block
    let mut buf = [0u8; 8];
    let err = s.receive(&mut buf, Some(&c)).unwrap_err();
    assert!(mmsg::is_cancelled(&err), "{err:?}");
    canceller.join().unwrap();
}

#[test]
fn a_cancel_mid_batch_returns_the_count_sent_and_every_counted_datagram_arrives() {
    let (a, b) = unix_pair();
    let c = Cancellable::new();
    let all = bodies(2000);
    let canceller = {
        let c = c.clone();
        let watched = a.as_socket2().try_clone().unwrap();
        std::thread::spawn(move || {
            // Cancel once the sender is stuck: the peer's queue is full (not writable).
            let deadline = Instant::now() + PATIENCE;
            let probe = Socket::from(watched);
            while probe
                .condition_check(IoCondition::OUT)
                .contains(IoCondition::OUT)
            {
                assert!(Instant::now() < deadline, "queue never filled");
                std::thread::yield_now();
            }
            c.cancel();
        })
    };
    let sent = send(&a, &all, Some(&c)).unwrap();
    assert!(sent > 0 && sent < 2000, "{sent}");
    canceller.join().unwrap();
    drain_exactly(&b, &all[..sent]);
    // The next call with the same (still cancelled) cancellable sends nothing.
    assert!(mmsg::is_cancelled(
        &send(&a, &all[sent..], Some(&c)).unwrap_err()
    ));
    assert_nothing_queued(&b);
}

#[test]
fn bytes_sent_of_messages_not_sent_is_left_as_it_was() {
    let (a, b) = unix_pair();
    a.set_blocking(false);
    let all = bodies(2000);
    let vectors: Vec<[IoSlice; 1]> = all.iter().map(|b| [IoSlice::new(b)]).collect();
    let mut batch: Vec<OutputMessage> = vectors
        .iter()
        .map(|v| {
            let mut m = OutputMessage::new(None, v);
            m.bytes_sent = 777;
            m
        })
        .collect();
    let fit = a
        .send_messages(&mut batch, MsgFlags::empty(), None)
        .unwrap();
    assert!(fit > 0 && fit < 2000);
    assert!(batch[..fit].iter().all(|m| m.bytes_sent == 100));
    assert!(batch[fit..].iter().all(|m| m.bytes_sent == 777));
    drain_exactly(&b, &all[..fit]);
}

/// `MsgFlags::DONTWAIT` is "do not block for this one call", on a blocking socket too: an
/// empty queue answers `WouldBlock` at once, not after the socket timeout, and so does a
/// full one on send.
#[test]
fn dontwait_never_waits_on_a_blocking_socket() {
    let (a, b) = unix_pair();
    for s in [&a, &b] {
        s.set_timeout(Some(PATIENCE));
        assert!(s.is_blocking());
    }
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let mut v = [std::io::IoSliceMut::new(&mut buf)];
    let mut m = [mmsg::InputMessage::new(&mut v)];
    let err = b
        .receive_messages(&mut m, MsgFlags::DONTWAIT, None)
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    let mut batch = mmsg::ReceiveBatch::new(2, 16);
    let err = b
        .receive_batch(&mut batch, MsgFlags::DONTWAIT, None)
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);

    // Fill b's queue, then one more with DONTWAIT: nothing sent, WouldBlock.
    let body = [5u8; 100];
    let v = [IoSlice::new(&body)];
    let mut queued = 0;
    loop {
        let mut one = [OutputMessage::new(None, &v)];
        match a.send_messages(&mut one, MsgFlags::DONTWAIT, None) {
            Ok(1) => queued += 1,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            other => panic!("{other:?}"),
        }
        assert!(queued < 100_000, "the queue never filled");
    }
    assert!(queued > 0);
    assert!(started.elapsed() < PATIENCE, "{:?}", started.elapsed());
    // Everything queued is intact.
    let got = receive_n(&b, queued, 128);
    assert!(got.iter().all(|(d, _)| d[..] == body[..]));
}
