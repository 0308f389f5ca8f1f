//! Bad input and faults: invalid batches fail before anything is sent; errors the kernel
//! reports for one message follow the partial rule (the messages before it count, the
//! error comes with the next call); whatever was counted as sent arrives intact and in order.

mod common;
use common::*;

use std::io::{self, IoSlice, IoSliceMut};
use std::path::PathBuf;

#[cfg(unix)]
use mmsg::{ControlMessage, Domain, Type};
use mmsg::{InputMessage, MsgFlags, OutputMessage, SockAddr, Socket};

/// Both send paths: `sendmmsg` and the portable `sendmsg` loop.
const PATHS: [bool; 2] = [false, true];

/// A value `send_messages` never writes, to see which `bytes_sent` it left alone.
const UNTOUCHED: usize = 777_777;

fn untouched<'a>(address: Option<&'a SockAddr>, vectors: &'a [IoSlice<'a>]) -> OutputMessage<'a> {
    let mut m = OutputMessage::new(address, vectors);
    m.bytes_sent = UNTOUCHED;
    m
}

fn bytes_sent(batch: &[OutputMessage<'_>]) -> Vec<usize> {
    batch.iter().map(|m| m.bytes_sent).collect()
}

/// Asserts `err` is `InvalidInput` and its message names message `index`.
fn assert_invalid(err: &io::Error, index: usize) {
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("message {index}")),
        "the error should name message {index}: {text}"
    );
}

/// Asserts `result` is the OS error `errno`.
fn assert_os_error<T: std::fmt::Debug>(result: io::Result<T>, errno: i32) {
    match result {
        Err(e) => assert_eq!(e.raw_os_error(), Some(errno), "{e:?}"),
        Ok(v) => panic!("expected OS error {errno}, got Ok({v:?})"),
    }
}

/// The received payloads, in order, of `count` datagrams.
fn bodies(socket: &Socket, count: usize) -> Vec<Vec<u8>> {
    receive_n(socket, count, 70_000)
        .into_iter()
        .map(|(d, _)| d)
        .collect()
}

/// A private temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("mmsg-bad-input-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn an_address_of_the_wrong_family_fails_the_batch_and_nothing_is_sent() {
    let dir = TempDir::new("family");
    let unix_address = SockAddr::unix(dir.0.join("nobody")).unwrap();
    for portable in PATHS {
        // IPv6 and Unix addresses on an IPv4 socket; Unix on an IPv6 one.
        for (sender, receiver, wrong) in [
            (udp4(), udp4(), addr("[::1]:9")),
            (udp4(), udp4(), unix_address.clone()),
            (udp6(), udp6(), unix_address.clone()),
        ] {
            sender.set_portable_path(portable);
            let to = receiver.local_address().unwrap();
            let (x, y) = (payload(1, 40), payload(2, 40));
            let v = [IoSlice::new(&x), IoSlice::new(&y)];
            let mut batch = [
                untouched(Some(&to), &v),
                untouched(Some(&to), &v),
                untouched(Some(&wrong), &v),
                untouched(Some(&to), &v),
            ];
            let err = sender
                .send_messages(&mut batch, MsgFlags::empty(), None)
                .unwrap_err();
            assert_invalid(&err, 2);
            assert_eq!(bytes_sent(&batch), [UNTOUCHED; 4]);
            assert_nothing_queued(&receiver);
            // The single-message calls say the same of message 0.
            assert_invalid(&sender.send_to(&wrong, &x, None).unwrap_err(), 0);
            assert_nothing_queued(&receiver);
            // The socket is unharmed: the valid messages go on the next call.
            let mut good = [untouched(Some(&to), &v), untouched(Some(&to), &v)];
            assert_eq!(
                sender
                    .send_messages(&mut good, MsgFlags::empty(), None)
                    .unwrap(),
                2
            );
            assert_eq!(
                bodies(&receiver, 2),
                vec![[x.clone(), y.clone()].concat(); 2]
            );
        }

        // An IPv4 address on a Unix socket (there are no Unix datagram sockets on Windows).
        #[cfg(unix)]
        {
            let (a, b) = unix_pair();
            a.set_portable_path(portable);
            let ipv4 = addr("127.0.0.1:9");
            let v = [IoSlice::new(b"unix")];
            let mut batch = [
                untouched(None, &v),
                untouched(None, &v),
                untouched(Some(&ipv4), &v),
            ];
            let err = a
                .send_messages(&mut batch, MsgFlags::empty(), None)
                .unwrap_err();
            assert_invalid(&err, 2);
            assert_eq!(bytes_sent(&batch), [UNTOUCHED; 3]);
            assert_nothing_queued(&b);
        }
    }
}

