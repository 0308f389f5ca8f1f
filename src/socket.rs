//! `Socket`: an OS socket whose descriptor never blocks, with GSocket's blocking emulation.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
#[cfg(unix)]
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
#[cfg(windows)]
use std::os::windows::io::{AsRawSocket, AsSocket, BorrowedSocket, RawSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Type};

use crate::cancellable::Cancellable;
use crate::condition;
use crate::control::ControlMessage;
use crate::error::KeptError;
use crate::flags::{IoCondition, MsgFlags};
use crate::message::{InputMessage, OutputMessage};
use crate::receive_batch::ReceiveBatch;
use crate::recv::RecvIo;
use crate::send::{SendIo, Wait};
use crate::{gro, gso, recv, send, sys};

const NO_TIMEOUT: u64 = u64::MAX;

/// A datagram socket that sends and receives many messages per system call.
///
/// The descriptor is always non-blocking; "blocking" mode (the default, as in GLib) means that
/// calls wait with `poll()` (`WSAPoll()` on Windows) on the socket and on the
/// [`Cancellable`]'s wake-up descriptor, each wait bounded by the socket
/// [`timeout`](Self::timeout).
///
/// ```
/// use std::io::IoSlice;
/// use mmsg::{Domain, MsgFlags, OutputMessage, SockAddr, Socket, Type};
///
/// let receiver = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
/// receiver.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
/// let to = receiver.local_address()?;
///
/// let sender = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
/// let (a, b) = ([IoSlice::new(b"hdr:"), IoSlice::new(b"one")], [IoSlice::new(b"two")]);
/// let mut messages = [OutputMessage::new(Some(&to), &a), OutputMessage::new(Some(&to), &b)];
/// assert_eq!(sender.send_messages(&mut messages, MsgFlags::empty(), None)?, 2);
/// assert_eq!(messages[0].bytes_sent, 7);
///
/// let mut buf = [0u8; 16];
/// let n = receiver.receive(&mut buf, None)?;
/// assert_eq!(&buf[..n], b"hdr:one");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Socket {
    inner: socket2::Socket,
    /// The address family (`AF_*`) addresses are checked against.
    family: i32,
    blocking: AtomicBool,
    /// Nanoseconds, or `NO_TIMEOUT`.
    timeout: AtomicU64,
    portable: AtomicBool,
    gso: gso::State,
    send_scratch: Mutex<sys::SendScratch>,
    recv_scratch: Mutex<sys::RecvScratch>,
    /// The socket's pending error met after some datagrams were already received, returned
    /// by the next receive.
    kept_receive_error: KeptError,
    /// The socket's pending error met after some messages went, returned by the next send.
    kept_send_error: KeptError,
    /// Send and receive system calls made, for `syscall_count`.
    syscalls: AtomicU64,
    /// Whether receive offload is on.
    receive_offload: AtomicBool,
    /// mmsg's buffers for receive offload under `receive_messages`.
    gro: gro::Gro,
}

