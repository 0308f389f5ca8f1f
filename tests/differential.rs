//! Differential test: seeded random batches, sent in every mode the library has, must reach
//! every receiver exactly as they were asked for, one datagram per message, byte for byte
//! and in order, with every count and every `bytes_sent` right.
//!
//! Each batch is drawn from a small PRNG (splitmix64): 1 to 3000 messages of 0 to 8 vectors
//! (empty ones included; now and then up to 300) gathered from one shared pool of random
//! bytes, datagrams of 0 to 65 507 bytes, runs of equal datagrams to one destination ending
//! in an equal, a shorter or a longer one (automatic segmentation offload's case) or filling
//! exactly the payload of one segmented send, vectors laid back to back in memory or
//! scattered, traffic-class control messages (`IP_TOS`, `IPV6_TCLASS`) inside runs, a few
//! messages with their own `UDP_SEGMENT`, messages to a dead Unix path (`ECONNREFUSED`:
//! the call stops there and the error comes with the next one); or a fan-out of packets to
//! recipients (duplicates, ones resumed from their `packets_sent`, ones set aside before the
//! call, dead ones the call sets aside). Senders: IPv4, a dual-stack IPv6 socket (to IPv6
//! receivers and, IPv4-mapped, to the IPv4 ones) and a Unix datagram socket bound in a
//! temporary directory. Send modes: segmentation offload on, off, the portable path,
//! non-blocking (looping on the counts and `WouldBlock`), with now and then a 1 ms timeout
//! or a cancellation from a receiving thread (the sender resumes where the call stopped).
//! Receivers drain concurrently, one thread each, with receive offload on or off, batch or
//! portable path, blocking or not, 1 to 64 messages per call scattered into 1 to 3 vectors,
//! now and then a peek, a truncating buffer, or receive offload switched mid-stream.
//!
//! UDP on loopback drops what does not fit the receive buffer: each batch keeps what it
//! sends to one receiver within half of that buffer, counting the kernel's overhead
//! generously (measured: at most about 2 x + 1 KiB a datagram), so nothing is lost even if a
//! receiving thread is not scheduled at all. Unix senders wait for their receivers instead.
//!
//! `MMSG_DIFF_SEED=N` (decimal or 0x hex) and `MMSG_DIFF_BATCHES=N` change the run; every
//! failure names its seed and batch, the modes, and the receiver's last calls and events,
//! and `MMSG_DIFF_ONLY=B` replays batch B alone on fresh sockets. `MMSG_DIFF_KEEP_GOING=1`
//! records failures, starts over with fresh sockets and carries on, then fails listing all
//! of them. `--nocapture` shows how often each path was taken.
//!
//! On Windows the same model runs over UDP alone, a tenth of the batches by default (each
//! socket call costs tens of microseconds under wine): no Unix sockets, so no Unix sender
//! or receivers and no dead destinations (ECONNREFUSED came from a Unix path); no
//! traffic-class control messages (`WSASendMsg` takes no `IP_TOS`/`IPV6_TCLASS`: the
//! receivers check that none is reported); messages with their own `UdpSegment` only where
//! the stack honours USO (not under wine, which sends such a message whole); no receive
//! offload (mmsg has none there); every send path is the portable one, segmenting runs
//! where USO is honoured.

mod common;
use common::PATIENCE;

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mmsg::{
    Cancellable, ControlBuffer, ControlMessage, Domain, InputMessage, IoCondition, MsgFlags,
    OutputMessage, ReceivedControlMessage, Recipient, SockAddr, Socket, Type,
};

const DEFAULT_SEED: u64 = 0x6d6d_7367_d1ff_0001;
const DEFAULT_BATCHES: usize = 500;

// Sub-cases that known library bugs make fail, each switchable on its own. All on: the
// test is meant to fail until the library is fixed.

/// Peeks (`MsgFlags::PEEK`, one message) between receives: the peeked datagram must be the
/// next one, and still be there for the next receive.
const PEEKS: bool = true;
/// Receive offload switched on or off between two receive calls while datagrams are queued
/// (or kept by the library): nothing may be lost, merged or reordered.
const RECEIVE_OFFLOAD_SWITCHED_MID_STREAM: bool = true;
/// 0-byte datagrams among the datagrams of a receiver with receive offload on (after a
/// coalesced run, with the caller's messages full, one can be lost).
const EMPTY_DATAGRAMS_WITH_RECEIVE_OFFLOAD: bool = true;

const MAX_DATAGRAM: usize = 65_507;
/// The random bytes every vector is a slice of.
const POOL: usize = 1 << 20;
/// Receive messages per call at most, each able to hold the largest datagram.
const SLOTS: usize = 64;
const SLOT_BYTES: usize = 65_536;
/// Asked of every UDP receiver (the kernel caps it at `net.core.rmem_max`, doubled).
const RECEIVE_BUFFER: usize = 8 << 20;
/// What a batch may send to one Unix receiver (it only bounds the time a batch takes).
const UNIX_BUDGET: usize = 4 << 20;
/// `bytes_sent` of a message before the call: a message not sent must keep it.
const SENTINEL: usize = usize::MAX;
/// How long one receive or readiness wait lasts before the thread looks at the clock and
/// at the other threads' failures again.
const RECEIVE_WAIT: Duration = Duration::from_millis(200);
/// How long a receiver waits for a datagram still missing once the sender is done.
const SETTLE: Duration = Duration::from_secs(3);
/// The error of a recipient set aside before the call.
const PRESET_ERROR: &str = "set aside by the test";
/// What a thread returns when it stopped because another one failed.
const ABORTED: &str = "(stopped: another thread failed)";

const V4_RECEIVERS: usize = 4;
const V6_RECEIVERS: usize = 3;
/// Unix datagram sockets: none on Windows.
const UNIX_RECEIVERS: usize = if cfg!(unix) { 3 } else { 0 };
/// The senders a batch is drawn from (v4, dual-stack v6, Unix), weighted.
const SENDER_PICKS: &[usize] = if cfg!(unix) {
    &[0, 0, 1, 1, 1, 2, 2]
} else {
    &[0, 0, 1, 1, 1]
};
/// Traffic-class control messages sent (`IP_TOS`, `IPV6_TCLASS`) and reported: not on
/// Windows, whose send path takes neither.
const TRAFFIC_CLASS: bool = cfg!(unix);
/// Receive offload (UDP_GRO): Linux's.
const RECEIVE_OFFLOAD: bool = cfg!(any(target_os = "linux", target_os = "android"));
// What a send to a Unix path nobody listens on fails with (no such destination on
// Windows: `WSAECONNREFUSED`, never met).
use common::os_error::ECONNREFUSED;
/// (level, type) of the traffic-class control messages sent, `IP_TOS` and `IPV6_TCLASS`
/// (never sent on Windows: see TRAFFIC_CLASS).
#[cfg(unix)]
const TOS: (i32, i32) = (libc::IPPROTO_IP, libc::IP_TOS);
#[cfg(unix)]
const TCLASS: (i32, i32) = (libc::IPPROTO_IPV6, libc::IPV6_TCLASS);
#[cfg(windows)]
const TOS: (i32, i32) = (0, 3);
#[cfg(windows)]
const TCLASS: (i32, i32) = (41, 39);

// ---------------------------------------------------------------------------------------
// What the run went through, to show that each path was taken (printed at the end).

struct Tally {
    names: [&'static str; 9],
    counts: [AtomicUsize; 9],
}

const CUT_SHORT: usize = 0;
const WOULD_BLOCK: usize = 1;
const TIMED_OUT: usize = 2;
const CANCELLED: usize = 3;
const DEAD_SKIPPED: usize = 4;
const TRUNCATED: usize = 5;
const PEEKED: usize = 6;
const SWITCHED: usize = 7;
const RECEIVE_CALLS: usize = 8;

static TALLY: Tally = Tally {
    names: [
        "sends cut short",
        "WouldBlock",
        "timed out",
        "cancelled",
        "dead destinations stepped over",
        "datagrams truncated",
        "peeks",
        "receive offload switches",
        "receive calls",
    ],
    counts: [const { AtomicUsize::new(0) }; 9],
};

fn tally(what: usize) {
    TALLY.counts[what].fetch_add(1, Ordering::Relaxed);
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, count)) in self.names.iter().zip(&self.counts).enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{name} {}", count.load(Ordering::Relaxed))?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The PRNG

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// splitmix64.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    /// 0..n (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// lo..=hi.
    fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// A datagram size: mostly small and MTU-like, some jumbo, a few up to the limit, and the