#[test]
fn a_bad_message_deep_in_a_batch_larger_than_one_call_stops_everything() {
    // Validation covers the whole batch, not the first chunk the OS takes.
    for portable in PATHS {
        let sender = udp4();
        sender.set_portable_path(portable);
        let receiver = udp4();
        let to = receiver.local_address().unwrap();
        let wrong = addr("[::1]:9");
        let v = [IoSlice::new(b"x")];
        let mut batch: Vec<OutputMessage> = (0..2000).map(|_| untouched(Some(&to), &v)).collect();
        batch[1500].address = Some(&wrong);
        let err = sender
            .send_messages(&mut batch, MsgFlags::empty(), None)
            .unwrap_err();
        assert_invalid(&err, 1500);
        assert!(batch.iter().all(|m| m.bytes_sent == UNTOUCHED));
        assert_nothing_queued(&receiver);
    }
}

#[test]
fn more_vectors_than_one_call_takes_fail_and_the_limit_itself_works() {
    let bytes: Vec<u8> = (0..1025u32).map(|i| (i % 251) as u8).collect();
    let too_many: Vec<IoSlice> = bytes.chunks(1).map(IoSlice::new).collect();
    let limit = &too_many[..1024];
    for portable in PATHS {
        let (a, b) = udp_pair();
        a.set_portable_path(portable);
        let small = [IoSlice::new(b"fine")];
        let mut batch = [
            untouched(None, &small),
            untouched(None, &too_many),
            untouched(None, &small),
        ];
        let err = a
            .send_messages(&mut batch, MsgFlags::empty(), None)
            .unwrap_err();
        assert_invalid(&err, 1);
        assert!(err.to_string().contains("1025"), "{err}");
        assert_eq!(bytes_sent(&batch), [UNTOUCHED; 3]);
        assert_nothing_queued(&b);
        assert_invalid(
            &a.send_message(None, &too_many, &[], MsgFlags::empty(), None)
                .unwrap_err(),
            0,
        );
        assert_nothing_queued(&b);

        // 1024 vectors: exactly the limit, in a batch and alone.
        let mut batch = [untouched(None, &small), untouched(None, limit)];
        assert_eq!(
            a.send_messages(&mut batch, MsgFlags::empty(), None)
                .unwrap(),
            2
        );
        assert_eq!(bytes_sent(&batch), [4, 1024]);
        assert_eq!(
            a.send_message(None, limit, &[], MsgFlags::empty(), None)
                .unwrap(),
            1024
        );
        assert_eq!(
            bodies(&b, 3),
            [&b"fine"[..], &bytes[..1024], &bytes[..1024]]
        );
        assert_nothing_queued(&b);
    }
}

#[test]
fn receiving_into_more_vectors_than_one_call_takes_is_invalid_input() {
    for portable in PATHS {
        let (a, b) = udp_pair();
        b.set_portable_path(portable);
        a.send(b"still queued", None).unwrap();
        let mut store = vec![0u8; 1025];
        {
            let mut small = [0u8; 16];
            let mut slots: Vec<IoSliceMut> = store.chunks_mut(1).map(IoSliceMut::new).collect();
            let mut first = [IoSliceMut::new(&mut small)];
            let mut messages = [InputMessage::new(&mut first), InputMessage::new(&mut slots)];
            let err = b
                .receive_messages(&mut messages, MsgFlags::empty(), None)
                .unwrap_err();
            assert_invalid(&err, 1);
            assert_eq!(messages[0].bytes_received, 0, "nothing was received");
        }
        // The datagram is still there for a valid call.
        assert_eq!(bodies(&b, 1), [b"still queued"]);
    }
}

