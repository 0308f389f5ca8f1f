//! Per-message control messages: file descriptors over Unix sockets (`Rights`), UDP
//! segmentation (`UdpSegment`) and anything else the OS takes (`Raw`), on both send paths.
//!
//! Descriptor leaks are checked here without counting descriptors: a Unix stream end passed
//! as a descriptor and closed by the sender is only closed for good (its peer reads end of
//! file) once the receiving side's copy is closed too. The counting checks live in
//! `control_fd_leak.rs`, alone in their binary.
//!
//! On Windows: descriptor passing does not exist (those tests are Unix only), `IP_TOS` is
//! no control message `WSASendMsg` takes (wine 8.0 accepts any and drops it), so the
//! sent-TOS tests are Unix only; `UdpSegment` goes as `UDP_SEND_MSG_SIZE`, which wine
//! ignores (ignored there, they hold on a real Windows 10 2004 or later). What Windows has
//! runs there: raw `IP_PKTINFO` control messages sent per message, and the control data a
//! receiver asked for (`IP_RECVTOS`) reported per datagram into reused buffers.

mod common;
use common::*;

#[cfg(unix)]
use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut};
#[cfg(unix)]
use std::io::{Read, Write};
#[cfg(unix)]
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
#[cfg(unix)]
use std::os::unix::fs::MetadataExt;
#[cfg(unix)]
use std::os::unix::net::UnixStream;

use mmsg::{
    ControlBuffer, ControlMessage, InputMessage, MsgFlags, OutputMessage, ReceivedControlMessage,
    Socket,
};

/// Both send and receive paths: `sendmmsg`/`recvmmsg` and the portable loop.
const PATHS: [bool; 2] = [false, true];

/// A Unix datagram pair using the given path on both ends.
#[cfg(unix)]
fn pair_on(portable: bool) -> (Socket, Socket) {
    let (a, b) = unix_pair();
    a.set_portable_path(portable);
    b.set_portable_path(portable);
    (a, b)
}

/// (st_dev, st_ino) of an open descriptor.
#[cfg(unix)]
fn identity(fd: BorrowedFd<'_>) -> (u64, u64) {
    let file = File::from(fd.try_clone_to_owned().expect("dup"));
    let meta = file.metadata().expect("fstat");
    (meta.dev(), meta.ino())
}

#[cfg(unix)]
fn identity_owned(fd: &OwnedFd) -> (u64, u64) {
    identity(fd.as_fd())
}

/// Receives `count` datagrams (blocking, bounded by PATIENCE) into slots of `max` bytes,
/// each with its own control buffer; returns the payloads, the flags and the buffers.
#[cfg(unix)]
fn receive_with_control(
    socket: &Socket,
    count: usize,
    max: usize,
) -> (Vec<Vec<u8>>, Vec<MsgFlags>, Vec<ControlBuffer>) {
    let mut controls: Vec<ControlBuffer> = (0..count).map(|_| ControlBuffer::new()).collect();
    let (payloads, flags) = receive_into_controls(socket, &mut controls, max);
    (payloads, flags, controls)
}

/// Receives `controls.len()` datagrams (blocking, bounded by PATIENCE) into slots of `max`
/// bytes, datagram i's control data into `controls[i]`; returns the payloads and flags.
fn receive_into_controls(
    socket: &Socket,
    controls: &mut [ControlBuffer],
    max: usize,
) -> (Vec<Vec<u8>>, Vec<MsgFlags>) {
    let count = controls.len();
    socket.set_timeout(Some(PATIENCE));
    let mut bufs = vec![vec![0u8; max]; count];
    let mut lens = vec![0usize; count];
    let mut flags = vec![MsgFlags::empty(); count];
    let mut got = 0;
    while got < count {
        let mut slots: Vec<[IoSliceMut; 1]> = bufs[got..]
            .iter_mut()
            .map(|b| [IoSliceMut::new(b)])
            .collect();
        let mut messages: Vec<InputMessage> = slots
            .iter_mut()
            .zip(controls[got..].iter_mut())
            .map(|(s, c)| {
                let mut m = InputMessage::new(s);
                m.control = Some(c);
                m
            })
            .collect();
        let n = socket
            .receive_messages(&mut messages, MsgFlags::empty(), None)
            .unwrap_or_else(|e| panic!("receive after {got} of {count}: {e}"));
        assert!(n > 0);
        for (i, m) in messages[..n].iter().enumerate() {
            lens[got + i] = m.bytes_received;
            flags[got + i] = m.flags;
        }
        got += n;
    }
    let payloads = bufs
        .iter()
        .zip(&lens)
        .map(|(b, &len)| b[..len].to_vec())
        .collect();
    (payloads, flags)
}