/// edges.
fn datagram_size(rng: &mut Rng) -> usize {
    match rng.below(20) {
        0 => 0,
        1..=6 => rng.between(1, 200),
        7..=13 => rng.between(201, 1500),
        14..=16 => rng.between(1501, 9000),
        17 => rng.between(9001, MAX_DATAGRAM),
        _ => rng.pick(&[1, 2, 1472, 1473, 8972, 21_835, 32_753, 65_506, MAX_DATAGRAM]),
    }
}

/// Receive-buffer bytes a datagram may take on loopback, generously (measured on Linux 6:
/// 832 bytes for a 0-byte datagram, about 2 x the payload for a few KiB, x 1 for 64 KiB).
fn cost(len: usize) -> usize {
    2 * len + 2048
}

// ---------------------------------------------------------------------------------------
// Sockets

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Family {
    V4,
    V6,
    Unix,
}

struct Receiver {
    socket: Socket,
    family: Family,
    address: SockAddr,
    name: String,
    /// Bytes (by `cost`) one batch may send it.
    budget: usize,
}

/// A receiving thread's buffers, kept from batch to batch.
struct Slots {
    bufs: Vec<Vec<u8>>,
    controls: Vec<ControlBuffer>,
}

struct Sender {
    socket: Socket,
    family: Family,
    name: &'static str,
    /// The receivers it sends to.
    targets: Vec<usize>,
    port: u16,
    path: Option<PathBuf>,
}

/// Who a receiver sees as the sender of a datagram.
#[derive(Clone, Debug, PartialEq)]
enum Source {
    Inet(SocketAddr),
    Path(PathBuf),
}

fn seen(address: Option<&SockAddr>) -> Option<Source> {
    let address = address?;
    if let Some(inet) = address.as_socket() {
        return Some(Source::Inet(inet));
    }
    #[cfg(unix)]
    return address
        .as_pathname()
        .map(|path| Source::Path(path.to_path_buf()));
    #[cfg(not(unix))]
    None
}

/// A temporary directory for the Unix sockets, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: usize) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("mmsg-differential-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temporary directory");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct World {
    senders: Vec<Sender>,
    receivers: Vec<Receiver>,
    /// Whether this kernel does UDP segmentation offload at all.
    offload_available: bool,
    /// Whether messages may carry their own `UdpSegment` and be cut as asked: always on
    /// Unix (Linux); on Windows only where the stack honours USO.
    segment_control: bool,
    /// A Unix path whose socket is closed (none on Windows).
    dead: Option<SockAddr>,
    _dir: TempDir,
}

fn udp_receiver(family: Family) -> Socket {
    let socket = match family {
        Family::V4 => common::udp4(),
        _ => common::udp6(),
    };
    let inner = socket.as_socket2();
    inner
        .set_recv_buffer_size(RECEIVE_BUFFER)
        .expect("SO_RCVBUF");
    match family {
        _ if !TRAFFIC_CLASS => {}
        Family::V4 => inner.set_recv_tos_v4(true).expect("IP_RECVTOS"),
        _ => inner.set_recv_tclass_v6(true).expect("IPV6_RECVTCLASS"),
    }
    socket
}

fn unix_socket(path: &std::path::Path) -> Socket {
    let socket = Socket::new(Domain::UNIX, Type::DGRAM, None).expect("unix socket");
    socket
        .bind(&SockAddr::unix(path).expect("unix address"))
        .expect("bind unix socket");
    socket
}

impl World {
    fn new(tag: usize) -> World {
        let dir = TempDir::new(tag);
        let mut receivers = Vec::new();
        let families = std::iter::repeat_n(Family::V4, V4_RECEIVERS)
            .chain(std::iter::repeat_n(Family::V6, V6_RECEIVERS))
            .chain(std::iter::repeat_n(Family::Unix, UNIX_RECEIVERS));
        for (i, family) in families.enumerate() {
            let (socket, budget) = if family == Family::Unix {
                (unix_socket(&dir.0.join(format!("r{i}"))), UNIX_BUDGET)
            } else {
                let socket = udp_receiver(family);
                let size = socket.as_socket2().recv_buffer_size().expect("SO_RCVBUF");
                (socket, size / 2)
            };
            let address = socket.local_address().expect("receiver address");
            let name = format!(
                "{}#{i}",
                match family {
                    Family::V4 => "v4",
                    Family::V6 => "v6",
                    Family::Unix => "unix",
                }
            );
            receivers.push(Receiver {
                socket,
                family,
                address,
                name,
                budget,
            });
        }
        let of = |family: Family| -> Vec<usize> {
            (0..receivers.len())
                .filter(|&i| receivers[i].family == family)
                .collect()
        };
        let (v4, v6, unix) = (of(Family::V4), of(Family::V6), of(Family::Unix));
        let port = |s: &Socket| s.local_address().unwrap().as_socket().unwrap().port();
        let s4 = common::udp4();
        let s6 = common::udp6_dual_stack();
        let mut senders = vec![
            Sender {
                port: port(&s4),
                socket: s4,
                family: Family::V4,
                name: "v4",
                targets: v4.clone(),
                path: None,
            },
            Sender {
                port: port(&s6),
                socket: s6,
                family: Family::V6,
                name: "v6 dual-stack",
                targets: v6.iter().chain(&v4).copied().collect(),
                path: None,
            },
        ];
        let mut dead = None;
        if cfg!(unix) {
            let sender_path = dir.0.join("sender");
            senders.push(Sender {
                socket: unix_socket(&sender_path),
                family: Family::Unix,
                name: "unix",
                targets: unix,
                port: 0,
                path: Some(sender_path),
            });
            dead = Some(unix_socket(&dir.0.join("dead")).local_address().unwrap());
        }
        let offload_available = senders[0].socket.segmentation_offload();
        World {
            dead,
            offload_available,
            segment_control: cfg!(unix) || offload_available,
            senders,
            receivers,
            _dir: dir,
        }
    }

    /// Receive buffers for each receiver's thread.
    fn slots(&self) -> Vec<Slots> {
        self.receivers
            .iter()
            .map(|_| Slots {
                bufs: vec![vec![0u8; SLOT_BYTES]; SLOTS],
                controls: (0..SLOTS).map(|_| ControlBuffer::new()).collect(),
            })
            .collect()
    }
}

/// The address `receiver` sees datagrams from `sender` come from.
fn source_of(sender: &Sender, receiver: &Receiver) -> Source {
    match (sender.family, receiver.family) {
        (_, Family::V4) => Source::Inet(SocketAddr::from((Ipv4Addr::LOCALHOST, sender.port))),
        (_, Family::V6) => Source::Inet(SocketAddr::from((Ipv6Addr::LOCALHOST, sender.port))),
        (_, Family::Unix) => Source::Path(sender.path.clone().expect("unix sender path")),
    }
}

/// The IPv4-mapped IPv6 form of an IPv4 address.
fn mapped(address: &SockAddr) -> SockAddr {
    match address.as_socket() {
        Some(SocketAddr::V4(v4)) => {
            SockAddr::from(SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0))
        }
        _ => address.clone(),
    }
}

// ---------------------------------------------------------------------------------------
// Batches

#[derive(Clone, Copy, Debug)]
enum Control {
    Plain,
    Tos(u8),
    Tclass(u8),
    /// The message's own `UDP_SEGMENT`: the kernel cuts it into datagrams of this size.
    Segment(usize),
}

/// How a message names its destination.
#[derive(Clone, Copy, Debug, PartialEq)]
enum AddressForm {
    /// The receiver's own address object, shared by every message to it.
    Shared,
    /// An equal address object of the message's own.
    Own,
    /// An IPv4 receiver in its IPv4-mapped IPv6 form (from the dual-stack sender).
    Mapped,
}