#[test]
fn a_message_too_large_mid_batch_ends_the_call_and_comes_back_as_emsgsize() {
    for portable in PATHS {
        for offload in [true, false] {
            let sender = udp4();
            sender.set_portable_path(portable);
            sender.set_segmentation_offload(offload);
            let receiver = udp4();
            receiver.as_socket2().set_recv_buffer_size(1 << 20).unwrap();
            let to = receiver.local_address().unwrap();
            // Equal sizes before the big one, so that offload could coalesce them.
            let small: Vec<Vec<u8>> = (0..6).map(|i| payload(i, 500)).collect();
            let big = payload(99, 70_000);
            let vs: Vec<[IoSlice; 2]> = small
                .iter()
                .map(|b| [IoSlice::new(&b[..100]), IoSlice::new(&b[100..])])
                .collect();
            let vbig = [IoSlice::new(&big[..35_000]), IoSlice::new(&big[35_000..])];
            let mut batch = [
                untouched(Some(&to), &vs[0]),
                untouched(Some(&to), &vs[1]),
                untouched(Some(&to), &vs[2]),
                untouched(Some(&to), &vbig),
                untouched(Some(&to), &vs[4]),
                untouched(Some(&to), &vs[5]),
            ];
            let sent = sender
                .send_messages(&mut batch, MsgFlags::empty(), None)
                .unwrap();
            assert_eq!(sent, 3, "portable {portable}, offload {offload}");
            assert_eq!(
                bytes_sent(&batch),
                [500, 500, 500, UNTOUCHED, UNTOUCHED, UNTOUCHED]
            );
            assert_eq!(bodies(&receiver, 3), small[..3]);
            assert_nothing_queued(&receiver);

            let err = sender
                .send_messages(&mut batch[3..], MsgFlags::empty(), None)
                .unwrap_err();
            assert_eq!(err.raw_os_error(), Some(os_error::EMSGSIZE), "{err:?}");
            assert_eq!(
                bytes_sent(&batch[3..]),
                [UNTOUCHED; 3],
                "nothing written on error"
            );
            assert_nothing_queued(&receiver);

            assert_eq!(
                sender
                    .send_messages(&mut batch[4..], MsgFlags::empty(), None)
                    .unwrap(),
                2
            );
            assert_eq!(bodies(&receiver, 2), small[4..]);
            assert_nothing_queued(&receiver);
        }
    }
}

/// Asserts `result` is the OS refusing a datagram without an address (`is_no_destination`:
/// EDESTADDRREQ, or Winsock's word for it).
fn assert_no_destination<T: std::fmt::Debug>(result: io::Result<T>) {
    match result {
        Err(e) => assert!(is_no_destination(&e), "{e:?}"),
        Ok(v) => panic!("expected the OS's no-destination error, got Ok({v:?})"),
    }
}

#[test]
fn a_missing_address_on_an_unconnected_socket_is_edestaddrreq() {
    for portable in PATHS {
        let sender = udp4();
        sender.set_portable_path(portable);
        let receiver = udp4();
        let to = receiver.local_address().unwrap();
        let v = [IoSlice::new(b"abc")];

        // All missing (GLib's test): the error.
        let mut batch = [
            untouched(None, &v),
            untouched(None, &v),
            untouched(None, &v),
        ];
        assert_no_destination(sender.send_messages(&mut batch, MsgFlags::empty(), None));
        assert_eq!(bytes_sent(&batch), [UNTOUCHED; 3]);
        assert_no_destination(sender.send(b"abc", None));

        // The 2nd of 3 missing (GLib's test): 1, then the error from there.
        let mut batch = [
            untouched(Some(&to), &v),
            untouched(None, &v),
            untouched(Some(&to), &v),
        ];
        assert_eq!(
            sender
                .send_messages(&mut batch, MsgFlags::empty(), None)
                .unwrap(),
            1
        );
        assert_eq!(bytes_sent(&batch), [3, UNTOUCHED, UNTOUCHED]);
        assert_no_destination(sender.send_messages(&mut batch[1..], MsgFlags::empty(), None));
        assert_eq!(
            sender
                .send_messages(&mut batch[2..], MsgFlags::empty(), None)
                .unwrap(),
            1
        );
        assert_eq!(bodies(&receiver, 2), [b"abc", b"abc"]);
        assert_nothing_queued(&receiver);
    }
}

