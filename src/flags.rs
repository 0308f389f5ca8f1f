//! Flag sets passed to and returned by the OS: message flags and poll conditions.

use bitflags::bitflags;

use crate::sys::codes;

bitflags! {
    /// Flags for sending and receiving (`MSG_*`).
    ///
    /// The values are the platform's own, and any bit is kept as it is, so platform flags
    /// that have no name here pass through untouched:
    ///
    /// ```
    /// use mmsg::MsgFlags;
    /// # #[cfg(target_os = "linux")] {
    /// let confirm = MsgFlags::from_bits_retain(libc::MSG_CONFIRM);
    /// assert_eq!(confirm.bits(), libc::MSG_CONFIRM);
    /// # }
    /// assert!(MsgFlags::PEEK.contains(MsgFlags::from_bits_retain(MsgFlags::PEEK.bits())));
    /// ```
    ///
    /// Windows has no `MSG_DONTWAIT`: there `DONTWAIT` is a bit of mmsg's own, which mmsg
    /// honours (it never waits) and never hands to Winsock. `EOR` exists on Unix only.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct MsgFlags: i32 {
        /// Out-of-band data (`MSG_OOB`).
        const OOB = codes::MSG_OOB;
        /// Look at the data without taking it from the queue (`MSG_PEEK`).
        const PEEK = codes::MSG_PEEK;
        /// Send only to hosts on directly connected networks (`MSG_DONTROUTE`).
        const DONTROUTE = codes::MSG_DONTROUTE;
        /// On receive: the datagram was longer than the buffers and was cut (`MSG_TRUNC`).
        const TRUNC = codes::MSG_TRUNC;
        /// On receive: control data was cut for lack of space (`MSG_CTRUNC`).
        const CTRUNC = codes::MSG_CTRUNC;
        /// Do not block for this one call (`MSG_DONTWAIT`); mmsg's descriptors never block anyway.
        const DONTWAIT = codes::MSG_DONTWAIT;
        /// Terminates a record (`MSG_EOR`; Unix only).
        #[cfg(unix)]
        const EOR = codes::MSG_EOR;
        // Every other bit is a platform flag passed through as it is.
        const _ = !0;
    }
}

bitflags! {
    /// Readiness conditions of a socket, as `poll()` reports them (`POLL*`; on Windows
    /// `WSAPoll`'s, with `IN` and `OUT` its `POLLRDNORM` and `POLLWRNORM`, and `PRI` never
    /// reported: `WSAPoll` has no urgent-data condition).
    ///
    /// ```
    /// use mmsg::{Domain, IoCondition, SockAddr, Socket, Type};
    /// let b = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    /// b.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// b.send_to(&b.local_address()?, b"x", None)?; // to itself
    /// b.condition_wait(IoCondition::IN, None)?;
    /// let now = b.condition_check(IoCondition::IN | IoCondition::OUT);
    /// assert!(now.contains(IoCondition::IN | IoCondition::OUT));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct IoCondition: i16 {
        /// Data can be read (`POLLIN`).
        const IN = codes::POLLIN;
        /// Data can be written (`POLLOUT`).
        const OUT = codes::POLLOUT;
        /// Urgent data can be read (`POLLPRI`).
        const PRI = codes::POLLPRI;
        /// An error is pending (`POLLERR`; reported whether asked for or not).
        const ERR = codes::POLLERR;
        /// The peer hung up (`POLLHUP`; reported whether asked for or not).
        const HUP = codes::POLLHUP;
        /// The descriptor is not open (`POLLNVAL`; reported whether asked for or not).
        const NVAL = codes::POLLNVAL;
    }
}
