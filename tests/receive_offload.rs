//! Receive offload (UDP_GRO): coalesced buffers are split back into the datagrams sent.
//!
//! UDP_GRO is Linux's: mmsg has no receive offload on Windows (`set_receive_offload`
//! answers `Unsupported`), so the tests of coalesced buffers are Linux only; those of what
//! every system has (the refusal itself, a 0-byte datagram after a run) run everywhere.

mod common;
use common::*;

use std::io::IoSliceMut;

use mmsg::{InputMessage, MsgFlags, SockAddr, Socket};

/// Sends `sizes.len()` datagrams (content from their index) from a GSO sender in one batch.
fn send_batch(to: &SockAddr, sizes: &[usize]) -> Vec<Vec<u8>> {
    send_sizes(&udp4(), to, sizes)
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

#[cfg(target_os = "linux")]
fn gro_receiver() -> Socket {
    let r = udp4();
    r.as_socket2().set_recv_buffer_size(8 << 20).unwrap();
    r.set_receive_offload(true).unwrap();
    assert!(r.receive_offload());
    r
}

#[test]
#[cfg(target_os = "linux")]
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
#[cfg(target_os = "linux")]
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
#[cfg(target_os = "linux")]
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
#[cfg(target_os = "linux")]
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
#[cfg(unix)]
fn receive_offload_is_refused_on_unix_sockets() {
    let (a, _b) = unix_pair();
    assert!(a.set_receive_offload(true).is_err());
    assert!(!a.receive_offload());
}

#[test]
fn receive_offload_is_linux_s_alone_and_receiving_works_either_way() {
    // Linux takes it on UDP; every other system refuses with Unsupported (Windows' URO is
    // not used) and the socket stays as it was: receiving is unchanged.
    let r = udp4();
    let asked = r.set_receive_offload(true);
    if cfg!(target_os = "linux") {
        asked.unwrap();
        assert!(r.receive_offload());
    } else {
        assert_eq!(asked.unwrap_err().kind(), std::io::ErrorKind::Unsupported);
        assert!(!r.receive_offload());
    }
    let sizes: Vec<usize> = (0..40).map(|i| if i % 7 == 6 { 50 } else { 900 }).collect();
    let bodies = send_batch(&r.local_address().unwrap(), &sizes);
    assert_eq!(receive_with_slots(&r, bodies.len(), 16, 1024), bodies);
    assert_nothing_queued(&r);
}

/// Receives one datagram per call with `flags`, into a buffer of `max` bytes.
#[cfg(target_os = "linux")]
fn receive_one(socket: &Socket, flags: MsgFlags, max: usize) -> Vec<u8> {
    socket.set_timeout(Some(PATIENCE));
    let mut buf = vec![0u8; max];
    let n = {
        let mut v = [IoSliceMut::new(&mut buf)];
        let mut m = [InputMessage::new(&mut v)];
        assert_eq!(socket.receive_messages(&mut m, flags, None).unwrap(), 1);
        m[0].bytes_received
    };
    buf.truncate(n);
    buf
}

/// The lengths of `count` datagrams received `slots` messages per call.
fn lengths(socket: &Socket, count: usize, slots: usize) -> Vec<usize> {
    receive_with_slots(socket, count, slots, 256)
        .iter()
        .map(Vec::len)
        .collect()
}

#[test]
fn a_0_byte_datagram_after_a_coalesced_run_is_not_lost() {
    // A run of 4 x 100 bytes (one segmented send) then a 0-byte datagram, read two
    // messages a call: the 0-byte one comes out last, with and without offload (where
    // there is receive offload: Linux; elsewhere the segmented send is the point).
    let offloads: &[bool] = if cfg!(target_os = "linux") {
        &[false, true]
    } else {
        &[false]
    };
    for &offload in offloads {
        let r = udp4();
        if offload {
            r.set_receive_offload(true).unwrap();
        }
        let to = r.local_address().unwrap();
        send_batch(&to, &[100; 4]);
        udp4().send_to(&to, b"", None).unwrap();
        assert_eq!(
            lengths(&r, 5, 2),
            [100, 100, 100, 100, 0],
            "offload {offload}"
        );
        assert_nothing_queued(&r);
    }
}

#[test]
#[cfg(target_os = "linux")]
fn a_peek_does_not_consume_kept_segments() {
    let r = gro_receiver();
    let bodies = send_batch(&r.local_address().unwrap(), &[64; 4]);
    assert_eq!(receive_one(&r, MsgFlags::empty(), 256), bodies[0]);
    // Segment 1 is kept by mmsg now: peeking at it twice leaves it there.
    assert_eq!(receive_one(&r, MsgFlags::PEEK, 256), bodies[1]);
    assert_eq!(receive_one(&r, MsgFlags::PEEK, 256), bodies[1]);
    for body in &bodies[1..] {
        assert_eq!(&receive_one(&r, MsgFlags::empty(), 256), body);
    }
    assert_nothing_queued(&r);
}

#[test]
#[cfg(target_os = "linux")]
fn a_peek_at_a_new_coalesced_buffer_takes_nothing() {
    let r = gro_receiver();
    let bodies = send_batch(&r.local_address().unwrap(), &[64; 4]);
    assert_eq!(receive_one(&r, MsgFlags::PEEK, 256), bodies[0]);
    assert_eq!(receive_with_slots(&r, 4, 8, 256), bodies);
    assert_nothing_queued(&r);
}

#[test]
#[cfg(target_os = "linux")]
fn turning_receive_offload_off_keeps_the_segments_already_received() {
    let r = gro_receiver();
    let bodies = send_batch(&r.local_address().unwrap(), &[200; 4]);
    assert_eq!(receive_one(&r, MsgFlags::empty(), 512), bodies[0]);
    r.set_receive_offload(false).unwrap();
    assert_eq!(receive_with_slots(&r, 3, 2, 512), bodies[1..]);
    assert_nothing_queued(&r);
}

/// A receiver blocked with offload on must not hold up another thread's receive on the
/// same socket: its timeout and its cancellation hold, whatever the first one waits for.
#[test]
#[cfg(target_os = "linux")]
fn a_blocked_receive_does_not_stall_other_receivers_timeouts_or_cancels() {
    use std::sync::{mpsc, Arc};
    use std::time::{Duration, Instant};

    let r = Arc::new(gro_receiver());
    r.set_timeout(None);
    // The first receiver waits with no timeout; its thread id says where it is.
    let (tid_tx, tid_rx) = mpsc::channel();
    let first = {
        let r = Arc::clone(&r);
        std::thread::spawn(move || {
            tid_tx.send(current_tid()).unwrap();
            let mut buf = [0u8; 256];
            let mut v = [IoSliceMut::new(&mut buf)];
            let mut m = [InputMessage::new(&mut v)];
            r.receive_messages(&mut m, MsgFlags::empty(), None)
                .map(|_| m[0].bytes_received)
        })
    };
    wait_until_blocked(tid_rx.recv().unwrap(), "poll");

    // Another receiver, timing out after 200 ms: it must, not wait for the first one.
    let (done_tx, done_rx) = mpsc::channel();
    let second = {
        let r = Arc::clone(&r);
        let done_tx = done_tx.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            let mut v = [IoSliceMut::new(&mut buf)];
            let mut m = [InputMessage::new(&mut v)];
            let started = Instant::now();
            r.set_timeout(Some(Duration::from_millis(200)));
            let result = r.receive_messages(&mut m, MsgFlags::empty(), None);
            done_tx.send((result.map(drop), started.elapsed())).unwrap();
        })
    };
    let (result, took) = done_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("a receive with a 200 ms timeout was stuck behind another receiver");
    assert_eq!(result.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    assert!(took >= Duration::from_millis(200), "{took:?}");
    second.join().unwrap();

    // And one with no timeout, cancelled from here once it waits.
    r.set_timeout(None);
    let c = mmsg::Cancellable::new();
    let (tid_tx, tid_rx) = mpsc::channel();
    let third = {
        let (r, c) = (Arc::clone(&r), c.clone());
        std::thread::spawn(move || {
            tid_tx.send(current_tid()).unwrap();
            let mut buf = [0u8; 64];
            let mut v = [IoSliceMut::new(&mut buf)];
            let mut m = [InputMessage::new(&mut v)];
            let result = r.receive_messages(&mut m, MsgFlags::empty(), Some(&c));
            done_tx.send((result.map(drop), Duration::ZERO)).unwrap();
        })
    };
    wait_until_blocked(tid_rx.recv().unwrap(), "");
    c.cancel();
    let (result, _) = done_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("a cancelled receive was stuck behind another receiver");
    assert!(mmsg::is_cancelled(&result.unwrap_err()));
    third.join().unwrap();

    // Release the first receiver with a datagram; it gets it whole.
    send_batch(&r.local_address().unwrap(), &[32]);
    assert_eq!(first.join().unwrap().unwrap(), 32);
}

#[cfg(target_os = "linux")]
fn current_tid() -> i64 {
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name()?.to_str()?.parse().ok())
        .expect("thread id from /proc/thread-self")
}

/// Waits (bounded) until thread `tid` sleeps in the kernel, in a wait channel containing
/// `channel` (any, where it is empty).
#[cfg(target_os = "linux")]
fn wait_until_blocked(tid: i64, channel: &str) {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
        let state = status
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap();
        let wchan = std::fs::read_to_string(format!("/proc/self/task/{tid}/wchan")).unwrap();
        if state == "S" && wchan.contains(channel) && wchan != "0" {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "thread {tid} never blocked"
        );
        std::thread::yield_now();
    }
}
