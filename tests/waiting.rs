//! Blocking mode, timeouts, readiness conditions and cancellation.
//!
//! Most of it runs on every OS over a connected UDP pair. What needs a peer whose full
//! queue makes the sender wait (a send that blocks, times out or is cancelled for lack of
//! room) needs a Unix datagram pair: UDP on loopback drops instead (under wine even
//! `SO_SNDBUF` 0 never makes a send would-block), so those tests are Unix-only.

mod common;
use common::*;

use std::io::{self, IoSlice};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mmsg::{Cancellable, IoCondition, MsgFlags, OutputMessage, Socket};

const SHORT: Duration = Duration::from_millis(200);

/// `count` datagrams of 100 bytes, each carrying its index.
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

/// Messages to the connected peer, one per vector set, with `bytes_sent` marked 777: what
/// a send leaves alone keeps the mark.
fn marked<'a>(vectors: &'a [[IoSlice<'a>; 1]]) -> Vec<OutputMessage<'a>> {
    vectors
        .iter()
        .map(|v| {
            let mut m = OutputMessage::new(None, v);
            m.bytes_sent = 777;
            m
        })
        .collect()
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
#[cfg(unix)] // only a Unix datagram peer fills up and makes the sender wait
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
#[cfg(unix)] // only a Unix datagram peer fills up and makes the sender wait
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
#[cfg(unix)] // only a Unix datagram peer fills up and makes the sender wait
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
    let (a, b) = udp_pair();
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
    let (a, b) = udp_pair();
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

/// Cancels `c` from another thread once `delay` has passed.
fn cancel_after(c: &Cancellable, delay: Duration) -> JoinHandle<()> {
    let c = c.clone();
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        c.cancel();
    })
}

/// Runs `blocked` (a call that waits, given a cancellable) while another thread cancels
/// it after SHORT: the call must have waited for the cancel, not failed or returned before
/// it, and been woken by it well before PATIENCE (the socket timeout of every test here, so
/// that a wake-up that never comes fails instead of hanging).
fn assert_woken_by_a_cancel<R: std::fmt::Debug>(
    what: &str,
    blocked: impl FnOnce(&Cancellable) -> io::Result<R>,
) {
    let c = Cancellable::new();
    let started = Instant::now();
    let canceller = cancel_after(&c, SHORT);
    let outcome = blocked(&c);
    let waited = started.elapsed();
    canceller.join().unwrap();
    let err = outcome.expect_err(what);
    assert!(mmsg::is_cancelled(&err), "{what}: {err:?}");
    assert!(
        waited >= SHORT,
        "{what}: ended after {waited:?}, before the cancel"
    );
    assert!(
        waited < PATIENCE / 2,
        "{what}: the cancel woke it only after {waited:?}"
    );
}

#[test]
fn cancelling_from_another_thread_wakes_a_blocked_receive() {
    let s = udp4();
    s.set_timeout(Some(PATIENCE));
    assert_woken_by_a_cancel("receive", |c| s.receive(&mut [0u8; 8], Some(c)));
    assert_woken_by_a_cancel("receive_messages", |c| {
        let mut buf = [0u8; 8];
        let mut v = [io::IoSliceMut::new(&mut buf)];
        let mut m = [mmsg::InputMessage::new(&mut v)];
        s.receive_messages(&mut m, MsgFlags::empty(), Some(c))
    });
    let mut batch = mmsg::ReceiveBatch::new(4, 64);
    assert_woken_by_a_cancel("receive_batch", |c| {
        s.receive_batch(&mut batch, MsgFlags::empty(), Some(c))
    });
    assert!(batch.is_empty());
    assert_nothing_queued(&s);
}

#[test]
fn cancelling_from_another_thread_wakes_a_blocked_condition_wait() {
    let (_a, b) = udp_pair();
    b.set_timeout(Some(PATIENCE));
    assert_woken_by_a_cancel("condition_wait", |c| {
        b.condition_wait(IoCondition::IN, Some(c))
    });
    assert_woken_by_a_cancel("condition_timed_wait", |c| {
        b.condition_timed_wait(IoCondition::IN, Some(PATIENCE), Some(c))
    });
}

#[test]
fn a_wait_with_no_timeout_is_woken_by_a_cancel() {
    // No timeout at all (the OS's wait is unbounded): each call runs on a thread of its
    // own, so that a wake-up that never comes fails the test instead of hanging it.
    let s = std::sync::Arc::new(udp4());
    assert_eq!(s.timeout(), None);
    type Call = fn(&Socket, &Cancellable) -> io::Error;
    let calls: [(&str, Call); 3] = [
        ("receive", |s, c| {
            s.receive(&mut [0u8; 8], Some(c)).unwrap_err()
        }),
        ("condition_wait", |s, c| {
            s.condition_wait(IoCondition::IN, Some(c)).unwrap_err()
        }),
        ("condition_timed_wait(None)", |s, c| {
            s.condition_timed_wait(IoCondition::IN, None, Some(c))
                .unwrap_err()
        }),
    ];
    for (what, call) in calls {
        let c = Cancellable::new();
        let (done, outcome) = std::sync::mpsc::channel();
        let started = Instant::now();
        let canceller = cancel_after(&c, SHORT);
        {
            let (s, c) = (std::sync::Arc::clone(&s), c.clone());
            std::thread::spawn(move || {
                let _ = done.send(call(&s, &c));
            });
        }
        let err = outcome
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|_| panic!("{what}: the cancel did not wake it"));
        let waited = started.elapsed();
        canceller.join().unwrap();
        assert!(mmsg::is_cancelled(&err), "{what}: {err:?}");
        assert!(
            waited >= SHORT,
            "{what}: ended after {waited:?}, before the cancel"
        );
    }
}

