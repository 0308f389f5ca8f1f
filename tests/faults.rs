//! Faults on a real link: the test makes two network namespaces of its own joined by a veth
//! pair (`va`, 10.77.0.1 and fd77::1, the senders' side; `vb`, 10.77.0.2 and fd77::2, the
//! receivers'), and streams batches across with segmentation offload on (blocking mostly,
//! some non-blocking, some on the portable path; runs of equal datagrams around the MTUs,
//! lone datagrams the kernel fragments) while it changes the sending interface's MTU
//! (1500, 9000, 1280), takes either end down and up, shapes the link with `tc tbf` (delay
//! without loss, silent loss, loss reported with `IP_RECVERR`), and turns UDP checksums
//! off for a while (the kernel then refuses segmented sends with `EINVAL`).
//!
//! Throughout: nothing panics; calls fail only with the errors the OS gives for the fault
//! (and `WouldBlock` in non-blocking mode); every datagram that arrives is intact, arrives
//! once and was reported sent (one that arrived unreported would be sent twice by a caller
//! that resumes); and every datagram sent while no lossy fault was in force arrives, in
//! order, so after each fault the stream is whole again. Where the fault cannot lose
//! anything (MTU changes, delay, loss the kernel reports, checksums off), every datagram
//! reported sent arrives.
//!
//! The namespaces are anonymous (made with `unshare` on a thread that ends at once, held by
//! a descriptor): they disappear with the test's descriptors and sockets, even if the
//! process dies. A drop guard also deletes the veth pair on every path. Skipped, with a
//! note, where not root or without `ip` (`tc` too, for the shaping test).

#![cfg(any(target_os = "linux", target_os = "android"))]

mod common;
use common::PATIENCE;

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex, OnceLock};
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use mmsg::{Domain, InputMessage, IoCondition, MsgFlags, OutputMessage, SockAddr, Socket, Type};

const A4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const B4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const B6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 2);
const MAC_A: &str = "02:00:00:00:77:01";
const MAC_B: &str = "02:00:00:00:77:02";
/// The receiving end's MTU, the largest the sending end ever gets: nothing the sender
/// builds is ever too large for it, so MTU changes cannot lose datagrams.
const MTU_B: &str = "9000";

// ---------------------------------------------------------------------------------------
// Namespaces

/// A network namespace of the test's own, held by a descriptor.
struct Netns(OwnedFd);

impl Netns {
    /// A fresh namespace, made by a thread that moves itself into it and ends.
    fn new() -> io::Result<Netns> {
        std::thread::spawn(|| {
            // SAFETY: unshare takes flags only; CLONE_NEWNET moves this thread alone (which
            // ends right after) into a fresh network namespace.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            File::open("/proc/thread-self/ns/net").map(|f| Netns(OwnedFd::from(f)))
        })
        .join()
        .expect("namespace thread")
    }

    /// A path to it, for `ip link ... netns PATH`.
    fn path(&self) -> String {
        format!("/proc/{}/fd/{}", std::process::id(), self.0.as_raw_fd())
    }

