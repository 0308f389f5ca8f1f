//! The cancellable's wake-up socket: a loopback UDP socket that `WSAPoll` sees readable
//! once signalled, until drained.
//!
//! Winsock polls sockets only (no pipes or events), so the wake-up is a datagram: a socket
//! bound to `127.0.0.1` and connected to a second one that sends it a byte. Each only
//! talks to the other, so nothing else can wake a wait.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::windows::io::AsRawSocket;

use super::RawSocket;

pub(crate) struct Wake {
    read: UdpSocket,
    write: UdpSocket,
}

impl Wake {
    pub(crate) fn new() -> io::Result<Wake> {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let (read, write) = (UdpSocket::bind(loopback)?, UdpSocket::bind(loopback)?);
        read.connect(write.local_addr()?)?;
        write.connect(read.local_addr()?)?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        Ok(Wake { read, write })
    }

    pub(crate) fn raw(&self) -> RawSocket {
        self.read.as_raw_socket()
    }

    /// Makes the socket readable. A full queue is readable already, so a failed send
    /// loses nothing.
    pub(crate) fn signal(&self) {
        let _ = self.write.send(&[1]);
    }

    /// Makes the socket not readable again.
    pub(crate) fn drain(&self) {
        let mut buf = [0u8; 8];
        while self.read.recv(&mut buf).is_ok() {}
    }
}