#[test]
fn msg_oob_on_udp_is_the_os_error() {
    for portable in PATHS {
        let sender = udp4();
        sender.set_portable_path(portable);
        let receiver = udp4();
        let to = receiver.local_address().unwrap();
        let v = [IoSlice::new(b"urgent")];
        let mut batch = [untouched(Some(&to), &v), untouched(Some(&to), &v)];
        assert_os_error(
            sender.send_messages(&mut batch, MsgFlags::OOB, None),
            os_error::EOPNOTSUPP,
        );
        assert_eq!(bytes_sent(&batch), [UNTOUCHED; 2]);
        assert_nothing_queued(&receiver);
        // Flags apply to that call only.
        assert_eq!(
            sender
                .send_messages(&mut batch, MsgFlags::empty(), None)
                .unwrap(),
            2
        );
        assert_eq!(bodies(&receiver, 2), [b"urgent", b"urgent"]);
    }
}

// Unix only: it needs control messages the stack refuses. Linux refuses unknown IP-level
// types and out-of-range values with EINVAL; wine 8.0 drops what it does not translate and
// sends the datagram, and Windows documents no such refusal. (The partial rule for an OS
// error mid-batch is checked on Windows too, with EMSGSIZE, above.)
#[cfg(unix)]
#[test]
fn a_control_message_the_kernel_rejects_follows_the_partial_rule() {
    let bogus = 0i32.to_ne_bytes();
    let rejected_ip = [ControlMessage::Raw {
        level: libc::IPPROTO_IP,
        kind: 9999,
        data: &bogus,
    }];
    // An unknown IP-level type; a known one with a bad value (IP_TTL 0 is out of range).
    let ttl_zero = 0i32.to_ne_bytes();
    let rejected_ttl = [ControlMessage::Raw {
        level: libc::IPPROTO_IP,
        kind: libc::IP_TTL,
        data: &ttl_zero,
    }];
    for portable in PATHS {
        for rejected in [&rejected_ip[..], &rejected_ttl[..]] {
            let sender = udp4();
            sender.set_portable_path(portable);
            let receiver = udp4();
            let to = receiver.local_address().unwrap();
            let bodies_sent: Vec<Vec<u8>> = (0..4).map(|i| payload(i, 64)).collect();
            let vs: Vec<[IoSlice; 1]> = bodies_sent.iter().map(|b| [IoSlice::new(b)]).collect();
            let mut batch = [
                untouched(Some(&to), &vs[0]),
                untouched(Some(&to), &vs[1]),
                untouched(Some(&to), &vs[2]).with_control_messages(rejected),
                untouched(Some(&to), &vs[3]),
            ];
            assert_eq!(
                sender
                    .send_messages(&mut batch, MsgFlags::empty(), None)
                    .unwrap(),
                2
            );
            assert_eq!(bytes_sent(&batch), [64, 64, UNTOUCHED, UNTOUCHED]);
            assert_os_error(
                sender.send_messages(&mut batch[2..], MsgFlags::empty(), None),
                libc::EINVAL,
            );
            assert_eq!(bodies(&receiver, 2), bodies_sent[..2]);
            assert_nothing_queued(&receiver);
        }
    }
}

