//! Human-readable sizes, rates and durations for reports.

use std::time::Duration;

/// `1234567` → `1.23 MB` (decimal units, as network rates are counted).
pub fn bytes(n: u64) -> String {
    let n = n as f64;
    match n {
        n if n >= 1e9 => format!("{:.2} GB", n / 1e9),
        n if n >= 1e6 => format!("{:.2} MB", n / 1e6),
        n if n >= 1e3 => format!("{:.1} kB", n / 1e3),
        n => format!("{n} B"),
    }
}

/// `1 datagram`, `2 datagrams`.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `count` per second over `elapsed`, or 0 when no time passed.
pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

/// Bits per second as `12.3 Mbit/s`.
pub fn bit_rate(bytes: u64, elapsed: Duration) -> String {
    let bits = per_second(bytes, elapsed) * 8.0;
    match bits {
        b if b >= 1e9 => format!("{:.2} Gbit/s", b / 1e9),
        b if b >= 1e6 => format!("{:.1} Mbit/s", b / 1e6),
        b => format!("{:.1} kbit/s", b / 1e3),
    }
}

/// `a / b` as a ratio, or 0 when `b` is 0.
pub fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable() {
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_500), "1.5 kB");
        assert_eq!(bytes(2_345_678), "2.35 MB");
        assert_eq!(bit_rate(1_000_000, Duration::from_secs(1)), "8.0 Mbit/s");
        assert_eq!(per_second(10, Duration::ZERO), 0.0);
        assert_eq!(ratio(1, 4), 0.25);
        assert_eq!(count(1, "datagram"), "1 datagram");
        assert_eq!(count(0, "datagram"), "0 datagrams");
    }
}