struct Msg {
    dest: usize,
    form: AddressForm,
    /// (offset in the pool, length) of each vector.
    parts: Vec<(usize, usize)>,
    len: usize,
    control: Control,
    /// To a Unix path nobody listens on any more (`ECONNREFUSED`): never sent.
    dead: bool,
}

struct Planned {
    dest: usize,
    start: usize,
    set_aside: bool,
    mapped: bool,
    /// At a Unix path nobody listens on any more: the call sets it aside.
    dead: bool,
}

struct Fanout {
    /// Each packet's vectors and length.
    packets: Vec<(Vec<(usize, usize)>, usize)>,
    recipients: Vec<Planned>,
}

enum Work {
    Messages(Vec<Msg>),
    Fanout(Fanout),
}

#[derive(Clone, Copy)]
struct Mode {
    portable: bool,
    offload: bool,
    blocking: bool,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, segmentation offload {}, {}",
            if self.portable {
                "portable path"
            } else {
                "sendmmsg path"
            },
            if self.offload { "on" } else { "off" },
            if self.blocking {
                "blocking"
            } else {
                "non-blocking"
            }
        )
    }
}

#[derive(Clone, Copy)]
struct Receiving {
    offload: bool,
    blocking: bool,
    /// `recvmsg` per datagram instead of `recvmmsg`.
    portable: bool,
}

struct Batch {
    sender: usize,
    work: Work,
    mode: Mode,
    receiving: Vec<Receiving>,
    /// Cancel the send once receiver `.0` has received `.1` datagrams; the sender then
    /// resumes where the call stopped.
    interrupt: Option<(usize, usize)>,
    /// A 1 ms socket timeout: blocking calls end early, and the sender resumes.
    short_timeout: bool,
}

/// Lays out vectors in the pool: back to back with the previous message's now and then (a
/// run written into one buffer), scattered otherwise.
struct Layout {
    cursor: usize,
    /// Messages of 9 to 300 vectors (runs then reach the vectors one call takes).
    wide: bool,
}

impl Layout {
    fn parts(&mut self, rng: &mut Rng, len: usize) -> Vec<(usize, usize)> {
        let count = match (len, self.wide) {
            (0, _) => rng.below(4),
            (_, false) => rng.between(1, 8),
            (_, true) => rng.between(9, 300),
        };
        if count == 0 {
            return Vec::new();
        }
        let mut cuts: Vec<usize> = (1..count).map(|_| rng.below(len + 1)).collect();
        cuts.sort_unstable();
        cuts.push(len);
        let mut at = if rng.one_in(3) && self.cursor + len <= POOL {
            self.cursor
        } else {
            rng.below(POOL - len + 1)
        };
        let mut parts = Vec::with_capacity(count);
        let mut previous = 0;
        for cut in cuts {
            let piece = cut - previous;
            previous = cut;
            if rng.one_in(4) || at + piece > POOL {
                at = rng.below(POOL - piece + 1);
            }
            parts.push((at, piece));
            at += piece;
        }
        self.cursor = at;
        parts
    }
}

fn last_of_run(rng: &mut Rng, size: usize) -> usize {
    match rng.below(3) {
        0 => size,
        1 => rng.below(size.max(1)),
        _ => rng.between(size + 1, (2 * size + 16).min(MAX_DATAGRAM).max(size + 1)),
    }
    .min(MAX_DATAGRAM)
}

struct Planner<'w> {
    world: &'w World,
    sender: usize,
    budget: Vec<usize>,
    layout: Layout,
}

impl Planner<'_> {
    fn form(&self, rng: &mut Rng, dest: usize) -> AddressForm {
        let to_v4 = self.world.receivers[dest].family == Family::V4;
        match rng.below(8) {
            0 => AddressForm::Own,
            1 if to_v4 && self.world.senders[self.sender].family == Family::V6 => {
                AddressForm::Mapped
            }
            _ => AddressForm::Shared,
        }
    }

    fn control(&self, rng: &mut Rng, dest: usize, len: usize) -> Control {
        let sender = self.world.senders[self.sender].family;
        let receiver = self.world.receivers[dest].family;
        if self.world.segment_control && sender != Family::Unix && len >= 2 && rng.one_in(150) {
            let seg = rng.between(len.div_ceil(64).max(1), len - 1);
            return Control::Segment(seg);
        }
        if !rng.one_in(12) || !TRAFFIC_CLASS {
            return Control::Plain;
        }
        let class = rng.pick(&[0x04, 0x10, 0x20, 0x28, 0x48, 0xb8]);
        match (sender, receiver) {
            (Family::V4, Family::V4) => Control::Tos(class),
            (Family::V6, Family::V6) => Control::Tclass(class),
            _ => Control::Plain,
        }
    }

    fn msg_cost(len: usize, control: Control) -> usize {
        match control {
            Control::Segment(seg) => 2 * len + 2048 * len.div_ceil(seg),
            _ => cost(len),
        }
    }

    /// Adds one message to `dest` if its budget allows.
    fn push(
        &mut self,
        rng: &mut Rng,
        msgs: &mut Vec<Msg>,
        dest: usize,
        form: AddressForm,
        len: usize,
        controls: bool,
    ) -> bool {
        let control = if controls {
            self.control(rng, dest, len)
        } else {
            Control::Plain
        };
        let c = Self::msg_cost(len, control);
        if c > self.budget[dest] {
            return false;
        }
        self.budget[dest] -= c;
        let form = if form == AddressForm::Own || rng.one_in(16) {
            // Some runs name their destination through equal objects of their own.
            AddressForm::Own
        } else {
            form
        };
        msgs.push(Msg {
            dest,
            form,
            parts: self.layout.parts(rng, len),
            len,
            control,
            dead: false,
        });
        true
    }

    fn messages(&mut self, rng: &mut Rng) -> Vec<Msg> {
        let targets = self.world.senders[self.sender].targets.clone();
        let want = match rng.below(10) {
            0..=2 => rng.between(1, 8),
            3..=6 => rng.between(9, 300),
            _ => rng.between(301, 3000),
        };
        let mut msgs = Vec::with_capacity(want);
        let mut stuck = 0;
        while msgs.len() < want && stuck < 40 {
            let dest = rng.pick(&targets);
            let size = datagram_size(rng);
            if cost(size) > self.budget[dest] {
                stuck += 1;
                continue;
            }
            let left = want - msgs.len();
            let form = self.form(rng, dest);
            match rng.below(12) {
                // A run of equal datagrams to one destination, then its last one.
                0..=5 => {
                    let count = rng.between(1, 100).min(left);
                    let controls = rng.one_in(3);
                    self.layout.wide = rng.one_in(30);
                    for i in 0..count {
                        let len = if i + 1 == count && count > 1 {
                            last_of_run(rng, size)
                        } else {
                            size
                        };
                        if !self.push(rng, &mut msgs, dest, form, len, controls) {
                            break;
                        }
                    }
                    self.layout.wide = false;
                }
                // Equal datagrams up to exactly the payload one segmented send carries,
                // then more of them.
                6 => {
                    let size = rng.between(1024, 16_000);
                    let full = MAX_DATAGRAM / size;
                    let mut lens = vec![size; full];
                    lens.push(MAX_DATAGRAM - full * size);
                    lens.extend(std::iter::repeat_n(size, rng.between(1, 5)));
                    for len in lens.into_iter().take(left) {
                        if !self.push(rng, &mut msgs, dest, form, len, false) {
                            break;
                        }
                    }
                }
                // Single messages of random sizes.
                7..=8 => {
                    for _ in 0..rng.between(1, 10).min(left) {
                        let dest = rng.pick(&targets);
                        let len = datagram_size(rng);
                        let form = self.form(rng, dest);
                        self.push(rng, &mut msgs, dest, form, len, true);
                    }
                }
                // Equal datagrams to several destinations in turn (mixed traffic).
                _ => {
                    let dests: Vec<usize> =
                        (0..rng.between(2, 3)).map(|_| rng.pick(&targets)).collect();
                    for i in 0..rng.between(2, 60).min(left) {
                        let dest = dests[i % dests.len()];
                        self.push(rng, &mut msgs, dest, AddressForm::Shared, size, false);
                    }
                }
            }
        }
        if self.world.senders[self.sender].family == Family::Unix && rng.one_in(6) {
            for _ in 0..rng.between(1, 2) {
                let at = rng.below(msgs.len() + 1);
                let len = rng.below(100);
                msgs.insert(
                    at,
                    Msg {
                        dest: 0,
                        form: AddressForm::Own,
                        parts: self.layout.parts(rng, len),
                        len,
                        control: Control::Plain,
                        dead: true,
                    },
                );
            }
        }
        msgs
    }

    fn fanout(&mut self, rng: &mut Rng) -> Fanout {
        let targets = self.world.senders[self.sender].targets.clone();
        let count = match rng.below(10) {
            0 => rng.below(3),
            1..=6 => rng.between(1, 64),
            _ => rng.between(65, 300),
        };
        // Packets of a frame: equal, the last shorter or longer; or of random sizes.
        let frame = rng.one_in(2);
        let size = datagram_size(rng);
        let mut packets = Vec::new();
        let mut total = 0;
        for i in 0..count {
            let len = match (frame, i + 1 == count) {
                (true, false) => size,
                (true, true) => last_of_run(rng, size),
                (false, _) => datagram_size(rng),
            };
            // Keep the packets small enough for several recipients to fit their budgets.
            if total + cost(len) > 1 << 20 {
                break;
            }
            total += cost(len);
            packets.push((self.layout.parts(rng, len), len));
        }
        let mut recipients = Vec::new();
        for _ in 0..rng.between(1, 8) {
            let dest = rng.pick(&targets);
            let start = if rng.one_in(4) {
                rng.below(packets.len() + 1)
            } else {
                0
            };
            let set_aside = rng.one_in(12);
            let need: usize = if set_aside {
                0
            } else {
                packets[start..].iter().map(|(_, len)| cost(*len)).sum()
            };
            if need > self.budget[dest] {
                continue;
            }
            self.budget[dest] -= need;
            let mapped = self.world.receivers[dest].family == Family::V4
                && self.world.senders[self.sender].family == Family::V6
                && rng.one_in(4);
            recipients.push(Planned {
                dest,
                start,
                set_aside,
                mapped,
                dead: false,
            });
        }
        if self.world.senders[self.sender].family == Family::Unix && rng.one_in(6) {
            let at = rng.below(recipients.len() + 1);
            recipients.insert(
                at,
                Planned {
                    dest: 0,
                    start: rng.below(packets.len() + 1),
                    set_aside: false,
                    mapped: false,
                    dead: true,
                },
            );
        }
        Fanout {
            packets,
            recipients,
        }
    }
}