impl Socket {
    /// Creates a socket (close-on-exec, non-blocking descriptor, blocking mode). An IPv6
    /// socket is made dual-stack, as GLib makes it (Windows' default is IPv6 only): it
    /// sends to and receives from IPv4 peers too, as IPv4-mapped addresses.
    ///
    /// ```
    /// let socket = mmsg::Socket::new(mmsg::Domain::IPV6, mmsg::Type::DGRAM, None)?;
    /// assert!(socket.is_blocking());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(domain: Domain, ty: Type, protocol: Option<Protocol>) -> io::Result<Socket> {
        let inner = socket2::Socket::new(domain, ty, protocol)?;
        if domain == Domain::IPV6 {
            // Best effort, as in GLib: some systems have no dual stack.
            let _ = inner.set_only_v6(false);
        }
        Self::wrap(inner)
    }

    /// A connected pair of sockets, e.g. `Socket::pair(Domain::UNIX, Type::DGRAM, None)`
    /// (Unix only: `socketpair`).
    ///
    /// A Unix datagram pair is the way to see a queue fill up: unlike UDP on loopback, whose
    /// excess is dropped, a full Unix peer makes the sender wait.
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// let (a, b) = mmsg::Socket::pair(mmsg::Domain::UNIX, mmsg::Type::DGRAM, None)?;
    /// a.send(b"hi", None)?;
    /// let mut buf = [0u8; 4];
    /// assert_eq!(b.receive(&mut buf, None)?, 2);
    /// # }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[cfg(unix)]
    pub fn pair(
        domain: Domain,
        ty: Type,
        protocol: Option<Protocol>,
    ) -> io::Result<(Socket, Socket)> {
        let (a, b) = socket2::Socket::pair(domain, ty, protocol)?;
        Ok((Self::wrap(a)?, Self::wrap(b)?))
    }

    fn wrap(inner: socket2::Socket) -> io::Result<Socket> {
        inner.set_nonblocking(true)?;
        let family = sys::socket_family(&inner)?;
        Ok(Self::assemble(inner, family))
    }

    /// `inner` must already be non-blocking.
    fn assemble(inner: socket2::Socket, family: i32) -> Socket {
        sys::hear_unreachable_when_connected(&inner, family);
        let gso = gso::State::new(&inner, family);
        Socket {
            inner,
            family,
            blocking: AtomicBool::new(true),
            timeout: AtomicU64::new(NO_TIMEOUT),
            portable: AtomicBool::new(cfg!(feature = "portable") || !sys::HAS_SENDMMSG),
            gso,
            send_scratch: Mutex::default(),
            recv_scratch: Mutex::default(),
            kept_receive_error: KeptError::default(),
            kept_send_error: KeptError::default(),
            syscalls: AtomicU64::new(0),
            receive_offload: AtomicBool::new(false),
            gro: gro::Gro::default(),
        }
    }

    /// Binds to `address`.
    ///
    /// ```
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// s.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// assert_ne!(s.local_address()?.as_socket().unwrap().port(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind(&self, address: &SockAddr) -> io::Result<()> {
        self.inner.bind(address)
    }

    /// Connects to `address`: datagram sockets then send with no address and receive only
    /// from there. A stream connection in progress is waited for (blocking mode), bounded by
    /// the timeout and `cancellable`.
    ///
    /// ```
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// let peer = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// peer.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// s.connect(&peer.local_address()?, None)?;
    /// assert_eq!(s.remote_address()?, peer.local_address()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect(&self, address: &SockAddr, cancellable: Option<&Cancellable>) -> io::Result<()> {
        if let Some(c) = cancellable {
            c.check()?;
        }
        match self.inner.connect(address) {
            Ok(()) => {
                sys::hear_unreachable_when_connected(&self.inner, self.family);
                Ok(())
            }
            Err(e) if sys::connect_in_progress(&e) && self.is_blocking() => {
                self.wait(IoCondition::OUT, cancellable)?;
                match self.inner.take_error()? {
                    Some(e) => Err(e),
                    None => Ok(()),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The address the socket is bound to.
    ///
    /// ```
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// s.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// assert!(s.local_address()?.is_ipv4());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_address(&self) -> io::Result<SockAddr> {
        self.inner.local_addr()
    }

    /// The address of the connected peer.
    ///
    /// ```
    /// let a = mmsg::Socket::new(mmsg::Domain::IPV6, mmsg::Type::DGRAM, None)?;
    /// let to: std::net::SocketAddr = "[::1]:53".parse().unwrap();
    /// a.connect(&to.into(), None)?; // UDP: nothing is sent
    /// assert_eq!(a.remote_address()?.as_socket(), Some(to));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn remote_address(&self) -> io::Result<SockAddr> {
        self.inner.peer_addr()
    }

    /// Chooses whether calls wait (`true`, the default) or return `WouldBlock` at once.
    ///
    /// ```
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// s.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// s.set_blocking(false);
    /// let mut buf = [0u8; 8];
    /// let err = s.receive(&mut buf, None).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_blocking(&self, blocking: bool) {
        self.blocking.store(blocking, Ordering::Relaxed);
    }

    /// Whether calls wait for readiness.
    ///
    /// ```
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// assert!(s.is_blocking());
    /// s.set_blocking(false);
    /// assert!(!s.is_blocking());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_blocking(&self) -> bool {
        self.blocking.load(Ordering::Relaxed)
    }

    /// Bounds each wait of a blocking call (`None`, the default: wait forever). Like GLib's,
    /// the timeout is of inactivity: it starts again at every wait, so a batch that keeps
    /// making progress is not cut short. A wait that runs out fails with `TimedOut`, or, when
    /// messages were already sent, ends the call with their count.
    ///
    /// ```
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// s.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// s.set_timeout(Some(std::time::Duration::from_millis(10)));
    /// let mut buf = [0u8; 8];
    /// let err = s.receive(&mut buf, None).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_timeout(&self, timeout: Option<Duration>) {
        let nanos = timeout.map_or(NO_TIMEOUT, |t| {
            u64::try_from(t.as_nanos())
                .unwrap_or(NO_TIMEOUT - 1)
                .min(NO_TIMEOUT - 1)
        });
        self.timeout.store(nanos, Ordering::Relaxed);
    }

    /// The socket timeout.
    ///
    /// ```
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// assert_eq!(s.timeout(), None);
    /// s.set_timeout(Some(std::time::Duration::from_secs(1)));
    /// assert_eq!(s.timeout(), Some(std::time::Duration::from_secs(1)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn timeout(&self) -> Option<Duration> {
        match self.timeout.load(Ordering::Relaxed) {
            NO_TIMEOUT => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    /// Turns automatic UDP segmentation offload on or off (on by default where the kernel
    /// supports it). It changes how many system calls a batch takes, never what is received.
    ///
    /// With offload on, each run of consecutive messages to one destination, with no control
    /// messages and of one size (the last may be shorter), goes to the kernel as one
    /// `UDP_SEGMENT` send gathered from the messages' own vectors. Where those vectors lie
    /// back to back in memory (packets written one after another into one buffer), the run
    /// is handed over as one vector, which spares the kernel a walk over many.
    ///
    /// ```
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// s.set_segmentation_offload(false);
    /// assert!(!s.segmentation_offload());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_segmentation_offload(&self, enabled: bool) {
        self.gso.set_enabled(enabled);
    }

    /// Whether batches are sent with UDP segmentation offload: asked for, and neither
    /// unknown to the kernel nor paused after the kernel refused a segmented send (the
    /// pause lasts some sends, then segmenting is tried again).
    ///
    /// ```
    /// let tcp = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::STREAM, None)?;
    /// assert!(!tcp.segmentation_offload()); // UDP only
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn segmentation_offload(&self) -> bool {
        self.gso.segmenting()
    }

    /// Turns UDP generic receive offload (`UDP_GRO`, Linux) on or off; off by default.
    ///
    /// With it on, the kernel may hand several datagrams from one sender over as one buffer
    /// (on loopback, a segmented send arrives whole). [`receive_batch`](Self::receive_batch)
    /// hands such a buffer out as it is, its datagrams walked in place: the fast path.
    /// [`receive_messages`](Self::receive_messages) keeps GLib's meaning, one datagram per
    /// message: it receives into mmsg's own buffers and copies each datagram out, keeping
    /// those that do not fit the messages given for the next call; the caller sees exactly
    /// what it would without offload. Turning offload off delivers what was kept first.
    /// Fails on sockets that are not UDP or where the kernel lacks it; turning it on fails
    /// with `Unsupported` on other systems than Linux and Android (Windows' URO is not
    /// used), while turning it off succeeds everywhere.
    ///
    /// ```
    /// let socket = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// if cfg!(target_os = "linux") {
    ///     socket.set_receive_offload(true)?;
    ///     assert!(socket.receive_offload());
    /// } else {
    ///     let err = socket.set_receive_offload(true).unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
    ///     assert!(!socket.receive_offload());
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_receive_offload(&self, enabled: bool) -> io::Result<()> {
        if !enabled && self.receive_offload() {
            // What the kernel coalesced so far is received first, so nothing is merged.
            let set = |on| sys::set_udp_gro(&self.inner, on);
            gro::switch_off(&self.recv_io(Wait::Never), set)?;
        } else {
            sys::set_udp_gro(&self.inner, enabled)?;
        }
        self.receive_offload.store(enabled, Ordering::Relaxed);
        Ok(())
    }

    /// Whether receive offload is on.
    ///
    /// ```
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// assert!(!s.receive_offload());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn receive_offload(&self) -> bool {
        self.receive_offload.load(Ordering::Relaxed)
    }

    /// Asks for a receive buffer (the kernel's queue of datagrams waiting to be received)
    /// of `size` bytes, and returns the size granted. Where the process may (Linux, as root
    /// or with `CAP_NET_ADMIN`) the system's limit (`net.core.rmem_max`) is passed;
    /// elsewhere the request is cut to it. Receivers of bursts (a segmented sender's, a
    /// fan-out's) lose nothing while the queue holds them.
    ///
    /// ```
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// let granted = s.set_receive_buffer_size(4 << 20)?;
    /// assert!(granted > 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_receive_buffer_size(&self, size: usize) -> io::Result<usize> {
        sys::set_receive_buffer(&self.inner, size)?;
        self.inner.recv_buffer_size()
    }

    /// Sends with a loop of `sendmsg` (and receives with `recvmsg`) instead of
    /// `sendmmsg`/`recvmmsg`: the portable path, same behaviour, one call per datagram.
    /// Where the batch calls do not exist this is always on (on Windows a segmented run
    /// still goes as one call, where the stack has segmentation offload). The `portable`
    /// cargo feature makes it the default.
    ///
    /// ```
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// s.set_portable_path(true);
    /// assert!(s.portable_path());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_portable_path(&self, portable: bool) {
        self.portable
            .store(portable || !sys::HAS_SENDMMSG, Ordering::Relaxed);
    }

    /// Whether the portable one-call-per-datagram path is used.
    ///
    /// ```
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// assert_eq!(s.portable_path(), cfg!(feature = "portable") || cfg!(windows));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn portable_path(&self) -> bool {
        self.portable.load(Ordering::Relaxed)
    }

    /// How many send and receive system calls (`sendmsg`, `sendmmsg`, `recvmsg`,
    /// `recvmmsg`, failed ones included) this socket has made; waits are not counted.
    /// Divide by datagrams to see what batching and segmentation offload save.
    ///
    /// ```
    /// use std::io::IoSlice;
    /// use mmsg::{Domain, MsgFlags, OutputMessage, SockAddr, Socket, Type};
    ///
    /// let a = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    /// a.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// a.connect(&a.local_address()?, None)?; // to itself
    /// a.set_segmentation_offload(false); // count what batching alone saves
    /// let v = [IoSlice::new(b"x")];
    /// let mut batch = [OutputMessage::new(None, &v); 10];
    /// a.send_messages(&mut batch, MsgFlags::empty(), None)?;
    /// assert_eq!(a.syscall_count(), if a.portable_path() { 10 } else { 1 });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn syscall_count(&self) -> u64 {
        self.syscalls.load(Ordering::Relaxed)
    }

    /// The underlying socket2 socket, for options mmsg does not wrap.
    ///
    /// ```
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// s.as_socket2().set_send_buffer_size(1 << 20)?;
    /// assert!(s.as_socket2().send_buffer_size()? >= 1 << 20);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn as_socket2(&self) -> &socket2::Socket {
        &self.inner
    }

    /// Sends `messages`, each to its own address, as few system calls as it takes.
    ///
    /// Returns how many messages were sent, counted from the front, and writes `bytes_sent`
    /// of each of them (the others are left as they were):
    /// - blocking socket: waits until all are sent; returns early only on timeout,
    ///   cancellation or error, with the count so far;
    /// - non-blocking socket: sends what fits; `WouldBlock` only when none did;
    /// - an error is returned only when no message was sent; otherwise the count, and the
    ///   error comes again with the next call, which starts at the failing message.
    ///
    /// Before anything is sent every message is checked: an address of the wrong family, or
    /// more vectors than one OS call takes, fails the call with `InvalidInput` naming the
    /// message. An IPv4 address on an IPv6 socket goes out as its IPv4-mapped form. `flags`
    /// go to the OS as they are (with `MSG_NOSIGNAL`); [`MsgFlags::DONTWAIT`] makes this one
    /// call non-blocking. Batches larger than the OS takes at once are split transparently.
    ///
    /// Errors met after some messages went: the socket's pending error (an ICMP-driven
    /// `ECONNREFUSED` on a connected socket, which the kernel reports once) is kept and
    /// returned by the next call; a message's own error (`EMSGSIZE`, `EINVAL`, ...) is not
    /// kept, as it comes again when that message is sent again. On the `sendmmsg` path a
    /// pending error that lands in the middle of a batch is lost: Linux's `sendmmsg`
    /// returns the count sent before the failing message and discards the error, so mmsg
    /// carries on from that message (as GLib does); the portable path returns the count and
    /// keeps the error for the next call.
    ///
    /// ```
    /// use std::io::IoSlice;
    /// use mmsg::{Domain, MsgFlags, OutputMessage, SockAddr, Socket, Type};
    ///
    /// let udp = || Socket::new(Domain::IPV4, Type::DGRAM, None);
    /// let (a, b) = (udp()?, udp()?);
    /// b.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// a.connect(&b.local_address()?, None)?; // UDP connect sends nothing
    /// let digits = b"0123456789";
    /// let v0 = [IoSlice::new(&digits[..3])];
    /// let v1 = [IoSlice::new(&digits[3..5]), IoSlice::new(&digits[5..])];
    /// let mut batch = [OutputMessage::new(None, &v0), OutputMessage::new(None, &v1)];
    /// assert_eq!(a.send_messages(&mut batch, MsgFlags::empty(), None)?, 2);
    /// assert_eq!((batch[0].bytes_sent, batch[1].bytes_sent), (3, 7));
    ///
    /// let mut buf = [0u8; 16];
    /// assert_eq!(b.receive(&mut buf, None)?, 3);
    /// assert_eq!(&buf[..3], b"012");
    /// assert_eq!(b.receive(&mut buf, None)?, 7);
    /// assert_eq!(&buf[..7], b"3456789");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_messages(
        &self,
        messages: &mut [OutputMessage<'_>],
        flags: MsgFlags,
        cancellable: Option<&Cancellable>,
    ) -> io::Result<usize> {
        send::send_batch(
            &self.send_io(self.wait_for(flags)),
            messages,
            flags,
            cancellable,
        )
    }

    /// Sends one datagram to the connected peer; returns the bytes sent.
    ///
    /// ```
    /// use mmsg::{Domain, SockAddr, Socket, Type};
    /// let udp = || Socket::new(Domain::IPV4, Type::DGRAM, None);
    /// let (a, b) = (udp()?, udp()?);
    /// b.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// a.connect(&b.local_address()?, None)?;
    /// assert_eq!(a.send(b"ping", None)?, 4);
    /// let mut buf = [0u8; 8];
    /// assert_eq!(b.receive(&mut buf, None)?, 4);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send(&self, buffer: &[u8], cancellable: Option<&Cancellable>) -> io::Result<usize> {
        self.send_message(
            None,
            &[IoSlice::new(buffer)],
            &[],
            MsgFlags::empty(),
            cancellable,
        )
    }

    /// Sends one datagram to `address`; returns the bytes sent.
    ///
    /// ```
    /// let r = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// r.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// assert_eq!(s.send_to(&r.local_address()?, b"hello", None)?, 5);
    /// let mut buf = [0u8; 8];
    /// assert_eq!(r.receive(&mut buf, None)?, 5);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_to(
        &self,
        address: &SockAddr,
        buffer: &[u8],
        cancellable: Option<&Cancellable>,
    ) -> io::Result<usize> {
        self.send_message(
            Some(address),
            &[IoSlice::new(buffer)],
            &[],
            MsgFlags::empty(),
            cancellable,
        )
    }

    /// Sends one datagram gathered from `vectors`, with control messages; returns the bytes
    /// sent.
    ///
    /// ```
    /// use std::io::IoSlice;
    /// use mmsg::{Domain, MsgFlags, SockAddr, Socket, Type};
    ///
    /// let udp = || Socket::new(Domain::IPV4, Type::DGRAM, None);
    /// let (a, b) = (udp()?, udp()?);
    /// b.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// a.connect(&b.local_address()?, None)?;
    /// let text = b"0123456789abcdefghijklmnopqrstuvwxyz";
    /// let (mut parts, mut at) = (Vec::new(), 0);
    /// for len in [3, 5, 0, 6, 2, 1, 19] {
    ///     parts.push(IoSlice::new(&text[at..at + len]));
    ///     at += len;
    /// }
    /// assert_eq!(a.send_message(None, &parts, &[], MsgFlags::empty(), None)?, 36);
    /// let mut buf = [0u8; 64];
    /// let n = b.receive(&mut buf, None)?;
    /// assert_eq!(&buf[..n], &text[..]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_message(
        &self,
        address: Option<&SockAddr>,
        vectors: &[IoSlice<'_>],
        control_messages: &[ControlMessage<'_>],
        flags: MsgFlags,
        cancellable: Option<&Cancellable>,
    ) -> io::Result<usize> {
        let mut message = [OutputMessage {
            address,
            vectors,
            bytes_sent: 0,
            control_messages,
        }];
        self.send_messages(&mut message, flags, cancellable)?;
        Ok(message[0].bytes_sent)
    }

    /// Receives one datagram into `buffer`; returns its length (cut to the buffer).
    ///
    /// ```
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// s.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// s.send_to(&s.local_address()?, b"data", None)?; // to itself
    /// let mut buf = [0u8; 2];
    /// assert_eq!(s.receive(&mut buf, None)?, 2); // cut to the buffer
    /// assert_eq!(&buf, b"da");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn receive(
        &self,
        buffer: &mut [u8],
        cancellable: Option<&Cancellable>,
    ) -> io::Result<usize> {
        self.receive_from(buffer, cancellable).map(|(n, _)| n)
    }

    /// Receives one datagram into `buffer`; returns its length and the sender. A sender with
    /// no address (an unnamed Unix socket) is given as an unnamed Unix address.
    ///
    /// ```
    /// let r = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// r.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// s.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// s.send_to(&r.local_address()?, b"x", None)?;
    /// let mut buf = [0u8; 8];
    /// let (n, from) = r.receive_from(&mut buf, None)?;
    /// assert_eq!((n, from), (1, s.local_address()?));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn receive_from(
        &self,
        buffer: &mut [u8],
        cancellable: Option<&Cancellable>,
    ) -> io::Result<(usize, SockAddr)> {
        let mut vectors = [IoSliceMut::new(buffer)];
        let mut message = [InputMessage::new(&mut vectors)];
        self.receive_messages(&mut message, MsgFlags::empty(), cancellable)?;
        let [InputMessage {
            address,
            bytes_received,
            ..
        }] = message;
        Ok((bytes_received, crate::message::sender_or_unnamed(address)?))
    }

    /// Receives up to `messages.len()` datagrams, filling messages from the front; returns
    /// how many were filled and writes their `bytes_received`, `address`, `flags` (with
    /// `TRUNC` where a datagram did not fit) and control messages.
    ///
    /// A blocking socket waits for the first datagram (bounded by the timeout and
    /// `cancellable`), then takes whatever else is already queued without waiting again.
    /// A non-blocking socket takes what is queued, or fails with `WouldBlock`.
    ///
    /// ```
    /// use std::io::IoSliceMut;
    /// use mmsg::{Domain, InputMessage, MsgFlags, SockAddr, Socket, Type};
    ///
    /// let udp = || Socket::new(Domain::IPV4, Type::DGRAM, None);
    /// let (a, b) = (udp()?, udp()?);
    /// b.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// a.connect(&b.local_address()?, None)?;
    /// a.send(b"first", None)?;
    /// a.send(b"second", None)?;
    /// let (mut x, mut y, mut z) = ([0u8; 8], [0u8; 8], [0u8; 8]);
    /// let mut vx = [IoSliceMut::new(&mut x)];
    /// let mut vy = [IoSliceMut::new(&mut y)];
    /// let mut vz = [IoSliceMut::new(&mut z)];
    /// let mut messages = [
    ///     InputMessage::new(&mut vx),
    ///     InputMessage::new(&mut vy),
    ///     InputMessage::new(&mut vz),
    /// ];
    /// // Each call returns what is queued without waiting for a third: both at once, or
    /// // the second in another call where it was still on its way.
    /// let mut got = 0;
    /// while got < 2 {
    ///     got += b.receive_messages(&mut messages[got..], MsgFlags::empty(), None)?;
    /// }
    /// assert_eq!(messages[1].bytes_received, 6);
    /// # drop(messages);
    /// assert_eq!(&y[..6], b"second");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn receive_messages(
        &self,
        messages: &mut [InputMessage<'_, '_>],
        flags: MsgFlags,
        cancellable: Option<&Cancellable>,
    ) -> io::Result<usize> {
        recv::receive_messages(
            &self.recv_io(self.wait_for(flags)),
            messages,
            flags,
            cancellable,
        )
    }

    /// Receives into `batch`'s buffers, filling them from the front, and returns how many
    /// were filled; their datagrams are then read in place (see [`ReceiveBatch`]). Each
    /// buffer gets one datagram, or with receive offload on, several of one sender
    /// coalesced by the kernel: nothing is copied either way, and nothing is allocated.
    ///
    /// Waits as [`receive_messages`](Self::receive_messages) does: a blocking socket for
    /// the first datagram, then takes what else is queued. Datagrams `receive_messages`
    /// kept from a coalesced buffer come first, one a buffer.
    ///
    /// ```
    /// use mmsg::{Domain, MsgFlags, ReceiveBatch, SockAddr, Socket, Type};
    ///
    /// let udp = || Socket::new(Domain::IPV4, Type::DGRAM, None);
    /// let (a, b) = (udp()?, udp()?);
    /// b.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// a.connect(&b.local_address()?, None)?;
    /// a.send(b"first", None)?;
    /// a.send(b"second", None)?;
    /// let mut batch = ReceiveBatch::new(8, 1500);
    /// let mut expected = [&b"first"[..], b"second"].into_iter();
    /// while expected.len() > 0 {
    ///     // Both in one call, or the second in another where it was still on its way.
    ///     assert!(b.receive_batch(&mut batch, MsgFlags::empty(), None)? >= 1);
    ///     for (_, datagram) in batch.datagrams() {
    ///         assert_eq!(Some(datagram), expected.next()); // read in place
    ///     }
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn receive_batch(
        &self,
        batch: &mut ReceiveBatch,
        flags: MsgFlags,
        cancellable: Option<&Cancellable>,
    ) -> io::Result<usize> {
        recv::receive_batch(
            &self.recv_io(self.wait_for(flags)),
            batch,
            flags,
            cancellable,
        )
    }

    /// The conditions among `condition` (plus `ERR`, `HUP`, `NVAL`) that hold now.
    ///
    /// ```
    /// use mmsg::IoCondition;
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// s.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// // Nothing to read yet; room to write.
    /// assert_eq!(s.condition_check(IoCondition::IN | IoCondition::OUT), IoCondition::OUT);
    /// s.send_to(&s.local_address()?, b"x", None)?; // to itself
    /// s.condition_wait(IoCondition::IN, None)?; // until it is queued
    /// assert!(s.condition_check(IoCondition::IN).contains(IoCondition::IN));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn condition_check(&self, condition: IoCondition) -> IoCondition {
        condition::check(self.raw(), condition)
    }

    /// Waits until `condition` holds, bounded by the socket timeout and `cancellable`.
    ///
    /// ```
    /// use mmsg::IoCondition;
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// s.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// s.send_to(&s.local_address()?, b"x", None)?; // to itself
    /// s.condition_wait(IoCondition::IN, None)?; // returns once the datagram is queued
    /// s.set_blocking(false);
    /// assert_eq!(s.receive(&mut [0u8; 4], None)?, 1); // there: no WouldBlock
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn condition_wait(
        &self,
        condition: IoCondition,
        cancellable: Option<&Cancellable>,
    ) -> io::Result<()> {
        self.condition_timed_wait(condition, self.timeout(), cancellable)
    }

    /// Waits until `condition` holds, for at most `timeout` (`None`: no limit; the socket
    /// timeout does not apply), or until `cancellable` is cancelled.
    ///
    /// ```
    /// use mmsg::IoCondition;
    /// use std::time::Duration;
    /// let s = mmsg::Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
    /// s.bind(&mmsg::SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
    /// let err = s.condition_timed_wait(IoCondition::IN, Some(Duration::from_millis(5)), None);
    /// assert_eq!(err.unwrap_err().kind(), std::io::ErrorKind::TimedOut); // nothing came
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn condition_timed_wait(
        &self,
        condition: IoCondition,
        timeout: Option<Duration>,
        cancellable: Option<&Cancellable>,
    ) -> io::Result<()> {
        condition::wait(self.raw(), condition, timeout, cancellable).map(drop)
    }

    // ---- what the engines are handed ----

    /// The OS's handle of the socket.
    fn raw(&self) -> sys::RawSocket {
        sys::raw_socket(&self.inner)
    }

    /// How a call with `flags` waits: not at all in non-blocking mode or with
    /// `MsgFlags::DONTWAIT`, else for readiness bounded by the socket timeout.
    pub(crate) fn wait_for(&self, flags: MsgFlags) -> Wait {
        if !self.is_blocking() || flags.contains(MsgFlags::DONTWAIT) {
            Wait::Never
        } else {
            Wait::Idle(self.timeout())
        }
    }

    /// What the send engine needs, waiting as `wait` says.
    pub(crate) fn send_io(&self, wait: Wait) -> SendIo<'_> {
        SendIo {
            fd: self.raw(),
            family: self.family,
            wait,
            portable: self.portable_path(),
            gso: &self.gso,
            scratch: &self.send_scratch,
            kept: &self.kept_send_error,
            syscalls: &self.syscalls,
        }
    }

    /// What the receive engine needs, waiting as `wait` says.
    pub(crate) fn recv_io(&self, wait: Wait) -> RecvIo<'_> {
        RecvIo {
            fd: self.raw(),
            wait,
            portable: self.portable_path(),
            offload: self.receive_offload(),
            scratch: &self.recv_scratch,
            gro: &self.gro,
            kept: &self.kept_receive_error,
            syscalls: &self.syscalls,
        }
    }

    /// A second handle to the same socket (tokio's registration on Windows owns one).
    #[cfg(all(windows, feature = "tokio"))]
    pub(crate) fn duplicate(&self) -> io::Result<socket2::Socket> {
        self.inner.try_clone()
    }

    /// Keeps `err` for the next send, if it is the socket's pending error (see `KeptError`).
    #[cfg(feature = "tokio")]
    pub(crate) fn keep_send_error(&self, err: io::Error) {
        self.kept_send_error.keep(err);
    }

    /// One blocking-mode wait for `condition`, bounded by the socket timeout.
    fn wait(&self, condition: IoCondition, cancellable: Option<&Cancellable>) -> io::Result<()> {
        condition::wait(self.raw(), condition, self.timeout(), cancellable).map(drop)
    }
}

