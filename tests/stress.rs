//! No loss, no reordering, no corruption: 100 000 datagrams of mixed vector layouts (0 to 4
//! vectors, some empty, 0-byte datagrams included) in batches of varying sizes, while a
//! thread drains with `receive_messages`. Every datagram is compared byte for byte with its
//! deterministically generated content.
//!
//! Through a blocking Unix datagram pair (Unix only), whose full queue makes the sender
//! wait, with batches beyond the OS's limit; and through a UDP pair on every OS, where the
//! sender starts a batch only while the receiver's queue has room for it (UDP drops what
//! does not fit), with batches up to that window.

mod common;
use common::*;

use std::io::{IoSlice, IoSliceMut};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use mmsg::{InputMessage, MsgFlags, OutputMessage, Socket};

/// Batch sizes, cycled through: single messages, small, the OS limit and either side of it.
#[cfg(unix)]
const BATCHES: &[usize] = &[1, 7, 64, 1000, 1500, 3, 257, 1024, 1025, 2, 4096];

/// Over UDP: batch sizes up to WINDOW, the datagrams allowed in flight. 128 of at most
/// 1200 bytes fit the smallest receive queue these tests meet (wine's: Linux's default
/// `rmem_max`, as wine cannot force more).
const UDP_BATCHES: &[usize] = &[1, 7, 64, 128, 3, 100, 2, 127];
const WINDOW: u64 = 128;

/// Largest datagram: 4 vectors of 300 bytes.
const MAX_DATAGRAM: usize = 4 * 300;

