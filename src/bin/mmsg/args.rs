//! Checking what the user typed, with one-line errors.

use std::fmt::Display;
use std::net::{SocketAddr, ToSocketAddrs};

/// A failure to report: one line on stderr, exit status 2.
pub struct Fail(pub String);

impl<E: Display> From<E> for Fail {
    fn from(e: E) -> Fail {
        Fail(e.to_string())
    }
}

pub fn fail<T>(message: impl Display) -> Result<T, Fail> {
    Err(Fail(message.to_string()))
}

/// One address: `HOST:PORT` (a name is resolved, the first answer taken).
pub fn address(text: &str) -> Result<SocketAddr, Fail> {
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(address);
    }
    match text.to_socket_addrs().ok().and_then(|mut a| a.next()) {
        Some(address) => Ok(address),
        None => fail(format!(
            "cannot parse address '{text}' (expected HOST:PORT)"
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
        return fail(format!("destination {zero} has port 0"));
    }
    if list.iter().any(|a| a.is_ipv4() != list[0].is_ipv4()) {
        return fail("destinations mix IPv4 and IPv6");
    }
    Ok(list)
}

/// A datagram size: room for the header plus at least one byte, at most 65 507.
pub fn datagram_size(size: usize, header: usize) -> Result<usize, Fail> {
    if size > 65_507 {
        return fail(format!(
            "size {size} is above 65507, the largest UDP datagram"
        ));
    }
    if size <= header {
        return fail(format!(
            "size {size} leaves no room after the {header}-byte header"
        ));
    }
    Ok(size)
}
