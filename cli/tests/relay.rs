//! `mmsg relay` end to end, on loopback only: numbered datagrams through the binary to
//! several receivers (IPv4 and IPv6), every byte and the order checked at each; mixed sizes;
//! `--from`; `--count` and its report; `--stats` and Ctrl-C; a recipient that goes away, one
//! the OS refuses, one a datagram is too large for; bad input.
//!
//! The sender never runs more than a window ahead of the slowest receiver (each receiver
//! reports its progress on a channel), so that nothing overflows a receive buffer however
//! busy the machine is: every datagram is expected, and a missing one fails the test.
//!
//! Windows runs all but the Ctrl-C test (SIGINT, sent with `kill`); the OS's error texts
//! are checked by their number there.

mod common;
use common::{drain, finish_within, lines_of};

use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mmsg::{Domain, MsgFlags, OutputMessage, SockAddr, Socket, Type};

const BIN: &str = env!("CARGO_BIN_EXE_mmsg");
/// The longest any wait may take before the test calls it hung.
const PATIENCE: Duration = Duration::from_secs(30);
/// Datagrams per send call.
const BURST: usize = 16;
/// The most datagrams, and bytes (each counted with 1 kB of kernel overhead), sent ahead of
/// the slowest receiver: well within a default receive buffer (net.core.rmem_default).
const WINDOW: usize = 64;
const WINDOW_BYTES: usize = 96 << 10;

// ---- running the binary ----

/// A running `mmsg relay`, its stdout read line by line.
struct Relay {
    child: Option<Child>,
    lines: Receiver<String>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    /// Where it receives, from its first line.
    address: SocketAddr,
}

impl Relay {
    fn start(args: &[&str]) -> Relay {
        let mut child = Command::new(BIN)
            .arg("relay")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mmsg");
        let lines = lines_of(child.stdout.take().expect("stdout"));
        let stderr = Some(drain(child.stderr.take().expect("stderr")));
        let mut relay = Relay {
            child: Some(child),
            lines,
            stderr,
            address: "0.0.0.0:0".parse().unwrap(),
        };
        let first = relay.line();
        let (address, rest) = first
            .strip_prefix("relaying ")
            .and_then(|r| r.split_once(" -> "))
            .unwrap_or_else(|| panic!("first line {first:?}"));
        assert!(
            rest.ends_with("recipients") || rest == "1 recipient",
            "{first}"
        );
        relay.address = address.parse().expect("a socket address");
        assert_ne!(relay.address.port(), 0, "{first}");
        relay
    }

    /// The next line of stdout, waiting at most PATIENCE.
    fn line(&self) -> String {
        self.lines
            .recv_timeout(PATIENCE)
            .expect("a line from mmsg relay in time")
    }

