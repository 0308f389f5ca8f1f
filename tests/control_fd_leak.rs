//! Received file descriptors never leak: counted in /proc/self/fd. This binary holds one
//! test only, so that nothing else opens or closes descriptors while it counts.
//!
//! Unix only: descriptor passing (`SCM_RIGHTS`, `ControlMessage::Rights`, `take_fds`) does
//! not exist on Windows, and the count is read from /proc.
#![cfg(unix)]

mod common;
use common::*;

use std::fs::File;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::AsFd;

use mmsg::{ControlBuffer, ControlMessage, InputMessage, MsgFlags, ReceiveBatch, Socket};

/// Open descriptors of this process.
fn open_fds() -> usize {
    // read_dir holds one descriptor of its own while listing; it is the same every time.
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Sends `messages` messages of `per_message` copies of `file`'s descriptor each.
fn send_descriptors(sender: &Socket, file: &File, messages: usize, per_message: usize) {
    let fds = vec![file.as_fd(); per_message];
    let control = [ControlMessage::Rights(&fds)];
    for i in 0..messages {
        let bytes = [i as u8; 3];
        let data = [IoSlice::new(&bytes)];
        let sent = sender
            .send_message(None, &data, &control, MsgFlags::empty(), None)
            .unwrap();
        assert_eq!(sent, 3);
    }
}

/// Receives `count` datagrams in one call into `slots` messages whose control buffers are
/// `controls` (or none); checks their payloads; returns how many descriptors the buffers
/// now hold.
fn receive_into(receiver: &Socket, count: usize, controls: Option<&mut [ControlBuffer]>) -> usize {
    let mut bufs = vec![[0u8; 8]; count];
    let mut slots: Vec<[IoSliceMut; 1]> = bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
    let mut messages: Vec<InputMessage> = slots.iter_mut().map(|s| InputMessage::new(s)).collect();
    let with_control = controls.is_some();
    if let Some(controls) = controls {
        for (m, c) in messages.iter_mut().zip(controls.iter_mut()) {
            m.control = Some(c);
        }
    }
    let mut got = 0;
    while got < count {
        let n = receiver
            .receive_messages(&mut messages[got..], MsgFlags::empty(), None)
            .unwrap();
        got += n;
    }
    for m in &messages {
        assert_eq!(m.bytes_received, 3);
        // Without a buffer the kernel says it cut the control data.
        if !with_control {
            assert!(m.flags.contains(MsgFlags::CTRUNC), "{:?}", m.flags);
        }
    }
    let held = messages
        .iter()
        .filter_map(|m| m.control.as_ref())
        .flat_map(|c| c.messages())
        .map(|m| match m {
            mmsg::ReceivedControlMessage::Rights(n) => n,
            _ => 0,
        })
        .sum();
    drop(messages);
    for (i, b) in bufs.iter().enumerate() {
        assert_eq!(&b[..3], &[i as u8; 3]);
    }
    held
}

#[test]
fn received_descriptors_are_closed_unless_taken_and_never_leak() {
    let file = File::open("/dev/null").unwrap();
    for portable in [false, true] {
        let (a, b) = unix_pair();
        a.set_portable_path(portable);
        b.set_portable_path(portable);
        b.set_timeout(Some(PATIENCE));
        let base = open_fds();

        // Received into buffers, never taken: held until reused or dropped.
        let mut controls: Vec<ControlBuffer> = (0..4).map(|_| ControlBuffer::new()).collect();
        for round in 0..20 {
            send_descriptors(&a, &file, 4, 5);
            let held = receive_into(&b, 4, Some(&mut controls));
            assert_eq!(held, 20, "round {round}");
            // The buffers of the last receive hold their descriptors; earlier ones are gone.
            assert_eq!(open_fds(), base + 20, "round {round}");
        }
        // Reused for datagrams with no descriptors: the old ones are closed.
        for i in 0..4u8 {
            a.send(&[i; 3], None).unwrap();
        }
        assert_eq!(receive_into(&b, 4, Some(&mut controls)), 0);
        assert_eq!(open_fds(), base);

        // Dropped: closed.
        send_descriptors(&a, &file, 4, 7);
        assert_eq!(receive_into(&b, 4, Some(&mut controls)), 28);
        assert_eq!(open_fds(), base + 28);
        drop(controls);
        assert_eq!(open_fds(), base);

        // Taken: owned by the caller, closed when the caller drops them.
        let mut controls: Vec<ControlBuffer> = (0..2).map(|_| ControlBuffer::new()).collect();
        send_descriptors(&a, &file, 2, 3);
        assert_eq!(receive_into(&b, 2, Some(&mut controls)), 6);
        let taken: Vec<_> = controls.iter_mut().flat_map(|c| c.take_fds()).collect();
        assert_eq!(taken.len(), 6);
        drop(controls); // taken descriptors are not the buffer's any more
        assert_eq!(open_fds(), base + 6);
        drop(taken);
        assert_eq!(open_fds(), base);

        // More than fit the buffer: those that fit are held, the kernel closes the rest.
        let mut controls = vec![ControlBuffer::new()];
        send_descriptors(&a, &file, 1, 250);
        let held = receive_into(&b, 1, Some(&mut controls));
        assert_eq!(
            held,
            (ControlBuffer::CAPACITY - std::mem::size_of::<libc::cmsghdr>()) / 4
        );
        assert_eq!(open_fds(), base + held);
        drop(controls);
        assert_eq!(open_fds(), base);

        // No buffer at all: the kernel discards them.
        send_descriptors(&a, &file, 8, 4);
        assert_eq!(receive_into(&b, 8, None), 0);
        assert_eq!(open_fds(), base);

        // receive_batch's own buffers, reused call after call (their headers laid out once):
        // the descriptors of the last receive are held, earlier ones closed, and a receive
        // with none, or dropping the batch, closes them.
        let mut batch = ReceiveBatch::new(4, 8);
        for round in 0..20 {
            send_descriptors(&a, &file, 4, 5);
            assert_eq!(batch_into(&b, &mut batch, 4), 20, "round {round}");
            assert_eq!(open_fds(), base + 20, "round {round}");
        }
        for i in 0..4u8 {
            a.send(&[i; 3], None).unwrap();
        }
        assert_eq!(batch_into(&b, &mut batch, 4), 0);
        assert_eq!(open_fds(), base);
        send_descriptors(&a, &file, 3, 2);
        assert_eq!(batch_into(&b, &mut batch, 3), 6);
        assert_eq!(open_fds(), base + 6);
        drop(batch);
        assert_eq!(open_fds(), base);
        assert_nothing_queued(&b);
    }
}

/// Receives `count` datagrams into `batch` (a call may take fewer); checks their payloads;
/// returns how many descriptors its buffers hold after the last call.
fn batch_into(receiver: &Socket, batch: &mut ReceiveBatch, count: usize) -> usize {
    let mut got = 0;
    let mut held = 0;
    while got < count {
        let n = receiver
            .receive_batch(batch, MsgFlags::empty(), None)
            .unwrap();
        held = 0;
        for (i, buffer) in batch.buffers().enumerate() {
            assert_eq!(buffer.data(), &[(got + i) as u8; 3]);
            held += buffer
                .control()
                .messages()
                .map(|m| match m {
                    mmsg::ReceivedControlMessage::Rights(n) => n,
                    _ => 0,
                })
                .sum::<usize>();
        }
        got += n;
    }
    held
}