fn plan(rng: &mut Rng, world: &World) -> Batch {
    let sender = rng.pick(SENDER_PICKS);
    let mut mode = match rng.below(20) {
        0..=5 => Mode {
            portable: false,
            offload: true,
            blocking: true,
        },
        6..=9 => Mode {
            portable: false,
            offload: false,
            blocking: true,
        },
        10..=12 => Mode {
            portable: true,
            offload: rng.one_in(2),
            blocking: true,
        },
        _ => Mode {
            portable: rng.one_in(4),
            offload: !rng.one_in(3),
            blocking: false,
        },
    };
    // Windows has no batch call: every socket is on the portable path.
    mode.portable |= cfg!(windows);
    let mut planner = Planner {
        world,
        sender,
        budget: world.receivers.iter().map(|r| r.budget).collect(),
        layout: Layout {
            cursor: rng.below(POOL),
            wide: false,
        },
    };
    let work = if rng.one_in(4) {
        Work::Fanout(planner.fanout(rng))
    } else {
        Work::Messages(planner.messages(rng))
    };
    let mut batch = Batch {
        sender,
        work,
        mode,
        receiving: Vec::new(),
        interrupt: None,
        short_timeout: mode.blocking && rng.one_in(8),
    };
    let expected = expectations(world, &batch);
    batch.receiving = world
        .receivers
        .iter()
        .zip(&expected)
        .map(|(r, e)| Receiving {
            offload: RECEIVE_OFFLOAD
                && r.family != Family::Unix
                && rng.one_in(2)
                && (EMPTY_DATAGRAMS_WITH_RECEIVE_OFFLOAD || e.iter().all(|e| e.len > 0)),
            blocking: !rng.one_in(3),
            portable: rng.one_in(4) || cfg!(windows),
        })
        .collect();
    if rng.one_in(6) {
        let busy: Vec<usize> = (0..expected.len())
            .filter(|&i| !expected[i].is_empty())
            .collect();
        if !busy.is_empty() {
            let r = rng.pick(&busy);
            batch.interrupt = Some((r, rng.below(expected[r].len())));
        }
    }
    batch
}

fn describe(batch: &Batch, world: &World) -> String {
    let work = match &batch.work {
        Work::Messages(msgs) => {
            let datagrams: usize = msgs
                .iter()
                .map(|m| match m.control {
                    Control::Segment(seg) => m.len.div_ceil(seg),
                    _ => 1,
                })
                .sum();
            format!(
                "send_messages of {} messages ({datagrams} datagrams)",
                msgs.len()
            )
        }
        Work::Fanout(f) => format!(
            "send_fanout of {} packets to {} recipients",
            f.packets.len(),
            f.recipients.len()
        ),
    };
    let receiving: Vec<String> = world
        .receivers
        .iter()
        .zip(&batch.receiving)
        .enumerate()
        .filter(|(i, _)| world.senders[batch.sender].targets.contains(i))
        .map(|(_, (r, c))| {
            format!(
                "{} {}{}{}",
                r.name,
                if c.portable { "portable, " } else { "" },
                if r.family == Family::Unix {
                    ""
                } else if c.offload {
                    "offload on, "
                } else {
                    "offload off, "
                },
                if c.blocking {
                    "blocking"
                } else {
                    "non-blocking"
                }
            )
        })
        .collect();
    let dead = match &batch.work {
        Work::Messages(msgs) => msgs.iter().filter(|m| m.dead).count(),
        Work::Fanout(f) => f.recipients.iter().filter(|r| r.dead).count(),
    };
    let mut extras = String::new();
    if dead > 0 {
        extras += &format!("; {dead} to a dead destination");
    }
    if batch.short_timeout {
        extras += "; 1 ms send timeout";
    }
    if let Some((r, at)) = batch.interrupt {
        extras += &format!(
            "; send cancelled once {} has {at} datagrams",
            world.receivers[r].name
        );
    }
    format!(
        "sender {}: {work}; {}{extras}; receivers: {}",
        world.senders[batch.sender].name,
        batch.mode,
        receiving.join(", ")
    )
}

// ---------------------------------------------------------------------------------------
// What each receiver must get

#[derive(Clone, Copy, Debug)]
enum Origin {
    Message(usize),
    Segment { message: usize, index: usize },
    Packet { recipient: usize, packet: usize },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Message(i) => write!(f, "message {i}"),
            Origin::Segment { message, index } => write!(f, "segment {index} of message {message}"),
            Origin::Packet { recipient, packet } => {
                write!(f, "packet {packet} to recipient {recipient}")
            }
        }
    }
}

#[derive(Clone)]
struct Expected {
    parts: Vec<(usize, usize)>,
    len: usize,
    /// The traffic class (IP_TOS, IPV6_TCLASS) it must arrive with.
    class: u8,
    origin: Origin,
}

/// The bytes `from..to` of a datagram made of `parts`, as parts.
fn sub_parts(parts: &[(usize, usize)], from: usize, to: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    for &(offset, len) in parts {
        let (start, end) = (at.max(from), (at + len).min(to));
        if start < end {
            out.push((offset + start - at, end - start));
        }
        at += len;
    }
    out
}