    /// Sends SIGINT, as Ctrl-C does.
    #[cfg(unix)]
    fn interrupt(&self) {
        let pid = self.child.as_ref().expect("running").id();
        let status = Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the end: the exit status, the rest of stdout, stderr.
    fn finish(mut self) -> (ExitStatus, String, String) {
        let status = finish_within(self.child.take().expect("running"), PATIENCE);
        let mut rest = String::new();
        while let Ok(line) = self.lines.recv_timeout(PATIENCE) {
            rest.push_str(&line);
            rest.push('\n');
        }
        let stderr = self.stderr.take().expect("stderr").join().expect("stderr");
        let stderr = String::from_utf8_lossy(&stderr).into_owned();
        (status, rest, stderr)
    }
}

impl Drop for Relay {
    /// A test that fails midway leaves no relay behind.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `mmsg args...` to the end, with a deadline: status, stdout, stderr.
fn run(args: &[&str]) -> (ExitStatus, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mmsg");
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    let status = finish_within(child, PATIENCE);
    let text =
        |pipe: JoinHandle<Vec<u8>>| String::from_utf8_lossy(&pipe.join().unwrap()).into_owned();
    (status, text(stdout), text(stderr))
}

// ---- datagrams, receivers, the sender ----

/// Datagram `seq` of `len` bytes: the number (where it fits), then bytes of both.
fn numbered(seq: usize, len: usize) -> Vec<u8> {
    let mut d: Vec<u8> = (0..len)
        .map(|i| (i as u64 ^ (seq as u64).wrapping_mul(0x9E37_79B9)) as u8 ^ (i >> 8) as u8)
        .collect();
    let n = len.min(8);
    d[..n].copy_from_slice(&(seq as u64).to_be_bytes()[..n]);
    d
}

fn stream_of(sizes: impl IntoIterator<Item = usize>) -> Arc<Vec<Vec<u8>>> {
    Arc::new(
        sizes
            .into_iter()
            .enumerate()
            .map(|(seq, len)| numbered(seq, len))
            .collect(),
    )
}

fn udp(address: &str) -> Socket {
    let address: SocketAddr = address.parse().expect("an address");
    let socket = Socket::new(Domain::for_address(address), Type::DGRAM, None).expect("socket");
    let _ = socket.as_socket2().set_recv_buffer_size(1 << 20);
    socket.bind(&SockAddr::from(address)).expect("bind");
    socket
}

/// The source address a datagram sent from `socket` arrives with.
fn source_seen(socket: &Socket) -> SocketAddr {
    let probe = udp("127.0.0.1:0");
    probe.set_timeout(Some(PATIENCE));
    let at = probe.local_address().expect("address");
    socket.send_to(&at, b"probe", None).expect("send");
    let mut buffer = [0u8; 8];
    let (_, from) = probe.receive_from(&mut buffer, None).expect("the probe");
    from.as_socket().expect("an IP source")
}

/// A receiver's progress: datagrams received so far, or `GONE` once it stopped.
const GONE: usize = usize::MAX;

/// Receivers, each in a thread, expecting the whole stream, every datagram exactly and in
/// order.
struct Receivers {
    addresses: Vec<SocketAddr>,
    threads: Vec<JoinHandle<Result<usize, String>>>,
    progress: Receiver<(usize, usize)>,
    received: Vec<usize>,
}

impl Receivers {
    /// One receiver bound to each of `binds`; receiver `k` closes its socket after
    /// `leave[k]` datagrams, where given.
    fn start(binds: &[&str], stream: &Arc<Vec<Vec<u8>>>, leave: &[Option<usize>]) -> Receivers {
        let (tx, progress) = mpsc::channel();
        let mut addresses = Vec::new();
        let mut threads = Vec::new();
        for (k, bind) in binds.iter().enumerate() {
            let socket = udp(bind);
            socket.set_timeout(Some(PATIENCE));
            addresses.push(socket.local_address().unwrap().as_socket().unwrap());
            let stream = Arc::clone(stream);
            let leave = leave.get(k).copied().flatten();
            let tx: Sender<(usize, usize)> = tx.clone();
            threads.push(thread::spawn(move || {
                let outcome = receive(k, socket, &stream, leave, &tx);
                let _ = tx.send((k, GONE));
                outcome
            }));
        }
        Receivers {
            addresses,
            threads,
            progress,
            received: vec![0; binds.len()],
        }
    }

    /// `--to` for them.
    fn to(&self) -> String {
        let list: Vec<String> = self.addresses.iter().map(|a| a.to_string()).collect();
        list.join(",")
    }