/// The value of the `Rights` entries of a received control buffer.
#[cfg(unix)]
fn rights_counts(control: &ControlBuffer) -> Vec<usize> {
    control
        .messages()
        .filter_map(|m| match m {
            ReceivedControlMessage::Rights(n) => Some(n),
            _ => None,
        })
        .collect()
}

/// Whether `end` (non-blocking) sees end of file: every other copy of its peer is closed.
/// `Ok(false)`: the peer is still open somewhere (the read would block).
#[cfg(unix)]
fn peer_closed(end: &mut UnixStream) -> bool {
    end.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 16];
    match end.read(&mut buf) {
        Ok(0) => true,
        Ok(n) => panic!("unexpected {n} bytes on the stream"),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
        Err(e) => panic!("read: {e}"),
    }
}

#[test]
#[cfg(unix)] // descriptor passing
fn rights_pass_a_descriptor_that_refers_to_the_same_open_file() {
    for portable in PATHS {
        let (a, b) = pair_on(portable);
        let (passed, mut kept) = UnixStream::pair().unwrap();
        let fds = [passed.as_fd()];
        let data = [IoSlice::new(b"here is a stream")];
        let sent = a
            .send_message(
                None,
                &data,
                &[ControlMessage::Rights(&fds)],
                MsgFlags::empty(),
                None,
            )
            .unwrap();
        assert_eq!(sent, 16);

        let (payloads, flags, mut controls) = receive_with_control(&b, 1, 64);
        assert_eq!(payloads[0], b"here is a stream");
        assert!(!flags[0].contains(MsgFlags::CTRUNC), "{:?}", flags[0]);
        assert_eq!(rights_counts(&controls[0]), vec![1]);
        let mut fds = controls[0].take_fds();
        assert_eq!(fds.len(), 1);
        // Taken once: a second take gives nothing, and the entry no longer says Rights.
        assert!(controls[0].take_fds().is_empty());
        assert!(rights_counts(&controls[0]).is_empty());

        let received = fds.pop().unwrap();
        assert_eq!(identity_owned(&received), identity(passed.as_fd()));
        // Writing through the received descriptor reaches the end we kept.
        let mut through = UnixStream::from(received);
        through.write_all(b"written through the copy").unwrap();
        let mut buf = [0u8; 24];
        kept.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"written through the copy");
        assert_nothing_queued(&b);
    }
}