fn expectations(world: &World, batch: &Batch) -> Vec<Vec<Expected>> {
    let mut per: Vec<Vec<Expected>> = vec![Vec::new(); world.receivers.len()];
    match &batch.work {
        Work::Messages(msgs) => {
            for (i, m) in msgs.iter().enumerate().filter(|(_, m)| !m.dead) {
                match m.control {
                    Control::Segment(seg) if m.len > seg => {
                        for (index, from) in (0..m.len).step_by(seg).enumerate() {
                            let to = (from + seg).min(m.len);
                            per[m.dest].push(Expected {
                                parts: sub_parts(&m.parts, from, to),
                                len: to - from,
                                class: 0,
                                origin: Origin::Segment { message: i, index },
                            });
                        }
                    }
                    control => per[m.dest].push(Expected {
                        parts: m.parts.clone(),
                        len: m.len,
                        class: match control {
                            Control::Tos(c) | Control::Tclass(c) => c,
                            _ => 0,
                        },
                        origin: Origin::Message(i),
                    }),
                }
            }
        }
        Work::Fanout(f) => {
            for (j, r) in f.recipients.iter().enumerate() {
                if r.set_aside || r.dead {
                    continue;
                }
                for p in r.start..f.packets.len() {
                    per[r.dest].push(Expected {
                        parts: f.packets[p].0.clone(),
                        len: f.packets[p].1,
                        class: 0,
                        origin: Origin::Packet {
                            recipient: j,
                            packet: p,
                        },
                    });
                }
            }
        }
    }
    per
}

/// Where `got` first differs from the datagram made of `parts` (compared over `got`'s
/// length).
fn first_difference(got: &[u8], parts: &[(usize, usize)], pool: &[u8]) -> Option<usize> {
    let mut at = 0;
    for &(offset, len) in parts {
        if at >= got.len() {
            break;
        }
        let n = len.min(got.len() - at);
        let (have, want) = (&got[at..at + n], &pool[offset..offset + n]);
        if have != want {
            return Some(at + have.iter().zip(want).position(|(a, b)| a != b).unwrap());
        }
        at += n;
    }
    None
}

/// Which expected datagram near `near` `got` (whole, untruncated) is, for failure reports.
fn identify(got: &[u8], expected: &[Expected], near: usize, pool: &[u8]) -> String {
    let from = near.saturating_sub(200);
    let to = (near + 2000).min(expected.len());
    let matches: Vec<usize> = (from..to)
        .filter(|&j| {
            expected[j].len == got.len()
                && first_difference(got, &expected[j].parts, pool).is_none()
        })
        .take(3)
        .collect();
    if matches.is_empty() {
        format!(
            "it is none of the expected datagrams {from}..{to} (a merge, a cut or foreign bytes)"
        )
    } else {
        format!("its bytes are those of expected datagram(s) {matches:?}")
    }
}

// ---------------------------------------------------------------------------------------
// Receiving

/// The traffic class a received datagram carried.
fn traffic_class(control: &ControlBuffer) -> Option<u8> {
    let ((ip, tos), (ipv6, tclass)) = (TOS, TCLASS);
    control.messages().find_map(|m| match m {
        ReceivedControlMessage::Raw { level, kind, data } if level == ip && kind == tos => {
            data.first().copied()
        }
        ReceivedControlMessage::Raw { level, kind, data } if level == ipv6 && kind == tclass => {
            data.get(..4)
                .map(|b| i32::from_ne_bytes(b.try_into().unwrap()) as u8)
        }
        _ => None,
    })
}

struct Got {
    len: usize,
    flags: MsgFlags,
    source: Option<Source>,
    class: Option<u8>,
}

/// One `receive_messages` call into `caps.len()` slots, slot i holding `caps[i]` bytes
/// scattered into 1 to 3 vectors.
fn receive_call(
    socket: &Socket,
    slots: &mut Slots,
    caps: &[usize],
    cuts: &[Vec<usize>],
    with_control: bool,
    flags: MsgFlags,
) -> io::Result<(usize, Vec<Got>)> {
    let k = caps.len();
    let mut vectors: Vec<Vec<IoSliceMut>> = Vec::with_capacity(k);
    for ((buf, &cap), cuts) in slots.bufs.iter_mut().zip(caps).zip(cuts) {
        let mut rest: &mut [u8] = &mut buf[..cap];
        let mut v = Vec::with_capacity(cuts.len() + 1);
        let mut taken = 0;
        for &cut in cuts {
            let (a, b) = std::mem::take(&mut rest).split_at_mut(cut - taken);
            taken = cut;
            v.push(IoSliceMut::new(a));
            rest = b;
        }
        v.push(IoSliceMut::new(rest));
        vectors.push(v);
    }
    let mut messages: Vec<InputMessage> = vectors
        .iter_mut()
        .zip(slots.controls.iter_mut())
        .map(|(v, c)| {
            let mut m = InputMessage::new(v);
            if with_control {
                m.control = Some(c);
            }
            m
        })
        .collect();
    let n = socket.receive_messages(&mut messages, flags, None)?;
    let got = messages[..n.min(k)]
        .iter()
        .map(|m| Got {
            len: m.bytes_received,
            flags: m.flags,
            source: seen(m.address.as_ref()),
            class: m.control.as_deref().and_then(traffic_class),
        })
        .collect();
    Ok((n, got))
}

struct Drain<'a> {
    receiver: &'a Receiver,
    slots: &'a mut Slots,
    expected: &'a [Expected],
    source: Source,
    pool: &'a [u8],
    abort: &'a AtomicBool,
    /// Set once the sender has sent the whole batch.
    sent: &'a AtomicBool,
    cancel: &'a Cancellable,
    /// Cancel the send once this many datagrams arrived.
    interrupt: Option<usize>,
    rng: Rng,
    offload: bool,
    blocking: bool,
    /// The last calls, for failure reports.
    history: Vec<String>,
    /// Peeks, offload switches and the cancellation, with the datagram they came before.
    events: Vec<String>,
}

