//! CPU time used by the calling thread, from `/proc/thread-self/schedstat` (Linux), to
//! compare what sending costs one way or another.

use std::time::Duration;

/// CPU time this thread has used so far, if the OS tells.
pub fn thread_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// CPU time this thread used since `start` (a [`thread_time`] reading).
///
/// The kernel brings the figure up to date at scheduler ticks and context switches, so
/// measure spans of many ticks (a whole sending run), not single calls.
pub fn thread_time_since(start: Option<Duration>) -> Option<Duration> {
    thread_time()?.checked_sub(start?)
}
