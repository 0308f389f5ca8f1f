//! Checking what the user typed, with one-line errors.

use std::fmt::Display;
use std::fs::{File, OpenOptions};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use crate::platform;

/// Exit status for bad input (as clap uses for usage errors).
pub const EXIT_BAD_INPUT: i32 = 2;
/// Exit status when the run failed (loss, an incomplete file, a socket error mid-run).
pub const EXIT_FAILED: i32 = 1;

/// A failure to report: one line on stderr, and the exit status.
#[derive(Debug)]
pub struct Fail {
    pub message: String,
    pub code: i32,
}

impl Fail {
    /// Bad input: exit status 2.
    pub fn input(message: impl Display) -> Fail {
        Fail {
            message: message.to_string(),
            code: EXIT_BAD_INPUT,
        }
    }

    /// A failure during the run: exit status 1.
    pub fn runtime(message: impl Display) -> Fail {
        Fail {
            message: message.to_string(),
            code: EXIT_FAILED,
        }
    }
}

/// Bad input.
pub fn fail<T>(message: impl Display) -> Result<T, Fail> {
    Err(Fail::input(message))
}

/// Turns any error into a [`Fail`] that says what was being done.
pub trait Context<T> {
    /// As bad input (setting up: binding, opening files).
    fn context(self, what: impl FnOnce() -> String) -> Result<T, Fail>;
    /// As a failure during the run.
    fn runtime_context(self, what: impl FnOnce() -> String) -> Result<T, Fail>;
}

impl<T, E: Display> Context<T> for Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, Fail> {
        self.map_err(|e| Fail::input(format!("{}: {e}", what())))
    }
    fn runtime_context(self, what: impl FnOnce() -> String) -> Result<T, Fail> {
        self.map_err(|e| Fail::runtime(format!("{}: {e}", what())))
    }
}

/// One address: `HOST:PORT` (a name is resolved, the first answer taken).
pub fn address(text: &str) -> Result<SocketAddr, Fail> {
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(address);
    }
    match text.to_socket_addrs().ok().and_then(|mut a| a.next()) {
        Some(address) => Ok(address),
        None => fail(format!(
            "cannot parse address '{text}' (expected HOST:PORT, e.g. 127.0.0.1:5004 or [::1]:5004)"
        )),
    }
}