impl Drain<'_> {
    fn udp(&self) -> bool {
        self.receiver.family != Family::Unix
    }

    fn state(&self) -> String {
        format!(
            "receiver {} (receive offload {}, {}; recent calls: {}; events: {})",
            self.receiver.name,
            if self.offload { "on" } else { "off" },
            if self.blocking {
                "blocking"
            } else {
                "non-blocking"
            },
            self.history.join(" "),
            if self.events.is_empty() {
                "none".to_string()
            } else {
                self.events[self.events.len().saturating_sub(8)..].join(" ")
            }
        )
    }

    fn note(&mut self, what: String) {
        if self.history.len() == 12 {
            self.history.remove(0);
        }
        self.history.push(what);
    }

    /// Receives every expected datagram and checks it.
    fn run(&mut self) -> Result<(), String> {
        let socket = &self.receiver.socket;
        socket.set_blocking(self.blocking);
        socket.set_timeout(Some(RECEIVE_WAIT));
        let deadline = Instant::now() + 2 * PATIENCE;
        let mut progress = Instant::now();
        let mut next = 0;
        while next < self.expected.len() {
            if self.abort.load(Ordering::SeqCst) {
                return Err(ABORTED.into());
            }
            // Loopback delivers within the send call: once the sender is done, what has not
            // come after a while will not.
            let settled = self.sent.load(Ordering::SeqCst) && progress.elapsed() > SETTLE;
            if settled || Instant::now() > deadline {
                let e = &self.expected[next];
                return Err(format!(
                    "{}: only {next} of {} datagrams arrived ({}); missing datagram {next} ({}, {} bytes)",
                    self.state(),
                    self.expected.len(),
                    if settled {
                        format!("none for {SETTLE:?} after the sender was done")
                    } else {
                        format!("within {:?}", 2 * PATIENCE)
                    },
                    e.origin,
                    e.len
                ));
            }
            if RECEIVE_OFFLOAD_SWITCHED_MID_STREAM
                && RECEIVE_OFFLOAD
                && self.udp()
                && self.rng.one_in(30)
            {
                self.offload = !self.offload;
                socket
                    .set_receive_offload(self.offload)
                    .map_err(|e| format!("{}: set_receive_offload: {e}", self.state()))?;
                tally(SWITCHED);
                let what = format!(
                    "offload->{}@{next}",
                    if self.offload { "on" } else { "off" }
                );
                self.note(what.clone());
                self.events.push(what);
            }
            if PEEKS && self.rng.one_in(25) {
                tally(PEEKED);
                self.events.push(format!("peek@{next}"));
                self.step(next, 1, MsgFlags::PEEK)?;
                continue;
            }
            let k = self.rng.pick(&[1, 1, 2, 2, 3, 4, 7, 16, 32, SLOTS]);
            let n = self.step(next, k, MsgFlags::empty())?;
            if n > 0 {
                next += n;
                progress = Instant::now();
            }
            if self.interrupt.is_some_and(|at| next >= at) {
                self.interrupt = None;
                self.cancel.cancel();
                self.note("cancelled the send".into());
                self.events.push(format!("cancel@{next}"));
            }
        }
        Ok(())
    }

    /// One receive call of `k` messages; checks what came and returns how many did.
    fn step(&mut self, next: usize, k: usize, flags: MsgFlags) -> Result<usize, String> {
        let peek = flags.contains(MsgFlags::PEEK);
        // Slot i gets expected datagram next + i: now and then a buffer too short for it.
        let caps: Vec<usize> = (0..k)
            .map(|i| match self.expected.get(next + i) {
                Some(e) if e.len > 0 && !peek && self.rng.one_in(40) => self.rng.below(e.len),
                _ => SLOT_BYTES,
            })
            .collect();
        let cuts: Vec<Vec<usize>> = caps
            .iter()
            .map(|&cap| {
                let mut c: Vec<usize> = (0..self.rng.below(3))
                    .map(|_| self.rng.below(cap + 1))
                    .collect();
                c.sort_unstable();
                c
            })
            .collect();
        // Poison where each datagram's first and last bytes will land.
        for (i, buf) in self.slots.bufs[..k].iter_mut().enumerate() {
            let end = self
                .expected
                .get(next + i)
                .map_or(0, |e| e.len)
                .min(caps[i]);
            buf[..end.min(64)].fill(0xA5);
            buf[end.saturating_sub(64)..end].fill(0x5A);
        }
        let with_control = self.udp();
        tally(RECEIVE_CALLS);
        let result = receive_call(
            &self.receiver.socket,
            self.slots,
            &caps,
            &cuts,
            with_control,
            flags,
        );
        let (n, got) = match result {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && !self.blocking => {
                self.note(format!("{}x{k}:WouldBlock", if peek { "peek" } else { "recv" }));
                match self.receiver.socket.condition_timed_wait(
                    IoCondition::IN,
                    Some(RECEIVE_WAIT),
                    None,
                ) {
                    Err(e) if e.kind() != io::ErrorKind::TimedOut => {
                        return Err(format!("{}: condition_timed_wait: {e}", self.state()))
                    }
                    _ => return Ok(0),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut && self.blocking => {
                self.note(format!("{}x{k}:TimedOut", if peek { "peek" } else { "recv" }));
                return Ok(0);
            }
            Err(e) => {
                return Err(format!(
                    "{}: receive_messages of {k} messages failed after {next} of {} datagrams: {e} (kind {:?})",
                    self.state(),
                    self.expected.len(),
                    e.kind()
                ))
            }
        };
        self.note(format!(
            "{}x{k}={n}{}",
            if peek { "peek" } else { "recv" },
            if caps.iter().any(|&c| c < SLOT_BYTES) {
                "(short buffers)"
            } else {
                ""
            }
        ));
        if n == 0 || n > k {
            return Err(format!(
                "{}: receive_messages of {k} messages returned {n}",
                self.state()
            ));
        }
        if next + n > self.expected.len() {
            return Err(format!(
                "{}: {} datagrams arrived, {} were sent (a duplicate or a foreign datagram)",
                self.state(),
                next + n,
                self.expected.len()
            ));
        }
        for (i, g) in got.iter().enumerate() {
            let index = next + i;
            let e = &self.expected[index];
            let cap = caps[i];
            let want = e.len.min(cap);
            let bytes = &self.slots.bufs[i][..g.len.min(cap)];
            let what = format!(
                "{}: datagram {index} of {} ({}, {} bytes{}), message {i} of {n} returned by a call of {k}{}",
                self.state(),
                self.expected.len(),
                e.origin,
                e.len,
                if cap < e.len {
                    format!(", received into {cap} bytes")
                } else {
                    String::new()
                },
                if peek { " with PEEK" } else { "" }
            );
            if g.len != want {
                let who = if g.len <= cap && !g.flags.contains(MsgFlags::TRUNC) {
                    identify(bytes, self.expected, index, self.pool)
                } else {
                    String::new()
                };
                return Err(format!(
                    "{what}: {} bytes received, {want} expected; {who}",
                    g.len
                ));
            }
            if let Some(at) = first_difference(bytes, &e.parts, self.pool) {
                return Err(format!(
                    "{what}: bytes differ from offset {at}; {}",
                    identify(bytes, self.expected, index, self.pool)
                ));
            }
            let truncated = g.flags.contains(MsgFlags::TRUNC);
            if truncated {
                tally(TRUNCATED);
            }
            if truncated != (e.len > cap) || g.flags.contains(MsgFlags::CTRUNC) {
                return Err(format!("{what}: flags {:?}", g.flags));
            }
            if g.source.as_ref() != Some(&self.source) {
                return Err(format!(
                    "{what}: from {:?}, expected from {:?}",
                    g.source, self.source
                ));
            }
            // Where traffic classes are not asked for (Windows), none may be reported.
            if with_control && g.class != TRAFFIC_CLASS.then_some(e.class) {
                return Err(format!(
                    "{what}: traffic class {:?}, expected {:#x}",
                    g.class, e.class
                ));
            }
        }
        Ok(if peek { 0 } else { n })
    }
}

/// Checks that nothing more is queued on `receiver` (nor kept by the library).
fn nothing_more(receiver: &Receiver, slots: &mut Slots) -> Result<(), String> {
    receiver.socket.set_blocking(false);
    match receive_call(
        &receiver.socket,
        slots,
        &[SLOT_BYTES],
        &[Vec::new()],
        false,
        MsgFlags::empty(),
    ) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(format!(
            "receiver {}: after every expected datagram, a receive failed: {e}",
            receiver.name
        )),
        Ok((n, got)) => Err(format!(
            "receiver {}: after every expected datagram arrived, {n} more did ({} bytes)",
            receiver.name,
            got.first().map_or(0, |g| g.len)
        )),
    }
}

// ---------------------------------------------------------------------------------------
// Sending

/// Waits a little for `socket` to be writable; after a wait that ended at once without
/// room (an unconnected Unix socket polls writable while its receiver is full), backs off
/// briefly instead of spinning. Only ever bounded by the caller's deadline.
fn wait_writable(socket: &Socket, fruitless: &mut u32) {
    let _ = socket.condition_timed_wait(IoCondition::OUT, Some(RECEIVE_WAIT), None);
    if *fruitless > 0 {
        std::thread::sleep(Duration::from_micros(50 << (*fruitless).min(5)));
    }
    *fruitless += 1;
}

struct Send<'a> {
    world: &'a World,
    batch: &'a Batch,
    pool: &'a [u8],
    cancel: &'a Cancellable,
    abort: &'a AtomicBool,
}

/// Why a call may end before everything was sent, and what to do then.
enum Cut {
    /// Go on from where it stopped.
    Resume,
    /// A message or recipient at a dead destination: step over it.
    Skip,
}

