//! Segmentation offload refused by the route: mmsg falls back to plain sends, loses nothing,
//! and remembers. Runs in a network namespace the test makes (loopback with a 1500-byte
//! MTU, where a segment larger than the MTU makes the kernel answer EINVAL).
//!
//! Linux only: it needs a network namespace (`unshare(CLONE_NEWNET)`, `ip link`) and
//! `UDP_SEGMENT`'s refusal of segments larger than the route's MTU.
#![cfg(target_os = "linux")]

mod common;
use common::*;

use std::io::IoSlice;
use std::process::Command;

use mmsg::{MsgFlags, OutputMessage};

/// Moves the calling thread into a new network namespace with `lo` up at MTU 1500.
/// Returns false (the test is then skipped, with a note) where namespaces are not allowed.
fn private_network_with_mtu_1500() -> bool {
    // SAFETY: unshare takes flags only; CLONE_NEWNET moves this thread alone into a fresh
    // network namespace, which holds nothing but a loopback device.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        eprintln!("skipped: cannot make a network namespace here (needs root)");
        return false;
    }
    // Commands spawned from this thread start in its namespace.
    let up = Command::new("ip")
        .args(["link", "set", "lo", "up", "mtu", "1500"])
        .status();
    match up {
        Ok(status) if status.success() => true,
        other => panic!("ip link set lo up mtu 1500: {other:?}"),
    }
}

/// Sends `bodies` to `to` in one batch from `sender`; returns the system calls it took.
fn send_all(sender: &mmsg::Socket, to: &mmsg::SockAddr, bodies: &[Vec<u8>]) -> u64 {
    let vectors: Vec<[IoSlice; 1]> = bodies.iter().map(|b| [IoSlice::new(b)]).collect();
    let mut batch: Vec<OutputMessage> = vectors
        .iter()
        .map(|v| OutputMessage::new(Some(to), v))
        .collect();
    let before = sender.syscall_count();
    let sent = sender.send_messages(&mut batch, MsgFlags::empty(), None);
    assert_eq!(sent.unwrap(), bodies.len());
    assert!(batch
        .iter()
        .zip(bodies)
        .all(|(m, b)| m.bytes_sent == b.len()));
    sender.syscall_count() - before
}

#[test]
fn segments_larger_than_the_route_mtu_fall_back_to_plain_sends_and_are_remembered() {
    std::thread::spawn(|| {
        if !private_network_with_mtu_1500() {
            return;
        }
        let receiver = udp4();
        receiver.as_socket2().set_recv_buffer_size(4 << 20).unwrap();
        let to = receiver.local_address().unwrap();
        let sender = udp4();
        if sender.portable_path() {
            return; // the portable path never segments: nothing to fall back from
        }
        assert!(sender.segmentation_offload());
        let received = |count| -> Vec<Vec<u8>> {
            receive_n(&receiver, count, 4096)
                .into_iter()
                .map(|(d, _)| d)
                .collect()
        };

        // 2000-byte segments do not fit a 1500-byte MTU: the kernel refuses the segmented
        // send (EMSGSIZE), while plain 2000-byte datagrams are fragmented and delivered.
        // The refused attempt and the plain retry: two calls.
        let big: Vec<Vec<u8>> = (0..10).map(|i| payload(i, 2000)).collect();
        assert_eq!(send_all(&sender, &to, &big), 2);
        assert_eq!(received(10), big);

        // Remembered: the next such batch goes straight out in one plain sendmmsg.
        assert_eq!(send_all(&sender, &to, &big), 1);
        assert_eq!(received(10), big);

        // Smaller segments still coalesce, and offload stays on: 3 runs of 1000-byte
        // datagrams to one destination, one system call, every datagram delivered.
        assert!(sender.segmentation_offload());
        let small: Vec<Vec<u8>> = (0..150).map(|i| payload(100 + i, 1000)).collect();
        assert_eq!(send_all(&sender, &to, &small), 1);
        assert_eq!(received(150), small);
        assert_nothing_queued(&receiver);

        // The memory is per socket: another socket starts over.
        let fresh = udp4();
        assert_eq!(send_all(&fresh, &to, &big), 2);
        assert_eq!(received(10), big);
    })
    .join()
    .expect("test thread");
}
