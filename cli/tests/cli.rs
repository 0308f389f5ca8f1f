//! The `mmsg` binary end to end, on loopback only: the demo, `send` into `sink` (files and
//! generated data), the sink's accounting of hand-made streams, Ctrl-C, bad input, `--help`.
//!
//! Windows runs all but the tests that need Unix itself: Ctrl-C (sent as SIGINT with
//! `kill`), the FIFO refusal (`mkfifo`) and the sink under a memory cap (`ulimit -v`).

mod common;
use common::{drain, finish_within, lines_of};

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[cfg(unix)]
use mmsg::{Domain, SockAddr, Socket, Type};

const BIN: &str = env!("CARGO_BIN_EXE_mmsg");
/// The longest any command may take before the test calls it hung.
const PATIENCE: Duration = Duration::from_secs(60);

// ---- running the binary ----

/// Waits for `child` with a deadline (killing it and failing the test past it).
fn finish(child: Child) -> std::process::ExitStatus {
    finish_within(child, PATIENCE)
}

/// Runs `mmsg args...` to the end, with a deadline.
fn run(args: &[&str]) -> Output {
    run_within(args, PATIENCE)
}

fn run_within(args: &[&str], patience: Duration) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mmsg");
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    let status = finish_within(child, patience);
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A running `mmsg` whose stdout is read line by line.
struct Running {
    child: Child,
    lines: Receiver<String>,
    stderr: JoinHandle<Vec<u8>>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut command = Command::new(BIN);
        command.args(args);
        Running::spawn(command)
    }

    fn spawn(mut command: Command) -> Running {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mmsg");
        let lines = lines_of(child.stdout.take().expect("stdout"));
        let stderr = drain(child.stderr.take().expect("stderr"));
        Running {
            child,
            lines,
            stderr,
        }
    }

    /// The next line of stdout, waiting at most PATIENCE.
    fn line(&self) -> String {
        self.lines
            .recv_timeout(PATIENCE)
            .expect("a line from mmsg in time")
    }

    /// Sends SIGINT, as Ctrl-C does.
    #[cfg(unix)]
    fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the end; returns the exit status, the rest of stdout and stderr.
    fn finish(self) -> (std::process::ExitStatus, String, String) {
        let status = finish(self.child);
        let mut rest = String::new();
        while let Ok(line) = self.lines.recv_timeout(PATIENCE) {
            rest.push_str(&line);
            rest.push('\n');
        }
        (status, rest, text(&self.stderr.join().expect("stderr")))
    }
}

/// A sink on a free loopback port; returns it and its address (from its first line).
fn sink(extra: &[&str]) -> (Running, String) {
    let mut args = vec!["sink", "--bind", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    listening(Running::start(&args))
}

/// A sink as [`sink`] starts it, with its address space capped at `mib` MiB by the shell's
/// `ulimit -v` (and no core dump): an allocation past the cap fails and the sink aborts,
/// instead of taking the machine's memory.
#[cfg(unix)]
fn sink_within(mib: u64, extra: &[&str]) -> (Running, String) {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!(
            "ulimit -c 0; ulimit -v {} && exec \"$0\" \"$@\"",
            mib * 1024
        ))
        .args([BIN, "sink", "--bind", "127.0.0.1:0"])
        .args(extra);
    listening(Running::spawn(command))
}

/// The sink's address, from its first line.
fn listening(sink: Running) -> (Running, String) {
    let first = sink.line();
    let address = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line {first:?}"))
        .to_string();
    let parsed: SocketAddr = address.parse().expect("a socket address");
    assert_ne!(parsed.port(), 0);
    (sink, address)
}

// ---- files ----

/// A file in the temporary directory, removed at the end of the test.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> TempFile {
        TempFile(std::env::temp_dir().join(format!("mmsg-cli-{}-{name}", std::process::id())))
    }
    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Non-trivial content (xorshift), `len` bytes.
fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

// ---- the wire format, written out independently of the binary ----

const HEADER: usize = 36;
const FILE: u8 = 1;

/// Payload byte `i` of generated datagram `seq` (the sender's formula, written out again).
#[cfg(unix)]
fn generated_byte(seq: u64, i: usize) -> u8 {
    let x =
        seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i as u64).wrapping_mul(0xA24B_AED4_963E_E407);
    (x >> 56) as u8 ^ (i as u8)
}