// Unix datagram sockets bound to paths: Unix only.
#[cfg(unix)]
#[test]
fn sending_to_a_unix_path_whose_receiver_is_gone_is_econnrefused() {
    let dir = TempDir::new("gone");
    for portable in PATHS {
        let live_path = dir.0.join(format!("live-{portable}"));
        let gone_path = dir.0.join(format!("gone-{portable}"));
        let live = Socket::new(Domain::UNIX, Type::DGRAM, None).unwrap();
        live.bind(&SockAddr::unix(&live_path).unwrap()).unwrap();
        let gone = Socket::new(Domain::UNIX, Type::DGRAM, None).unwrap();
        gone.bind(&SockAddr::unix(&gone_path).unwrap()).unwrap();
        drop(gone); // the path stays; nobody is there
        let (to_live, to_gone) = (
            SockAddr::unix(&live_path).unwrap(),
            SockAddr::unix(&gone_path).unwrap(),
        );
        let sender = Socket::new(Domain::UNIX, Type::DGRAM, None).unwrap();
        sender.set_portable_path(portable);
        let (x, y) = (payload(1, 30), payload(2, 30));
        let (vx, vy) = ([IoSlice::new(&x)], [IoSlice::new(&y)]);

        assert_os_error(sender.send_to(&to_gone, &x, None), libc::ECONNREFUSED);
        let mut batch = [
            untouched(Some(&to_live), &vx),
            untouched(Some(&to_live), &vy),
            untouched(Some(&to_gone), &vx),
            untouched(Some(&to_live), &vy),
        ];
        assert_eq!(
            sender
                .send_messages(&mut batch, MsgFlags::empty(), None)
                .unwrap(),
            2
        );
        assert_os_error(
            sender.send_messages(&mut batch[2..], MsgFlags::empty(), None),
            libc::ECONNREFUSED,
        );
        assert_eq!(
            sender
                .send_messages(&mut batch[3..], MsgFlags::empty(), None)
                .unwrap(),
            1
        );
        assert_eq!(bytes_sent(&batch), [30, 30, UNTOUCHED, 30]);
        assert_eq!(bodies(&live, 3), [x.clone(), y.clone(), y.clone()]);
        assert_nothing_queued(&live);
    }
}

// A Unix pair's peer going away: Unix only (UDP's counterpart is the ICMP refusal below).
#[cfg(unix)]
#[test]
fn sending_on_a_unix_pair_whose_peer_was_dropped_is_an_os_error() {
    for portable in PATHS {
        let (a, b) = unix_pair();
        a.set_portable_path(portable);
        a.send(b"before", None).unwrap();
        // What was sent before the peer went away is gone with it; nothing to check there.
        drop(b);
        let v = [IoSlice::new(b"after")];
        let mut batch = [untouched(None, &v), untouched(None, &v)];
        for attempt in 0..3 {
            match a.send_messages(&mut batch, MsgFlags::empty(), None) {
                Err(e) => assert!(
                    matches!(
                        e.raw_os_error(),
                        Some(libc::ECONNREFUSED | libc::EPIPE | libc::ENOTCONN | libc::ECONNRESET)
                    ),
                    "attempt {attempt}: {e:?}"
                ),
                Ok(n) => panic!("attempt {attempt}: sent {n} to a closed peer"),
            }
            assert_eq!(bytes_sent(&batch), [UNTOUCHED; 2]);
        }
    }
}

/// Environment variable that makes the SIGPIPE test run its child part.
#[cfg(unix)]
const SIGPIPE_CHILD: &str = "MMSG_TEST_SIGPIPE_CHILD";

/// Runs this test binary again, only `test`, with SIGPIPE_CHILD set to `mode`; returns
/// the child's exit status and output.
#[cfg(unix)]
fn run_child(test: &str, mode: &str) -> std::process::Output {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(SIGPIPE_CHILD, mode)
        .output()
        .unwrap()
}