fn mix(i: u64) -> u64 {
    // splitmix64
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The vector lengths of datagram `i`: 0 to 4 vectors of 0..=300 bytes; about one in
/// seven vectors is empty, and one datagram in twenty has only empty vectors (or none).
fn layout(i: u64) -> Vec<usize> {
    let h = mix(i);
    let count = (h % 5) as usize;
    let all_empty = h % 20 == 7;
    (0..count)
        .map(|j| {
            let r = ((h >> (8 + 12 * j)) & 0xFFF) as usize;
            if all_empty || r % 7 == 0 {
                0
            } else {
                r % 301
            }
        })
        .collect()
}

/// The bytes of datagram `i`: its sequence number first (little-endian u64) where it is at
/// least 8 bytes long, then a pattern of `i` and the offset.
fn datagram(i: u64) -> Vec<u8> {
    let len: usize = layout(i).iter().sum();
    let salt = mix(i ^ 0x5555);
    let mut d: Vec<u8> = (0..len)
        .map(|k| (salt as usize).wrapping_add(k.wrapping_mul(131)) as u8 ^ (k >> 8) as u8)
        .collect();
    if len >= 8 {
        d[..8].copy_from_slice(&i.to_le_bytes());
    }
    d
}

/// The sequence number a received datagram carries, for failure messages.
fn carried_sequence(d: &[u8]) -> Option<u64> {
    d.get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
}

/// Sends `total` datagrams from `sender` in batches of `batches` sizes (blocking), calling
/// `before(first, count)` ahead of each; returns when all were sent.
fn send_all(sender: &Socket, total: u64, batches: &[usize], mut before: impl FnMut(u64, usize)) {
    let mut next = 0u64;
    let mut round = 0;
    while next < total {
        let size = batches[round % batches.len()].min((total - next) as usize);
        round += 1;
        before(next, size);
        let bodies: Vec<Vec<u8>> = (next..next + size as u64).map(datagram).collect();
        let layouts: Vec<Vec<usize>> = (next..next + size as u64).map(layout).collect();
        let vectors: Vec<Vec<IoSlice>> = bodies
            .iter()
            .zip(&layouts)
            .map(|(body, lens)| {
                let mut at = 0;
                lens.iter()
                    .map(|&len| {
                        let v = IoSlice::new(&body[at..at + len]);
                        at += len;
                        v
                    })
                    .collect()
            })
            .collect();
        let mut batch: Vec<OutputMessage> = vectors
            .iter()
            .map(|v| OutputMessage::new(None, v))
            .collect();
        let sent = sender
            .send_messages(&mut batch, MsgFlags::empty(), None)
            .unwrap_or_else(|e| panic!("batch at {next} ({size} messages): {e}"));
        assert_eq!(sent, size, "a blocking send returns early only on error");
        for (k, m) in batch.iter().enumerate() {
            assert_eq!(
                m.bytes_sent,
                bodies[k].len(),
                "bytes_sent of {}",
                next + k as u64
            );
        }
        next += size as u64;
    }
}

/// Receives `total` datagrams on `receiver` and checks each, in order, calling
/// `after(received)` after each call. Slots have two vectors (100 and 1100 bytes) so that
/// datagrams are scattered too.
fn receive_all(receiver: &Socket, total: u64, mut after: impl FnMut(u64)) {
    const SLOTS: usize = 256;
    let mut heads = vec![[0u8; 100]; SLOTS];
    let mut tails = vec![[0u8; MAX_DATAGRAM - 100]; SLOTS];
    let mut vectors: Vec<[IoSliceMut; 2]> = heads
        .iter_mut()
        .zip(tails.iter_mut())
        .map(|(h, t)| [IoSliceMut::new(h), IoSliceMut::new(t)])
        .collect();
    let mut messages: Vec<InputMessage> =
        vectors.iter_mut().map(|v| InputMessage::new(v)).collect();
    let mut next = 0u64;
    let mut scratch = Vec::with_capacity(MAX_DATAGRAM);
    while next < total {
        let want = ((total - next) as usize).min(SLOTS);
        let n = receiver
            .receive_messages(&mut messages[..want], MsgFlags::empty(), None)
            .unwrap_or_else(|e| panic!("receiving datagram {next} of {total}: {e}"));
        assert!(n > 0);
        for m in &messages[..n] {
            assert!(!m.flags.contains(MsgFlags::TRUNC), "datagram {next} cut");
            scratch.clear();
            let head = m.bytes_received.min(100);
            scratch.extend_from_slice(&m.vectors[0][..head]);
            scratch.extend_from_slice(&m.vectors[1][..m.bytes_received - head]);
            let expected = datagram(next);
            if scratch != expected {
                panic!(
                    "datagram {next}: got {} bytes (carrying sequence {:?}), expected {} bytes",
                    scratch.len(),
                    carried_sequence(&scratch),
                    expected.len()
                );
            }
            next += 1;
        }
        after(next);
    }
}

/// Sends `total` datagrams through a blocking Unix pair on the chosen path while a thread
/// drains and checks them; then nothing more is queued.
#[cfg(unix)]
fn no_loss(total: u64, portable: bool) {
    let (a, b) = unix_pair();
    a.set_portable_path(portable);
    b.set_portable_path(portable);
    // Bounds every wait: a lost datagram or a stuck sender fails instead of hanging.
    a.set_timeout(Some(PATIENCE));
    b.set_timeout(Some(PATIENCE));
    let started = Instant::now();
    let drainer = std::thread::spawn(move || {
        receive_all(&b, total, |_| {});
        b
    });
    send_all(&a, total, BATCHES, |_, _| {});
    let b = drainer
        .join()
        .expect("the receiving thread found a problem");
    assert_nothing_queued(&b);
    eprintln!(
        "{total} datagrams, portable {portable}: {:?}",
        started.elapsed()
    );
}

/// How many datagrams the draining thread has received, for the sender to wait on.
#[derive(Default)]
struct Progress {
    received: Mutex<u64>,
    changed: Condvar,
}

impl Progress {
    fn set(&self, received: u64) {
        *self.received.lock().unwrap() = received;
        self.changed.notify_all();
    }

    /// Waits until datagrams `first..first + count` fit within WINDOW of those received.
    fn wait_for_room(&self, first: u64, count: usize) {
        let received = self.received.lock().unwrap();
        let (received, waited) = self
            .changed
            .wait_timeout_while(received, PATIENCE, |received| {
                first + count as u64 > *received + WINDOW
            })
            .unwrap();
        assert!(
            !waited.timed_out(),
            "the receiver stalled at {} of {first} sent",
            *received
        );
    }
}

/// Sends `total` datagrams through a connected UDP pair on the chosen path while a thread
/// drains and checks them, never more than WINDOW in flight; then nothing more is queued.
fn no_loss_udp(total: u64, portable: bool) {
    let (a, b) = udp_pair();
    a.set_portable_path(portable);
    b.set_portable_path(portable);
    b.set_receive_buffer_size(1 << 20).unwrap();
    a.set_timeout(Some(PATIENCE));
    b.set_timeout(Some(PATIENCE));
    let progress = Progress::default();
    let started = Instant::now();
    let b = std::thread::scope(|scope| {
        let drainer = scope.spawn(|| {
            receive_all(&b, total, |received| progress.set(received));
            b
        });
        send_all(&a, total, UDP_BATCHES, |first, count| {
            progress.wait_for_room(first, count)
        });
        drainer
            .join()
            .expect("the receiving thread found a problem")
    });
    assert_nothing_queued(&b);
    eprintln!(
        "{total} datagrams over UDP, portable {}: {:?}",
        a.portable_path(),
        started.elapsed()
    );
}

#[test]
fn the_layouts_cover_what_they_should() {
    // The generator really produces the mix the stress tests claim.
    let layouts: Vec<Vec<usize>> = (0..10_000).map(layout).collect();
    for count in 0..=4 {
        assert!(layouts.iter().any(|l| l.len() == count), "{count} vectors");
    }
    assert!(layouts
        .iter()
        .any(|l| l.contains(&0) && l.iter().sum::<usize>() > 0));
    let zero_byte = layouts
        .iter()
        .filter(|l| l.iter().sum::<usize>() == 0)
        .count();
    assert!(zero_byte > 500, "{zero_byte} 0-byte datagrams");
    assert!(layouts
        .iter()
        .any(|l| l.len() > 1 && l.iter().all(|&n| n == 0)));
    assert!(layouts.iter().flatten().any(|&n| n == 300));
    let short = layouts
        .iter()
        .filter(|l| (1..8).contains(&l.iter().sum::<usize>()))
        .count();
    assert!(short > 0);
    assert_eq!(&datagram(123_456)[..8], &123_456u64.to_le_bytes()[..]);
}

#[test]
#[cfg(unix)] // a Unix datagram pair: the sender waits for room, batches pass the OS limit
fn a_hundred_thousand_mixed_datagrams_arrive_whole_and_in_order() {
    no_loss(100_000, false);
}

#[test]
#[cfg(unix)] // a Unix datagram pair: the sender waits for room, batches pass the OS limit
fn the_portable_path_loses_nothing_either() {
    no_loss(20_000, true);
}

#[test]
fn a_hundred_thousand_mixed_datagrams_arrive_whole_and_in_order_over_udp() {
    no_loss_udp(scaled(100_000) as u64, false);
}

#[test]
fn the_portable_path_loses_nothing_over_udp_either() {
    no_loss_udp(scaled(20_000) as u64, true);
}