/// A datagram as `mmsg send` makes it: the 36-byte big-endian header, then the payload.
fn datagram(flags: u8, chunk: u32, seq: u64, total: u64, length: u64, payload: &[u8]) -> Vec<u8> {
    let mut d = b"MMSG".to_vec();
    d.extend_from_slice(&[1, flags, 0, 0]);
    d.extend_from_slice(&chunk.to_be_bytes());
    d.extend_from_slice(&seq.to_be_bytes());
    d.extend_from_slice(&total.to_be_bytes());
    d.extend_from_slice(&length.to_be_bytes());
    assert_eq!(d.len(), HEADER);
    d.extend_from_slice(payload);
    d
}

/// The number after `label ` in `report`.
fn number_after(report: &str, label: &str) -> u64 {
    let at = report
        .find(&format!("{label} "))
        .unwrap_or_else(|| panic!("no '{label}' in {report}"));
    report[at + label.len() + 1..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after '{label}' in {report}"))
}

// ---- the demo ----

#[test]
fn a_short_demo_delivers_every_packet_and_prints_the_table() {
    let out = run(&["demo", "--seconds", "0.6", "--receivers", "3"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("every receiver got every packet, intact and in order, on both paths"),
        "{stdout}"
    );

    // Per receiver: path (2 words), receiver, sent, bytes sent (2 words), received, lost,
    // out of order, intact.
    let mut rows = [0, 0];
    for line in stdout.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let path = match f.first().copied() {
            Some("mmsg") => 0,
            Some("std") => 1,
            _ => continue,
        };
        if f.len() != 10 {
            continue;
        }
        rows[path] += 1;
        assert!(f[2].parse::<SocketAddr>().is_ok(), "{line}");
        let sent: u64 = f[3].parse().expect("sent");
        assert!(sent > 0, "{line}");
        assert_eq!(f[6], f[3], "received = sent: {line}");
        assert_eq!(&f[7..], ["0", "0", "yes"], "{line}");
    }
    assert_eq!(rows, [3, 3], "{stdout}");

    // Per path: path, packets, packets/s, send syscalls, syscalls/packet, CPU.
    let summary = |name: &str| -> Vec<String> {
        stdout
            .lines()
            .map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
            .find(|f| f.len() == 7 && f[..2].join(" ") == name)
            .unwrap_or_else(|| panic!("no summary row for {name}: {stdout}"))
    };
    let mmsg = summary("mmsg send_fanout");
    let std = summary("std send_to");
    assert_eq!(mmsg[2], std[2], "the same packets on both paths");
    assert_eq!(std[4], std[2], "std: one sendto per packet");
    assert_eq!(std[5], "1.0000");
    let mmsg_calls: u64 = mmsg[4].parse().expect("syscalls");
    let packets: u64 = mmsg[2].parse().expect("packets");
    if cfg!(feature = "portable") || cfg!(windows) {
        assert_eq!(mmsg_calls, packets, "the portable path: one sendmsg each");
        // The summary says why, instead of comparing.
        let why = if cfg!(windows) {
            "with a WSASendMsg of its own"
        } else {
            "as many send calls as std"
        };
        assert!(stdout.contains(why), "{stdout}");
        assert!(!stdout.contains("fewer send syscalls"), "{stdout}");
    } else {
        assert!(
            mmsg_calls * 10 < packets,
            "batched: {mmsg_calls} for {packets}"
        );
    }
}

#[test]
#[cfg(unix)]
fn mmsg_with_no_arguments_runs_the_demo_and_ctrl_c_stops_it() {
    let demo = Running::start(&[]);
    let first = demo.line();
    assert!(first.starts_with("mmsg demo:"), "{first}");
    assert!(first.contains("to 4 receivers"), "{first}");
    demo.interrupt();
    let (status, rest, stderr) = demo.finish();
    assert_eq!(status.code(), Some(130), "{rest}\n{stderr}");
    assert!(rest.contains("interrupted"), "{rest}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

// ---- send into sink ----

#[test]
fn a_file_sent_into_a_sink_is_reproduced_byte_for_byte() {
    let input = TempFile::new("round-trip-in");
    let output = TempFile::new("round-trip-out");
    // 3 MB, not a multiple of the 1364-byte chunks.
    let data = content(3_000_017, 0x2545_f491_4f6c_dd1d);
    assert_ne!(data.len() % (1400 - HEADER), 0);
    std::fs::write(&input.0, &data).expect("write input");

    let (sink, to) = sink(&["--output", output.path(), "--timeout", "10"]);
    let sent = run(&[
        "send",
        "--to",
        &to,
        "--file",
        input.path(),
        "--size",
        "1400",
        "--rate",
        "20000",
    ]);
    let sent_report = text(&sent.stdout);
    assert!(sent.status.success(), "{sent_report}{}", text(&sent.stderr));
    let chunks = data.len().div_ceil(1400 - HEADER) as u64;
    assert_eq!(number_after(&sent_report, "sent"), chunks, "{sent_report}");

    let (status, report, stderr) = sink.finish();
    assert!(status.success(), "{report}{stderr}");
    assert!(report.contains("stream complete"), "{report}");
    assert_eq!(number_after(&report, "lost"), 0, "{report}");
    assert_eq!(number_after(&report, "unique"), chunks, "{report}");
    assert!(
        report.contains(&format!("({} bytes, complete)", data.len())),
        "{report}"
    );
    assert!(
        std::fs::read(&output.0).expect("output") == data,
        "the copy differs"
    );
}

/// At the sender's full speed (no --rate, segmented sends): the sink receives zero-copy,
/// writes in gathered runs and asks for a queue that holds what a burst is ahead, so a
/// 20 MB copy is still whole. (As root the queue may pass net.core.rmem_max, as CI runs.)
#[test]
fn a_file_sent_at_full_speed_arrives_whole() {
    if !running_as_root() {
        eprintln!(
            "skipped: needs root on Linux, where the sink's queue may pass net.core.rmem_max"
        );
        return;
    }
    let input = TempFile::new("full-speed-in");
    let output = TempFile::new("full-speed-out");
    let data = content(20_000_000, 0x9e37_79b9_7f4a_7c15);
    std::fs::write(&input.0, &data).expect("write input");
    let (sink, to) = sink(&["--output", output.path(), "--timeout", "10"]);
    let sent = run(&["send", "--to", &to, "--file", input.path()]);
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    let (status, report, stderr) = sink.finish();
    assert!(status.success(), "{report}{stderr}");
    assert_eq!(number_after(&report, "lost"), 0, "{report}");
    assert!(
        std::fs::read(&output.0).expect("output") == data,
        "the copy differs"
    );
}

/// Root on Linux, whose receive buffer may then pass net.core.rmem_max (SO_RCVBUFFORCE).
/// Never elsewhere: under wine, a root user's /proc/self/status would be readable, but wine
/// asks for SO_RCVBUF, which Linux caps.
fn running_as_root() -> bool {
    if !cfg!(target_os = "linux") {
        return false;
    }
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn a_file_fanned_out_to_two_sinks_arrives_whole_at_both() {
    let input = TempFile::new("fanout-in");
    let outputs = [TempFile::new("fanout-out-a"), TempFile::new("fanout-out-b")];
    let data = content(777_777, 7);
    std::fs::write(&input.0, &data).expect("write input");
    let (a, to_a) = sink(&["--output", outputs[0].path(), "--timeout", "10"]);
    let (b, to_b) = sink(&["--output", outputs[1].path(), "--timeout", "10"]);

    let sent = run(&[
        "send",
        "--to",
        &format!("{to_a},{to_b}"),
        "--file",
        input.path(),
        "--rate",
        "20000",
    ]);
    let sent_report = text(&sent.stdout);
    assert!(sent.status.success(), "{sent_report}{}", text(&sent.stderr));
    assert!(sent_report.contains("to 2 recipients"), "{sent_report}");

    for (sink, output) in [(a, &outputs[0]), (b, &outputs[1])] {
        let (status, report, stderr) = sink.finish();
        assert!(status.success(), "{report}{stderr}");
        assert!(
            std::fs::read(&output.0).expect("output") == data,
            "a copy differs"
        );
    }
}

#[test]
fn an_empty_file_arrives_as_an_empty_file() {
    let input = TempFile::new("empty-in");
    let output = TempFile::new("empty-out");
    std::fs::write(&input.0, b"").expect("write input");
    std::fs::write(&output.0, b"old content").expect("write output");
    let (sink, to) = sink(&["--output", output.path(), "--timeout", "10"]);
    let sent = run(&["send", "--to", &to, "--file", input.path()]);
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    let (status, report, _) = sink.finish();
    assert!(status.success(), "{report}");
    assert!(report.contains("stream complete"), "{report}");
    assert_eq!(std::fs::read(&output.0).expect("output"), b"");
}

#[test]
fn generated_datagrams_are_counted_and_checked_by_the_sink() {
    let (sink, to) = sink(&["--count", "500", "--timeout", "10"]);
    let sent = run(&[
        "send",
        "--to",
        &to,
        "--generate",
        "--count",
        "500",
        "--size",
        "200",
        "--rate",
        "20000",
    ]);
    let sent_report = text(&sent.stdout);
    assert!(sent.status.success(), "{sent_report}{}", text(&sent.stderr));
    assert!(
        sent_report.starts_with("sent 500 datagrams"),
        "{sent_report}"
    );

    let (status, report, stderr) = sink.finish();
    assert!(status.success(), "{report}{stderr}");
    assert!(
        report.contains(
            "unique 500 of 500, lost 0, out of order 0, duplicates 0, corrupt 0, foreign 0"
        ),
        "{report}"
    );
    assert!(
        report.contains("received 500 datagrams (100.0 kB)"),
        "{report}"
    );
}

#[test]
fn generated_datagrams_over_ipv6() {
    let sink = Running::start(&["sink", "--bind", "[::1]:0", "--timeout", "10"]);
    let first = sink.line();
    let to = first
        .strip_prefix("listening on ")
        .expect("address")
        .to_string();
    assert!(to.starts_with("[::1]:"), "{to}");
    let sent = run(&[
        "send", "--to", &to, "--count", "300", "--size", "1472", "--rate", "20000",
    ]);
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    let (status, report, _) = sink.finish();
    assert!(status.success(), "{report}");
    assert!(report.contains("unique 300 of 300, lost 0"), "{report}");
}

// ---- the sink's accounting, with streams made by hand ----

#[test]
fn the_sink_writes_reordered_chunks_at_their_offsets_and_counts_what_was_odd() {
    let output = TempFile::new("reordered-out");
    let data = content(10 * 100 + 37, 99);
    let chunk = |seq: usize| &data[seq * 100..((seq + 1) * 100).min(data.len())];
    let datagram = |seq: usize| {
        let flags = FILE | if seq == 10 { 2 } else { 0 };
        datagram(flags, 100, seq as u64, 11, data.len() as u64, chunk(seq))
    };
    let (sink, to) = sink(&["--output", output.path(), "--timeout", "10"]);
    let sender = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut order: Vec<usize> = vec![10, 3, 0, 1, 2, 9, 8, 7, 4, 5];
    order.insert(4, 3); // a duplicate
    for seq in order {
        sender.send_to(&datagram(seq), &to).expect("send");
    }
    sender.send_to(b"not mmsg", &to).expect("send"); // foreign
    let mut short = datagram(6);
    short.pop();
    sender.send_to(&short, &to).expect("send"); // corrupt: a byte short
    sender.send_to(&datagram(6), &to).expect("send"); // the last one missing

    let (status, report, _) = sink.finish();
    assert!(status.success(), "{report}");
    assert!(report.contains("stream complete"), "{report}");
    assert!(
        report.contains(
            "unique 11 of 11, lost 0, out of order 10, duplicates 1, corrupt 1, foreign 1"
        ),
        "{report}"
    );
    assert!(
        std::fs::read(&output.0).expect("output") == data,
        "the copy differs"
    );
}

#[test]
fn the_sink_reports_loss_and_fails_when_a_chunk_never_comes() {
    let output = TempFile::new("lossy-out");
    let data = content(250, 5);
    let (sink, to) = sink(&["--output", output.path(), "--timeout", "0.5"]);
    let sender = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let started = Instant::now();
    for seq in [0usize, 2] {
        let payload = &data[seq * 100..((seq + 1) * 100).min(250)];
        let d = datagram(FILE, 100, seq as u64, 3, 250, payload);
        sender.send_to(&d, &to).expect("send");
    }
    let (status, report, _) = sink.finish();
    assert_eq!(status.code(), Some(1), "{report}");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "waited the timeout"
    );
    assert!(report.contains("nothing received for 0.5 s"), "{report}");
    assert!(report.contains("unique 2 of 3, lost 1"), "{report}");
    assert!(report.contains("INCOMPLETE"), "{report}");
    let written = std::fs::read(&output.0).expect("output");
    assert_eq!(written.len(), 250);
    assert_eq!(&written[..100], &data[..100]);
    assert_eq!(&written[200..], &data[200..]);
}

#[test]
#[cfg(unix)]
fn forged_sequence_numbers_cannot_make_the_sink_grow() {
    // 37-byte generated datagrams (chunk 1), each 2^24 numbers past the one before: a record
    // kept from 0 to the highest number would grow 2 MiB a datagram, 400 MiB for these; under
    // a 128 MiB cap such a sink aborts (the bounded one runs in less than 16 MiB).
    const JUMP: u64 = 1 << 24;
    const JUMPS: u64 = 200;
    let forged = |seq: u64| datagram(0, 1, seq, 0, 0, &[generated_byte(seq, 0)]);
    let (sink, to) = sink_within(
        128,
        &["--count", &(JUMPS + 3).to_string(), "--timeout", "30"],
    );
    let sender = UdpSocket::bind("127.0.0.1:0").expect("bind");
    for k in 0..=JUMPS {
        sender.send_to(&forged(k * JUMP), &to).expect("send");
    }
    // Further ahead than the window reaches, and behind it: discarded as corrupt.
    sender
        .send_to(&forged((JUMPS + 1) * JUMP + 1), &to)
        .expect("send");
    sender.send_to(&forged(3), &to).expect("send");

    let (status, report, stderr) = sink.finish();
    assert_eq!(status.code(), Some(1), "{report}{stderr}");
    assert!(
        report.contains("received the datagrams asked for"),
        "{report}"
    );
    assert!(
        report.contains(&format!("received {} datagrams (", JUMPS + 3)),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "unique {}, lost {}, out of order 0, duplicates 0, corrupt 2, foreign 0",
            JUMPS + 1,
            JUMPS * JUMP - JUMPS
        )),
        "{report}"
    );
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn a_forged_file_length_neither_sizes_the_output_nor_stops_the_sink() {
    let input = TempFile::new("forged-length-in");
    let output = TempFile::new("forged-length-out");
    let data = content(100_000, 11);
    std::fs::write(&input.0, &data).expect("write input");
    let (sink, to) = sink(&["--output", output.path(), "--timeout", "10"]);
    let sender = UdpSocket::bind("127.0.0.1:0").expect("bind");
    // Whole first chunks of a 2^62-byte file (no file system takes that length: EFBIG) and
    // of a 1 TiB one, both over the default --max-file-size of 64 GiB.
    for length in [1u64 << 62, 1 << 40] {
        let total = length.div_ceil(1000);
        let forged = datagram(FILE, 1000, 0, total, length, &[0; 1000]);
        sender.send_to(&forged, &to).expect("send");
    }
    // A length within the bound, but a header alone: it names no stream, sizes nothing.
    sender
        .send_to(&datagram(FILE, 1000, 0, 1 << 20, 1000 << 20, &[]), &to)
        .expect("send");
    // Then the real copy.
    let sent = run(&[
        "send",
        "--to",
        &to,
        "--file",
        input.path(),
        "--rate",
        "20000",
    ]);
    assert!(sent.status.success(), "{}", text(&sent.stderr));

    let (status, report, stderr) = sink.finish();
    assert!(status.success(), "{report}{stderr}");
    assert!(report.contains("stream complete"), "{report}");
    let chunks = data.len().div_ceil(1200 - HEADER);
    assert!(
        report.contains(&format!(
            "unique {chunks} of {chunks}, lost 0, out of order 0, duplicates 0, corrupt 1, foreign 2"
        )),
        "{report}"
    );
    assert!(
        report.contains(
            "2 datagrams declared a file over --max-file-size (68719476736 bytes): counted foreign"
        ),
        "{report}"
    );
    let written = std::fs::metadata(&output.0).expect("output").len();
    assert_eq!(written, data.len() as u64);
    assert!(
        std::fs::read(&output.0).expect("output") == data,
        "the copy differs"
    );
}

#[test]
fn max_file_size_bounds_the_file_a_sink_takes() {
    let input = TempFile::new("max-file-size-in");
    let output = TempFile::new("max-file-size-out");
    std::fs::write(&input.0, content(100_000, 12)).expect("write input");
    let chunks = 100_000usize.div_ceil(1200 - HEADER);
    let (sink, to) = sink(&[
        "--output",
        output.path(),
        "--max-file-size",
        "64K",
        "--count",
        &chunks.to_string(),
        "--timeout",
        "10",
    ]);
    let sent = run(&[
        "send",
        "--to",
        &to,
        "--file",
        input.path(),
        "--rate",
        "20000",
    ]);
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    let (status, report, stderr) = sink.finish();
    assert_eq!(status.code(), Some(1), "{report}{stderr}");
    assert!(
        report.contains(&format!("corrupt 0, foreign {chunks}")),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "{chunks} datagrams declared a file over --max-file-size (65536 bytes)"
        )),
        "{report}"
    );
    assert_eq!(std::fs::metadata(&output.0).expect("output").len(), 0);
}