// SIGPIPE and MSG_NOSIGNAL exist on Unix only (Winsock raises no signals).
#[cfg(unix)]
#[test]
fn a_closed_stream_peer_is_epipe_and_never_sigpipe() {
    const NAME: &str = "a_closed_stream_peer_is_epipe_and_never_sigpipe";
    if let Some(mode) = std::env::var_os(SIGPIPE_CHILD) {
        // The Rust runtime ignores SIGPIPE, which would hide a missing MSG_NOSIGNAL:
        // restore the default (terminate) in this child process only.
        // SAFETY: SIG_DFL is a valid disposition for SIGPIPE; no handler is installed.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        if mode == "control" {
            // write(2) to a closed stream (std's own socket writes pass MSG_NOSIGNAL, a
            // plain file write does not) kills the process here.
            use std::io::Write;
            let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
            drop(b);
            let mut file = std::fs::File::from(std::os::fd::OwnedFd::from(a));
            let _ = file.write_all(b"x");
            return;
        }
        for portable in PATHS {
            let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None).unwrap();
            a.set_portable_path(portable);
            drop(b);
            let v = [IoSlice::new(b"nobody reads this")];
            let mut batch = [untouched(None, &v), untouched(None, &v)];
            assert_os_error(
                a.send_messages(&mut batch, MsgFlags::empty(), None),
                libc::EPIPE,
            );
            assert_os_error(a.send(b"x", None), libc::EPIPE);
        }
        println!("child: no SIGPIPE");
        return;
    }
    use std::os::unix::process::ExitStatusExt;
    // The control shows that a SIGPIPE in the child would be seen.
    let control = run_child(NAME, "control");
    assert_eq!(
        control.status.signal(),
        Some(libc::SIGPIPE),
        "control child: {:?}",
        control
    );
    let child = run_child(NAME, "mmsg");
    assert!(
        child.status.success(),
        "child: {:?}\n{}{}",
        child.status,
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );
    assert!(String::from_utf8_lossy(&child.stdout).contains("child: no SIGPIPE"));
}

// Unix only: only a Unix datagram peer's full queue stops a sender (UDP drops instead).
#[cfg(unix)]
#[test]
fn a_full_peer_queue_in_non_blocking_mode_gives_a_partial_count_then_would_block() {
    for portable in PATHS {
        let (a, b) = unix_pair();
        a.set_portable_path(portable);
        a.set_blocking(false);
        let count: usize = 2000;
        let bodies_sent: Vec<Vec<u8>> = (0..count).map(|i| payload(i as u64, 100)).collect();
        let vs: Vec<[IoSlice; 2]> = bodies_sent
            .iter()
            .map(|b| [IoSlice::new(&b[..7]), IoSlice::new(&b[7..])])
            .collect();
        let mut batch: Vec<OutputMessage> = vs.iter().map(|v| untouched(None, v)).collect();
        let sent = a
            .send_messages(&mut batch, MsgFlags::empty(), None)
            .unwrap();
        assert!(sent > 0 && sent < count, "sent {sent}");
        assert!(batch[..sent].iter().all(|m| m.bytes_sent == 100));
        assert!(batch[sent..].iter().all(|m| m.bytes_sent == UNTOUCHED));
        let err = a
            .send_messages(&mut batch[sent..], MsgFlags::empty(), None)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "{err:?}");
        assert!(batch[sent..].iter().all(|m| m.bytes_sent == UNTOUCHED));
        assert_eq!(bodies(&b, sent), bodies_sent[..sent]);
        assert_nothing_queued(&b);
        // Drained: the rest goes on.
        let more = a
            .send_messages(&mut batch[sent..], MsgFlags::empty(), None)
            .unwrap();
        assert!(more > 0);
        assert_eq!(bodies(&b, more), bodies_sent[sent..sent + more]);
    }
}

#[test]
fn connecting_to_an_address_of_the_wrong_family_fails_and_leaves_the_socket_usable() {
    let dir = TempDir::new("connect");
    let unix_address = SockAddr::unix(dir.0.join("nobody")).unwrap();
    let receiver = udp4();
    let to = receiver.local_address().unwrap();
    let sender = udp4();
    for wrong in [addr("[::1]:9"), unix_address.clone()] {
        let err = sender.connect(&wrong, None).unwrap_err();
        assert!(
            err.raw_os_error().is_some() || err.kind() == io::ErrorKind::InvalidInput,
            "{err:?}"
        );
        assert!(sender.remote_address().is_err(), "not connected");
    }
    assert_eq!(sender.send_to(&to, b"still works", None).unwrap(), 11);
    assert_eq!(bodies(&receiver, 1), [b"still works"]);

    // A Unix datagram socket (Unix only) refuses an IPv4 address and an unbound path.
    #[cfg(unix)]
    {
        let unix = Socket::new(Domain::UNIX, Type::DGRAM, None).unwrap();
        let err = unix.connect(&addr("127.0.0.1:9"), None).unwrap_err();
        assert!(
            err.raw_os_error().is_some() || err.kind() == io::ErrorKind::InvalidInput,
            "{err:?}"
        );
        // A Unix path nobody is bound to.
        let err = unix.connect(&unix_address, None).unwrap_err();
        assert!(
            matches!(err.raw_os_error(), Some(libc::ENOENT | libc::ECONNREFUSED)),
            "{err:?}"
        );
    }
}