#[test]
#[cfg(unix)] // descriptor passing
fn rights_of_a_regular_file_share_the_file_offset() {
    for portable in PATHS {
        let (a, b) = pair_on(portable);
        let path = std::env::temp_dir().join(format!(
            "mmsg-control-file-{}-{portable}",
            std::process::id()
        ));
        let mut original = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap(); // the open file lives on without its name
        let fds = [original.as_fd()];
        let data = [IoSlice::new(b"f")];
        a.send_message(
            None,
            &data,
            &[ControlMessage::Rights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .unwrap();
        let (payloads, _, mut controls) = receive_with_control(&b, 1, 8);
        assert_eq!(payloads[0], b"f");
        let fd = controls[0].take_fds().pop().expect("one descriptor");
        let mut copy = File::from(fd);
        assert_eq!(
            (
                copy.metadata().unwrap().dev(),
                copy.metadata().unwrap().ino()
            ),
            (
                original.metadata().unwrap().dev(),
                original.metadata().unwrap().ino()
            )
        );
        copy.write_all(b"shared open file").unwrap();
        // One open file description: the offset moved for the original too.
        use std::io::Seek;
        assert_eq!(original.stream_position().unwrap(), 16);
        original.seek(io::SeekFrom::Start(0)).unwrap();
        let mut text = String::new();
        original.read_to_string(&mut text).unwrap();
        assert_eq!(text, "shared open file");
    }
}

#[test]
#[cfg(unix)] // descriptor passing
fn two_messages_in_one_batch_carry_their_own_descriptors() {
    for portable in PATHS {
        let (a, b) = pair_on(portable);
        let (x, _x_peer) = UnixStream::pair().unwrap();
        let (y, _y_peer) = UnixStream::pair().unwrap();
        let z = File::open("/dev/null").unwrap();
        let first = [x.as_fd()];
        let second = [y.as_fd(), z.as_fd()];
        let c0 = [ControlMessage::Rights(&first)];
        let c1 = [ControlMessage::Rights(&second)];
        let v0 = [IoSlice::new(b"one"), IoSlice::new(b" fd")];
        let v1 = [IoSlice::new(b"two fds")];
        let v2 = [IoSlice::new(b"no fds")];
        let mut batch = [
            OutputMessage::new(None, &v0).with_control_messages(&c0),
            OutputMessage::new(None, &v1).with_control_messages(&c1),
            OutputMessage::new(None, &v2),
        ];
        assert_eq!(
            a.send_messages(&mut batch, MsgFlags::empty(), None)
                .unwrap(),
            3
        );
        assert_eq!(
            batch.iter().map(|m| m.bytes_sent).collect::<Vec<_>>(),
            [6, 7, 6]
        );

        let (payloads, flags, mut controls) = receive_with_control(&b, 3, 32);
        assert_eq!(payloads, [&b"one fd"[..], b"two fds", b"no fds"]);
        assert!(flags.iter().all(|f| !f.contains(MsgFlags::CTRUNC)));
        assert_eq!(rights_counts(&controls[0]), vec![1]);
        assert_eq!(rights_counts(&controls[1]), vec![2]);
        assert!(controls[2].is_empty(), "{:?}", controls[2]);
        let got0 = controls[0].take_fds();
        let got1 = controls[1].take_fds();
        assert!(controls[2].take_fds().is_empty());
        assert_eq!(
            got0.iter().map(identity_owned).collect::<Vec<_>>(),
            vec![identity(x.as_fd())]
        );
        assert_eq!(
            got1.iter().map(identity_owned).collect::<Vec<_>>(),
            vec![identity(y.as_fd()), identity(z.as_fd())]
        );
        // The sockets passed are distinct, so the matches above say which went where.
        assert_ne!(identity(x.as_fd()), identity(y.as_fd()));
        assert_nothing_queued(&b);
    }
}

#[test]
#[cfg(unix)] // descriptor passing
fn descriptors_never_taken_are_closed_when_the_buffer_is_dropped() {
    for portable in PATHS {
        let (a, b) = pair_on(portable);
        let (passed, mut kept) = UnixStream::pair().unwrap();
        {
            let fds = [passed.as_fd()];
            let data = [IoSlice::new(b"x")];
            a.send_message(
                None,
                &data,
                &[ControlMessage::Rights(&fds)],
                MsgFlags::empty(),
                None,
            )
            .unwrap();
        }
        drop(passed); // the only copy left is in flight, then in the control buffer
        let (payloads, _, controls) = receive_with_control(&b, 1, 8);
        assert_eq!(payloads[0], b"x");
        assert_eq!(rights_counts(&controls[0]), vec![1]);
        assert!(
            !peer_closed(&mut kept),
            "the received copy must still be open"
        );
        drop(controls);
        assert!(peer_closed(&mut kept), "dropping the buffer must close it");
    }
}

#[test]
#[cfg(unix)] // descriptor passing
fn descriptors_never_taken_are_closed_when_the_buffer_is_reused() {
    for portable in PATHS {
        let (a, b) = pair_on(portable);
        let (passed, mut kept) = UnixStream::pair().unwrap();
        {
            let fds = [passed.as_fd()];
            let data = [IoSlice::new(b"with fd")];
            a.send_message(
                None,
                &data,
                &[ControlMessage::Rights(&fds)],
                MsgFlags::empty(),
                None,
            )
            .unwrap();
        }
        drop(passed);
        a.send(b"plain", None).unwrap();

        let mut control = ControlBuffer::new();
        let mut buf = [0u8; 16];
        {
            let mut vectors = [IoSliceMut::new(&mut buf)];
            let mut message = InputMessage::new(&mut vectors);
            message.control = Some(&mut control);
            let n = b
                .receive_messages(std::slice::from_mut(&mut message), MsgFlags::empty(), None)
                .unwrap();
            assert_eq!((n, message.bytes_received), (1, 7));
        }
        assert_eq!(&buf[..7], b"with fd");
        assert_eq!(rights_counts(&control), vec![1]);
        assert!(!peer_closed(&mut kept));
        {
            let mut vectors = [IoSliceMut::new(&mut buf)];
            let mut message = InputMessage::new(&mut vectors);
            message.control = Some(&mut control);
            let n = b
                .receive_messages(std::slice::from_mut(&mut message), MsgFlags::empty(), None)
                .unwrap();
            assert_eq!((n, message.bytes_received), (1, 5));
        }
        assert_eq!(&buf[..5], b"plain");
        assert!(control.is_empty(), "{control:?}");
        assert!(peer_closed(&mut kept), "reusing the buffer must close it");
        assert!(control.take_fds().is_empty());
    }
}

#[test]
#[cfg(unix)] // descriptor passing
fn a_receive_without_a_control_buffer_discards_passed_descriptors() {
    for portable in PATHS {
        let (a, b) = pair_on(portable);
        let (passed, mut kept) = UnixStream::pair().unwrap();
        {
            let fds = [passed.as_fd()];
            let data = [IoSlice::new(b"fd you did not ask for")];
            a.send_message(
                None,
                &data,
                &[ControlMessage::Rights(&fds)],
                MsgFlags::empty(),
                None,
            )
            .unwrap();
        }
        drop(passed);
        assert!(!peer_closed(&mut kept), "in flight, the copy is open");
        let mut buf = [0u8; 64];
        {
            let mut vectors = [IoSliceMut::new(&mut buf)];
            let mut messages = [InputMessage::new(&mut vectors)];
            let n = b
                .receive_messages(&mut messages, MsgFlags::empty(), None)
                .unwrap();
            assert_eq!(n, 1);
            assert_eq!(messages[0].bytes_received, 22);
            assert!(
                messages[0].flags.contains(MsgFlags::CTRUNC),
                "the kernel says control data was cut: {:?}",
                messages[0].flags
            );
        }
        assert_eq!(&buf[..22], b"fd you did not ask for");
        assert!(
            peer_closed(&mut kept),
            "the kernel closed the discarded copy"
        );
    }
}

/// Whether the kernel refuses `UDP_SEGMENT` (too old, or no offload on the route); on
/// Windows, `UDP_SEND_MSG_SIZE` (before Windows 10 2004): `WSAEINVAL`, `WSAENOPROTOOPT`,
/// `WSAEOPNOTSUPP`.
fn segmentation_refused(err: &io::Error) -> bool {
    #[cfg(unix)]
    return matches!(
        err.raw_os_error(),
        Some(libc::EIO | libc::ENOPROTOOPT | libc::EINVAL)
    );
    #[cfg(windows)]
    return matches!(err.raw_os_error(), Some(10022 | 10042 | 10045));
}

#[test]
#[cfg_attr(
    windows,
    ignore = "wine 8.0 ignores UDP_SEND_MSG_SIZE; run with --include-ignored on real Windows 10 2004+"
)]
fn udp_segment_cuts_one_message_into_datagrams_of_that_size() {
    for portable in PATHS {
        for (sender, receiver) in [(udp4(), udp4()), (udp6(), udp6())] {
            sender.set_portable_path(portable);
            let to = receiver.local_address().unwrap();
            let n = 1000usize;
            let k = 123usize;
            let body = payload(42, 3 * n + k);
            // Vector boundaries that do not fall on segment boundaries.
            let vectors = [
                IoSlice::new(&body[..10]),
                IoSlice::new(&body[10..10]),
                IoSlice::new(&body[10..1500]),
                IoSlice::new(&body[1500..]),
            ];
            let control = [ControlMessage::UdpSegment(n as u16)];
            match sender.send_message(Some(&to), &vectors, &control, MsgFlags::empty(), None) {
                Ok(sent) => assert_eq!(sent, 3 * n + k),
                Err(e) if segmentation_refused(&e) => {
                    eprintln!("note: the kernel refuses UDP_SEGMENT here ({e}); skipped");
                    return;
                }
                Err(e) => panic!("send with UDP_SEGMENT: {e}"),
            }
            let got = receive_n(&receiver, 4, 65536);
            let lens: Vec<usize> = got.iter().map(|(d, _)| d.len()).collect();
            assert_eq!(lens, [n, n, n, k]);
            let joined: Vec<u8> = got.iter().flat_map(|(d, _)| d.clone()).collect();
            assert_eq!(joined, body);
            let from = sender.local_address().unwrap();
            assert!(got.iter().all(|(_, a)| a.as_ref() == Some(&from)));
            assert_nothing_queued(&receiver);
        }
    }
}

