//! `mmsg bench` runs and reports well-formed figures (no speed is asserted here; what each
//! sender delivers is checked byte for byte by the bench's own unit tests, and every
//! receiver's count, sizes and bytes are checked by the bench itself on every run, which
//! fails otherwise).
//!
//! Linux only, as the bench is built there only (elsewhere `mmsg bench` says it is not
//! available: see cli.rs).
#![cfg(target_os = "linux")]

use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mmsg"))
        .arg("bench")
        .args(args)
        .output()
        .expect("run mmsg bench")
}

/// The senders this build knows, as its error for an unknown one lists them.
fn known_senders() -> Vec<String> {
    known(&["--workload", "mixed", "--sender", "nope"])
}

/// The receivers this build knows, likewise.
fn known_receivers() -> Vec<String> {
    known(&["--workload", "receive", "--receiver", "nope"])
}

fn known(args: &[&str]) -> Vec<String> {
    let out = bench(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let list = stderr
        .split("(known: ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no list of senders in {stderr}"));
    list.split(", ").map(str::to_string).collect()
}

fn pps_of(line: &str) -> f64 {
    line.rsplit("\"pps\":")
        .next()
        .and_then(|p| p.trim_end_matches('}').parse().ok())
        .unwrap_or_else(|| panic!("no pps in {line}"))
}

#[test]
fn the_issue_s_senders_are_all_there() {
    let known = known_senders();
    for required in [
        "std",
        "mmsg",
        "mmsg-no-gso",
        "mmsg-portable",
        "quinn-udp",
        "raw-sendmmsg",
        "raw-gso",
        #[cfg(feature = "peers")]
        "c-sendmmsg",
        #[cfg(feature = "peers")]
        "c-gso",
    ] {
        assert!(
            known.iter().any(|k| k == required),
            "{required} in {known:?}"
        );
    }
}

#[test]
fn every_sender_reports_a_json_line_with_the_documented_keys() {
    for sender in known_senders() {
        for workload in ["mixed", "fanout"] {
            let out = bench(&[
                "--workload",
                workload,
                "--sender",
                &sender,
                "--count",
                "2000",
                "--size",
                "64",
                "--dests",
                "2",
                "--batch",
                "8",
                "--repeat",
                "1",
                "--json",
            ]);
            assert!(
                out.status.success(),
                "{sender}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let head = format!(
                "{{\"workload\":\"{workload}\",\"sender\":\"{sender}\",\"count\":2000,\"size\":64,\"dests\":2,\"batch\":8,\"seconds\":"
            );
            assert!(line.starts_with(&head), "{line}");
            assert!(pps_of(&line) > 0.0, "{line}");
        }
    }
}

#[test]
fn the_issue_s_receivers_are_all_there() {
    let known = known_receivers();
    for required in [
        "std",
        "mmsg",
        "mmsg-no-gro",
        "mmsg-messages",
        "mmsg-portable",
        "quinn-udp",
        #[cfg(feature = "peers")]
        "c-recvmmsg",
        #[cfg(feature = "peers")]
        "c-gro",
        #[cfg(feature = "peers")]
        "c-gro-recvmmsg",
    ] {
        assert!(
            known.iter().any(|k| k == required),
            "{required} in {known:?}"
        );
    }
    assert_eq!(known[0], "std", "the baseline first");
}

/// The value of `key` in a JSON line of the bench (numbers and plain strings only).
fn value_of<'a>(line: &'a str, key: &str) -> &'a str {
    let at = line
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("no {key} in {line}"));
    let rest = &line[at + key.len() + 3..];
    rest[..rest.find([',', '}']).unwrap()].trim_matches('"')
}