    /// Runs `f` on a thread inside the namespace: sockets it makes belong to it.
    fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: setns takes a namespace descriptor this value owns and a flag; it
                // moves only this thread, which ends with the scope.
                let rc = unsafe { libc::setns(self.0.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", io::Error::last_os_error());
                f()
            })
            .join()
            .expect("thread in the namespace")
        })
    }

    /// Runs `program args` in the namespace (a command inherits its spawner's namespace).
    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let output = self
            .enter(|| Command::new(program).args(args).output())
            .map_err(|e| format!("{program}: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }

    fn ip(&self, args: &[&str]) {
        self.run("ip", args).unwrap_or_else(|e| panic!("{e}"));
    }

    fn tc(&self, args: &[&str]) {
        self.run("tc", args).unwrap_or_else(|e| panic!("{e}"));
    }

    fn sysctl(&self, key: &str, value: &str) {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        self.enter(|| std::fs::write(&path, value))
            .unwrap_or_else(|e| panic!("{path} = {value}: {e}"));
        let read = self.enter(|| std::fs::read_to_string(&path)).unwrap();
        assert_eq!(read.trim(), value, "{path} in the namespace");
    }
}

/// Whether `program` runs at all.
fn available(program: &str) -> bool {
    Command::new(program).arg("-V").output().is_ok()
}

/// The two namespaces and the veth pair between them.
struct Lab {
    a: Netns,
    b: Netns,
    /// Sockets of the test's own that tell when the link carries datagrams again.
    probe: Option<Probe>,
}

struct Probe {
    sender: Socket,
    receivers: [Socket; 2],
}

impl Lab {
    /// `None` (the test is skipped, with a note) where the test cannot make namespaces.
    fn new(needs: &[&str]) -> Option<Lab> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: network namespaces need root");
            return None;
        }
        for program in needs {
            if !available(program) {
                eprintln!("skipped: `{program}` (iproute2) is not installed");
                return None;
            }
        }
        let mut lab = Lab {
            a: Netns::new().expect("network namespace"),
            b: Netns::new().expect("network namespace"),
            probe: None,
        };
        for ns in [&lab.a, &lab.b] {
            // IPv6 addresses survive the link going down, like IPv4 ones.
            ns.sysctl("net.ipv6.conf.all.keep_addr_on_down", "1");
            ns.ip(&["link", "set", "lo", "up"]);
        }
        let b = lab.b.path();
        lab.a.ip(&[
            "link", "add", "va", "address", MAC_A, "type", "veth", "peer", "name", "vb", "address",
            MAC_B, "netns", &b,
        ]);
        lab.a.ip(&["addr", "add", "10.77.0.1/24", "dev", "va"]);
        lab.a
            .ip(&["-6", "addr", "add", "fd77::1/64", "dev", "va", "nodad"]);
        lab.a.ip(&["link", "set", "va", "mtu", "1500", "up"]);
        lab.b.ip(&["addr", "add", "10.77.0.2/24", "dev", "vb"]);
        lab.b
            .ip(&["-6", "addr", "add", "fd77::2/64", "dev", "vb", "nodad"]);
        lab.b.ip(&["link", "set", "vb", "mtu", MTU_B, "up"]);
        lab.neighbours();
        lab.probe = Some(Probe {
            sender: lab.sender(true),
            receivers: [lab.receiver(false), lab.receiver(true)],
        });
        lab.wait_for_link();
        Some(lab)
    }

    /// The receivers' link-layer address, fixed: no datagram waits for (or is dropped
    /// behind) address resolution when the link comes back.
    fn neighbours(&self) {
        for (family, address) in [("-4", "10.77.0.2"), ("-6", "fd77::2")] {
            self.a.ip(&[
                family,
                "neigh",
                "replace",
                address,
                "lladdr",
                MAC_B,
                "dev",
                "va",
                "nud",
                "permanent",
            ]);
        }
    }

    /// Waits until a datagram from A reaches B over each family. A link brought back up
    /// comes back in steps (carrier, then the queue, from a kernel worker): only then is
    /// the fault over.
    fn wait_for_link(&self) {
        let probe = self.probe.as_ref().expect("probe sockets");
        let deadline = Instant::now() + PATIENCE;
        let mut through = [false; 2];
        let mut buf = [0u8; 16];
        while through != [true, true] {
            assert!(
                Instant::now() < deadline,
                "the link did not carry datagrams again within {PATIENCE:?} (IPv4, IPv6: {through:?})"
            );
            for (receiver, done) in probe.receivers.iter().zip(&mut through) {
                if !*done {
                    let to = receiver.local_address().unwrap();
                    // Refused while the route is still missing: try again.
                    let _ = probe.sender.send_to(&to, b"probe", None);
                }
            }
            for (receiver, done) in probe.receivers.iter().zip(&mut through) {
                receiver.set_timeout(Some(Duration::from_millis(10)));
                while receiver.receive(&mut buf, None).is_ok() {
                    *done = true;
                }
            }
        }
    }

    fn sender(&self, v6: bool) -> Socket {
        self.a.enter(|| {
            let socket = if v6 {
                let s = Socket::new(Domain::IPV6, Type::DGRAM, None).expect("socket");
                s.as_socket2().set_only_v6(false).expect("dual-stack");
                s.bind(&SockAddr::from(SocketAddr::from((
                    Ipv6Addr::UNSPECIFIED,
                    0,
                ))))
                .expect("bind");
                s
            } else {
                let s = Socket::new(Domain::IPV4, Type::DGRAM, None).expect("socket");
                s.bind(&SockAddr::from(SocketAddr::from((A4, 0))))
                    .expect("bind");
                s
            };
            socket.set_timeout(Some(PATIENCE));
            socket
        })
    }

    fn receiver(&self, v6: bool) -> Socket {
        self.b.enter(|| {
            let (domain, address) = if v6 {
                (Domain::IPV6, SocketAddr::from((B6, 0)))
            } else {
                (Domain::IPV4, SocketAddr::from((B4, 0)))
            };
            let s = Socket::new(domain, Type::DGRAM, None).expect("socket");
            s.bind(&SockAddr::from(address)).expect("bind");
            if v6 {
                // Take IPv6 datagrams sent without a checksum (see `no_check`).
                set_option(&s, libc::SOL_UDP, libc::UDP_NO_CHECK6_RX, true);
            }
            s.as_socket2()
                .set_recv_buffer_size(8 << 20)
                .expect("SO_RCVBUF");
            s
        })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting one end deletes both; the namespaces go with their last descriptor.
        let _ = self.a.run("ip", &["link", "del", "va"]);
    }
}

// ---------------------------------------------------------------------------------------
// The stream

/// Payload bytes: each datagram's are a slice of this, chosen by its sequence number.
fn pool() -> &'static [u8] {
    static POOL: OnceLock<Vec<u8>> = OnceLock::new();
    POOL.get_or_init(|| common::payload(77, 1 << 17))
}