#[test]
#[cfg_attr(
    windows,
    ignore = "wine 8.0 ignores UDP_SEND_MSG_SIZE; run with --include-ignored on real Windows 10 2004+"
)]
fn udp_segment_messages_in_a_batch_each_keep_their_own_segment_size() {
    for portable in PATHS {
        let sender = udp4();
        sender.set_portable_path(portable);
        let receiver = udp4();
        let to = receiver.local_address().unwrap();
        let a = payload(1, 250); // 100, 100, 50
        let b = payload(2, 99); // plain
        let c = payload(3, 300); // 300: one segment, exactly
        let d = payload(4, 70); // 7 x 10
        let (ca, cc, cd) = (
            [ControlMessage::UdpSegment(100)],
            [ControlMessage::UdpSegment(300)],
            [ControlMessage::UdpSegment(10)],
        );
        let (va, vb, vc, vd) = (
            [IoSlice::new(&a[..150]), IoSlice::new(&a[150..])],
            [IoSlice::new(&b)],
            [IoSlice::new(&c)],
            [IoSlice::new(&d)],
        );
        let mut batch = [
            OutputMessage::new(Some(&to), &va).with_control_messages(&ca),
            OutputMessage::new(Some(&to), &vb),
            OutputMessage::new(Some(&to), &vc).with_control_messages(&cc),
            OutputMessage::new(Some(&to), &vd).with_control_messages(&cd),
        ];
        match sender.send_messages(&mut batch, MsgFlags::empty(), None) {
            Ok(count) => assert_eq!(count, 4),
            Err(e) if segmentation_refused(&e) => {
                eprintln!("note: the kernel refuses UDP_SEGMENT here ({e}); skipped");
                return;
            }
            Err(e) => panic!("send: {e}"),
        }
        assert_eq!(
            batch.iter().map(|m| m.bytes_sent).collect::<Vec<_>>(),
            [250, 99, 300, 70]
        );
        let mut expected: Vec<Vec<u8>> = Vec::new();
        expected.extend(a.chunks(100).map(<[u8]>::to_vec));
        expected.push(b.clone());
        expected.push(c.clone());
        expected.extend(d.chunks(10).map(<[u8]>::to_vec));
        let got: Vec<Vec<u8>> = receive_n(&receiver, expected.len(), 65536)
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        assert_eq!(got, expected);
        assert_nothing_queued(&receiver);
    }
}