#[cfg(unix)]
impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

#[cfg(unix)]
impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

#[cfg(windows)]
impl AsSocket for Socket {
    fn as_socket(&self) -> BorrowedSocket<'_> {
        self.inner.as_socket()
    }
}

#[cfg(windows)]
impl AsRawSocket for Socket {
    fn as_raw_socket(&self) -> RawSocket {
        self.inner.as_raw_socket()
    }
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("socket", &self.raw())
            .field("family", &self.family)
            .field("blocking", &self.is_blocking())
            .field("timeout", &self.timeout())
            .finish()
    }
}

/// Wraps an existing socket. Its descriptor is switched to non-blocking (mmsg emulates
/// blocking mode itself); the `Socket` starts in blocking mode.
///
/// The conversions cannot fail for a valid open socket; for a descriptor the OS rejects
/// (not a socket), later calls return the OS's error.
impl From<socket2::Socket> for Socket {
    fn from(inner: socket2::Socket) -> Socket {
        let _ = inner.set_nonblocking(true);
        let family = sys::socket_family(&inner).unwrap_or(sys::codes::AF_UNSPEC);
        Socket::assemble(inner, family)
    }
}

impl From<std::net::UdpSocket> for Socket {
    fn from(socket: std::net::UdpSocket) -> Socket {
        Socket::from(socket2::Socket::from(socket))
    }
}

#[cfg(unix)]
impl From<std::os::unix::net::UnixDatagram> for Socket {
    fn from(socket: std::os::unix::net::UnixDatagram) -> Socket {
        Socket::from(socket2::Socket::from(socket))
    }
}