const HEADER: usize = 16;
const MAGIC: u32 = 0x4d4d_5346;

fn header(seq: u64, len: usize) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..4].copy_from_slice(&MAGIC.to_be_bytes());
    h[4..12].copy_from_slice(&seq.to_be_bytes());
    h[12..].copy_from_slice(&(len as u32).to_be_bytes());
    h
}

fn body(seq: u64, len: usize) -> &'static [u8] {
    let pool = pool();
    let at = (seq as usize).wrapping_mul(7919) % (pool.len() - len);
    &pool[at..at + len - HEADER]
}

/// The sequence number of a received datagram, if it is intact.
fn check(datagram: &[u8]) -> Result<u64, String> {
    if datagram.len() < HEADER || datagram[..4] != MAGIC.to_be_bytes() {
        return Err(format!("a foreign datagram of {} bytes", datagram.len()));
    }
    let seq = u64::from_be_bytes(datagram[4..12].try_into().unwrap());
    let len = u32::from_be_bytes(datagram[12..16].try_into().unwrap()) as usize;
    if len != datagram.len() {
        return Err(format!(
            "datagram {seq}: {} bytes, its header says {len}",
            datagram.len()
        ));
    }
    if datagram[HEADER..] != *body(seq, len) {
        return Err(format!("datagram {seq}: payload corrupted"));
    }
    Ok(seq)
}

/// Datagram sizes of the runs: around the MTUs the test switches between, and jumbo.
const SIZES: &[usize] = &[
    600, 1000, 1200, 1232, 1252, 1253, 1400, 1472, 1473, 2000, 4000, 8000, 8952, 8972,
];

/// The receivers' progress, for the sender to stay within their buffers.
#[derive(Default)]
struct Progress {
    /// Per destination: 1 + the highest sequence number received (0: none yet).
    highest: [AtomicU64; 2],
    lock: Mutex<()>,
    changed: Condvar,
}

impl Progress {
    fn advance(&self, dest: usize, seq: u64) {
        self.highest[dest].fetch_max(seq + 1, Ordering::SeqCst);
        let _guard = self.lock.lock().unwrap();
        self.changed.notify_all();
    }

    fn notify(&self) {
        let _guard = self.lock.lock().unwrap();
        self.changed.notify_all();
    }

    /// Waits until `done()` or `timeout`; returns `done()`.
    fn wait(&self, timeout: Duration, done: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut guard = self.lock.lock().unwrap();
        while !done() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = self.changed.wait_timeout(guard, left).unwrap().0;
        }
        true
    }

    fn received(&self, dest: usize, upto: u64) -> bool {
        self.highest[dest].load(Ordering::SeqCst) >= upto
    }
}

/// State shared by the controller, the sender and the receivers.
struct Shared {
    progress: Progress,
    /// Even: no lossy fault in force. Odd: one is. A send call is clean (what it reports
    /// sent must arrive) when the epoch was the same even number before and after it.
    epoch: AtomicU64,
    /// Between batches, the sender waits while this is set.
    pause: AtomicBool,
    stop: AtomicBool,
    /// Whether the senders ask the kernel to report dropped datagrams (`IP_RECVERR`).
    report_drops: AtomicBool,
    /// Whether the senders send without UDP checksums (`SO_NO_CHECK`, `UDP_NO_CHECK6_TX`),
    /// which makes the kernel refuse every segmented send (`EINVAL`).
    no_check: AtomicBool,
}

/// What the sender tells the controller.
enum Event {
    Batch,
    Error,
    /// Paused, with what it had sent to each destination (1 + the last sequence number).
    Paused([u64; 2]),
    /// Stopped (told to, or for a broken rule).
    Done,
}

#[derive(Clone, Copy)]
struct Report {
    dest: usize,
    clean: bool,
}

/// What one stream came to.
#[derive(Default)]
struct Outcome {
    /// Every datagram reported sent, by sequence number.
    reported: HashMap<u64, Report>,
    /// Errors the calls returned, with their counts.
    errors: HashMap<String, usize>,
    /// Anything that broke the rules.
    problems: Vec<String>,
    batches: usize,
    /// The senders' `segmentation_offload()` at the end.
    offload_at_end: Vec<bool>,
    /// Per receiver: the sequence numbers that arrived, in order.
    arrived: [Vec<u64>; 2],
    /// The faults applied, in order.
    faults: Vec<String>,
}

struct StreamOptions {
    seed: u64,
    /// The OS errors (raw) a call may fail with during this test, each with how many
    /// times at most.
    allowed: &'static [(i32, usize)],
}

/// The sending side: two sockets in namespace A (IPv4, and dual-stack IPv6 sending to both
/// receivers), batches of equal-size runs.
struct Sender<'a> {
    sockets: [Socket; 2],
    to: [SockAddr; 2],
    shared: &'a Shared,
    events: mpsc::Sender<Event>,
    options: StreamOptions,
    rng: u64,
    next_seq: u64,
    /// Per destination, 1 + the last sequence number a clean call reported sent (what
    /// must arrive).
    clean_upto: [u64; 2],
    outcome: Outcome,
}

