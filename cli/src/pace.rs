//! Pacing: item `n` of a stream at `rate` items per second is due `n / rate` seconds after
//! the start. Waiting for the due time of each batch keeps the average exact (no drift from
//! sleep overshoot) while bursts stay as short as the batches.

use std::thread;
use std::time::{Duration, Instant};

use mmsg::Cancellable;

/// The longest single sleep, so that a cancellation is noticed promptly.
const SLICE: Duration = Duration::from_millis(20);

pub struct Pacer {
    start: Instant,
    /// Items per second; `None`: no pacing.
    rate: Option<f64>,
}

impl Pacer {
    pub fn new(rate: Option<f64>) -> Pacer {
        Pacer {
            start: Instant::now(),
            rate: rate.filter(|r| *r > 0.0 && r.is_finite()),
        }
    }

    /// When item `n` is due.
    pub fn due(&self, n: u64) -> Instant {
        match self.rate {
            Some(rate) => self.start + Duration::from_secs_f64(n as f64 / rate),
            None => self.start,
        }
    }

    /// Waits until item `n` is due, or `cancellable` is cancelled; returns whether it was.
    pub fn wait_for(&self, n: u64, cancellable: Option<&Cancellable>) -> bool {
        sleep_until(self.due(n), cancellable)
    }
}

/// Sleeps until `deadline` or until `cancellable` is cancelled; returns whether it was.
pub fn sleep_until(deadline: Instant, cancellable: Option<&Cancellable>) -> bool {
    loop {
        if cancellable.is_some_and(Cancellable::is_cancelled) {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        thread::sleep((deadline - now).min(SLICE));
    }
}

/// How many items to send together at `rate` per second: about one batch a millisecond,
/// at least 1, at most `max`.
pub fn batch_size(rate: Option<u64>, max: usize) -> usize {
    match rate {
        Some(rate) => usize::try_from(rate / 1000).unwrap_or(max).clamp(1, max),
        None => max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_times_follow_the_rate() {
        let p = Pacer::new(Some(1000.0));
        assert_eq!(p.due(500) - p.due(0), Duration::from_millis(500));
        let unpaced = Pacer::new(None);
        assert_eq!(unpaced.due(1_000_000), unpaced.due(0));
    }

    #[test]
    fn waiting_takes_at_least_the_interval_and_stops_on_cancel() {
        let p = Pacer::new(Some(100.0));
        assert!(!p.wait_for(3, None));
        assert!(p.start.elapsed() >= Duration::from_millis(30));
        let c = Cancellable::new();
        c.cancel();
        assert!(p.wait_for(1_000_000, Some(&c)));
    }

    #[test]
    fn batches_are_about_a_millisecond() {
        assert_eq!(batch_size(Some(500), 64), 1);
        assert_eq!(batch_size(Some(20_000), 64), 20);
        assert_eq!(batch_size(Some(u64::MAX), 64), 64);
        assert_eq!(batch_size(None, 64), 64);
    }
}
