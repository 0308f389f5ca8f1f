//! Helpers shared by the integration tests: loopback sockets and bounded receiving.
#![allow(dead_code)]

use std::io::{self, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mmsg::{Domain, InputMessage, MsgFlags, OutputMessage, SockAddr, Socket, Type};

/// How long any test waits for something that should already have happened.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub fn addr(s: &str) -> SockAddr {
    SockAddr::from(s.parse::<SocketAddr>().expect("address literal"))
}

/// A UDP socket bound to 127.0.0.1 on a free port.
pub fn udp4() -> Socket {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, None).expect("socket");
    s.bind(&addr("127.0.0.1:0")).expect("bind");
    s
}

/// A UDP socket bound to [::1] on a free port.
pub fn udp6() -> Socket {
    let s = Socket::new(Domain::IPV6, Type::DGRAM, None).expect("socket");
    s.bind(&addr("[::1]:0")).expect("bind");
    s
}

/// A dual-stack UDP socket bound to [::] on a free port (IPV6_V6ONLY off).
pub fn udp6_dual_stack() -> Socket {
    let s = Socket::new(Domain::IPV6, Type::DGRAM, None).expect("socket");
    s.as_socket2().set_only_v6(false).expect("v6only off");
    s.bind(&addr("[::]:0")).expect("bind");
    s
}

/// A connected Unix datagram pair.
#[cfg(unix)]
pub fn unix_pair() -> (Socket, Socket) {
    Socket::pair(Domain::UNIX, Type::DGRAM, None).expect("socketpair")
}

/// Two UDP sockets on 127.0.0.1, each connected to the other: the portable stand-in for a
/// Unix datagram pair where a test needs no more of it than a connected pair (a full UDP
/// queue drops where a Unix one makes the sender wait).
pub fn udp_pair() -> (Socket, Socket) {
    let (a, b) = (udp4(), udp4());
    a.connect(&b.local_address().unwrap(), None)
        .expect("connect");
    b.connect(&a.local_address().unwrap(), None)
        .expect("connect");
    (a, b)
}

/// `n` on Linux; a tenth of it (at least 1) under Windows, where each socket call costs
/// tens of microseconds under wine: stress counts scaled to the platform's speed.
pub fn scaled(n: usize) -> usize {
    if cfg!(windows) {
        (n / 10).max(1)
    } else {
        n
    }
}

/// Receives datagrams until `count` arrived, each into a buffer of `max` bytes, using
/// `receive_messages` in batches; fails if they do not all arrive within PATIENCE.
/// Returns (payload, sender) per datagram, in arrival order.
pub fn receive_n(socket: &Socket, count: usize, max: usize) -> Vec<(Vec<u8>, Option<SockAddr>)> {
    let saved = socket.timeout();
    socket.set_timeout(Some(PATIENCE));
    let deadline = Instant::now() + PATIENCE;
    let mut out = Vec::with_capacity(count);
    let mut bufs = vec![vec![0u8; max]; 64];
    while out.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} datagrams arrived",
            out.len()
        );
        let want = (count - out.len()).min(64);
        let got: Vec<(usize, Option<SockAddr>, MsgFlags)> = {
            let mut slots: Vec<[IoSliceMut; 1]> = bufs[..want]
                .iter_mut()
                .map(|b| [IoSliceMut::new(b)])
                .collect();
            let mut messages: Vec<InputMessage> =
                slots.iter_mut().map(|s| InputMessage::new(s)).collect();
            let n = socket
                .receive_messages(&mut messages, MsgFlags::empty(), None)
                .unwrap_or_else(|e| panic!("receive after {} of {count}: {e}", out.len()));
            messages[..n]
                .iter()
                .map(|m| (m.bytes_received, m.address.clone(), m.flags))
                .collect()
        };
        for (i, (len, from, flags)) in got.into_iter().enumerate() {
            assert!(!flags.contains(MsgFlags::TRUNC), "datagram truncated");
            out.push((bufs[i][..len].to_vec(), from));
        }
    }
    socket.set_timeout(saved);
    out
}

/// Asserts that nothing more is queued on `socket` (a non-blocking look).
pub fn assert_nothing_queued(socket: &Socket) {
    let was = socket.is_blocking();
    socket.set_blocking(false);
    let mut buf = [0u8; 65536];
    let r = socket.receive(&mut buf, None);
    socket.set_blocking(was);
    match r {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        other => panic!("expected nothing queued, got {other:?}"),
    }
}

/// Deterministic test payload: `len` bytes derived from `seed`.
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The text of GLib's send-messages test cases.
pub const TEXT: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// GLib's seven vectors of sizes 3,5,0,6,2,1,19 over TEXT.
pub fn seven_vectors() -> Vec<IoSlice<'static>> {
    let mut at = 0;
    [3, 5, 0, 6, 2, 1, 19]
        .iter()
        .map(|&len| {
            let v = IoSlice::new(&TEXT[at..at + len]);
            at += len;
            v
        })
        .collect()
}