/// Receives one datagram with a control buffer; returns the payload and the IP_TOS value
/// the kernel reported, if any.
#[cfg(unix)]
fn receive_tos(socket: &Socket) -> (Vec<u8>, Option<Vec<u8>>) {
    let (payloads, _, controls) = receive_with_control(socket, 1, 2048);
    let tos = controls[0].messages().find_map(|m| match m {
        ReceivedControlMessage::Raw { level, kind, data }
            if level == libc::IPPROTO_IP && kind == libc::IP_TOS =>
        {
            Some(data.to_vec())
        }
        _ => None,
    });
    (payloads.into_iter().next().unwrap(), tos)
}

#[test]
#[cfg(unix)] // no IP_TOS control message on Windows' send path
fn raw_ip_tos_is_sent_with_its_message_and_reported_to_the_receiver() {
    for portable in PATHS {
        let sender = udp4();
        sender.set_portable_path(portable);
        let receiver = udp4();
        receiver.as_socket2().set_recv_tos_v4(true).unwrap();
        let to = receiver.local_address().unwrap();
        let tos: libc::c_int = 0x10;
        let tos_bytes = tos.to_ne_bytes();
        let control = [ControlMessage::Raw {
            level: libc::IPPROTO_IP,
            kind: libc::IP_TOS,
            data: &tos_bytes,
        }];
        let data = [IoSlice::new(b"low delay")];
        let sent = sender
            .send_message(Some(&to), &data, &control, MsgFlags::empty(), None)
            .unwrap();
        assert_eq!(sent, 9);
        let (body, reported) = receive_tos(&receiver);
        assert_eq!(body, b"low delay");
        assert_eq!(
            reported,
            Some(vec![0x10]),
            "IP_TOS as the kernel reports it"
        );
        // The socket's own TOS is untouched: the next plain message has TOS 0.
        sender.send_to(&to, b"plain", None).unwrap();
        let (body, reported) = receive_tos(&receiver);
        assert_eq!(body, b"plain");
        assert_eq!(reported, Some(vec![0]));
    }
}

