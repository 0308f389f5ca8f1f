//! Flag sets passed to and returned by the OS: message flags and poll conditions.

use bitflags::bitflags;

bitflags! {
    /// Flags for sending and receiving (`MSG_*`).
    ///
    /// The values are the platform's own, and any bit is kept as it is, so platform flags
    /// that have no name here pass through untouched:
    ///
    /// ```
    /// use mmsg::MsgFlags;
    /// let confirm = MsgFlags::from_bits_retain(libc::MSG_CONFIRM);
    /// assert_eq!(confirm.bits(), libc::MSG_CONFIRM);
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct MsgFlags: i32 {
        /// Out-of-band data (`MSG_OOB`).
        const OOB = libc::MSG_OOB;
        /// Look at the data without taking it from the queue (`MSG_PEEK`).
        const PEEK = libc::MSG_PEEK;
        /// Send only to hosts on directly connected networks (`MSG_DONTROUTE`).
        const DONTROUTE = libc::MSG_DONTROUTE;
        /// On receive: the datagram was longer than the buffers and was cut (`MSG_TRUNC`).
        const TRUNC = libc::MSG_TRUNC;
        /// On receive: control data was cut for lack of space (`MSG_CTRUNC`).
        const CTRUNC = libc::MSG_CTRUNC;
        /// Do not block for this one call (`MSG_DONTWAIT`); mmsg's descriptors never block anyway.
        const DONTWAIT = libc::MSG_DONTWAIT;
        /// Terminates a record (`MSG_EOR`).
        const EOR = libc::MSG_EOR;
        // Every other bit is a platform flag passed through as it is.
        const _ = !0;
    }
}

bitflags! {
    /// Readiness conditions of a socket, as `poll()` reports them (`POLL*`).
    ///
    /// ```
    /// use mmsg::IoCondition;
    /// let (a, b) = mmsg::Socket::pair(mmsg::Domain::UNIX, mmsg::Type::DGRAM, None)?;
    /// a.send(b"x", None)?;
    /// let now = b.condition_check(IoCondition::IN | IoCondition::OUT);
    /// assert!(now.contains(IoCondition::IN | IoCondition::OUT));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct IoCondition: i16 {
        /// Data can be read (`POLLIN`).
        const IN = libc::POLLIN;
        /// Data can be written (`POLLOUT`).
        const OUT = libc::POLLOUT;
        /// Urgent data can be read (`POLLPRI`).
        const PRI = libc::POLLPRI;
        /// An error is pending (`POLLERR`; reported whether asked for or not).
        const ERR = libc::POLLERR;
        /// The peer hung up (`POLLHUP`; reported whether asked for or not).
        const HUP = libc::POLLHUP;
        /// The descriptor is not open (`POLLNVAL`; reported whether asked for or not).
        const NVAL = libc::POLLNVAL;
    }
}