impl Sender<'_> {
    fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.random() % n as u64) as usize
    }

    /// (sequence number, destination, length) of each datagram of the next batch.
    fn plan(&mut self, socket: usize) -> Vec<(u64, usize, usize)> {
        let mut plan = Vec::new();
        let mut bytes = 0;
        // Small enough that two batches in flight, fragments and all, stay well within the
        // kernel's input backlog (1000 packets) and the receive buffers.
        while plan.len() < 100 && bytes < 200_000 {
            // The IPv4 socket reaches the IPv4 receiver; the dual-stack one both.
            let dest = if socket == 0 { 0 } else { self.below(2) };
            if self.below(8) == 0 {
                // A lone datagram the MTU makes the kernel fragment.
                let len = HEADER + 2000 + self.below(10_000);
                plan.push((self.next_seq, dest, len));
                self.next_seq += 1;
                bytes += len;
                continue;
            }
            let size = SIZES[self.below(SIZES.len())];
            let count = (1 + self.below(64)).min(100 - plan.len().min(99));
            for i in 0..count {
                let len = if i + 1 == count && self.below(2) == 0 {
                    HEADER + self.below(size - HEADER + 1)
                } else {
                    size
                };
                plan.push((self.next_seq, dest, len));
                self.next_seq += 1;
                bytes += len;
            }
        }
        plan
    }

    fn run(mut self) -> Outcome {
        let deadline = Instant::now() + 12 * PATIENCE;
        let mut previous: [[u64; 2]; 2] = [[0; 2]; 2];
        while !self.shared.stop.load(Ordering::SeqCst) {
            if Instant::now() > deadline {
                self.outcome
                    .problems
                    .push("the stream ran out of time".into());
                break;
            }
            if self.shared.pause.load(Ordering::SeqCst) {
                let _ = self.events.send(Event::Paused(self.clean_upto));
                self.shared.progress.wait(PATIENCE, || {
                    !self.shared.pause.load(Ordering::SeqCst)
                        || self.shared.stop.load(Ordering::SeqCst)
                });
                continue;
            }
            // Stay within the receivers' buffers: at most two batches ahead of them (or,
            // while datagrams may be lost, a moment's wait).
            let lossy = self.shared.epoch.load(Ordering::SeqCst) % 2 == 1;
            let ahead = previous[0];
            self.shared.progress.wait(
                if lossy {
                    Duration::from_millis(20)
                } else {
                    PATIENCE
                },
                || (0..2).all(|d| self.shared.progress.received(d, ahead[d])),
            );
            let socket = self.outcome.batches % 2;
            if let Err(problem) = self.batch(socket) {
                self.outcome.problems.push(problem);
                break;
            }
            self.outcome.batches += 1;
            previous = [previous[1], self.clean_upto];
            let _ = self.events.send(Event::Batch);
        }
        let _ = self.events.send(Event::Done);
        let mut outcome = std::mem::take(&mut self.outcome);
        outcome.offload_at_end = self
            .sockets
            .iter()
            .map(Socket::segmentation_offload)
            .collect();
        outcome
    }

    /// Sends one batch whole (resuming after errors); `Err` for a broken rule.
    fn batch(&mut self, socket_index: usize) -> Result<(), String> {
        let plan = self.plan(socket_index);
        // Mostly blocking with offload; now and then non-blocking, or the portable path.
        let mode = self.below(8);
        let socket = &self.sockets[socket_index];
        socket.set_segmentation_offload(true);
        socket.set_blocking(mode != 0);
        socket.set_portable_path(mode == 1);
        report_drops(socket, self.shared.report_drops.load(Ordering::SeqCst));
        let no_check = self.shared.no_check.load(Ordering::SeqCst);
        set_option(socket, libc::SOL_SOCKET, libc::SO_NO_CHECK, no_check);
        if socket_index == 1 {
            set_option(socket, libc::SOL_UDP, libc::UDP_NO_CHECK6_TX, no_check);
        }
        let headers: Vec<[u8; HEADER]> = plan.iter().map(|&(s, _, l)| header(s, l)).collect();
        let vectors: Vec<[IoSlice; 2]> = plan
            .iter()
            .zip(&headers)
            .map(|(&(s, _, l), h)| [IoSlice::new(h), IoSlice::new(body(s, l))])
            .collect();
        let mut out: Vec<OutputMessage> = plan
            .iter()
            .zip(&vectors)
            .map(|(&(_, d, _), v)| OutputMessage::new(Some(&self.to[d]), v))
            .collect();
        let total = out.len();
        let mut done = 0;
        let deadline = Instant::now() + 3 * PATIENCE;
        while done < total {
            if Instant::now() > deadline {
                return Err(format!(
                    "a batch could not be sent within {:?}: {done} of {total}",
                    3 * PATIENCE
                ));
            }
            let before = self.shared.epoch.load(Ordering::SeqCst);
            let result = socket.send_messages(&mut out[done..], MsgFlags::empty(), None);
            let after = self.shared.epoch.load(Ordering::SeqCst);
            let clean = before == after && before % 2 == 0;
            match result {
                Ok(n) if n == 0 || n > total - done => {
                    return Err(format!("send_messages of {} returned {n}", total - done));
                }
                Ok(n) => {
                    for (i, m) in out.iter().enumerate().skip(done) {
                        let want = if i < done + n { plan[i].2 } else { 0 };
                        if m.bytes_sent != want {
                            return Err(format!(
                                "message {i} of a batch ({} bytes): bytes_sent {} after {n} from {done} were reported sent",
                                plan[i].2, m.bytes_sent
                            ));
                        }
                    }
                    for &(seq, dest, _) in &plan[done..done + n] {
                        self.outcome.reported.insert(seq, Report { dest, clean });
                        if clean {
                            self.clean_upto[dest] = seq + 1;
                        }
                    }
                    done += n;
                }
                Err(e) => {
                    let errno = e.raw_os_error();
                    let would_block = e.kind() == io::ErrorKind::WouldBlock;
                    let name = format!("{e} (kind {:?}, os error {errno:?})", e.kind());
                    let count = self.outcome.errors.entry(name.clone()).or_default();
                    *count += 1;
                    let allowed = (would_block && mode == 0)
                        || self
                            .options
                            .allowed
                            .iter()
                            .any(|&(n, most)| errno == Some(n) && *count <= most);
                    if !allowed {
                        return Err(format!(
                            "send_messages failed with an error this fault does not explain (or too often: {count} times): {name}"
                        ));
                    }
                    if out[done..].iter().any(|m| m.bytes_sent != 0) {
                        return Err(format!("{name}, yet bytes_sent was written"));
                    }
                    if self.shared.stop.load(Ordering::SeqCst) {
                        return Ok(()); // the test is over (or failed): leave the rest
                    }
                    if would_block {
                        let _ = socket.condition_timed_wait(
                            IoCondition::OUT,
                            Some(Duration::from_millis(50)),
                            None,
                        );
                    } else {
                        let _ = self.events.send(Event::Error);
                        // Wait for the controller to change something, a little.
                        self.shared.progress.wait(Duration::from_millis(20), || {
                            self.shared.epoch.load(Ordering::SeqCst) != after
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// Receives until told to stop and nothing more comes; checks every datagram.
fn receive(socket: Socket, dest: usize, shared: &Shared) -> (Vec<u64>, Vec<String>) {
    socket.set_timeout(Some(Duration::from_millis(50)));
    let mut bufs = vec![vec![0u8; 65_536]; 32];
    let (mut arrived, mut problems) = (Vec::new(), Vec::new());
    let name = if dest == 0 { "IPv4" } else { "IPv6" };
    loop {
        let result = {
            let mut vectors: Vec<[IoSliceMut; 1]> =
                bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
            let mut messages: Vec<InputMessage> =
                vectors.iter_mut().map(|v| InputMessage::new(v)).collect();
            socket
                .receive_messages(&mut messages, MsgFlags::empty(), None)
                .map(|n| {
                    messages[..n]
                        .iter()
                        .map(|m| (m.bytes_received, m.flags))
                        .collect::<Vec<_>>()
                })
        };
        match result {
            Ok(got) => {
                for (buf, (len, flags)) in bufs.iter().zip(got) {
                    if flags.contains(MsgFlags::TRUNC) {
                        problems.push(format!("{name} receiver: a datagram was truncated"));
                        continue;
                    }
                    match check(&buf[..len]) {
                        Ok(seq) => {
                            arrived.push(seq);
                            shared.progress.advance(dest, seq);
                        }
                        Err(e) => problems.push(format!("{name} receiver: {e}")),
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                if shared.stop.load(Ordering::SeqCst) {
                    break;
                }
            }
            Err(e) => {
                problems.push(format!("{name} receiver: receive_messages failed: {e}"));
                break;
            }
        }
    }
    (arrived, problems)
}

/// A stream running on its threads, driven by the test (the controller).
struct Stream<'scope> {
    shared: &'scope Shared,
    events: mpsc::Receiver<Event>,
    sender: ScopedJoinHandle<'scope, Outcome>,
    receivers: Vec<ScopedJoinHandle<'scope, (Vec<u64>, Vec<String>)>>,
    /// The faults applied, in order.
    log: Vec<String>,
    /// What went wrong in the controller's waits.
    troubles: Vec<String>,
    /// `common::backlog_drops()` when the stream started.
    backlog_drops: u64,
}

impl<'scope> Stream<'scope> {
    fn start<'env>(
        scope: &'scope Scope<'scope, 'env>,
        lab: &Lab,
        shared: &'scope Shared,
        options: StreamOptions,
    ) -> Stream<'scope> {
        let receivers = [lab.receiver(false), lab.receiver(true)];
        // Receive offload on one of them: coalesced sends come back split.
        receivers[0].set_receive_offload(true).expect("UDP_GRO");
        let to = [
            receivers[0].local_address().unwrap(),
            receivers[1].local_address().unwrap(),
        ];
        let (events_tx, events) = mpsc::channel();
        let sender = Sender {
            sockets: [lab.sender(false), lab.sender(true)],
            to,
            shared,
            events: events_tx,
            rng: options.seed,
            options,
            next_seq: 0,
            clean_upto: [0; 2],
            outcome: Outcome::default(),
        };
        let receivers = receivers
            .into_iter()
            .enumerate()
            .map(|(dest, socket)| scope.spawn(move || receive(socket, dest, shared)))
            .collect();
        Stream {
            shared,
            events,
            sender: scope.spawn(move || sender.run()),
            receivers,
            log: Vec::new(),
            troubles: Vec::new(),
            backlog_drops: common::backlog_drops(),
        }
    }

    /// Waits for `n` batches (or, with `errors` > 0, that many failed calls) from the
    /// sender.
    fn wait(&mut self, n: usize, errors: usize) {
        let deadline = Instant::now() + 3 * PATIENCE;
        let (mut batches, mut failed) = (0, 0);
        while batches < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Event::Batch) => batches += 1,
                Ok(Event::Error) => {
                    failed += 1;
                    if errors > 0 && failed >= errors {
                        break;
                    }
                }
                Ok(Event::Done) => {
                    self.troubles.push("the sender stopped early".into());
                    return;
                }
                Ok(_) => {}
                Err(_) => {
                    self.troubles
                        .push(format!("the sender went quiet ({batches} of {n} batches)"));
                    return;
                }
            }
        }
    }

    /// Starts a fault that may lose datagrams: sends from now on need not arrive.
    fn lossy(&mut self, what: &str, apply: impl FnOnce()) {
        self.log.push(what.to_string());
        self.shared.epoch.fetch_add(1, Ordering::SeqCst);
        apply();
        self.shared.progress.notify();
    }

    /// Ends the lossy fault: sends from now on must arrive again.
    fn recovered(&mut self, what: &str, apply: impl FnOnce()) {
        self.log.push(what.to_string());
        apply();
        self.shared.epoch.fetch_add(1, Ordering::SeqCst);
        self.shared.progress.notify();
    }

    /// Pauses the sender between batches, waits until the receivers have what it sent
    /// (as far as `lossless`; otherwise only a moment), runs `apply`, and resumes.
    fn between_batches(&mut self, what: &str, lossless: bool, apply: impl FnOnce()) {
        self.log.push(what.to_string());
        self.shared.pause.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + 3 * PATIENCE;
        let upto = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Event::Paused(upto)) => break Some(upto),
                Ok(Event::Done) => break None,
                Ok(_) => {}
                Err(_) => break None,
            }
        };
        if let Some(upto) = upto {
            let progress = &self.shared.progress;
            let caught_up = progress.wait(
                if lossless {
                    PATIENCE
                } else {
                    Duration::from_millis(200)
                },
                || (0..2).all(|d| progress.received(d, upto[d])),
            );
            if lossless && !caught_up {
                self.troubles
                    .push(format!("the receivers did not catch up with {upto:?}"));
            }
        } else {
            self.troubles.push("the sender did not pause".into());
        }
        apply();
        self.shared.pause.store(false, Ordering::SeqCst);
        self.shared.progress.notify();
    }

    /// Stops the stream and checks everything.
    fn finish(self) -> Outcome {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.progress.notify();
        let mut outcome = match self.sender.join() {
            Ok(outcome) => outcome,
            Err(_) => Outcome {
                problems: vec!["the sending thread panicked".into()],
                ..Outcome::default()
            },
        };
        for (dest, handle) in self.receivers.into_iter().enumerate() {
            match handle.join() {
                Ok((arrived, problems)) => {
                    outcome.arrived[dest] = arrived;
                    outcome.problems.extend(problems);
                }
                Err(_) => outcome.problems.push("a receiving thread panicked".into()),
            }
        }
        outcome.problems.extend(self.troubles);
        // Every arrival reported sent, to that receiver, once; those of clean calls in
        // order (across a fault the kernel may reorder: datagrams held while a neighbour
        // is resolved go when it is); every clean report arrived.
        let mut missing = Vec::new();
        for dest in 0..2 {
            let mut arrived = std::collections::HashSet::new();
            let mut last_clean = None;
            for &seq in &outcome.arrived[dest] {
                if !arrived.insert(seq) {
                    outcome
                        .problems
                        .push(format!("datagram {seq} arrived twice"));
                }
                match outcome.reported.get(&seq) {
                    Some(r) if r.dest == dest => {
                        if r.clean {
                            if last_clean.is_some_and(|last| seq < last) {
                                outcome.problems.push(format!(
                                    "datagram {seq} arrived after {}, both sent while no fault was in force",
                                    last_clean.unwrap()
                                ));
                            }
                            last_clean = Some(seq);
                        }
                    }
                    Some(_) => outcome
                        .problems
                        .push(format!("datagram {seq} arrived at the wrong receiver")),
                    None => outcome.problems.push(format!(
                        "datagram {seq} arrived but was never reported sent"
                    )),
                }
            }
            missing.extend(
                outcome
                    .reported
                    .iter()
                    .filter(|(seq, r)| r.dest == dest && r.clean && !arrived.contains(seq))
                    .map(|(seq, _)| *seq),
            );
        }
        if !missing.is_empty() {
            missing.sort_unstable();
            let dropped = common::backlog_drops() - self.backlog_drops;
            outcome.problems.push(format!(
                "{} datagrams reported sent while no lossy fault was in force never arrived: {:?}{}{}",
                missing.len(),
                &missing[..missing.len().min(20)],
                if missing.len() > 20 { " ..." } else { "" },
                if dropped > 0 {
                    format!(" (meanwhile the kernel's input backlog dropped {dropped} packets)")
                } else {
                    String::new()
                }
            ));
        }
        println!(
            "{} batches, {} datagrams reported sent, {} + {} arrived; faults: {}; errors: {:?}",
            outcome.batches,
            outcome.reported.len(),
            outcome.arrived[0].len(),
            outcome.arrived[1].len(),
            self.log.join(", "),
            outcome.errors
        );
        outcome.faults = self.log;
        outcome
    }
}