impl Send<'_> {
    fn run(&self) -> Result<(), String> {
        let sender = &self.world.senders[self.batch.sender];
        let socket = &sender.socket;
        let mode = self.batch.mode;
        socket.set_portable_path(mode.portable);
        socket.set_blocking(mode.blocking);
        socket.set_timeout(Some(if self.batch.short_timeout {
            Duration::from_millis(1)
        } else {
            PATIENCE
        }));
        if sender.family != Family::Unix {
            socket.set_segmentation_offload(mode.offload);
            let now = socket.segmentation_offload();
            if self.world.offload_available && now != mode.offload {
                return Err(format!(
                    "segmentation_offload() is {now} right after set_segmentation_offload({}) (offload was switched off for good by an earlier send?)",
                    mode.offload
                ));
            }
        }
        match &self.batch.work {
            Work::Messages(msgs) => self.messages(socket, msgs),
            Work::Fanout(f) => self.fanout(socket, f),
        }
    }

    fn address(&self, dest: usize, form: AddressForm, dead: bool) -> Option<SockAddr> {
        if dead {
            return self.world.dead.clone();
        }
        let address = &self.world.receivers[dest].address;
        match form {
            AddressForm::Shared => None,
            AddressForm::Own => Some(address.clone()),
            AddressForm::Mapped => Some(mapped(address)),
        }
    }

    /// Whether the call may have ended early for a reason the batch set up: the deliberate
    /// cancellation (then cleared), a short timeout, or a non-blocking socket. `Err` where the
    /// run must stop.
    fn excused(&self, timed_out: bool) -> Result<bool, String> {
        if self.abort.load(Ordering::SeqCst) {
            return Err(ABORTED.into());
        }
        if self.cancel.is_cancelled() {
            if self.batch.interrupt.is_none() {
                return Ok(false);
            }
            self.cancel.reset();
            tally(CANCELLED);
            return Ok(true);
        }
        Ok(!self.batch.mode.blocking || (timed_out && self.batch.short_timeout))
    }

    /// What an error from a call starting at a dead destination or not means.
    fn after_error(&self, e: &io::Error, at_dead: bool) -> Result<Cut, String> {
        if self.abort.load(Ordering::SeqCst) {
            return Err(ABORTED.into());
        }
        if at_dead && e.raw_os_error() == Some(ECONNREFUSED) {
            tally(DEAD_SKIPPED);
            return Ok(Cut::Skip);
        }
        let excused = if mmsg::is_cancelled(e) {
            self.excused(false)?
        } else if e.kind() == io::ErrorKind::TimedOut {
            tally(TIMED_OUT);
            self.batch.mode.blocking && self.batch.short_timeout
        } else if e.kind() == io::ErrorKind::WouldBlock {
            tally(WOULD_BLOCK);
            !self.batch.mode.blocking
        } else {
            false
        };
        if excused {
            Ok(Cut::Resume)
        } else {
            Err(format!(
                "{e} (kind {:?}, os error {:?})",
                e.kind(),
                e.raw_os_error()
            ))
        }
    }

    fn messages(&self, socket: &Socket, msgs: &[Msg]) -> Result<(), String> {
        let vectors: Vec<Vec<IoSlice>> = msgs
            .iter()
            .map(|m| {
                m.parts
                    .iter()
                    .map(|&(o, l)| IoSlice::new(&self.pool[o..o + l]))
                    .collect()
            })
            .collect();
        let own: Vec<Option<SockAddr>> = msgs
            .iter()
            .map(|m| self.address(m.dest, m.form, m.dead))
            .collect();
        let data: Vec<[u8; 4]> = msgs
            .iter()
            .map(|m| match m.control {
                Control::Tos(c) | Control::Tclass(c) => i32::from(c).to_ne_bytes(),
                _ => [0; 4],
            })
            .collect();
        let controls: Vec<Vec<ControlMessage>> = msgs
            .iter()
            .zip(&data)
            .map(|(m, d)| match m.control {
                Control::Plain => Vec::new(),
                Control::Tos(_) => vec![ControlMessage::Raw {
                    level: TOS.0,
                    kind: TOS.1,
                    data: d,
                }],
                Control::Tclass(_) => vec![ControlMessage::Raw {
                    level: TCLASS.0,
                    kind: TCLASS.1,
                    data: d,
                }],
                Control::Segment(seg) => vec![ControlMessage::UdpSegment(seg as u16)],
            })
            .collect();
        let mut out: Vec<OutputMessage> = msgs
            .iter()
            .enumerate()
            .map(|(i, m)| OutputMessage {
                address: Some(
                    own[i]
                        .as_ref()
                        .unwrap_or(&self.world.receivers[m.dest].address),
                ),
                vectors: &vectors[i],
                bytes_sent: SENTINEL,
                control_messages: &controls[i],
            })
            .collect();
        // What each message's bytes_sent must be once sent (a dead one is never sent).
        let lens: Vec<usize> = msgs
            .iter()
            .map(|m| if m.dead { SENTINEL } else { m.len })
            .collect();
        // Messages before `from` are settled; `from..to` were just reported sent; the rest
        // must be untouched.
        let check = |out: &[OutputMessage], from: usize, to: usize| -> Result<(), String> {
            for (i, m) in out.iter().enumerate().skip(from) {
                let want = if i < to { lens[i] } else { SENTINEL };
                if m.bytes_sent != want {
                    let shown = |n: usize| {
                        if n == SENTINEL {
                            "untouched".to_string()
                        } else {
                            n.to_string()
                        }
                    };
                    return Err(format!(
                        "message {i}{} ({} bytes) has bytes_sent {} after messages {from}..{to} were reported sent",
                        if msgs[i].dead { " (to a dead destination)" } else { "" },
                        msgs[i].len,
                        shown(m.bytes_sent)
                    ));
                }
            }
            Ok(())
        };
        let total = out.len();
        let deadline = Instant::now() + 2 * PATIENCE;
        let (mut done, mut fruitless, mut calls) = (0, 0, 0);
        while done < total {
            if Instant::now() > deadline {
                return Err(format!(
                    "only {done} of {total} messages sent within {:?} ({calls} calls)",
                    2 * PATIENCE
                ));
            }
            calls += 1;
            let result =
                socket.send_messages(&mut out[done..], MsgFlags::empty(), Some(self.cancel));
            let from = done;
            let context = |what: String| {
                if what == ABORTED {
                    return what;
                }
                format!("send_messages call {calls} from message {from} of {total}: {what}")
            };
            match result {
                Ok(n) if n == 0 || n > total - done => {
                    return Err(context(format!("returned {n}")));
                }
                Ok(n) => {
                    check(&out, done, done + n).map_err(context)?;
                    done += n;
                    fruitless = 0;
                    if done < total {
                        tally(CUT_SHORT);
                    }
                    // Cut short: at a dead destination (its error comes with the next
                    // call), or for a reason the batch set up.
                    if done < total && !msgs[done].dead && !self.excused(true).map_err(context)? {
                        return Err(context(format!(
                            "returned {n} of {} with no reason to stop",
                            total - done + n
                        )));
                    }
                }
                Err(e) => {
                    check(&out, done, done).map_err(context)?;
                    let would_block = e.kind() == io::ErrorKind::WouldBlock;
                    match self.after_error(&e, msgs[done].dead).map_err(context)? {
                        Cut::Skip => done += 1,
                        Cut::Resume if would_block => wait_writable(socket, &mut fruitless),
                        Cut::Resume => {}
                    }
                }
            }
        }
        Ok(())
    }

    fn fanout(&self, socket: &Socket, plan: &Fanout) -> Result<(), String> {
        let packets: Vec<Vec<IoSlice>> = plan
            .packets
            .iter()
            .map(|(parts, _)| {
                parts
                    .iter()
                    .map(|&(o, l)| IoSlice::new(&self.pool[o..o + l]))
                    .collect()
            })
            .collect();
        let mut recipients: Vec<Recipient> = plan
            .recipients
            .iter()
            .map(|r| {
                let address = self
                    .address(
                        r.dest,
                        if r.mapped {
                            AddressForm::Mapped
                        } else {
                            AddressForm::Own
                        },
                        r.dead,
                    )
                    .expect("an address of its own");
                let mut recipient = Recipient::new(address);
                recipient.packets_sent = r.start;
                if r.set_aside {
                    recipient.error = Some(io::Error::other(PRESET_ERROR));
                }
                recipient
            })
            .collect();
        let total = packets.len();
        let deadline = Instant::now() + 2 * PATIENCE;
        let (mut fruitless, mut calls, mut sent) = (0, 0, 0);
        while recipients.iter().any(|r| r.is_pending(total)) {
            if Instant::now() > deadline {
                return Err(format!(
                    "fan-out: {sent} datagrams sent within {:?} ({calls} calls), recipients still pending",
                    2 * PATIENCE
                ));
            }
            calls += 1;
            let before: Vec<usize> = recipients.iter().map(|r| r.packets_sent).collect();
            let failed_before = recipients.iter().filter(|r| r.error.is_some()).count();
            let result = socket.send_fanout(
                &packets,
                &mut recipients,
                MsgFlags::empty(),
                Some(self.cancel),
            );
            let context = |what: String| {
                if what == ABORTED {
                    return what;
                }
                format!("send_fanout call {calls}: {what}")
            };
            let mut advanced = 0;
            for (j, (r, b)) in recipients.iter().zip(&before).enumerate() {
                if r.packets_sent < *b || r.packets_sent > total {
                    return Err(context(format!(
                        "recipient {j}: packets_sent went from {b} to {} (of {total})",
                        r.packets_sent
                    )));
                }
                advanced += r.packets_sent - b;
            }
            let set_aside = recipients.iter().filter(|r| r.error.is_some()).count() - failed_before;
            match result {
                Ok(n) if n != advanced => {
                    return Err(context(format!(
                        "returned {n} while the recipients advanced by {advanced}"
                    )))
                }
                Ok(n) => {
                    sent += n;
                    fruitless = 0;
                    let pending = recipients.iter().any(|r| r.is_pending(total));
                    if pending {
                        tally(CUT_SHORT);
                    }
                    if pending && !self.excused(true).map_err(context)? {
                        return Err(context(format!(
                            "returned {n} with recipients pending and no reason to stop"
                        )));
                    }
                    if n == 0 && set_aside == 0 {
                        return Err(context(
                            "returned 0 without sending anything or setting a recipient aside"
                                .into(),
                        ));
                    }
                }
                Err(e) => {
                    if advanced > 0 {
                        return Err(context(format!(
                            "failed ({e}) after advancing the recipients by {advanced}"
                        )));
                    }
                    if let Cut::Resume = self.after_error(&e, false).map_err(context)? {
                        if e.kind() == io::ErrorKind::WouldBlock {
                            wait_writable(socket, &mut fruitless);
                        }
                    }
                }
            }
        }
        for (j, (r, p)) in recipients.iter().zip(&plan.recipients).enumerate() {
            let error = r.error.as_ref().map(|e| (e.to_string(), e.raw_os_error()));
            let ok = if p.set_aside {
                r.packets_sent == p.start
                    && error.as_ref().map(|e| e.0.as_str()) == Some(PRESET_ERROR)
            } else if p.dead {
                r.packets_sent == p.start
                    && (p.start == total || error.as_ref().and_then(|e| e.1) == Some(ECONNREFUSED))
            } else {
                r.packets_sent == total && error.is_none()
            };
            if !ok {
                return Err(format!(
                    "recipient {j} ({}, from packet {}{}) ended with packets_sent {} of {total} and error {error:?}",
                    if p.dead { "a dead destination" } else { &self.world.receivers[p.dest].name },
                    p.start,
                    if p.set_aside { ", set aside" } else { "" },
                    r.packets_sent
                ));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The run

fn run_batch(
    world: &World,
    slots: &mut [Slots],
    batch: &Batch,
    pool: &[u8],
    seed: u64,
) -> Result<(), String> {
    let expected = expectations(world, batch);
    for (r, c) in world.receivers.iter().zip(&batch.receiving) {
        r.socket.set_portable_path(c.portable);
        if r.family != Family::Unix && RECEIVE_OFFLOAD {
            r.socket
                .set_receive_offload(c.offload)
                .map_err(|e| format!("{}: set_receive_offload: {e}", r.name))?;
        }
    }
    let abort = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    let cancel = Cancellable::new();
    let drops = common::backlog_drops();
    let (sent, received) = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for (i, (receiver, slots)) in world.receivers.iter().zip(slots.iter_mut()).enumerate() {
            if expected[i].is_empty() {
                continue;
            }
            let (abort, done, cancel, expected) = (&abort, &done, &cancel, &expected[i]);
            let source = source_of(&world.senders[batch.sender], receiver);
            let config = batch.receiving[i];
            handles.push(s.spawn(move || {
                let mut drain = Drain {
                    receiver,
                    slots,
                    expected,
                    source,
                    pool,
                    abort,
                    sent: done,
                    cancel,
                    interrupt: batch.interrupt.filter(|(r, _)| *r == i).map(|(_, at)| at),
                    rng: Rng(mix(
                        seed ^ (i as u64 + 1).wrapping_mul(0x1234_5678_9abc_def1)
                    )),
                    offload: config.offload,
                    blocking: config.blocking,
                    history: Vec::new(),
                    events: Vec::new(),
                };
                let result = drain.run();
                if result.is_err() {
                    abort.store(true, Ordering::SeqCst);
                    cancel.cancel();
                }
                result
            }));
        }
        let send = Send {
            world,
            batch,
            pool,
            cancel: &cancel,
            abort: &abort,
        };
        let sent = send.run();
        match sent {
            Ok(()) => done.store(true, Ordering::SeqCst),
            Err(_) => abort.store(true, Ordering::SeqCst),
        }
        let received: Vec<Result<(), String>> = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a receiving thread panicked".into()))
            })
            .collect();
        (sent, received)
    });
    let mut errors: Vec<String> = received.into_iter().filter_map(Result::err).collect();
    match sent {
        Err(e) if e == ABORTED => {}
        Err(e) => errors.insert(0, format!("sending: {e}")),
        Ok(()) => {}
    }
    errors.retain(|e| e != ABORTED);
    if errors.is_empty() {
        for (receiver, slots) in world.receivers.iter().zip(slots.iter_mut()) {
            if let Err(e) = nothing_more(receiver, slots) {
                errors.push(e);
            }
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    let dropped = common::backlog_drops() - drops;
    if dropped > 0 {
        errors.push(format!(
            "(meanwhile the kernel's input backlog dropped {dropped} packets: loss may be the machine's)"
        ));
    }
    Err(errors.join("\n    "))
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let text = text.trim();
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={text}: not a number")))
}

#[derive(Default)]
struct Totals {
    batches: usize,
    messages: usize,
    fanouts: usize,
    datagrams: usize,
    bytes: usize,
}

#[test]
fn random_batches_arrive_exactly_as_sent_in_every_mode() {
    let seed = env_number("MMSG_DIFF_SEED").unwrap_or(DEFAULT_SEED);
    let batches =
        env_number("MMSG_DIFF_BATCHES").map_or(common::scaled(DEFAULT_BATCHES), |n| n as usize);
    let only = env_number("MMSG_DIFF_ONLY").map(|n| n as usize);
    let keep_going = std::env::var("MMSG_DIFF_KEEP_GOING").is_ok_and(|v| v == "1");
    println!(
        "differential: seed {seed:#x}, {batches} batches (MMSG_DIFF_SEED, MMSG_DIFF_BATCHES, MMSG_DIFF_ONLY, MMSG_DIFF_KEEP_GOING)"
    );
    let mut rng = Rng(seed ^ 0x706f_6f6c);
    let pool: Vec<u8> = (0..POOL / 8)
        .flat_map(|_| rng.next_u64().to_le_bytes())
        .collect();
    let started = Instant::now();
    let mut world = World::new(0);
    let mut slots = world.slots();
    let mut failures = Vec::new();
    let mut totals = Totals::default();
    let range = match only {
        Some(b) => b..b + 1,
        None => 0..batches,
    };
    for b in range {
        let batch_seed = mix(seed ^ mix(b as u64 + 1));
        let mut rng = Rng(batch_seed);
        let batch = plan(&mut rng, &world);
        let expected = expectations(&world, &batch);
        totals.batches += 1;
        match &batch.work {
            Work::Messages(m) => totals.messages += m.len(),
            Work::Fanout(_) => totals.fanouts += 1,
        }
        totals.datagrams += expected.iter().map(Vec::len).sum::<usize>();
        totals.bytes += expected.iter().flatten().map(|e| e.len).sum::<usize>();
        if let Err(text) = run_batch(&world, &mut slots, &batch, &pool, batch_seed) {
            let report = format!(
                "[seed {seed:#x} batch {b}: MMSG_DIFF_SEED={seed:#x} MMSG_DIFF_ONLY={b}] {}\n    {text}",
                describe(&batch, &world)
            );
            assert!(keep_going, "{report}");
            eprintln!("FAILED {report}");
            failures.push(report);
            // The sockets may hold leftovers: start over.
            world = World::new(b + 1);
            slots = world.slots();
        }
    }
    println!("differential: {TALLY}");
    println!(
        "differential: {} batches ({} fan-outs), {} messages, {} datagrams, {} bytes in {:?}",
        totals.batches,
        totals.fanouts,
        totals.messages,
        totals.datagrams,
        totals.bytes,
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "seed {seed:#x}: {} of {} batches failed:\n{}",
        failures.len(),
        totals.batches,
        failures.join("\n")
    );
}
