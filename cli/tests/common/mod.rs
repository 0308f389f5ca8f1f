//! Helpers shared by the CLI's end-to-end tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, ExitStatus};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Waits for `child`, killing it (and failing the test) past `patience`.
pub fn finish_within(mut child: Child, patience: Duration) -> ExitStatus {
    let deadline = Instant::now() + patience;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mmsg did not finish within {patience:?}");
        }
        // Polled: a child's exit has no readiness to wait on here.
        thread::sleep(Duration::from_millis(10));
    }
}

/// Everything `pipe` gives until it closes, read on a thread of its own (so a child never
/// blocks on a full pipe).
pub fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut all = Vec::new();
        let _ = pipe.read_to_end(&mut all);
        all
    })
}

/// A child's stdout, line by line as it comes, read on a thread of its own.
pub fn lines_of(stdout: ChildStdout) -> Receiver<String> {
    let (tx, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}