fn assert_sound(outcome: &Outcome, what: &str) {
    assert!(
        outcome.problems.is_empty(),
        "{what}: {}\n(faults: {}; errors seen: {:?})",
        outcome.problems.join("\n"),
        outcome.faults.join(", "),
        outcome.errors
    );
    assert!(outcome.batches > 0, "{what}: nothing was sent");
}

/// Runs `control` against a stream across the lab's link; returns what came of it.
fn with_stream(
    lab: &Lab,
    options: StreamOptions,
    control: impl FnOnce(&mut Stream<'_>, &Lab),
) -> Outcome {
    let shared = Shared {
        progress: Progress::default(),
        epoch: AtomicU64::new(0),
        pause: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        report_drops: AtomicBool::new(false),
        no_check: AtomicBool::new(false),
    };
    std::thread::scope(|scope| {
        // Should the controller panic, the threads must still end for the scope to.
        let _stop = StopOnDrop(&shared);
        let mut stream = Stream::start(scope, lab, &shared, options);
        control(&mut stream, lab);
        stream.finish()
    })
}

struct StopOnDrop<'a>(&'a Shared);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::SeqCst);
        self.0.progress.notify();
    }
}

// ---------------------------------------------------------------------------------------
// The faults

#[test]
fn mtu_changes_mid_stream_lose_nothing_and_leave_offload_on() {
    let Some(lab) = Lab::new(&["ip"]) else {
        return;
    };
    let outcome = with_stream(
        &lab,
        StreamOptions {
            seed: 1,
            // An MTU lowered between a datagram's building and its sending can make the
            // kernel refuse it (EMSGSIZE): an error the OS gives, and nothing sent.
            allowed: &[(libc::EMSGSIZE, 3)],
        },
        |stream, lab| {
            stream.wait(3, 0);
            for mtu in ["9000", "1280", "1500", "9000", "1280", "9000", "1500"] {
                stream.log.push(format!("mtu {mtu}"));
                lab.a.ip(&["link", "set", "va", "mtu", mtu]);
                stream.wait(8, 0);
            }
        },
    );
    assert_sound(&outcome, "MTU changes");
    // Nothing was lossy: every datagram reported sent arrived.
    let arrived = outcome.arrived[0].len() + outcome.arrived[1].len();
    assert_eq!(arrived, outcome.reported.len(), "MTU changes: arrivals");
    // A segment the route refused is not a reason to stop segmenting altogether.
    assert_eq!(
        outcome.offload_at_end,
        [true, true],
        "segmentation offload after the MTU changes (IPv4 socket, IPv6 socket)"
    );
}

