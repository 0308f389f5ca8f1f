//! The `mmsg` binary end to end, on loopback.
#![cfg(feature = "cli")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mmsg");

/// Waits for `child` with a deadline, so a hung command fails the test instead of CI.
fn finish(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("command did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn run(args: &[&str]) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mmsg");
    finish(child, Duration::from_secs(60))
}

/// Starts a sink on a free port; returns it and the port it printed.
fn sink(extra: &[&str]) -> (Child, BufReader<std::process::ChildStdout>, u16) {
    let mut child = Command::new(BIN)
        .args(["sink", "--bind", "127.0.0.1:0", "--timeout", "3"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sink");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("first line");
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    (child, out, port)
}

fn rest(out: &mut BufReader<std::process::ChildStdout>) -> String {
    let mut s = String::new();
    std::io::Read::read_to_string(out, &mut s).expect("read");
    s
}

#[test]
fn the_demo_delivers_every_packet_and_prints_the_table() {
    let out = run(&["demo", "--seconds", "0.5", "--receivers", "3"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("syscalls/packet"), "{stdout}");
    assert!(stdout.contains("every receiver got every packet, intact and in order"));
    // 3 receivers x 2 senders rows, each with 0 lost, 0 out of order, 0 corrupt.
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("mmsg ") || l.starts_with("std "))
        .filter(|l| l.split_whitespace().count() == 8)
        .collect();
    assert_eq!(rows.len(), 6, "{stdout}");
    for row in rows {
        let f: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(f[2], f[4], "sent = received in {row}");
        assert_eq!(&f[5..], ["0", "0", "0"], "{row}");
    }
}

#[test]
fn a_file_sent_into_a_sink_is_reproduced_byte_for_byte() {
    let dir = std::env::temp_dir().join(format!("mmsg-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("in.bin");
    let output = dir.join("out.bin");
    // A few MB of non-trivial content, not a multiple of the chunk size.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let data: Vec<u8> = (0..2_500_003)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&input, &data).unwrap();
    let (child, mut out, port) = sink(&["--output", output.to_str().unwrap()]);
    let to = format!("127.0.0.1:{port}");
    let sent = run(&[
        "send",
        "--to",
        &to,
        "--file",
        input.to_str().unwrap(),
        "--size",
        "1400",
        "--rate",
        "100000",
    ]);
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let done = finish(child, Duration::from_secs(30));
    let report = rest(&mut out);
    assert!(done.status.success(), "{report}");
    assert!(report.contains("lost 0"), "{report}");
    assert_eq!(std::fs::read(&output).unwrap(), data);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn generated_packets_are_counted_by_the_sink() {
    let (child, mut out, port) = sink(&["--count", "500"]);
    let to = format!("127.0.0.1:{port}");
    let sent = run(&[
        "send",
        "--to",
        &to,
        "--generate",
        "--count",
        "500",
        "--size",
        "200",
    ]);
    assert!(sent.status.success());
    assert!(String::from_utf8_lossy(&sent.stdout).contains("sent 500 of 500 packets"));
    let done = finish(child, Duration::from_secs(30));
    let report = rest(&mut out);
    assert!(done.status.success(), "{report}");
    assert!(
        report.contains("received 500 datagrams (500 distinct of 500), lost 0"),
        "{report}"
    );
}

#[test]
fn bad_input_is_one_line_and_exit_status_2() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().to_string();
    let cases: Vec<Vec<&str>> = vec![
        vec!["send", "--to", "not-an-address", "--generate"],
        vec!["send", "--to", "127.0.0.1:0", "--generate"],
        vec!["send", "--to", "127.0.0.1:9", "--size", "65508"],
        vec![
            "send",
            "--to",
            "127.0.0.1:9",
            "--file",
            "/nonexistent/mmsg-input",
        ],
        vec!["sink", "--bind", &busy, "--timeout", "1"],
    ];
    for case in cases {
        let out = run(&case);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{case:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{case:?}: {stderr}");
        assert!(stderr.starts_with("mmsg: error: "), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // clap's own usage errors exit 2 too.
    assert_eq!(run(&["send"]).status.code(), Some(2));
}

#[test]
fn every_subcommand_has_help_with_examples() {
    for sub in [
        &["--help"][..],
        &["demo", "--help"],
        &["send", "--help"],
        &["sink", "--help"],
        &["bench", "--help"],
    ] {
        let out = run(sub);
        assert!(out.status.success(), "{sub:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{sub:?}"
        );
    }
    for sub in ["send", "sink", "demo"] {
        let out = run(&[sub, "--help"]);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Example"),
            "{sub}"
        );
    }
}

#[test]
fn ctrl_c_cancels_a_send_cleanly_and_reports_what_was_sent() {
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = receiver.local_addr().unwrap().to_string();
    let child = Command::new(BIN)
        .args([
            "send",
            "--to",
            &to,
            "--generate",
            "--count",
            "1000000",
            "--rate",
            "2000",
            "--size",
            "100",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn send");
    // Wait until packets flow (the sender is running its loop), then interrupt it.
    receiver
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 256];
    receiver.recv(&mut buf).expect("the sender started sending");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = finish(child, Duration::from_secs(20));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("cancelled"), "{stdout}");
    assert!(stdout.contains("of 1000000 packets"), "{stdout}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}
