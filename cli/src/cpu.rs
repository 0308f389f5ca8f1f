//! CPU time used by the calling thread (Linux: `/proc/thread-self/schedstat`; Windows:
//! `GetThreadTimes`), to compare what sending costs one way or another.

use std::time::Duration;

/// CPU time this thread has used so far, if the OS tells.
pub fn thread_time() -> Option<Duration> {
    crate::platform::thread_time()
}

/// CPU time this thread used since `start` (a [`thread_time`] reading).
///
/// The kernel brings the figure up to date at scheduler ticks and context switches (Windows
/// at its clock tick, 15.6 ms by default), so measure spans of many ticks (a whole sending
/// run), not single calls.
pub fn thread_time_since(start: Option<Duration>) -> Option<Duration> {
    thread_time()?.checked_sub(start?)
}