#[test]
fn either_end_going_down_and_up_mid_stream() {
    let Some(lab) = Lab::new(&["ip"]) else {
        return;
    };
    let outcome = with_stream(
        &lab,
        StreamOptions {
            seed: 2,
            // The route is gone while the sending end is down.
            allowed: &[
                (libc::ENETUNREACH, usize::MAX),
                (libc::ENETDOWN, usize::MAX),
                (libc::EHOSTUNREACH, usize::MAX),
                (libc::EADDRNOTAVAIL, usize::MAX),
                (libc::ENOBUFS, usize::MAX),
            ],
        },
        |stream, lab| {
            stream.wait(4, 0);
            for round in 0..2 {
                stream.lossy(&format!("va down ({round})"), || {
                    lab.a.ip(&["link", "set", "va", "down"])
                });
                stream.wait(6, 5);
                stream.recovered("va up", || {
                    lab.a.ip(&["link", "set", "va", "up"]);
                    lab.neighbours();
                    lab.wait_for_link();
                });
                stream.wait(6, 0);
            }
            stream.lossy("vb down", || lab.b.ip(&["link", "set", "vb", "down"]));
            stream.wait(6, 0);
            stream.recovered("vb up", || {
                lab.b.ip(&["link", "set", "vb", "up"]);
                lab.wait_for_link();
            });
            stream.wait(6, 0);
        },
    );
    assert_sound(&outcome, "link down and up");
}

