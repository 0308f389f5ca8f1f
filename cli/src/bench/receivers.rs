//! Each receiver of the receive workload: its socket, with the options that decide how the
//! kernel queues datagrams for it (receive offload) set when it is opened, before anything
//! is sent to it, and its drain: receive calls until it has the datagrams asked for, with the
//! same light work per datagram in every receiver (the length checked, the first byte added
//! up), buffers prepared before its clock starts.

use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use mmsg::{Domain, InputMessage, MsgFlags, ReceiveBatch, SockAddr, Socket, Type};

/// The receivers of the C peers crate, built only with the `peers` feature.
pub const PEERS: [&str; 4] = ["c-recvmmsg", "c-gro", "c-gro-recvmmsg", "glib"];

/// Coalesced buffers per receive call of the receivers that take several at once: quinn-udp's
/// own `BATCH_SIZE` (32 on Linux), and the same for mmsg and the C `recvmmsg` floor, so that
/// they make the same system calls.
pub const GRO_BATCH: usize = quinn_udp::BATCH_SIZE;

/// The receivers this build knows, the baseline first.
pub fn all() -> Vec<&'static str> {
    #[cfg_attr(not(feature = "peers"), allow(unused_mut))]
    let mut receivers = vec![
        "std",
        "mmsg",
        "mmsg-no-gro",
        "mmsg-messages",
        "mmsg-portable",
        "quinn-udp",
    ];
    #[cfg(feature = "peers")]
    {
        receivers.extend(["c-recvmmsg", "c-gro", "c-gro-recvmmsg"]);
        if mmsg_bench_peers::HAVE_GLIB {
            receivers.push("glib");
        }
    }
    receivers
}

/// The buffer of a receiver that takes one datagram a buffer: what a receiver that does not
/// know the size would give (2 KiB), and always longer than the datagram, so that a longer
/// one would show as the wrong size instead of being cut to the right one.
pub fn plain_buffer(size: usize) -> usize {
    (size + 1).max(2048)
}

/// What a drain is asked to do (see `mmsg_bench_peers::Want`, which the C peers take).
#[derive(Clone, Copy)]
pub struct Want<'a> {
    /// Datagrams to receive.
    pub count: usize,
    /// The size each datagram should have.
    pub size: usize,
    /// `None`: stop at the first empty queue. `Some(done)`: wait while the sender runs; stop
    /// when `done` is set (everything sent was delivered) and the queue is empty.
    pub done: Option<&'a AtomicI32>,
}

/// How long a live receiver waits on an empty queue before it looks at `done` again.
const WAIT_SLICE: Duration = Duration::from_millis(5);

/// What a drain saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    pub datagrams: u64,
    /// Datagrams that were not `size` bytes long.
    pub wrong_size: u64,
    /// Their first bytes, added up.
    pub sum: u64,
    /// Receive calls that returned data.
    pub calls: u64,
    /// From just before the first call that returned data to after the last datagram.
    pub elapsed: Duration,
}

impl Tally {
    /// The work every receiver does per datagram.
    #[inline(always)]
    fn count(&mut self, datagram: &[u8], size: usize) {
        self.datagrams += 1;
        self.wrong_size += u64::from(datagram.len() != size);
        self.sum += u64::from(datagram.first().copied().unwrap_or(0));
    }
}

/// A receiver's socket and its buffers, made once and reused by every drain (the first,
/// untimed, faults their pages in).
pub struct Receiver {
    name: &'static str,
    socket: Kind,
    /// Buffers (messages) per receive call.
    batch: usize,
    /// The buffers of every receiver but receive_batch's, `batch` of them back to back (the
    /// C peers' too, so that they start each drain in the same state as the others').
    data: Vec<u8>,
    /// mmsg's `receive_batch` buffers.
    buffers: Option<ReceiveBatch>,
    metas: Vec<quinn_udp::RecvMeta>,
}

enum Kind {
    // Boxed: mmsg's socket carries its engines' state, much larger than a descriptor.
    Mmsg(Box<Socket>),
    Std(UdpSocket),
    Quinn(UdpSocket, quinn_udp::UdpSocketState),
}

