//! Helpers shared by the CLI's end-to-end tests.
#![allow(dead_code)]

use std::process::{Child, ExitStatus};
use std::thread;
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
