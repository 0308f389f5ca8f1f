//! Errors met after some datagrams went: which are kept for the next call (the socket's
//! pending error, which the kernel reports once) and which are not (a message's own error,
//! which comes again by itself), on both send paths.

mod common;
use common::*;

use std::io::{self, IoSlice};

use mmsg::{MsgFlags, OutputMessage, Socket};

/// Both send paths of a fresh socket made by `make`.
fn both_paths(make: impl Fn() -> Socket) -> [(Socket, &'static str); 2] {
    let batch = make();
    batch.set_portable_path(false);
    let portable = make();
    portable.set_portable_path(true);
    [(batch, "sendmmsg"), (portable, "portable")]
}

#[test]
fn a_message_s_own_error_is_not_handed_to_a_later_unrelated_call() {
    let r = udp4();
    let to = r.local_address().unwrap();
    for (s, path) in both_paths(udp4) {
        let small = payload(1, 10);
        let huge = vec![7u8; 70_000]; // larger than any UDP datagram: EMSGSIZE
        let (v0, v1) = ([IoSlice::new(&small)], [IoSlice::new(&huge)]);
        let mut batch = [
            OutputMessage::new(Some(&to), &v0),
            OutputMessage::new(Some(&to), &v1),
        ];
        assert_eq!(
            s.send_messages(&mut batch, MsgFlags::empty(), None)
                .unwrap(),
            1,
            "{path}"
        );

        // A different batch afterwards is sent, not failed with the earlier EMSGSIZE.
        let other = payload(2, 10);
        let v = [IoSlice::new(&other)];
        let mut next = [OutputMessage::new(Some(&to), &v)];
        assert_eq!(
            s.send_messages(&mut next, MsgFlags::empty(), None).unwrap(),
            1,
            "{path}"
        );
        // The oversized message itself still fails on its own, every time.
        let mut again = [OutputMessage::new(Some(&to), &v1)];
        let err = s
            .send_messages(&mut again, MsgFlags::empty(), None)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EMSGSIZE), "{path}");

        let got = receive_n(&r, 2, 64);
        assert_eq!(got[0].0, small, "{path}");
        assert_eq!(got[1].0, other, "{path}");
    }
    assert_nothing_queued(&r);
}

/// A connected UDP socket to a closed port: the kernel turns the ICMP port-unreachable into
/// an ECONNREFUSED that it reports once, to whichever call comes next. The portable path
/// keeps it when it cuts a batch short and returns it from the next call. Linux's
/// `sendmmsg` discards an error met after the first message (it returns the count alone),
/// so on that path a refusal is lost mid-batch and every message counts as sent, as with
/// GLib; only the one left pending after the batch comes back, from the next call. README
/// and `Socket::send_messages` document the difference.
#[test]
fn an_icmp_refusal_is_kept_on_the_portable_path_and_lost_inside_sendmmsg() {
    let closed = udp4();
    let to = closed.local_address().unwrap();
    drop(closed);
    let body = payload(3, 20);
    let v = [IoSlice::new(&body)];
    for (s, path) in both_paths(udp4) {
        s.connect(&to, None).unwrap();
        let mut batch = [OutputMessage::new(None, &v); 10];
        let first = s.send_messages(&mut batch, MsgFlags::empty(), None);
        let second = s.send_messages(&mut batch, MsgFlags::empty(), None);
        if path == "portable" {
            assert_eq!(first.unwrap(), 1, "{path}");
            assert_eq!(second.unwrap_err().kind(), io::ErrorKind::ConnectionRefused);
        } else {
            assert_eq!(
                first.unwrap(),
                10,
                "{path}: the kernel swallowed the refusals"
            );
            assert_eq!(second.unwrap_err().kind(), io::ErrorKind::ConnectionRefused);
        }
    }
}