impl Receiver {
    /// Opens `name`'s socket on 127.0.0.1 with its options (receive offload where it uses
    /// it; non-blocking, as the drain never waits for the queue it was given) and makes its
    /// buffers for `size`-byte datagrams, `batch` a call where it takes a number.
    pub fn open(name: &str, size: usize, batch: usize) -> io::Result<Receiver> {
        let name = all()
            .into_iter()
            .find(|k| *k == name)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "unknown receiver"))?;
        let socket = match name {
            "mmsg" | "mmsg-no-gro" | "mmsg-messages" | "mmsg-portable" => {
                let socket = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
                socket.bind(&SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 0))))?;
                socket.set_receive_offload(matches!(name, "mmsg" | "mmsg-messages"))?;
                socket.set_portable_path(name == "mmsg-portable");
                socket.set_blocking(false);
                Kind::Mmsg(Box::new(socket))
            }
            "quinn-udp" => {
                let socket = UdpSocket::bind("127.0.0.1:0")?;
                // Turns GRO on (and makes the socket non-blocking), as quinn does.
                let state = quinn_udp::UdpSocketState::new((&socket).into())?;
                Kind::Quinn(socket, state)
            }
            _ => {
                let socket = UdpSocket::bind("127.0.0.1:0")?;
                socket.set_nonblocking(true)?;
                #[cfg(feature = "peers")]
                if name.starts_with("c-gro") {
                    mmsg_bench_peers::receive::enable_gro(socket.as_fd())?;
                }
                Kind::Std(socket)
            }
        };
        let batch = match name {
            "std" => 1,
            // One recvmsg per coalesced buffer: the C floor as the issue has it.
            "c-gro" => 1,
            "mmsg" | "quinn-udp" | "c-gro-recvmmsg" => GRO_BATCH,
            _ => batch,
        };
        let buffer = match name {
            "mmsg" | "quinn-udp" | "c-gro" | "c-gro-recvmmsg" => ReceiveBatch::OFFLOAD_BUFFER_SIZE,
            _ => plain_buffer(size),
        };
        // receive_batch's buffers are a ReceiveBatch; every other receiver's are here.
        let data = match name {
            "mmsg" | "mmsg-no-gro" | "mmsg-portable" => Vec::new(),
            _ => vec![0u8; batch * buffer],
        };
        let buffers = matches!(name, "mmsg" | "mmsg-no-gro" | "mmsg-portable")
            .then(|| ReceiveBatch::new(batch, buffer));
        let metas = match name {
            "quinn-udp" => vec![quinn_udp::RecvMeta::default(); batch],
            _ => Vec::new(),
        };
        Ok(Receiver {
            name,
            socket,
            batch,
            data,
            buffers,
            metas,
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        match &self.socket {
            Kind::Mmsg(s) => s.as_fd(),
            Kind::Std(s) | Kind::Quinn(s, _) => s.as_fd(),
        }
    }

    pub fn address(&self) -> io::Result<SocketAddrV4> {
        let address = match &self.socket {
            Kind::Mmsg(s) => s.local_address()?.as_socket(),
            Kind::Std(s) | Kind::Quinn(s, _) => Some(s.local_addr()?),
        };
        match address {
            Some(SocketAddr::V4(a)) => Ok(a),
            other => Err(io::Error::other(format!("bound to {other:?}"))),
        }
    }

    /// Buffers (messages) per receive call.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Receives until `want.count` datagrams came (or the queue is empty, or with
    /// `want.done` the sender is done and the queue empty).
    pub fn drain(&mut self, want: &Want<'_>) -> io::Result<Tally> {
        let size = want.size;
        let fd = self.fd().as_raw_fd();
        let Receiver {
            name,
            socket,
            batch,
            data,
            buffers,
            metas,
        } = self;
        match (&*socket, *name) {
            (Kind::Mmsg(socket), "mmsg-messages") => {
                let mut vectors: Vec<[IoSliceMut; 1]> = data
                    .chunks_mut(plain_buffer(size))
                    .map(|b| [IoSliceMut::new(b)])
                    .collect();
                let mut messages: Vec<InputMessage> =
                    vectors.iter_mut().map(|v| InputMessage::new(v)).collect();
                drain(fd, want, |tally| {
                    let n = socket.receive_messages(&mut messages, MsgFlags::empty(), None)?;
                    for message in &messages[..n] {
                        tally.count(&message.vectors[0][..message.bytes_received], size);
                    }
                    Ok(())
                })
            }
            (Kind::Mmsg(socket), _) => {
                let buffers = buffers.as_mut().expect("made by open");
                drain(fd, want, |tally| {
                    socket.receive_batch(buffers, MsgFlags::empty(), None)?;
                    for (_, datagram) in buffers.datagrams() {
                        tally.count(datagram, size);
                    }
                    Ok(())
                })
            }
            (Kind::Quinn(socket, state), _) => {
                let mut slices: Vec<IoSliceMut> = data
                    .chunks_mut(ReceiveBatch::OFFLOAD_BUFFER_SIZE)
                    .map(IoSliceMut::new)
                    .collect();
                drain(fd, want, |tally| {
                    let n = state.recv(socket.into(), &mut slices, metas)?;
                    for (meta, slice) in metas[..n].iter().zip(&slices) {
                        let data = &slice[..meta.len];
                        if data.is_empty() {
                            tally.count(data, size);
                        }
                        for datagram in data.chunks(meta.stride.max(1)) {
                            tally.count(datagram, size);
                        }
                    }
                    Ok(())
                })
            }
            (Kind::Std(socket), "std") => drain(fd, want, |tally| {
                let (len, _from) = socket.recv_from(data)?;
                tally.count(&data[..len], size);
                Ok(())
            }),
            #[cfg(feature = "peers")]
            (Kind::Std(socket), name) => {
                use mmsg_bench_peers::receive;
                let peer = receive::Want {
                    count: want.count,
                    size,
                    batch: *batch,
                    buffer: if name.starts_with("c-gro") {
                        ReceiveBatch::OFFLOAD_BUFFER_SIZE
                    } else {
                        plain_buffer(size)
                    },
                    done: want.done,
                    wait_slice: WAIT_SLICE,
                };
                let t = match name {
                    "c-recvmmsg" => receive::c_recvmmsg(socket.as_fd(), &peer, data),
                    "c-gro" | "c-gro-recvmmsg" => receive::c_gro(socket.as_fd(), &peer, data),
                    _ => receive::glib_receive(socket.as_fd(), &peer, data),
                }?;
                Ok(Tally {
                    datagrams: t.datagrams,
                    wrong_size: t.wrong_size,
                    sum: t.sum,
                    calls: t.calls,
                    elapsed: t.elapsed,
                })
            }
            #[cfg(not(feature = "peers"))]
            (Kind::Std(_), name) => {
                let _ = (batch, data);
                Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("receiver '{name}' needs the peers feature"),
                ))
            }
        }
    }
}

