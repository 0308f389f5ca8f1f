//! What the relay counts, and how it tells: the statistics line, a recipient's failure
//! episodes on stderr, the final report.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{End, Relay};
use crate::units;

/// Datagrams that came in, and what became of them.
#[derive(Debug, Default)]
pub struct Counters {
    /// Every datagram received, from any sender, and their bytes.
    pub received: u64,
    pub bytes: u64,
    /// The receive buffers they came in (fewer than datagrams where the kernel coalesced).
    pub buffers: u64,
    /// From senders --from does not take.
    pub dropped: u64,
    /// Handed to the fan-out.
    pub relayed: u64,
    /// Accepted, but received with the last of --count (a coalesced buffer holds several).
    pub past_count: u64,
    /// When the first and the last batch arrived.
    pub first: Option<Instant>,
    pub last: Option<Instant>,
    /// `received` at the last statistics line, and when it was printed.
    mark: Option<(Instant, u64)>,
}

impl Counters {
    /// Notes that a batch arrived now.
    pub fn arrived(&mut self) {
        let now = Instant::now();
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    /// The time from the first batch to the last.
    fn span(&self) -> Duration {
        match (self.first, self.last) {
            (Some(first), Some(last)) => last - first,
            _ => Duration::ZERO,
        }
    }
}

/// One recipient: what it was sent, what it missed, and whether it is failing.
#[derive(Debug)]
pub struct Outgoing {
    pub address: SocketAddr,
    /// Datagrams sent to it (handed to the OS).
    pub sent: u64,
    /// Datagrams it missed because sending to it failed.
    pub errors: u64,
    /// While it fails: the datagrams it missed since it started to.
    failing: Option<u64>,
    /// This batch's datagrams skipped for it alone (too large for it), why, and where the
    /// sending went on from after the last of them.
    pub skipped: usize,
    pub skip_error: Option<io::Error>,
    pub resumed_at: usize,
}

impl Outgoing {
    pub fn new(address: SocketAddr) -> Outgoing {
        Outgoing {
            address,
            sent: 0,
            errors: 0,
            failing: None,
            skipped: 0,
            skip_error: None,
            resumed_at: 0,
        }
    }

    /// Records one batch: `sent` datagrams went, `missed` did not because of `error`, and
    /// whether the last send to it in this batch went (`works`). Returns the line for stderr
    /// when this starts or ends a failure episode: a recipient that fails batch after batch
    /// is reported once, not per datagram, and once more when it works again. A failure
    /// that a later send of the same batch got past (a datagram too large for it alone) is
    /// one line.
    pub fn record(
        &mut self,
        sent: usize,
        missed: usize,
        error: Option<&io::Error>,
        works: bool,
    ) -> Option<String> {
        self.sent += sent as u64;
        self.errors += missed as u64;
        let missed = missed as u64;
        match (self.failing, error, works) {
            (None, Some(e), false) => {
                self.failing = Some(missed);
                Some(format!(
                    "{}: {e}; sending to it is tried again with each batch",
                    self.address
                ))
            }
            (None, Some(e), true) => Some(format!(
                "{}: {e}; {} skipped",
                self.address,
                units::count(missed, "datagram")
            )),
            (Some(before), _, false) => {
                self.failing = Some(before + missed);
                None
            }
            (Some(before), _, true) => {
                self.failing = None;
                Some(format!(
                    "{}: sending works again, after {} missed",
                    self.address,
                    units::count(before + missed, "datagram")
                ))
            }
            (None, None, _) => None,
        }
    }
}

impl Relay<'_> {
    /// `stats: received 1200 (2400/s), dropped 0, relayed 1200, errors 0; sent A 1200, B 1200`
    pub(super) fn stats_line(&mut self) -> String {
        let c = &mut self.counters;
        let now = Instant::now();
        let (since, before) = c.mark.unwrap_or((c.first.unwrap_or(now), 0));
        c.mark = Some((now, c.received));
        let rate = units::per_second(c.received - before, now.saturating_duration_since(since));
        let sent: Vec<String> = self
            .outgoing
            .iter()
            .map(|o| format!("{} {}", o.address, o.sent))
            .collect();
        format!(
            "stats: received {} ({rate:.0}/s), dropped {}, relayed {}, errors {}; sent {}",
            c.received,
            c.dropped,
            c.relayed,
            self.outgoing.iter().map(|o| o.errors).sum::<u64>(),
            sent.join(", ")
        )
    }