#[test]
fn every_receiver_reports_a_json_line_with_the_documented_keys() {
    let receivers = known_receivers();
    for size in ["64", "1200"] {
        for live in [false, true] {
            let mut args = vec![
                "--workload",
                "receive",
                "--count",
                "3000",
                "--size",
                size,
                "--repeat",
                "2",
                "--json",
            ];
            if live {
                args.push("--live");
            }
            let out = bench(&args);
            assert!(
                out.status.success(),
                "{size} {live}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            let lines: Vec<&str> = stdout.lines().collect();
            // One line per receiver, in the order known, with every key in order.
            assert_eq!(lines.len(), receivers.len(), "{stdout}");
            let mode = if live { "live" } else { "drain" };
            for (line, receiver) in lines.iter().zip(&receivers) {
                let head = format!(
                    "{{\"workload\":\"receive\",\"receiver\":\"{receiver}\",\"mode\":\"{mode}\",\"count\":3000,\"size\":{size},\"batch\":"
                );
                assert!(line.starts_with(&head), "{line}");
                let keys: Vec<&str> = line
                    .split(",\"")
                    .skip(1)
                    .map(|kv| kv.split('"').next().unwrap())
                    .collect();
                assert_eq!(
                    keys,
                    [
                        "receiver",
                        "mode",
                        "count",
                        "size",
                        "batch",
                        "sent",
                        "received",
                        "loss_pct",
                        "rcvbuf",
                        "seconds",
                        "ns_per_datagram",
                        "pps"
                    ],
                    "{line}"
                );
                assert!(pps_of(line) > 0.0, "{line}");
                let number = |key| value_of(line, key).parse::<f64>().unwrap();
                assert!(number("batch") >= 1.0, "{line}");
                assert!(number("ns_per_datagram") > 0.0, "{line}");
                assert!(number("rcvbuf") > 0.0, "{line}");
                assert_eq!(number("sent"), 3000.0, "{line}");
                if live {
                    // What arrived of what was sent, and the loss it makes.
                    let received = number("received");
                    assert!(received > 0.0 && received <= 3000.0, "{line}");
                    let loss = (3000.0 - received) * 100.0 / 3000.0;
                    assert!((number("loss_pct") - loss).abs() < 0.01, "{line}");
                } else {
                    // The drain took exactly what was queued (the bench fails otherwise).
                    assert_eq!(number("received"), 3000.0, "{line}");
                    assert_eq!(number("loss_pct"), 0.0, "{line}");
                }
            }
        }
    }
}

/// The grid's third sender: the C floor where this build has the peers.
const THIRD: &str = if cfg!(feature = "peers") {
    "c-gso"
} else {
    "raw-gso"
};

/// The grid's third receiver, likewise.
const THIRD_RECEIVER: &str = if cfg!(feature = "peers") {
    "c-gro"
} else {
    "quinn-udp"
};

#[test]
fn the_grid_prints_every_cell_as_ratios_and_draws_the_chart() {
    let dir = std::env::temp_dir().join(format!("mmsg-bench-grid-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("grid.svg");
    let out = bench(&[
        "--sender",
        &format!("std,mmsg,{THIRD}"),
        "--receiver",
        &format!("std,mmsg,{THIRD_RECEIVER}"),
        "--count",
        "128",
        "--repeat",
        "1",
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].contains("ratio to std"), "{stdout}");
    assert!(lines[1].ends_with(&format!("mmsg  {THIRD}")), "{stdout}");
    // 2 workloads x 2 sizes x 3 receiver counts x 3 batches, then the receive section.
    let rows: Vec<&str> = lines[2..38].to_vec();
    assert!(rows[0].starts_with("mixed      64     1     1"), "{stdout}");
    assert!(
        rows[35].starts_with("fanout   1200    64    64"),
        "{stdout}"
    );
    for row in &rows {
        let ratios: Vec<f64> = row
            .split_whitespace()
            .skip(5)
            .map(|r| r.parse().unwrap())
            .collect();
        assert_eq!(ratios.len(), 2, "{row}");
        assert!(ratios.iter().all(|r| *r > 0.0), "{row}");
    }
    // The receive section: a row per size, each receiver's ratio to std's drain.
    assert!(lines[38].starts_with("receive: "), "{stdout}");
    assert!(lines[38].contains("ratio to std"), "{stdout}");
    assert!(
        lines[39].ends_with(&format!("mmsg  {THIRD_RECEIVER}")),
        "{stdout}"
    );
    let receive_rows = &lines[40..];
    assert_eq!(receive_rows.len(), 2, "{stdout}");
    for (row, size) in receive_rows.iter().zip(["64", "1200"]) {
        let fields: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(&fields[..3], ["receive", size, "64"], "{row}");
        let figures: Vec<f64> = fields[3..].iter().map(|r| r.parse().unwrap()).collect();
        assert_eq!(figures.len(), 3, "{row}");
        assert!(figures.iter().all(|r| *r > 0.0), "{row}");
    }
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(
        chart.starts_with("<svg"),
        "{}",
        &chart[..chart.len().min(200)]
    );
    // The text of every <text> element: legend entries and cell labels among them.
    let texts: Vec<&str> = chart
        .split("</text>")
        .filter_map(|part| part.rsplit_once("<text").map(|(_, t)| t))
        .filter_map(|t| t.split_once('>').map(|(_, body)| body.trim()))
        .collect();
    for name in [
        "std",
        "mmsg",
        THIRD,
        THIRD_RECEIVER,
        "mixed 64/1/1",
        "fanout 1200/64/64",
        "receive 64",
        "receive 1200",
    ] {
        assert!(texts.contains(&name), "{name} not in the chart: {texts:?}");
    }
    // One line per sender, and per receiver.
    assert!(
        chart.matches("<polyline").count() >= 6,
        "one line per sender and receiver"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unknown_senders_and_workloads_are_one_line_errors() {
    for (args, why) in [
        (
            &["--workload", "mixed", "--sender", "nope"][..],
            "unknown sender 'nope'",
        ),
        (&["--workload", "nope"], "unknown workload 'nope'"),
        (&["--workload", "mixed", "--count", "0"], "--count"),
        (
            &["--workload", "receive", "--receiver", "std,nope"],
            "unknown receiver 'nope' (known: std, mmsg,",
        ),
        (&["--receiver", "nope"], "unknown receiver 'nope'"),
        (
            &["--workload", "receive", "--sender", "mmsg"],
            "--sender applies to the send workloads",
        ),
        (
            &["--workload", "mixed", "--receiver", "mmsg"],
            "--receiver applies to",
        ),
        (&["--workload", "fanout", "--live"], "--live and --rcvbuf"),
        // A queue too small to hold the count: found out, not timed.
        (
            &[
                "--workload",
                "receive",
                "--receiver",
                "mmsg-no-gro",
                "--count",
                "5000",
                "--rcvbuf",
                "4096",
            ],
            "lower --count or raise --rcvbuf",
        ),
    ] {
        let out = bench(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(why), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn counts_batches_and_receivers_past_their_bounds_are_one_line_errors() {
    let cell = ["--workload", "mixed", "--sender", "std", "--repeat", "1"];
    for (extra, why) in [
        (
            &["--count", "18446744073709551615"][..],
            "--count 18446744073709551615 is above",
        ),
        (&["--count", "1000001"], "--count 1000001 is above 1000000"),
        (
            &["--count", "1000", "--batch", "4294967295"],
            "--batch 4294967295 is above",
        ),
        (
            &["--count", "1000", "--batch", "1025"],
            "--batch 1025 is above 1024",
        ),
        (
            &["--count", "1000", "--dests", "18446744073709551615"],
            "--dests 18446744073709551615 is above",
        ),
        (
            &["--count", "1000", "--dests", "1025"],
            "--dests 1025 is above 1024",
        ),
    ] {
        for workload in ["mixed", "fanout"] {
            let mut args = cell.to_vec();
            args[1] = workload;
            args.extend_from_slice(extra);
            let out = bench(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
            assert!(stderr.starts_with("mmsg: error: "), "{args:?}: {stderr}");
            assert!(stderr.contains(why), "{args:?}: {stderr}");
            assert!(out.stdout.is_empty(), "{args:?}");
        }
    }
    // The grid is bounded the same way.
    let out = bench(&["--count", "18446744073709551615"]);
    assert_eq!(out.status.code(), Some(2));
    // The bounds themselves are allowed.
    let out = bench(&[
        "--workload",
        "fanout",
        "--sender",
        "std",
        "--count",
        "2048",
        "--dests",
        "2",
        "--batch",
        "1024",
        "--repeat",
        "1",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"batch\":1024"));
}

#[cfg(not(feature = "peers"))]
#[test]
fn the_c_peers_left_out_of_a_build_say_how_to_get_them() {
    for args in [
        ["--workload", "mixed", "--sender", "c-gso"],
        ["--workload", "receive", "--receiver", "c-gro"],
    ] {
        let out = bench(&args);
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--features peers"), "{stderr}");
    }
}

#[test]
fn the_relay_workload_reports_each_relay() {
    let out = bench(&[
        "--workload",
        "relay",
        "--count",
        "2000",
        "--size",
        "1200",
        "--dests",
        "4",
        "--repeat",
        "1",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let relays: Vec<&str> = stdout
        .lines()
        .map(|l| {
            assert!(l.contains("\"workload\":\"relay\""), "{l}");
            assert!(pps_of(l) > 0.0, "{l}");
            l.split("\"relay\":\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap()
        })
        .collect();
    let mut expected = vec!["mmsg"];
    if cfg!(feature = "peers") {
        expected.extend(["c-mmsg", "c-gro-gso"]);
    }
    assert_eq!(relays, expected);

    let out = bench(&["--workload", "relay", "--relay", "samplicator"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim().lines().count(),
        1
    );
}