/// The drain loop of the Rust receivers: `receive` makes one call and counts what it got
/// into the tally (an empty queue is `WouldBlock`). The clock is read before calls only until
/// one returns data, and after them only at the end (or, live, after each, as the end is
/// only known after a wait).
fn drain(
    fd: RawFd,
    want: &Want<'_>,
    mut receive: impl FnMut(&mut Tally) -> io::Result<()>,
) -> io::Result<Tally> {
    let mut tally = Tally::default();
    let mut first = None;
    let mut last = None;
    while tally.datagrams < want.count as u64 {
        let before = first.is_none().then(Instant::now);
        match receive(&mut tally) {
            Ok(()) => {
                tally.calls += 1;
                first = first.or(before);
                if want.done.is_some() || tally.datagrams >= want.count as u64 {
                    last = Some(Instant::now());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !wait(fd, want)? {
                    break;
                }
            }
            Err(e) => return Err(e),
        }
    }
    if let (Some(first), Some(last)) = (first, last) {
        tally.elapsed = last - first;
    }
    Ok(tally)
}

/// After an empty queue: whether to try again (see `Want::done`).
fn wait(fd: RawFd, want: &Want<'_>) -> io::Result<bool> {
    let Some(done) = want.done else {
        return Ok(false);
    };
    // Read before the wait: once set, everything sent is queued, so a wait that then finds
    // nothing means the end.
    let done = done.load(Ordering::Acquire) != 0;
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd, live for the call.
    let n = unsafe { libc::poll(&mut poll, 1, WAIT_SLICE.as_millis() as libc::c_int) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(true)
        } else {
            Err(e)
        };
    }
    Ok(n > 0 || !done)
}