/// Sends `sizes.len()` datagrams (content from their index) from `sender` in one batch.
pub fn send_sizes(sender: &Socket, to: &SockAddr, sizes: &[usize]) -> Vec<Vec<u8>> {
    let bodies: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| payload(i as u64, n))
        .collect();
    send_bodies(sender, to, &bodies);
    bodies
}

/// Sends `bodies` from `sender` to `to` as one batch, a datagram each; asserts they all went.
pub fn send_bodies(sender: &Socket, to: &SockAddr, bodies: &[Vec<u8>]) {
    let vectors: Vec<[IoSlice; 1]> = bodies.iter().map(|b| [IoSlice::new(b)]).collect();
    let mut batch: Vec<OutputMessage> = vectors
        .iter()
        .map(|v| OutputMessage::new(Some(to), v))
        .collect();
    assert_eq!(
        sender
            .send_messages(&mut batch, MsgFlags::empty(), None)
            .unwrap(),
        bodies.len()
    );
}

/// Packets the kernel's per-CPU input queues dropped so far (all CPUs, the whole machine;
/// Linux): loss on loopback or a veth that would be the machine's, not the library's.
pub fn backlog_drops() -> u64 {
    std::fs::read_to_string("/proc/net/softnet_stat")
        .map(|text| {
            text.lines()
                .filter_map(|l| l.split_whitespace().nth(1))
                .filter_map(|d| u64::from_str_radix(d, 16).ok())
                .sum()
        })
        .unwrap_or(0)
}

/// OS error numbers that no `io::ErrorKind` names, for `raw_os_error()` comparisons:
/// libc's on Unix, Winsock's `WSAE*` on Windows (winerror.h values).
pub mod os_error {
    #[cfg(unix)]
    pub const ECONNREFUSED: i32 = libc::ECONNREFUSED;
    #[cfg(unix)]
    pub const EDESTADDRREQ: i32 = libc::EDESTADDRREQ;
    #[cfg(unix)]
    pub const EMSGSIZE: i32 = libc::EMSGSIZE;
    #[cfg(unix)]
    pub const EOPNOTSUPP: i32 = libc::EOPNOTSUPP;
    /// `WSAECONNREFUSED`.
    #[cfg(windows)]
    pub const ECONNREFUSED: i32 = 10061;
    /// `WSAEDESTADDRREQ`.
    #[cfg(windows)]
    pub const EDESTADDRREQ: i32 = 10039;
    /// `WSAEMSGSIZE`.
    #[cfg(windows)]
    pub const EMSGSIZE: i32 = 10040;
    /// `WSAEOPNOTSUPP`.
    #[cfg(windows)]
    pub const EOPNOTSUPP: i32 = 10045;
}

/// Whether `err` is how the OS reports an earlier datagram's ICMP port unreachable to a
/// later call: `ECONNREFUSED` on Unix; on Windows `WSAECONNRESET`, or `WSAECONNREFUSED`
/// under wine 8.0 (which hands on Linux's `ECONNREFUSED` from a send).
pub fn is_port_unreachable(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::ConnectionRefused
        || (cfg!(windows) && err.kind() == io::ErrorKind::ConnectionReset)
}

/// Whether `err` is the OS refusing a datagram without an address on an unconnected
/// socket: `EDESTADDRREQ` on Unix; on Windows `WSAENOTCONN` (what Winsock says),
/// `WSAEDESTADDRREQ` (what `WSASendMsg` documents) or `WSAEINVAL` (wine 8.0, which turns
/// Linux's `EDESTADDRREQ` into it). Always an OS error, never one of mmsg's own.
pub fn is_no_destination(err: &io::Error) -> bool {
    let code = err.raw_os_error();
    if cfg!(windows) {
        code.is_some()
            && (code == Some(os_error::EDESTADDRREQ)
                || matches!(
                    err.kind(),
                    io::ErrorKind::NotConnected | io::ErrorKind::InvalidInput
                ))
    } else {
        code == Some(os_error::EDESTADDRREQ)
    }
}

/// A raw control message that asks for 127.0.0.1 as a datagram's source address
/// (`IP_PKTINFO`), in the OS's own terms, as (level, type, data): one every system's send
/// path takes (Windows' `WSASendMsg` documents it). Linux: `in_pktinfo` {ifindex,
/// spec_dst, addr}; Windows: `IN_PKTINFO` {addr, ifindex}, `IPPROTO_IP` 0, `IP_PKTINFO` 19.
#[cfg(any(target_os = "linux", windows))]
pub fn pktinfo_from_loopback_v4() -> (i32, i32, Vec<u8>) {
    let loopback = std::net::Ipv4Addr::LOCALHOST.octets();
    #[cfg(target_os = "linux")]
    let (level, kind, data) = {
        let mut data = 0i32.to_ne_bytes().to_vec(); // any interface
        data.extend(loopback); // spec_dst: the source address
        data.extend([0; 4]); // addr: unused on send
        (libc::IPPROTO_IP, libc::IP_PKTINFO, data)
    };
    #[cfg(windows)]
    let (level, kind, data) = {
        let mut data = loopback.to_vec(); // the source address
        data.extend(0u32.to_ne_bytes()); // any interface
        (0, 19, data)
    };
    (level, kind, data)
}