#[test]
fn a_cancellable_reset_after_waking_a_wait_waits_and_wakes_again() {
    // The same cancellable (its wake-up made by the first wait) through several rounds:
    // after a reset a wait lasts its whole timeout (the wake-up was quietened), and a new
    // cancel wakes the next wait.
    let s = udp4();
    s.set_timeout(Some(PATIENCE));
    let c = Cancellable::new();
    for round in 0..3 {
        let started = Instant::now();
        let err = s
            .condition_timed_wait(IoCondition::IN, Some(SHORT), Some(&c))
            .unwrap_err();
        assert_eq!(
            err.kind(),
            io::ErrorKind::TimedOut,
            "round {round}: {err:?}"
        );
        assert!(started.elapsed() >= SHORT, "round {round}");

        let started = Instant::now();
        let canceller = cancel_after(&c, SHORT);
        let err = s.receive(&mut [0u8; 8], Some(&c)).unwrap_err();
        let waited = started.elapsed();
        canceller.join().unwrap();
        assert!(mmsg::is_cancelled(&err), "round {round}: {err:?}");
        assert!(
            waited >= SHORT && waited < PATIENCE / 2,
            "round {round}: {waited:?}"
        );
        c.reset();
    }
}

#[test]
fn one_cancel_wakes_every_call_waiting_on_the_cancellable() {
    let sockets: Vec<Socket> = (0..3).map(|_| udp4()).collect();
    let c = Cancellable::new();
    let started = Instant::now();
    let canceller = cancel_after(&c, SHORT);
    std::thread::scope(|scope| {
        let waiters: Vec<_> = sockets
            .iter()
            .map(|s| {
                let c = &c;
                scope.spawn(move || {
                    s.condition_timed_wait(IoCondition::IN, Some(PATIENCE), Some(c))
                        .unwrap_err()
                })
            })
            .collect();
        for w in waiters {
            let err = w.join().unwrap();
            assert!(mmsg::is_cancelled(&err), "{err:?}");
        }
    });
    canceller.join().unwrap();
    let waited = started.elapsed();
    assert!(waited >= SHORT && waited < PATIENCE / 2, "{waited:?}");
}

#[test]
fn a_blocking_receive_waits_for_the_first_datagram_only() {
    let (a, b) = udp_pair();
    b.set_timeout(Some(PATIENCE));
    // A datagram sent later, from another thread: the receive waits for it.
    let started = Instant::now();
    let sender = std::thread::spawn(move || {
        std::thread::sleep(SHORT);
        a.send(b"late", None).unwrap();
        a
    });
    let mut buf = [0u8; 8];
    assert_eq!(b.receive(&mut buf, None).unwrap(), 4);
    let waited = started.elapsed();
    assert_eq!(&buf[..4], b"late");
    assert!(waited >= SHORT && waited < PATIENCE / 2, "{waited:?}");
    let a = sender.join().unwrap();
    // Two queued, three asked for: both come back without waiting for a third.
    a.send(b"one", None).unwrap();
    a.send(b"two", None).unwrap();
    b.condition_timed_wait(IoCondition::IN, Some(PATIENCE), None)
        .unwrap();
    let started = Instant::now();
    let (mut x, mut y, mut z) = ([0u8; 8], [0u8; 8], [0u8; 8]);
    let got: Vec<usize> = {
        let mut vx = [io::IoSliceMut::new(&mut x)];
        let mut vy = [io::IoSliceMut::new(&mut y)];
        let mut vz = [io::IoSliceMut::new(&mut z)];
        let mut m = [
            mmsg::InputMessage::new(&mut vx),
            mmsg::InputMessage::new(&mut vy),
            mmsg::InputMessage::new(&mut vz),
        ];
        let n = b.receive_messages(&mut m, MsgFlags::empty(), None).unwrap();
        m[..n].iter().map(|m| m.bytes_received).collect()
    };
    let n = got.len();
    assert!(started.elapsed() < PATIENCE / 2);
    // Loopback UDP may not have queued the second yet: take it with a second call then.
    let mut all = vec![x[..got[0]].to_vec()];
    if n == 2 {
        all.push(y[..got[1]].to_vec());
    } else {
        let mut buf = [0u8; 8];
        let len = b.receive(&mut buf, None).unwrap();
        all.push(buf[..len].to_vec());
    }
    assert_eq!(all, [b"one".to_vec(), b"two".to_vec()]);
    assert_nothing_queued(&b);
}