/// `setsockopt(level, option)` of an integer flag.
fn set_option(socket: &Socket, level: libc::c_int, option: libc::c_int, on: bool) {
    let value = libc::c_int::from(on);
    // SAFETY: a pointer to a live c_int with its size; the descriptor is the socket's.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt: {}", io::Error::last_os_error());
}

/// `IP_RECVERR` (and its IPv6 twin) on a socket: the kernel then reports a datagram the
/// queue dropped (`ENOBUFS`) instead of dropping it silently.
fn report_drops(socket: &Socket, on: bool) {
    set_option(socket, libc::IPPROTO_IP, libc::IP_RECVERR, on);
    if socket.local_address().is_ok_and(|a| a.is_ipv6()) {
        set_option(socket, libc::IPPROTO_IPV6, libc::IPV6_RECVERR, on);
    }
}

#[test]
fn shaping_delays_and_drops_and_the_stream_recovers() {
    let Some(lab) = Lab::new(&["ip", "tc"]) else {
        return;
    };
    let outcome = with_stream(
        &lab,
        StreamOptions {
            seed: 3,
            // A full queue refuses a datagram; reported as such with IP_RECVERR.
            allowed: &[(libc::ENOBUFS, usize::MAX)],
        },
        |stream, lab| {
            stream.wait(3, 0);
            // Delay without loss: the queue holds a second, more than the sender's buffer.
            // The sender blocks on its full buffer, and everything arrives.
            stream.between_batches("tbf delay", true, || {
                lab.a.tc(&[
                    "qdisc", "add", "dev", "va", "root", "tbf", "rate", "40mbit", "burst", "128kb",
                    "latency", "1s",
                ])
            });
            stream.wait(6, 0);
            stream.between_batches("tbf removed", true, || {
                lab.a.tc(&["qdisc", "del", "dev", "va", "root"])
            });
            stream.wait(3, 0);
            // Silent loss: a queue of 100 KB (more than one coalesced send) overflows.
            stream.lossy("tbf loss", || {
                lab.a.tc(&[
                    "qdisc", "add", "dev", "va", "root", "tbf", "rate", "20mbit", "burst", "128kb",
                    "limit", "100kb",
                ])
            });
            stream.wait(8, 0);
            stream.between_batches("tbf removed", false, || {
                lab.a.tc(&["qdisc", "del", "dev", "va", "root"])
            });
            stream.recovered("recovered", || {});
            stream.wait(3, 0);
            // Loss reported: with IP_RECVERR the kernel says ENOBUFS for what the queue
            // refuses, so what is reported sent must arrive, and the sender resumes.
            stream.between_batches("tbf loss reported", true, || {
                stream.shared.report_drops.store(true, Ordering::SeqCst);
                lab.a.tc(&[
                    "qdisc", "add", "dev", "va", "root", "tbf", "rate", "20mbit", "burst", "128kb",
                    "limit", "100kb",
                ])
            });
            stream.wait(8, 0);
            stream.between_batches("tbf removed", true, || {
                stream.shared.report_drops.store(false, Ordering::SeqCst);
                lab.a.tc(&["qdisc", "del", "dev", "va", "root"])
            });
            stream.wait(3, 0);
        },
    );
    assert_sound(&outcome, "shaping");
}