#[test]
fn a_cancelled_cancellable_wins_over_bad_input() {
    let sender = udp4();
    let receiver = udp4();
    let wrong = addr("[::1]:9");
    let v = [IoSlice::new(b"x")];
    let mut batch = [untouched(Some(&wrong), &v)];
    let c = mmsg::Cancellable::new();
    c.cancel();
    let err = sender
        .send_messages(&mut batch, MsgFlags::empty(), Some(&c))
        .unwrap_err();
    assert!(mmsg::is_cancelled(&err), "{err:?}");
    c.reset();
    assert_invalid(
        &sender
            .send_messages(&mut batch, MsgFlags::empty(), Some(&c))
            .unwrap_err(),
        0,
    );
    assert_nothing_queued(&receiver);
}

#[test]
fn an_asynchronous_error_that_cut_a_batch_short_surfaces_on_the_next_call() {
    // A connected UDP socket whose peer port is closed: each datagram draws an ICMP port
    // unreachable, which the kernel turns into ECONNREFUSED (Windows: WSAECONNRESET; wine:
    // WSAECONNREFUSED) for a later send (and forgets once reported). A blocking call
    // returns early only on error, so whenever one returns fewer than it was given, the
    // next call must return that error.
    for portable in PATHS {
        let closed = udp4();
        let to = closed.local_address().unwrap();
        drop(closed);
        let sender = udp4();
        sender.set_portable_path(portable);
        sender.connect(&to, None).unwrap();
        // Sizes all different: no offload coalescing, one header per datagram.
        let bodies_sent: Vec<Vec<u8>> = (0..6).map(|i| payload(i, 10 + i as usize)).collect();
        let vs: Vec<[IoSlice; 1]> = bodies_sent.iter().map(|b| [IoSlice::new(b)]).collect();
        let mut batch: Vec<OutputMessage> = vs.iter().map(|v| untouched(None, v)).collect();
        let mut done = 0;
        let mut calls = Vec::new();
        while done < batch.len() && calls.len() < 20 {
            let result = sender.send_messages(&mut batch[done..], MsgFlags::empty(), None);
            let short = matches!(result, Ok(n) if done + n < batch.len());
            calls.push(format!("{result:?}"));
            match result {
                Ok(n) => done += n,
                Err(e) => {
                    assert!(is_port_unreachable(&e), "{calls:?}");
                    continue;
                }
            }
            if short {
                let next = sender.send_messages(&mut batch[done..], MsgFlags::empty(), None);
                calls.push(format!("{next:?}"));
                assert!(
                    matches!(&next, Err(e) if is_port_unreachable(e)),
                    "portable {portable}: a call came back short, the next must give the \
                     error: {calls:?}"
                );
            }
        }
        assert_eq!(done, batch.len(), "{calls:?}");
    }
}

/// A control message too large for the length arithmetic is refused, never truncated or
/// written past its buffer.
#[test]
fn an_oversized_control_message_is_refused_not_truncated() {
    let (a, b) = udp_pair();
    let data = vec![0u8; (1 << 20) + 1];
    #[cfg(unix)]
    let sol_socket = libc::SOL_SOCKET;
    #[cfg(windows)]
    let sol_socket = 0xffff; // Winsock's SOL_SOCKET
    let control = [mmsg::ControlMessage::Raw {
        level: sol_socket,
        kind: 12345,
        data: &data,
    }];
    let v = [std::io::IoSlice::new(b"x")];
    let err = a
        .send_message(None, &v, &control, mmsg::MsgFlags::empty(), None)
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    assert_nothing_queued(&b);
}
