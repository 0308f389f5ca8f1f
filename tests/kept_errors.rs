//! Errors met after some datagrams went: which are kept for the next call (the socket's
//! pending error, which the kernel reports once) and which are not (a message's own error,
//! which comes again by itself), on both send paths.

mod common;
use common::*;

use std::io::IoSlice;

use mmsg::{MsgFlags, OutputMessage, Socket};

/// The send paths this OS has, each on a fresh socket made by `make`: the batch call
/// (`sendmmsg`) and the portable loop; only the loop on Windows, which has no batch call.
fn both_paths(make: impl Fn() -> Socket) -> Vec<(Socket, &'static str)> {
    let mut paths = Vec::new();
    for portable in [false, true] {
        let s = make();
        s.set_portable_path(portable);
        if s.portable_path() == portable {
            paths.push((s, if portable { "portable" } else { "sendmmsg" }));
        }
    }
    assert!(!paths.is_empty());
    paths
}

#[test]
fn a_message_s_own_error_is_not_handed_to_a_later_unrelated_call() {
    let r = udp4();
    let to = r.local_address().unwrap();
    for (s, path) in both_paths(udp4) {
        let small = payload(1, 10);
        let huge = vec![7u8; 70_000]; // larger than any UDP datagram: EMSGSIZE (WSAEMSGSIZE)
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
        assert_eq!(err.raw_os_error(), Some(os_error::EMSGSIZE), "{path}");

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
///
/// Windows reports the refusal as WSAECONNRESET (wine 8.0: WSAECONNREFUSED), and may take
/// the ICMP message in after the sends that follow the one it answers (wine does): there
/// the rule is checked as it applies whenever the refusal comes.
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
        if cfg!(windows) {
            // Whenever a call comes back short, the next gives the refusal; one comes.
            let mut calls = Vec::new();
            let mut refused = false;
            while !refused && calls.len() < 20 {
                let result = s.send_messages(&mut batch, MsgFlags::empty(), None);
                calls.push(format!("{result:?}"));
                match result {
                    Ok(n) if n < batch.len() => {
                        assert!(n >= 1, "{calls:?}");
                        let next = s.send_messages(&mut batch, MsgFlags::empty(), None);
                        calls.push(format!("{next:?}"));
                        assert!(
                            matches!(&next, Err(e) if is_port_unreachable(e)),
                            "{path}: a call came back short, the next must give the \
                             refusal: {calls:?}"
                        );
                        refused = true;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        assert!(is_port_unreachable(&e), "{path}: {calls:?}");
                        refused = true;
                    }
                }
            }
            assert!(refused, "{path}: no refusal came: {calls:?}");
            continue;
        }
        let first = s.send_messages(&mut batch, MsgFlags::empty(), None);
        let second = s.send_messages(&mut batch, MsgFlags::empty(), None);
        if path == "portable" {
            assert_eq!(first.unwrap(), 1, "{path}");
        } else {
            assert_eq!(
                first.unwrap(),
                10,
                "{path}: the kernel swallowed the refusals"
            );
        }
        let second = second.unwrap_err();
        assert!(is_port_unreachable(&second), "{path}: {second:?}");
    }
}

/// A recipient that went away never fails an unconnected socket's receive loop: Linux
/// reports ICMP port unreachable to connected sockets only, and mmsg gives Windows (which
/// reports it to every UDP socket, as WSAECONNRESET on the next receive) the same rule.
/// The refusals are sent before each datagram the loop must get, in rounds, so that some
/// land while the loop waits.
#[test]
fn an_unreachable_recipient_never_fails_an_unconnected_receive() {
    let gone = udp4();
    let to_gone = gone.local_address().unwrap();
    drop(gone);
    let (server, client) = (udp4(), udp4());
    server.set_timeout(Some(PATIENCE));
    let to_server = server.local_address().unwrap();
    let mut buf = [0u8; 64];
    for round in 0..5u8 {
        for _ in 0..3 {
            server.send_to(&to_gone, b"anyone?", None).unwrap();
        }
        let body = payload(u64::from(round), 32);
        client.send_to(&to_server, &body, None).unwrap();
        let (n, from) = server.receive_from(&mut buf, None).unwrap();
        assert_eq!(&buf[..n], &body[..], "round {round}");
        assert_eq!(from, client.local_address().unwrap());
    }
}
