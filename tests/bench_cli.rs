//! `mmsg bench` runs and reports well-formed figures (no speed is asserted here).
#![cfg(feature = "cli")]

use std::process::Command;

#[test]
fn every_sender_reports_a_json_line_with_the_documented_keys() {
    for sender in [
        "std",
        "mmsg",
        "mmsg-no-gso",
        "mmsg-portable",
        "raw-sendmmsg",
    ] {
        for workload in ["mixed", "fanout"] {
            let out = Command::new(env!("CARGO_BIN_EXE_mmsg"))
                .args([
                    "bench",
                    "--workload",
                    workload,
                    "--sender",
                    sender,
                    "--count",
                    "2000",
                ])
                .args([
                    "--size", "64", "--dests", "2", "--batch", "8", "--repeat", "1", "--json",
                ])
                .output()
                .expect("run bench");
            assert!(
                out.status.success(),
                "{sender}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let tail = format!(
                "{{\"workload\":\"{workload}\",\"sender\":\"{sender}\",\"count\":2000,\"size\":64,\"dests\":2,\"batch\":8,\"seconds\":"
            );
            assert!(line.starts_with(&tail), "{line}");
            let pps: f64 = line
                .rsplit("\"pps\":")
                .next()
                .and_then(|p| p.trim_end_matches('}').parse().ok())
                .unwrap_or_else(|| panic!("no pps in {line}"));
            assert!(pps > 0.0, "{line}");
        }
    }
}

#[test]
fn unknown_senders_and_workloads_are_one_line_errors() {
    for args in [
        &["bench", "--workload", "mixed", "--sender", "nope"][..],
        &["bench", "--workload", "nope"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_mmsg"))
            .args(args)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim().lines().count(),
            1
        );
    }
}