#[test]
#[cfg(unix)] // no IP_TOS control message on Windows' send path
fn messages_with_and_without_control_messages_mix_in_one_batch() {
    for portable in PATHS {
        let sender = udp4();
        sender.set_portable_path(portable);
        let receiver = udp4();
        receiver.as_socket2().set_recv_tos_v4(true).unwrap();
        let to = receiver.local_address().unwrap();
        let (t1, t2) = (0x20i32.to_ne_bytes(), 0x48i32.to_ne_bytes());
        let tos1 = [ControlMessage::Raw {
            level: libc::IPPROTO_IP,
            kind: libc::IP_TOS,
            data: &t1,
        }];
        // Two control messages on one datagram: TOS and a segment size larger than it.
        let tos2_and_segment = [
            ControlMessage::Raw {
                level: libc::IPPROTO_IP,
                kind: libc::IP_TOS,
                data: &t2,
            },
            ControlMessage::UdpSegment(1400),
        ];
        let bodies: Vec<Vec<u8>> = (0..8).map(|i| payload(100 + i, 64)).collect();
        let vectors: Vec<[IoSlice; 2]> = bodies
            .iter()
            .map(|b| [IoSlice::new(&b[..20]), IoSlice::new(&b[20..])])
            .collect();
        // Plain messages of one size to one destination: some get coalesced by automatic
        // offload; the ones with control messages must keep theirs.
        let plan: [(usize, u8); 8] = [
            (0, 0),
            (0, 0),
            (1, 0x20),
            (0, 0),
            (2, 0x48),
            (0, 0),
            (1, 0x20),
            (0, 0),
        ];
        let mut batch: Vec<OutputMessage> = vectors
            .iter()
            .zip(plan)
            .map(|(v, (which, _))| {
                let m = OutputMessage::new(Some(&to), v);
                match which {
                    1 => m.with_control_messages(&tos1),
                    2 => m.with_control_messages(&tos2_and_segment),
                    _ => m,
                }
            })
            .collect();
        let sent = match sender.send_messages(&mut batch, MsgFlags::empty(), None) {
            Ok(n) => n,
            Err(e) if segmentation_refused(&e) => {
                eprintln!("note: the kernel refuses UDP_SEGMENT here ({e}); skipped");
                return;
            }
            Err(e) => panic!("send: {e}"),
        };
        assert_eq!(sent, 8);
        assert!(batch.iter().all(|m| m.bytes_sent == 64));
        for (i, (_, tos)) in plan.iter().enumerate() {
            let (body, reported) = receive_tos(&receiver);
            assert_eq!(body, bodies[i], "datagram {i}");
            assert_eq!(reported, Some(vec![*tos]), "TOS of datagram {i}");
        }
        assert_nothing_queued(&receiver);
    }
}

#[test]
#[cfg(unix)] // descriptor passing
fn rights_and_plain_messages_mix_in_a_big_batch_on_a_blocking_pair() {
    // More than fits the peer's queue at once: the sender waits while a thread drains, and
    // every message keeps its own descriptors across the waits and the split into calls.
    for portable in PATHS {
        let (a, b) = pair_on(portable);
        let files: Vec<File> = (0..4).map(|_| File::open("/dev/null").unwrap()).collect();
        let (s, _peer) = UnixStream::pair().unwrap();
        let fd_sets: Vec<Vec<BorrowedFd>> = vec![
            vec![files[0].as_fd()],
            vec![s.as_fd(), files[1].as_fd()],
            vec![files[2].as_fd(), files[3].as_fd(), s.as_fd()],
        ];
        let controls: Vec<[ControlMessage; 1]> = fd_sets
            .iter()
            .map(|set| [ControlMessage::Rights(set)])
            .collect();
        let count = 600;
        let bodies: Vec<Vec<u8>> = (0..count).map(|i| payload(i as u64, 200)).collect();
        let vectors: Vec<[IoSlice; 1]> = bodies.iter().map(|b| [IoSlice::new(b)]).collect();
        let mut batch: Vec<OutputMessage> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let m = OutputMessage::new(None, v);
                if i % 5 == 0 {
                    m.with_control_messages(&controls[(i / 5) % 3])
                } else {
                    m
                }
            })
            .collect();
        let expected_ids: Vec<Vec<(u64, u64)>> = fd_sets
            .iter()
            .map(|set| set.iter().map(|fd| identity(*fd)).collect())
            .collect();
        let expected_bodies = bodies.clone();
        let drainer = std::thread::spawn(move || {
            let (payloads, flags, mut controls) = receive_with_control(&b, count, 256);
            for i in 0..count {
                assert_eq!(payloads[i], expected_bodies[i], "datagram {i}");
                assert!(!flags[i].contains(MsgFlags::CTRUNC));
                let ids: Vec<(u64, u64)> =
                    controls[i].take_fds().iter().map(identity_owned).collect();
                if i % 5 == 0 {
                    assert_eq!(ids, expected_ids[(i / 5) % 3], "descriptors of {i}");
                } else {
                    assert!(ids.is_empty(), "datagram {i} carried none");
                }
            }
            assert_nothing_queued(&b);
        });
        a.set_timeout(Some(PATIENCE));
        let sent = a
            .send_messages(&mut batch, MsgFlags::empty(), None)
            .unwrap();
        assert_eq!(sent, count);
        assert!(batch.iter().all(|m| m.bytes_sent == 200));
        drainer.join().unwrap();
    }
}