    /// How far the next burst from `next` may go: up to `BURST` datagrams, within the
    /// window of the slowest receiver still there (at least one datagram when none is in
    /// flight, whatever its size). Waits (bounded) for progress until one fits.
    fn room(&mut self, stream: &[Vec<u8>], next: usize, deadline: Instant) -> usize {
        let cost = |d: &Vec<u8>| d.len() + 1024;
        loop {
            let slowest = self
                .received
                .iter()
                .copied()
                .min()
                .unwrap_or(GONE)
                .min(next);
            let mut bytes: usize = stream[slowest..next].iter().map(cost).sum();
            let mut end = next;
            while end < stream.len()
                && end < next + BURST
                && end - slowest < WINDOW
                && (end == slowest || bytes + cost(&stream[end]) <= WINDOW_BYTES)
            {
                bytes += cost(&stream[end]);
                end += 1;
            }
            if end > next {
                return end;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.progress.recv_timeout(left) {
                Ok((k, n)) => self.received[k] = n,
                Err(_) => panic!("the receivers are stuck at {:?}", self.received),
            }
        }
    }

    /// Every receiver's outcome: how many datagrams it took, all of them right.
    fn finish(self) -> Vec<usize> {
        self.threads
            .into_iter()
            .map(|t| {
                t.join()
                    .expect("receiver")
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect()
    }
}

/// Receiver `k`: every datagram of `stream`, in order, byte for byte (or the first
/// `leave`, then closes its socket).
fn receive(
    k: usize,
    socket: Socket,
    stream: &[Vec<u8>],
    leave: Option<usize>,
    progress: &Sender<(usize, usize)>,
) -> Result<usize, String> {
    let mut buf = vec![0u8; 65_536];
    let mut seq = 0;
    while seq < stream.len() {
        if leave == Some(seq) {
            return Ok(seq);
        }
        let n = socket
            .receive(&mut buf, None)
            .map_err(|e| format!("receiver {k}: datagram {seq} never came ({e})"))?;
        if buf[..n] != stream[seq] {
            let got = u64::from_be_bytes(buf[..n.min(8)].try_into().unwrap_or([0xff; 8]));
            return Err(format!(
                "receiver {k}: datagram {seq} ({} bytes) differs: got {n} bytes, numbered {got}",
                stream[seq].len()
            ));
        }
        seq += 1;
        let _ = progress.send((k, seq));
    }
    Ok(seq)
}

/// Sends `stream` from a socket bound to `from` to `to`, `BURST` datagrams a call (equal
/// sizes coalesce: the relay receives them in one buffer where it has receive offload),
/// never further ahead of the receivers than the window.
fn send(from: &str, to: SocketAddr, stream: &[Vec<u8>], receivers: &mut Receivers) {
    let socket = udp(from);
    let to = SockAddr::from(to);
    let deadline = Instant::now() + PATIENCE;
    let mut next = 0;
    while next < stream.len() {
        let end = receivers.room(stream, next, deadline);
        let vectors: Vec<[std::io::IoSlice; 1]> = stream[next..end]
            .iter()
            .map(|d| [std::io::IoSlice::new(d)])
            .collect();
        let mut messages: Vec<OutputMessage> = vectors
            .iter()
            .map(|v| OutputMessage::new(Some(&to), v))
            .collect();
        let sent = socket
            .send_messages(&mut messages, MsgFlags::empty(), None)
            .expect("send");
        next += sent;
    }
}

/// The line of `report` that starts with `start` (after indentation).
fn line_of<'r>(report: &'r str, start: &str) -> &'r str {
    report
        .lines()
        .map(str::trim_start)
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting {start:?} in\n{report}"))
}

/// The number after `label` in `line`.
fn number_after(line: &str, label: &str) -> usize {
    let at = line
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in {line}"));
    line[at + label.len()..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {label:?} in {line}"))
}

// ---- relaying ----

#[test]
fn numbered_datagrams_reach_every_recipient_intact_and_in_order() {
    const N: usize = 3000;
    let stream = stream_of((0..N).map(|_| 1200));
    let mut receivers = Receivers::start(&["127.0.0.1:0", "[::1]:0", "127.0.0.1:0"], &stream, &[]);
    let relay = Relay::start(&[
        "--bind",
        "127.0.0.1:0",
        "--to",
        &receivers.to(),
        "--count",
        &N.to_string(),
    ]);
    send("127.0.0.1:0", relay.address, &stream, &mut receivers);
    assert_eq!(receivers.finish(), [N, N, N]);

    // --count: the relay ends by itself, exit status 0, and says what it did.
    let (status, report, stderr) = relay.finish();
    assert_eq!(status.code(), Some(0), "{report}{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert!(
        report.starts_with("relayed the datagrams asked for\n"),
        "{report}"
    );
    assert!(
        line_of(&report, "received ").starts_with("received 3000 datagrams (3.60 MB)"),
        "{report}"
    );
    assert_eq!(
        line_of(&report, "dropped "),
        "dropped 0 by --from, relayed 3000, sent 9000, errors 0"
    );
    for address in &receivers_addresses(&report, 3) {
        assert_eq!(
            line_of(&report, &format!("{address}:")),
            format!("{address}: sent 3000, errors 0")
        );
    }
    assert!(report.contains("receive syscalls"), "{report}");
}

/// The recipients' addresses in the report's per-recipient lines (`  ADDR: sent ...`).
fn receivers_addresses(report: &str, count: usize) -> Vec<String> {
    let list: Vec<String> = report
        .lines()
        .filter(|l| l.starts_with("  "))
        .filter_map(|l| {
            l.trim_start()
                .split_once(": sent ")
                .map(|(a, _)| a.to_string())
        })
        .collect();
    assert_eq!(list.len(), count, "{report}");
    list
}

#[test]
fn mixed_sizes_arrive_unchanged_through_an_ipv6_relay() {
    // Runs of equal sizes (coalesced on receipt, segmented on sending) between lone sizes,
    // from 0 bytes to IPv4's largest datagram; the relay on ::1 takes its sender through an
    // IPv6 block and sends to IPv4 and IPv6 recipients from one dual-stack socket.
    let pattern = [
        1200, 1200, 1200, 1200, 1200, 37, 1400, 1400, 1400, 0, 9000, 9000, 1, 200, 200, 200, 200,
        65_507, 1200, 1200, 512, 1472, 1472, 30_000,
    ];
    let sizes: Vec<usize> = pattern.iter().copied().cycle().take(600).collect();
    let stream = stream_of(sizes.iter().copied());
    let mut receivers = Receivers::start(&["127.0.0.1:0", "[::1]:0"], &stream, &[]);
    let relay = Relay::start(&[
        "--bind",
        "[::1]:0",
        "--to",
        &receivers.to(),
        "--from",
        "::1/128",
        "--count",
        "600",
    ]);
    send("[::1]:0", relay.address, &stream, &mut receivers);
    assert_eq!(receivers.finish(), [600, 600]);
    let (status, report, stderr) = relay.finish();
    assert_eq!(status.code(), Some(0), "{report}{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert_eq!(
        line_of(&report, "dropped "),
        "dropped 0 by --from, relayed 600, sent 1200, errors 0"
    );
}

#[test]
fn from_drops_and_counts_senders_outside_its_blocks() {
    const N: usize = 400;
    // 127.0.0.2 is loopback too, but outside every block: its datagrams (which would fail
    // every receiver's check) are dropped, and counted.
    let outsider = udp("127.0.0.2:0");
    let seen = source_seen(&outsider);
    if seen.ip() != "127.0.0.2".parse::<std::net::IpAddr>().unwrap() {
        // Wine 8.0 sends from 127.0.0.1 whatever loopback address the socket is bound to.
        eprintln!("skipped: a socket bound to 127.0.0.2 sends from {seen} here");
        return;
    }
    let stream = stream_of((0..N).map(|seq| 100 + seq % 7));
    let mut receivers = Receivers::start(&["127.0.0.1:0", "[::1]:0"], &stream, &[]);
    let relay = Relay::start(&[
        "--bind",
        "127.0.0.1:0",
        "--to",
        &receivers.to(),
        "--from",
        "10.0.0.0/8, 127.0.0.1/32,::1",
        "--count",
        &N.to_string(),
        "--stats",
        "0.05",
    ]);
    let to = SockAddr::from(relay.address);
    for seq in 0..50 {
        outsider
            .send_to(&to, &numbered(seq, 99), None)
            .expect("send");
    }
    // Wait (bounded, on the relay's statistics) until they were dropped: only then does the
    // count of dropped datagrams not depend on when the stream overtakes them.
    let deadline = Instant::now() + PATIENCE;
    loop {
        assert!(
            Instant::now() < deadline,
            "the outsider's datagrams never came"
        );
        let line = relay.line();
        assert!(line.starts_with("stats: received "), "{line}");
        if line.contains(", dropped 50,") {
            assert!(line.starts_with("stats: received 50 "), "{line}");
            break;
        }
    }
    send("127.0.0.1:0", relay.address, &stream, &mut receivers);
    assert_eq!(receivers.finish(), [N, N]);
    let (status, report, stderr) = relay.finish();
    assert_eq!(status.code(), Some(0), "{report}{stderr}");
    assert!(
        line_of(&report, "received ").starts_with("received 450 datagrams"),
        "{report}"
    );
    assert_eq!(
        line_of(&report, "dropped "),
        "dropped 50 by --from, relayed 400, sent 800, errors 0"
    );
}

#[test]
#[cfg(unix)]
fn stats_lines_come_periodically_and_ctrl_c_ends_with_the_report() {
    let stream = stream_of((0..10).map(|_| 300));
    let mut receivers = Receivers::start(&["127.0.0.1:0"], &stream, &[]);
    let relay = Relay::start(&[
        "--bind",
        "127.0.0.1:0",
        "--to",
        &receivers.to(),
        "--stats",
        "0.05",
    ]);
    // Lines come with nothing received, too.
    let idle = relay.line();
    assert!(
        idle.starts_with("stats: received 0 (0/s), dropped 0, relayed 0, errors 0; sent "),
        "{idle}"
    );
    send("127.0.0.1:0", relay.address, &stream, &mut receivers);
    assert_eq!(receivers.finish(), [10]);
    let deadline = Instant::now() + PATIENCE;
    loop {
        assert!(
            Instant::now() < deadline,
            "no statistics with the datagrams"
        );
        let line = relay.line();
        assert!(line.starts_with("stats: "), "{line}");
        if line.starts_with("stats: received 10 ") {
            assert!(line.contains(", relayed 10, errors 0; sent "), "{line}");
            assert!(line.ends_with(" 10"), "{line}");
            break;
        }
    }
    relay.interrupt();
    let (status, rest, stderr) = relay.finish();
    assert_eq!(status.code(), Some(130), "{rest}{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Any statistics line that raced the signal comes before the report.
    let report = &rest[rest.find("interrupted\n").expect("the report")..];
    assert!(
        report.starts_with("interrupted\nreceived 10 datagrams (3.0 kB)"),
        "{report}"
    );
    assert_eq!(
        line_of(report, "dropped "),
        "dropped 0 by --from, relayed 10, sent 10, errors 0"
    );
}

// ---- recipients that fail ----

#[test]
fn a_recipient_that_goes_away_does_not_stop_the_others() {
    // Receiver 1 closes its socket after 500 datagrams: what is sent to it after that draws
    // ICMP port-unreachable messages. The others still get every datagram.
    const N: usize = 2000;
    let stream = stream_of((0..N).map(|seq| 1000 + seq % 3 * 100));
    let mut receivers = Receivers::start(
        &["127.0.0.1:0", "127.0.0.1:0", "[::1]:0"],
        &stream,
        &[None, Some(500), None],
    );
    let gone = receivers.addresses[1];
    let relay = Relay::start(&[
        "--bind",
        "127.0.0.1:0",
        "--to",
        &receivers.to(),
        "--count",
        &N.to_string(),
    ]);
    send("127.0.0.1:0", relay.address, &stream, &mut receivers);
    assert_eq!(receivers.finish(), [N, 500, N]);
    let (status, report, stderr) = relay.finish();
    assert_eq!(status.code(), Some(0), "{report}{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for address in receivers_addresses(&report, 3) {
        let line = line_of(&report, &format!("{address}:"));
        if address == gone.to_string() {
            // Linux does not tell an unconnected UDP socket about the refusals (see `mmsg
            // help relay`): whatever it says, nothing may be lost to the others.
            let (sent, errors) = (number_after(line, "sent "), number_after(line, "errors "));
            assert_eq!(sent + errors, N, "{line}");
        } else {
            assert_eq!(line, format!("{address}: sent {N}, errors 0"));
        }
    }
}

#[test]
fn a_recipient_the_os_refuses_is_reported_once_and_the_others_get_everything() {
    // 127.255.255.255 is loopback's broadcast address: without SO_BROADCAST every send to
    // it fails at once (EACCES), and nothing leaves the machine. It is in the middle, so
    // that the recipients on both sides of it are seen to get everything.
    const N: usize = 1000;
    let refused = "127.255.255.255:9";
    let stream = stream_of((0..N).map(|_| 700));
    let mut receivers = Receivers::start(&["127.0.0.1:0", "[::1]:0"], &stream, &[]);
    let to = format!(
        "{},{refused},{}",
        receivers.addresses[0], receivers.addresses[1]
    );
    let relay = Relay::start(&["--bind", "127.0.0.1:0", "--to", &to, "--count", "1000"]);
    send("127.0.0.1:0", relay.address, &stream, &mut receivers);
    assert_eq!(receivers.finish(), [N, N]);
    let (status, report, stderr) = relay.finish();
    assert_eq!(status.code(), Some(0), "{report}{stderr}");
    // Tried with every batch (many: the sender's bursts are 16), reported once.
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let why = if cfg!(windows) {
        "(os error 10013)" // WSAEACCES
    } else {
        "Permission denied"
    };
    assert!(
        stderr.starts_with(&format!("mmsg relay: {refused}: ")) && stderr.contains(why),
        "{stderr}"
    );
    assert_eq!(
        line_of(&report, refused),
        format!("{refused}: sent 0, errors {N}, failing")
    );
    assert_eq!(
        line_of(&report, "dropped "),
        format!(
            "dropped 0 by --from, relayed {N}, sent {}, errors {N}",
            2 * N
        )
    );
}

#[test]
fn a_datagram_too_large_for_ipv4_is_skipped_for_ipv4_recipients_alone() {
    // Over IPv6 a datagram may be 65 527 bytes; IPv4 takes at most 65 507. The IPv4
    // recipient misses that one datagram (EMSGSIZE), reported once, and nothing else.
    let sizes = [500, 500, 500, 65_527, 500, 500, 800, 800, 800, 800];
    let stream = stream_of(sizes);
    let mut ipv6 = Receivers::start(&["[::1]:0"], &stream, &[]);
    let without: Vec<Vec<u8>> = stream
        .iter()
        .filter(|d| d.len() <= 65_507)
        .cloned()
        .collect();
    let ipv4 = Receivers::start(&["127.0.0.1:0"], &Arc::new(without), &[]);
    let to = format!("{},{}", ipv4.addresses[0], ipv6.addresses[0]);
    let relay = Relay::start(&["--bind", "[::1]:0", "--to", &to, "--count", "10"]);
    // Paced by the IPv6 receiver, which gets everything (10 datagrams are within the IPv4
    // receiver's buffer in any case).
    send("[::1]:0", relay.address, &stream, &mut ipv6);
    assert_eq!(ipv6.finish(), [10]);
    assert_eq!(ipv4.finish(), [9]);
    let (status, report, stderr) = relay.finish();
    assert_eq!(status.code(), Some(0), "{report}{stderr}");
    let v4 = ipv4_address(&to);
    let why = if cfg!(windows) {
        "(os error 10040)" // WSAEMSGSIZE
    } else {
        "Message too long"
    };
    assert!(
        stderr.starts_with(&format!("mmsg relay: {v4}: ")) && stderr.contains(why),
        "{stderr}"
    );
    assert_eq!(line_of(&report, &v4), format!("{v4}: sent 9, errors 1"));
    assert_eq!(
        line_of(&report, "dropped "),
        "dropped 0 by --from, relayed 10, sent 19, errors 1"
    );
}

fn ipv4_address(to: &str) -> String {
    to.split(',').next().unwrap().to_string()
}

// ---- bad input and help ----

#[test]
fn bad_input_is_one_line_on_stderr_and_exit_status_2() {
    let taken = udp("127.0.0.1:0");
    let busy = taken
        .local_address()
        .unwrap()
        .as_socket()
        .unwrap()
        .to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--bind", "nowhere", "--to", "127.0.0.1:9"],
            "cannot parse address 'nowhere'",
        ),
        (
            vec!["--bind", "127.0.0.1:0", "--to", "127.0.0.1"],
            "cannot parse address '127.0.0.1'",
        ),
        (
            vec!["--bind", "127.0.0.1:0", "--to", "127.0.0.1:9,"],
            "cannot parse address ''",
        ),
        (
            vec!["--bind", "127.0.0.1:0", "--to", "127.0.0.1:0"],
            "port 0",
        ),
        (
            vec![
                "--bind",
                "127.0.0.1:0",
                "--to",
                "127.0.0.1:9,[::1]:8,127.0.0.1:9",
            ],
            "recipient 127.0.0.1:9 is listed twice",
        ),
        (
            vec!["--bind", &busy, "--to", "127.0.0.1:9"],
            if cfg!(windows) {
                "os error 10048" // WSAEADDRINUSE
            } else {
                "Address already in use"
            },
        ),
        (
            vec![
                "--bind",
                "127.0.0.1:5999",
                "--to",
                "127.0.0.1:9,127.0.0.1:5999",
            ],
            "is the relay's own address",
        ),
        (
            vec![
                "--bind",
                "127.0.0.1:0",
                "--to",
                "127.0.0.1:9",
                "--from",
                "10.0.0.0/33",
            ],
            "--from: '10.0.0.0/33': prefix /33 is above /32",
        ),
        (
            vec![
                "--bind",
                "127.0.0.1:0",
                "--to",
                "127.0.0.1:9",
                "--from",
                "::1,fe80::/129",
            ],
            "--from: 'fe80::/129': prefix /129 is above /128",
        ),
        (
            vec![
                "--bind",
                "127.0.0.1:0",
                "--to",
                "127.0.0.1:9",
                "--from",
                "10.0.0/8",
            ],
            "'10.0.0' is not an IP address",
        ),
        (
            vec![
                "--bind",
                "127.0.0.1:0",
                "--to",
                "127.0.0.1:9",
                "--from",
                "10.0.0.0/x",
            ],
            "prefix 'x' is not a number",
        ),
        (
            vec![
                "--bind",
                "127.0.0.1:0",
                "--to",
                "127.0.0.1:9",
                "--stats",
                "0",
            ],
            "--stats 0 is not a duration",
        ),
        (
            vec![
                "--bind",
                "127.0.0.1:0",
                "--to",
                "127.0.0.1:9",
                "--stats",
                "-1",
            ],
            "not a duration",
        ),
        (
            vec![
                "--bind",
                "127.0.0.1:0",
                "--to",
                "127.0.0.1:9",
                "--count",
                "0",
            ],
            "--count 0",
        ),
    ];
    for (args, why) in cases {
        let mut all = vec!["relay"];
        all.extend(args.iter());
        let (status, stdout, stderr) = run(&all);
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("mmsg: error: "), "{args:?}: {stderr}");
        assert!(stderr.contains(why), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
    }
    // clap's usage errors: 2 as well.
    for args in [
        &["relay"][..],
        &["relay", "--bind", "127.0.0.1:0"],
        &["relay", "--to", "127.0.0.1:9"],
        &[
            "relay",
            "--bind",
            "127.0.0.1:0",
            "--to",
            "127.0.0.1:9",
            "--count",
            "x",
        ],
    ] {
        let (status, _, stderr) = run(args);
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn relay_has_help_with_examples() {
    for args in [&["relay", "--help"][..], &["help", "relay"]] {
        let (status, stdout, stderr) = run(args);
        assert!(status.success(), "{args:?}: {stderr}");
        assert!(stdout.contains("Usage: mmsg relay"), "{stdout}");
        assert!(stdout.contains("Examples:"), "{stdout}");
        for option in ["--bind", "--to", "--from", "--stats", "--count"] {
            assert!(stdout.contains(option), "{option}: {stdout}");
        }
    }
    let (_, top, _) = run(&["--help"]);
    assert!(top.contains("relay"), "{top}");
}