// ---- Ctrl-C ----

#[test]
#[cfg(unix)]
fn ctrl_c_stops_a_send_cleanly_and_it_reports_exactly_what_was_sent() {
    let receiver = Socket::new(Domain::IPV4, Type::DGRAM, None).expect("socket");
    receiver
        .as_socket2()
        .set_recv_buffer_size(4 << 20)
        .expect("receive buffer");
    receiver
        .bind(&SockAddr::from(
            "127.0.0.1:0".parse::<SocketAddr>().expect("address"),
        ))
        .expect("bind");
    let to = receiver
        .local_address()
        .expect("address")
        .as_socket()
        .expect("ip")
        .to_string();
    // Slow enough that the receive queue holds all that is sent before the signal lands.
    let send = Running::start(&["send", "--to", &to, "--rate", "500", "--size", "100"]);
    receiver.set_timeout(Some(PATIENCE));
    let mut buf = [0u8; 256];
    assert_eq!(
        receiver.receive(&mut buf, None).expect("sending began"),
        100
    );
    assert_eq!(buf[12..20], 0u64.to_be_bytes());
    send.interrupt();
    let (status, report, stderr) = send.finish();
    assert_eq!(status.code(), Some(130), "{report}{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let reported = number_after(&report, "interrupted: sent");

    // Everything it says it sent arrived, numbered 0.. in order, and nothing more.
    receiver.set_blocking(false);
    let mut arrived: u64 = 1;
    while let Ok(n) = receiver.receive(&mut buf, None) {
        assert_eq!(n, 100);
        assert_eq!(&buf[..4], b"MMSG");
        assert_eq!(buf[12..20], arrived.to_be_bytes());
        arrived += 1;
    }
    assert_eq!(reported, arrived, "{report}");
}

#[test]
#[cfg(unix)]
fn ctrl_c_stops_a_waiting_sink_with_its_report() {
    let (sink, _) = sink(&[]);
    sink.interrupt();
    let (status, report, stderr) = sink.finish();
    assert_eq!(status.code(), Some(130), "{report}{stderr}");
    assert!(
        report.starts_with("interrupted\nreceived 0 datagrams"),
        "{report}"
    );
}

// ---- bad input and help ----

#[test]
fn bad_input_is_one_line_on_stderr_and_exit_status_2() {
    let taken = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let busy = taken.local_addr().expect("address").to_string();
    let untouched = TempFile::new("bad-input-untouched");
    std::fs::write(&untouched.0, b"keep me").expect("write");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["send", "--to", "not-an-address"],
            "cannot parse address",
        ),
        (
            vec!["send", "--to", "127.0.0.1:99999"],
            "cannot parse address",
        ),
        (vec!["send", "--to", "127.0.0.1:0"], "port 0"),
        (
            vec!["send", "--to", "127.0.0.1:9,[::1]:9"],
            "mix IPv4 and IPv6",
        ),
        (
            vec!["send", "--to", "127.0.0.1:9", "--size", "65508"],
            "above 65507",
        ),
        (
            vec!["send", "--to", "127.0.0.1:9", "--size", "36"],
            "no room",
        ),
        (vec!["send", "--to", "127.0.0.1:9", "--rate", "0"], "rate 0"),
        (
            vec![
                "send",
                "--to",
                "127.0.0.1:9",
                "--file",
                "/nonexistent/mmsg-input",
            ],
            "cannot read /nonexistent/mmsg-input",
        ),
        (
            vec!["send", "--to", "127.0.0.1:9", "--file", "/"],
            "not a regular file",
        ),
        (
            vec!["sink", "--bind", &busy, "--output", untouched.path()],
            if cfg!(windows) {
                "os error 10048" // WSAEADDRINUSE
            } else {
                "Address already in use"
            },
        ),
        (
            vec!["sink", "--bind", "127.0.0.1:0", "--timeout", "-1"],
            "not a duration",
        ),
        (
            vec![
                "sink",
                "--bind",
                "127.0.0.1:0",
                "--output",
                "/nonexistent/dir/out",
            ],
            "cannot write",
        ),
        (vec!["sink", "--bind", "nowhere"], "cannot parse address"),
        (
            vec!["sink", "--bind", "127.0.0.1:0", "--max-file-size", "12Q"],
            "not a size",
        ),
        (vec!["demo", "--seconds", "0"], "not a duration"),
        (vec!["demo", "--receivers", "0"], "--receivers 0"),
    ];
    for (args, why) in cases {
        let out = run(&args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("mmsg: error: "), "{args:?}: {stderr}");
        assert!(stderr.contains(why), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
    }
    // The sink that could not bind left the output file alone.
    assert_eq!(std::fs::read(&untouched.0).expect("read"), b"keep me");

    // clap's own usage errors exit 2 as well.
    for args in [
        &["send"][..],
        &["send", "--to", "127.0.0.1:9", "--size", "big"],
        &["send", "--to", "127.0.0.1:9", "--file", "x", "--count", "3"],
        &["sink"],
        &["no-such-command"],
    ] {
        let out = run(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
#[cfg(unix)]
fn a_fifo_is_refused_at_once_instead_of_waited_on() {
    // Nobody opens the other end: opening it for reading or writing would wait forever.
    let fifo = TempFile::new("fifo");
    let made = Command::new("mkfifo")
        .arg(&fifo.0)
        .status()
        .expect("run mkfifo");
    assert!(made.success());
    for args in [
        &["send", "--to", "127.0.0.1:9", "--file", fifo.path()][..],
        &[
            "sink",
            "--bind",
            "127.0.0.1:0",
            "--output",
            fifo.path(),
            "--timeout",
            "1",
        ],
    ] {
        let out = run_within(args, Duration::from_secs(10));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("mmsg: error: cannot ")
                && stderr.contains(&format!("{}: not a regular file", fifo.path())),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
    }
    let left = std::fs::symlink_metadata(&fifo.0).expect("the FIFO is still there");
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&left.file_type()));
}

/// Where the bench is not built (every OS but Linux), `mmsg bench` says so, whatever follows.
#[test]
#[cfg(not(target_os = "linux"))]
fn the_bench_says_it_is_not_available_here() {
    for args in [
        &["bench"][..],
        &["bench", "--sender", "std", "--count", "5"],
    ] {
        let out = run(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("mmsg: error: bench is not available on "),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
    }
}

#[test]
fn every_command_has_help_with_examples() {
    for args in [
        &["--help"][..],
        &["help", "send"],
        &["demo", "--help"],
        &["send", "--help"],
        &["sink", "--help"],
        &["bench", "--help"],
    ] {
        let out = run(args);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert!(stdout.contains("Usage: mmsg"), "{args:?}: {stdout}");
        if args[0] != "bench" {
            assert!(stdout.contains("Examples:"), "{args:?}: {stdout}");
        }
    }
    let send = text(&run(&["send", "--help"]).stdout);
    for option in [
        "--to",
        "--file",
        "--generate",
        "--size",
        "--rate",
        "--count",
    ] {
        assert!(send.contains(option), "{option}: {send}");
    }
    let sink = text(&run(&["sink", "--help"]).stdout);
    for option in [
        "--bind",
        "--output",
        "--count",
        "--timeout",
        "--max-file-size",
    ] {
        assert!(sink.contains(option), "{option}: {sink}");
    }
}