#[test]
#[cfg(unix)] // descriptor passing
fn more_descriptors_than_the_buffer_holds_are_cut_and_flagged() {
    for portable in PATHS {
        let (a, b) = pair_on(portable);
        let file = File::open("/dev/null").unwrap();
        // The same descriptor 200 times: the receiver gets 200 new ones, if it has room.
        let fds = vec![file.as_fd(); 200];
        let data = [IoSlice::new(b"many")];
        a.send_message(
            None,
            &data,
            &[ControlMessage::Rights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .unwrap();
        let (payloads, flags, mut controls) = receive_with_control(&b, 1, 8);
        assert_eq!(payloads[0], b"many");
        assert!(flags[0].contains(MsgFlags::CTRUNC), "{:?}", flags[0]);
        let fit = (ControlBuffer::CAPACITY - std::mem::size_of::<libc::cmsghdr>()) / 4;
        assert_eq!(rights_counts(&controls[0]), vec![fit]);
        let taken = controls[0].take_fds();
        assert_eq!(taken.len(), fit);
        let id = identity(file.as_fd());
        assert!(taken.iter().all(|fd| identity_owned(fd) == id));
    }
}

/// The `IP_TOS` value a receiver asked for (`IP_RECVTOS`) in a received control buffer:
/// one byte on Linux; on Windows an `INT` (of type `IP_TOS`, 3 there), the value in its
/// first byte.
fn tos_of(control: &ControlBuffer) -> Option<u8> {
    #[cfg(unix)]
    let (ip, tos) = (libc::IPPROTO_IP, libc::IP_TOS);
    #[cfg(windows)]
    let (ip, tos) = (0, 3);
    control.messages().find_map(|m| match m {
        ReceivedControlMessage::Raw { level, kind, data } if level == ip && kind == tos => {
            data.first().copied()
        }
        _ => None,
    })
}

#[test]
fn received_control_data_is_per_datagram_and_a_reused_buffer_holds_only_the_latest() {
    for portable in PATHS {
        let receiver = udp4();
        receiver.set_portable_path(portable);
        receiver.as_socket2().set_recv_tos_v4(true).unwrap();
        let to = receiver.local_address().unwrap();
        // Two senders, one marking its datagrams with a TOS set on the socket. Windows
        // documents the IP_TOS socket option as not to be used (the QoS API sets it), so
        // there both send TOS 0 and the values only show each datagram has its own.
        let (marked, plain) = (udp4(), udp4());
        let class: u8 = if cfg!(unix) { 0x28 } else { 0 };
        if cfg!(unix) {
            marked.as_socket2().set_tos_v4(class.into()).unwrap();
        }
        let bodies: Vec<Vec<u8>> = (0..10)
            .map(|i| payload(400 + i, 100 + i as usize))
            .collect();
        for (i, body) in bodies.iter().enumerate() {
            let from = if i % 2 == 0 { &marked } else { &plain };
            assert_eq!(from.send_to(&to, body, None).unwrap(), body.len());
        }
        let mut controls: Vec<ControlBuffer> = (0..10).map(|_| ControlBuffer::new()).collect();
        let (payloads, flags) = receive_into_controls(&receiver, &mut controls, 512);
        assert_eq!(payloads, bodies);
        for (i, (f, c)) in flags.iter().zip(&controls).enumerate() {
            assert!(!f.contains(MsgFlags::CTRUNC), "datagram {i}: {f:?}");
            let want = if i % 2 == 0 { class } else { 0 };
            assert_eq!(tos_of(c), Some(want), "TOS of datagram {i}: {c:?}");
            assert_eq!(c.messages().count(), 1, "datagram {i}: {c:?}");
        }

        // No longer asked for: the same buffers, reused, hold nothing of the last receive.
        receiver.as_socket2().set_recv_tos_v4(false).unwrap();
        let more: Vec<Vec<u8>> = (0..10).map(|i| payload(500 + i, 64)).collect();
        for (i, body) in more.iter().enumerate() {
            let from = if i % 2 == 0 { &marked } else { &plain };
            from.send_to(&to, body, None).unwrap();
        }
        let (payloads, _) = receive_into_controls(&receiver, &mut controls, 512);
        assert_eq!(payloads, more);
        for (i, c) in controls.iter().enumerate() {
            assert!(c.is_empty(), "datagram {i}: {c:?}");
            assert_eq!((c.len(), c.messages().count()), (0, 0), "datagram {i}");
        }
        assert_nothing_queued(&receiver);
    }
}

#[test]
#[cfg(any(target_os = "linux", windows))]
fn raw_pktinfo_control_messages_go_with_their_own_datagrams_in_a_batch() {
    // A raw control message every system's send path takes (a source address of
    // 127.0.0.1), on some messages of a batch of equal datagrams to one destination: the
    // plain ones may be coalesced by automatic offload around them; every datagram arrives
    // whole, in order, from the sender.
    let (level, kind, data) = pktinfo_from_loopback_v4();
    let source = [ControlMessage::Raw {
        level,
        kind,
        data: &data,
    }];
    let with_control = |i: usize| i % 4 == 1 || i == 11;
    for portable in PATHS {
        let sender = udp4();
        sender.set_portable_path(portable);
        let receiver = udp4();
        let to = receiver.local_address().unwrap();
        let bodies: Vec<Vec<u8>> = (0..12).map(|i| payload(300 + i, 64)).collect();
        let vectors: Vec<[IoSlice; 2]> = bodies
            .iter()
            .map(|b| [IoSlice::new(&b[..10]), IoSlice::new(&b[10..])])
            .collect();
        let mut batch: Vec<OutputMessage> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let m = OutputMessage::new(Some(&to), v);
                if with_control(i) {
                    m.with_control_messages(&source)
                } else {
                    m
                }
            })
            .collect();
        assert_eq!(
            sender
                .send_messages(&mut batch, MsgFlags::empty(), None)
                .unwrap(),
            12
        );
        assert!(batch.iter().all(|m| m.bytes_sent == 64));
        let from = sender.local_address().unwrap();
        let got = receive_n(&receiver, 12, 256);
        for (i, ((body, sender), want)) in got.iter().zip(&bodies).enumerate() {
            assert_eq!(body, want, "datagram {i}");
            assert_eq!(sender.as_ref(), Some(&from), "sender of datagram {i}");
        }
        assert_nothing_queued(&receiver);
    }
}