/// `ADDR[,ADDR...]` of destinations: none may have port 0, all one family.
pub fn destinations(text: &str) -> Result<Vec<SocketAddr>, Fail> {
    let list = text
        .split(',')
        .map(|a| address(a.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(zero) = list.iter().find(|a| a.port() == 0) {
        return fail(format!(
            "destination {zero} has port 0 (a destination needs a real port)"
        ));
    }
    if list.iter().any(|a| a.is_ipv4() != list[0].is_ipv4()) {
        return fail("destinations mix IPv4 and IPv6; send to one family at a time");
    }
    Ok(list)
}

/// The largest UDP payload over IPv4.
pub const MAX_DATAGRAM: usize = 65_507;

/// A datagram size: room for the header plus at least one byte, at most 65 507.
pub fn datagram_size(size: usize, header: usize) -> Result<usize, Fail> {
    if size > MAX_DATAGRAM {
        return fail(format!(
            "size {size} is above {MAX_DATAGRAM}, the largest UDP datagram"
        ));
    }
    if size <= header {
        return fail(format!(
            "size {size} leaves no room for data after the {header}-byte header (use at least {})",
            header + 1
        ));
    }
    Ok(size)
}

/// A rate in datagrams per second: positive.
pub fn rate(rate: u64) -> Result<u64, Fail> {
    if rate == 0 {
        return fail("rate 0 would send nothing; leave --rate out to send as fast as possible");
    }
    Ok(rate)
}

/// A duration in seconds: finite, positive, at most a year.
pub fn seconds(name: &str, seconds: f64) -> Result<Duration, Fail> {
    if !(seconds > 0.0 && seconds <= 365.0 * 86_400.0) {
        return fail(format!(
            "{name} {seconds} is not a duration (give seconds above 0, e.g. 2.5)"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Opens `path` with `options` (`doing`: "read" or "write", for the error) if it is a
/// regular file, or does not exist yet and `options` create it. Anything else is refused
/// with one line, and never waited for: on Unix, opening a FIFO blocks until its other end
/// is opened, forever if nobody does, and no timeout of ours applies to open(). Windows has
/// no FIFOs, and opening a device or a named pipe there does not wait (CreateFile fails at
/// once when no pipe instance is free); a directory is refused as "not a regular file", a
/// device such as `NUL` or `CON` by this check or with the OS's own error.
pub fn regular_file(path: &Path, options: &mut OpenOptions, doing: &str) -> Result<File, Fail> {
    let refuse = || {
        fail(format!(
            "cannot {doing} {}: not a regular file",
            path.display()
        ))
    };
    // Looked at first, so that a device is not even opened (opening some has effects).
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return refuse();
    }
    // Should the path have become a FIFO since, this open does not wait for its other end.
    let file = platform::without_waiting(options)
        .open(path)
        .context(|| format!("cannot {doing} {}", path.display()))?;
    let metadata = file
        .metadata()
        .context(|| format!("cannot {doing} {}", path.display()))?;
    if !metadata.is_file() {
        return refuse();
    }
    Ok(file)
}

/// A size in bytes: digits, optionally followed by K, M, G or T (powers of 1024).
pub fn byte_size(name: &str, text: &str) -> Result<u64, Fail> {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit: u64 = match &text[digits.len()..] {
        "" => 1,
        "K" | "k" => 1 << 10,
        "M" | "m" => 1 << 20,
        "G" | "g" => 1 << 30,
        "T" | "t" => 1 << 40,
        _ => 0,
    };
    match digits.parse::<u64>().ok().and_then(|n| n.checked_mul(unit)) {
        Some(bytes) if unit > 0 => Ok(bytes),
        _ => fail(format!(
            "{name} '{text}' is not a size (give bytes, or a number with K, M, G or T, e.g. 64G)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_checked() {
        assert_eq!(
            destinations("127.0.0.1:1, 127.0.0.1:2").ok(),
            Some(vec![
                "127.0.0.1:1".parse().unwrap(),
                "127.0.0.1:2".parse().unwrap()
            ])
        );
        assert!(destinations("127.0.0.1:0").is_err());
        assert!(destinations("127.0.0.1:1,[::1]:2").is_err());
        assert!(destinations("nonsense").is_err());
        assert!(destinations("").is_err());
    }

    #[test]
    fn numbers_are_checked() {
        assert!(datagram_size(65_508, 36).is_err());
        assert!(datagram_size(36, 36).is_err());
        assert_eq!(datagram_size(65_507, 36).ok(), Some(65_507));
        assert!(rate(0).is_err());
        assert!(seconds("--timeout", f64::NAN).is_err());
        assert!(seconds("--timeout", -1.0).is_err());
        assert!(seconds("--timeout", f64::INFINITY).is_err());
        assert_eq!(
            seconds("--timeout", 0.5).ok(),
            Some(Duration::from_millis(500))
        );
    }

    #[test]
    fn sizes_are_checked() {
        let size = |text| byte_size("--max-file-size", text).ok();
        assert_eq!(size("1000"), Some(1000));
        assert_eq!(size("64G"), Some(64 << 30));
        assert_eq!(size("3k"), Some(3 << 10));
        assert_eq!(size("16T"), Some(16 << 40));
        assert_eq!(size("17179869184T"), None); // 2^64
        assert_eq!(size("64GB"), None);
        assert_eq!(size("G"), None);
        assert_eq!(size("-1"), None);
        assert_eq!(size(""), None);
    }
}