    /// The final report, on stdout.
    pub(super) fn report(&self, end: End, offload: bool) {
        let c = &self.counters;
        match end {
            End::Count => say!("relayed the datagrams asked for"),
            End::Interrupted => say!("interrupted"),
        }
        let received = format!(
            "received {} ({})",
            units::count(c.received, "datagram"),
            units::bytes(c.bytes)
        );
        let span = c.span();
        if span.is_zero() {
            say!("{received}");
        } else {
            say!(
                "{received} in {:.3} s: {:.0} datagrams/s, {}",
                span.as_secs_f64(),
                units::per_second(c.received, span),
                units::bit_rate(c.bytes, span)
            );
        }
        let sent: u64 = self.outgoing.iter().map(|o| o.sent).sum();
        let errors: u64 = self.outgoing.iter().map(|o| o.errors).sum();
        let past = if c.past_count > 0 {
            format!(" ({} more after --count, not relayed)", c.past_count)
        } else {
            String::new()
        };
        say!(
            "dropped {} by --from, relayed {}{past}, sent {sent}, errors {errors}",
            c.dropped,
            c.relayed
        );
        for o in &self.outgoing {
            let state = if o.failing.is_some() { ", failing" } else { "" };
            say!(
                "  {}: sent {}, errors {}{state}",
                o.address,
                o.sent,
                o.errors
            );
        }
        let offload = if offload {
            format!(
                "receive offload on ({} in {})",
                units::count(c.received, "datagram"),
                units::count(c.buffers, "buffer")
            )
        } else {
            "receive offload off".to_string()
        };
        say!(
            "{}, {} ({:.3} per datagram sent), {offload}",
            units::count(self.input.syscall_count(), "receive syscall"),
            units::count(self.output.syscall_count(), "send syscall"),
            units::ratio(self.output.syscall_count(), sent),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_reported_once_per_episode() {
        let refused = io::Error::from(io::ErrorKind::PermissionDenied);
        let mut o = Outgoing::new("127.0.0.1:9".parse().unwrap());
        assert_eq!(o.record(10, 0, None, true), None);
        let start = o
            .record(3, 7, Some(&refused), false)
            .expect("the episode starts");
        assert_eq!(
            start,
            format!("127.0.0.1:9: {refused}; sending to it is tried again with each batch")
        );
        // Batch after batch of failure: nothing more to say.
        for _ in 0..5 {
            assert_eq!(o.record(0, 10, Some(&refused), false), None);
        }
        // A batch with nothing for it is no sign of recovery.
        assert_eq!(o.record(0, 0, None, false), None);
        let end = o.record(4, 0, None, true).expect("the episode ends");
        assert_eq!(
            end,
            "127.0.0.1:9: sending works again, after 57 datagrams missed"
        );
        assert_eq!(o.record(4, 0, None, true), None);
        assert!(
            o.record(0, 4, Some(&refused), false).is_some(),
            "a new episode"
        );
        // Failing still, then past the failure within one batch.
        let end = o
            .record(2, 1, Some(&refused), true)
            .expect("the episode ends");
        assert!(end.ends_with("after 5 datagrams missed"), "{end}");
        assert_eq!((o.sent, o.errors), (23, 62));
    }

    #[test]
    fn a_failure_got_past_within_a_batch_is_one_line() {
        // The OS's own error (its text differs from one OS to another).
        let too_long = io::Error::from_raw_os_error(crate::platform::EMSGSIZE);
        let mut o = Outgoing::new("127.0.0.1:9".parse().unwrap());
        let line = o.record(9, 1, Some(&too_long), true).expect("said");
        assert_eq!(line, format!("127.0.0.1:9: {too_long}; 1 datagram skipped"));
        assert_eq!(o.record(10, 0, None, true), None, "no episode to end");
        assert_eq!((o.sent, o.errors, o.failing), (19, 1, None));
    }
}