#[test]
fn segmentation_refused_for_a_while_is_not_switched_off_for_good() {
    let Some(lab) = Lab::new(&["ip"]) else {
        return;
    };
    let outcome = with_stream(
        &lab,
        StreamOptions {
            seed: 4,
            allowed: &[],
        },
        |stream, _| {
            stream.wait(3, 0);
            // Without checksums the kernel refuses segmented sends (EINVAL) and takes plain
            // ones: mmsg must send the runs plainly, losing nothing.
            stream.between_batches("checksums off", true, || {
                stream.shared.no_check.store(true, Ordering::SeqCst)
            });
            stream.wait(4, 0);
            stream.between_batches("checksums on", true, || {
                stream.shared.no_check.store(false, Ordering::SeqCst)
            });
            stream.wait(4, 0);
        },
    );
    assert_sound(&outcome, "segmentation refused");
    let arrived = outcome.arrived[0].len() + outcome.arrived[1].len();
    assert_eq!(
        arrived,
        outcome.reported.len(),
        "segmentation refused: arrivals"
    );
    // The refusal was the socket's for a while, not the kernel's for good.
    assert_eq!(
        outcome.offload_at_end,
        [true, true],
        "segmentation offload once segmented sends are accepted again (IPv4 socket, IPv6 socket)"
    );
}