#[test]
#[cfg(unix)] // only a Unix datagram peer fills up and makes the sender wait
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
#[cfg(unix)] // only a Unix datagram peer fills up and makes the sender wait
fn bytes_sent_of_messages_not_sent_is_left_as_it_was() {
    let (a, b) = unix_pair();
    a.set_blocking(false);
    let all = bodies(2000);
    let vectors: Vec<[IoSlice; 1]> = all.iter().map(|b| [IoSlice::new(b)]).collect();
    let mut batch = marked(&vectors);
    let fit = a
        .send_messages(&mut batch, MsgFlags::empty(), None)
        .unwrap();
    assert!(fit > 0 && fit < 2000);
    assert!(batch[..fit].iter().all(|m| m.bytes_sent == 100));
    assert!(batch[fit..].iter().all(|m| m.bytes_sent == 777));
    drain_exactly(&b, &all[..fit]);
}

/// `MsgFlags::DONTWAIT` is "do not block for this one call", on a blocking socket too: an
/// empty queue answers `WouldBlock` at once, not after the socket timeout.
#[test]
fn dontwait_never_waits_on_a_blocking_socket() {
    let (a, b) = udp_pair();
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
    assert!(started.elapsed() < PATIENCE / 2, "{:?}", started.elapsed());
    // The socket is still blocking for calls without the flag.
    assert!(b.is_blocking());
    a.send(b"after", None).unwrap();
    let got = receive_n(&b, 1, 16);
    assert_eq!(got[0].0, b"after");
}

/// ... and a full queue on send answers `WouldBlock` at once, having sent nothing.
#[test]
#[cfg(unix)] // only a Unix datagram peer fills up and makes the sender wait
fn dontwait_never_waits_for_room_on_a_blocking_socket() {
    let (a, b) = unix_pair();
    a.set_timeout(Some(PATIENCE));
    assert!(a.is_blocking());
    let started = Instant::now();

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
    assert_nothing_queued(&b);
}

/// The same rule where the batch stops at a message the OS refuses (too large for UDP):
/// the count of those before it, their `bytes_sent` written, the rest's left alone; the
/// refused message's own error comes when it is sent again, and after it the batch goes on.
#[test]
fn bytes_sent_of_messages_after_a_refused_one_is_left_as_it_was() {
    let (a, b) = udp_pair();
    a.set_timeout(Some(PATIENCE));
    let mut all = bodies(6);
    all[3] = payload(3, 65_508); // one byte more than an IPv4 UDP datagram carries
    let vectors: Vec<[IoSlice; 1]> = all.iter().map(|b| [IoSlice::new(b)]).collect();
    let mut batch = marked(&vectors);
    assert_eq!(
        a.send_messages(&mut batch, MsgFlags::empty(), None)
            .unwrap(),
        3
    );
    assert!(batch[..3].iter().all(|m| m.bytes_sent == 100));
    assert!(batch[3..].iter().all(|m| m.bytes_sent == 777));
    let err = a
        .send_messages(&mut batch[3..], MsgFlags::empty(), None)
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(os_error::EMSGSIZE), "{err:?}");
    assert!(batch[3..].iter().all(|m| m.bytes_sent == 777));
    // Not kept: the next call, past the refused message, sends the rest.
    assert_eq!(
        a.send_messages(&mut batch[4..], MsgFlags::empty(), None)
            .unwrap(),
        2
    );
    assert!(batch[4..].iter().all(|m| m.bytes_sent == 100));
    let mut expected = all[..3].to_vec();
    expected.extend_from_slice(&all[4..]);
    drain_exactly(&b, &expected);
}

/// GLib callers ask for `IN | ERR | HUP` (and `PRI`): asking for conditions that are only
/// ever reported (or that the OS lacks, `PRI` on Windows) neither fails the check or the
/// wait nor hides the condition that holds.
#[test]
fn conditions_that_are_only_reported_may_be_asked_for() {
    let s = udp4();
    let glib_style = IoCondition::IN | IoCondition::ERR | IoCondition::HUP | IoCondition::PRI;
    assert!(!s.condition_check(glib_style).contains(IoCondition::IN));
    let started = Instant::now();
    let err = s
        .condition_timed_wait(
            IoCondition::ERR | IoCondition::HUP,
            Some(Duration::from_millis(50)),
            None,
        )
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(started.elapsed() >= Duration::from_millis(50));

    s.send_to(&s.local_address().unwrap(), b"x", None).unwrap();
    s.condition_timed_wait(glib_style, Some(PATIENCE), None)
        .unwrap();
    assert!(s.condition_check(glib_style).contains(IoCondition::IN));
    let mut buf = [0u8; 4];
    assert_eq!(s.receive(&mut buf, None).unwrap(), 1);
    assert_eq!(buf[0], b'x');
}