/// Control data the socket asked for (`IP_RECVTOS`) but the receive gave no room for is
/// dropped and flagged `CTRUNC`; the datagram itself is whole, with its true length and
/// no `TRUNC`. (Winsock fails such a receive with WSAEMSGSIZE, as it does a datagram too
/// long for the buffers, which must not be read as one.)
#[test]
fn control_data_with_no_room_for_it_leaves_the_datagram_whole() {
    let (receiver, sender) = (udp4(), udp4());
    receiver.as_socket2().set_recv_tos_v4(true).unwrap();
    receiver.set_timeout(Some(PATIENCE));
    let to = receiver.local_address().unwrap();
    let from = sender.local_address().unwrap();

    sender.send_to(&to, b"abc", None).unwrap();
    let mut buf = [0xEE_u8; 16];
    let (n, source) = receiver.receive_from(&mut buf, None).unwrap();
    assert_eq!((&buf[..n], &source), (&b"abc"[..], &from));

    sender.send_to(&to, b"defg", None).unwrap();
    let mut vectors = [std::io::IoSliceMut::new(&mut buf)];
    let mut message = [mmsg::InputMessage::new(&mut vectors)];
    let got = receiver
        .receive_messages(&mut message, MsgFlags::empty(), None)
        .unwrap();
    assert_eq!(got, 1);
    let [message] = message;
    assert_eq!(message.bytes_received, 4);
    assert!(
        !message.flags.contains(MsgFlags::TRUNC),
        "{:?}",
        message.flags
    );
    assert!(
        message.flags.contains(MsgFlags::CTRUNC),
        "{:?}",
        message.flags
    );
    assert_eq!(message.address.as_ref(), Some(&from));
    assert_eq!(&buf[..4], b"defg");
}
